#!/usr/bin/env bash
# Benchmark op-worker's REST API next to nginx, rclone serve http/webdav and a plain Node
# server on 127.0.0.1, and write BENCHMARKS.md. Installs the Debian tools it needs
# (apt-get), installs and builds the repository, then runs bench/dist/main.js.
# Options go to main.js; `bash bench/run.sh --help` lists them. Not part of the test run.
set -euo pipefail
cd "$(dirname "$0")/.."

install_tools() {
  local missing=()
  command -v nginx >/dev/null || missing+=(nginx)
  command -v rclone >/dev/null || missing+=(rclone)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return 0

  echo "== apt-get install ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  # policy-rc.d or not, the benchmark starts its own nginx; the package's service is not needed.
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

# `--tests metadata` runs the metadata store benchmark (bench/metadata.ts) on its own; it
# needs no reference servers, only Java and Maven for the Cassandra node.
if [[ " $* " == *" --tests metadata "* ]]; then
  bash scripts/install.sh
  npx tsc -b bench/tsconfig.metadata.json
  exec node bench/dist/metadata/metadata.js "$@"
fi

install_tools
bash scripts/install.sh

echo "== build"
npx tsc -b
npx tsc -b bench

echo "== benchmark"
exec node bench/dist/main.js "$@"
