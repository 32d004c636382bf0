#!/usr/bin/env bash
# Run every test of the repository: install what is missing, build, prepare the real
# test servers, then run each package's ava suite in dependency order. Ends with one
# line "N passed, M failed" and exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
log_dir=${OP_TEST_LOG_DIR:-.cache/test-logs}
mkdir -p "$log_dir"

bash scripts/install.sh || { echo "0 passed, 1 failed"; exit 1; }

echo "== build"
if ! npx tsc -b; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

echo "== test servers"
for server in scripts/servers/*.sh; do
  [ -e "$server" ] || continue
  if ! bash "$server" install; then
    echo "installing the test server of $server failed"
    echo "0 passed, 1 failed"
    exit 1
  fi
done

# Packages in dependency order; a package without compiled tests is passed over.
packages=(core plugins/posix plugins/s3 plugins/sftp plugins/azure plugins/cassandra integration server cluster-manager examples/embed-core examples/webdav-plugin)
passed=0
failed=0
for package in "${packages[@]}"; do
  [ -d "$package/dist/test" ] || continue
  echo "== $package"
  tap="$log_dir/$(echo "$package" | tr / -).tap"
  (cd "$package" && npx ava --tap) > "$tap" 2>&1
  status=$?
  cat "$tap"
  pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tap" | tail -1)
  fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tap" | tail -1)
  passed=$((passed + ${pass:-0}))
  failed=$((failed + ${fail:-0}))
  # A run that failed without reporting a failed test (a crash, a timeout) counts as one failure.
  if [ "$status" -ne 0 ] && [ "${fail:-0}" -eq 0 ]; then
    echo "ava exited with status $status in $package"
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
