#!/usr/bin/env bash
# Azurite's blob service for the Azure storage helper tests.
#   azurite.sh install            check that the root devDependency `azurite` is installed
#   azurite.sh run <port> <dir>   run the blob service in the foreground on 127.0.0.1:<port>,
#                                 keeping all state under <dir>
# Clients use Azurite's well-known development account `devstoreaccount1`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
azurite_blob="$root/node_modules/.bin/azurite-blob"

install_azurite() {
  # Azurite is a root devDependency (3.35.x, the newest line that runs on Node 20), so a
  # plain `npm install` at the repository root brings it; this verb only checks for it.
  if [[ ! -x "$azurite_blob" ]]; then
    echo "azurite.sh: $azurite_blob is missing; run 'npm install' at $root (azurite is a root devDependency)" >&2
    exit 1
  fi
}

run_azurite() {
  local port="$1" dir="$2"
  install_azurite
  mkdir -p "$dir"

  # --skipApiVersionCheck: @azure/storage-blob sends a service API version newer than
  # Azurite 3.35 knows, which Azurite would otherwise reject.
  exec "$azurite_blob" --blobHost 127.0.0.1 --blobPort "$port" --location "$dir" \
    --silent --loose --disableTelemetry --skipApiVersionCheck
}

case "${1:-}" in
  install)
    install_azurite
    ;;
  run)
    if [[ $# -ne 3 ]]; then
      echo "usage: $0 run <port> <state-dir>" >&2
      exit 2
    fi
    run_azurite "$2" "$3"
    ;;
  *)
    echo "usage: $0 install | run <port> <state-dir>" >&2
    exit 2
    ;;
esac
