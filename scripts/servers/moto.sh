#!/usr/bin/env bash
# S3-compatible test server: moto's server mode (PyPI moto[server]).
#   moto.sh install              install moto[server] with pip unless moto_server is already on PATH
#   moto.sh run <port> <dir>     run moto_server in the foreground on 127.0.0.1:<port>
# moto keeps all state in memory, so <dir> only receives its working directory; stopping
# the process discards every bucket.
set -euo pipefail

MOTO_VERSION=5.2.1

install() {
  if command -v moto_server >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v python3 >/dev/null 2>&1; then
    echo "moto.sh: python3 is missing; install Python 3 with pip first" >&2
    exit 1
  fi
  if ! python3 -m pip install --quiet --disable-pip-version-check "moto[server]==${MOTO_VERSION}"; then
    echo "moto.sh: pip install moto[server]==${MOTO_VERSION} failed" >&2
    exit 1
  fi
  hash -r
  if ! command -v moto_server >/dev/null 2>&1; then
    echo "moto.sh: moto_server is not on PATH after pip install; add pip's script directory to PATH" >&2
    exit 1
  fi
}

run() {
  local port="${1:?usage: moto.sh run <port> <state-dir>}"
  local dir="${2:?usage: moto.sh run <port> <state-dir>}"
  mkdir -p "$dir"
  cd "$dir"
  exec moto_server -H 127.0.0.1 -p "$port"
}

case "${1:-}" in
  install) install ;;
  run) shift; run "$@" ;;
  *) echo "usage: moto.sh install | moto.sh run <port> <state-dir>" >&2; exit 2 ;;
esac
