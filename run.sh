#!/usr/bin/env bash
# Start the proxy (the original project's script); flags go to `glm-proxy serve`.
set -euo pipefail
cd "$(dirname "$0")"
exec uv run glm-proxy "$@"
