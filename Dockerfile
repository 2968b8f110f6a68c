# glm-proxy in a container:
#   cp .env.example .env        # then set OPENAI_BASE_URL in it
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
# Two stages: the build stage installs uv and, with it, the exact pins into /app/.venv; the final
# image gets only that environment (no pip, no uv, no build tools). Both stages use the same base
# image, pinned by digest (python:3.11-slim), so the environment's python link stays valid.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${PYTHON_IMAGE} AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app

# Dependencies first (exact pins from pyproject.toml), so code changes rebuild only the last layers.
COPY pyproject.toml README.md ./
RUN uv sync --no-dev --no-install-project --no-editable

COPY src ./src
RUN uv sync --no-dev --no-editable

FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The base image's own pip goes too: nothing is installed at run time.
RUN python -m pip uninstall --yes --quiet pip setuptools wheel \
    && useradd --create-home --uid 10001 glm

WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY server.py ./

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
