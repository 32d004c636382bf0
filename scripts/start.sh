#!/usr/bin/env bash
# Install and build what is missing, then start the worker on the embedded default
# (SQLite metadata, POSIX storage in the data folder). Extra arguments go to
# `op-worker start`, e.g. `npm start -- --port 0 --data-dir /srv/op-worker`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh
npx tsc -b
exec node server/bin/op-worker.js start "$@"
