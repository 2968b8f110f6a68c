# glm-proxy in a container:
#   docker build -t glm-proxy .
#   docker run -p 8082:8082 --env-file .env glm-proxy
# Inside the container the proxy listens on 0.0.0.0:8082. A backend on the host is reached at
# http://host.docker.internal:1234/v1 (Docker Desktop; on Linux add
# --add-host=host.docker.internal:host-gateway), not at 127.0.0.1.
# ALLOW_REMOTE=true: inside the container every client comes from another address, so the
# port mapping is the boundary. `-p 8082:8082` publishes on every interface of the host;
# `-p 127.0.0.1:8082:8082` keeps it to the host. Set PROXY_API_KEY when you expose it further.
# SHUTDOWN_GRACE=8: `docker stop` sends SIGTERM and kills after 10 s; streams still running
# after 8 s end with an error event instead of being cut.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

RUN pip install --no-cache-dir uv==0.13.9 \
    && useradd --create-home --uid 10001 glm

WORKDIR /app

# Dependencies first (exact pins from pyproject.toml), so code changes rebuild only the last layers.
COPY pyproject.toml README.md ./
RUN uv sync --no-dev --no-install-project

COPY src ./src
COPY server.py ./
RUN uv sync --no-dev

USER glm
ENV PATH="/app/.venv/bin:$PATH" \
    HOST=0.0.0.0 \
    PORT=8082 \
    ALLOW_REMOTE=true \
    SHUTDOWN_GRACE=8
EXPOSE 8082

HEALTHCHECK --interval=30s --timeout=3s \
    CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8082') + '/health', timeout=2)"

CMD ["glm-proxy"]
