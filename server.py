"""The original project's entry points, kept working.

    uv run uvicorn server:app --host 127.0.0.1 --port 8082 --reload
    python server.py [flags of glm-proxy serve]

Settings come from the environment and ``.env``, as for ``glm-proxy``. Under uvicorn's own
command line, uvicorn's connection handling applies, not glm-proxy's (HEAD_TIMEOUT, SEND_TIMEOUT,
MAX_CONNECTIONS, KEEP_ALIVE_TIMEOUT, close-delimited HTTP/1.0 streams): ``python server.py``
and ``glm-proxy serve`` have them.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from glm_proxy.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
else:
    from glm_proxy.commands.serve import environment_app

    app = environment_app()
