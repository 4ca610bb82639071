#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs `facectl serve` on http://127.0.0.1:8080.
# Extra arguments go to facectl serve, e.g. scripts/serve.sh --addr :9000
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec ./facectl serve --addr "${FACECTL_SERVER_ADDR:-127.0.0.1:8080}" "$@"
