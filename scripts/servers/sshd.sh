#!/usr/bin/env bash
# OpenSSH's sshd for the SFTP plugin's tests.
#
#   sshd.sh install                 install openssh-server and the test user (idempotent)
#   sshd.sh run <port> <state-dir>  run sshd in the foreground on 127.0.0.1:<port>
#
# `run` keeps all of its state in <state-dir>: the host key, the client key pair whose
# public half is the test user's only authorized key, the host key's SHA256 fingerprint
# (file `host_fingerprint`), the sshd config and the PID file. Tests read `client_key`
# and `host_fingerprint` from there. The test user's files live under its home,
# /var/lib/opworker-sftp, which a test uses as the parent of its storage roots.
set -euo pipefail

TEST_USER=opworker-sftp
TEST_HOME=/var/lib/opworker-sftp

fail() {
  echo "sshd.sh: $*" >&2
  exit 1
}

install_openssh() {
  [ -x /usr/sbin/sshd ] && return 0
  export DEBIAN_FRONTEND=noninteractive

  # Keep the package's postinst from starting a system-wide sshd on port 22: this
  # script only ever runs sshd on 127.0.0.1 with its own config.
  local policy=/usr/sbin/policy-rc.d
  local own_policy=no
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    own_policy=yes
  fi

  local status=0
  apt-get install -y -q openssh-server > /tmp/opworker-sshd-apt.log 2>&1 \
    || { apt-get update -q >> /tmp/opworker-sshd-apt.log 2>&1 \
         && apt-get install -y -q openssh-server >> /tmp/opworker-sshd-apt.log 2>&1; } \
    || status=$?
  [ "$own_policy" = yes ] && rm -f "$policy"
  [ "$status" -eq 0 ] || fail "apt-get install openssh-server failed (log: /tmp/opworker-sshd-apt.log)"
  [ -x /usr/sbin/sshd ] || fail "openssh-server installed but /usr/sbin/sshd is missing"
}

install_user() {
  if ! id -u "$TEST_USER" > /dev/null 2>&1; then
    useradd --system --home-dir "$TEST_HOME" --create-home --shell /usr/sbin/nologin "$TEST_USER" \
      || fail "cannot create the test user $TEST_USER"
  fi
  # With `UsePAM no`, sshd treats a password field of `!` as a locked account and
  # refuses even key logins; `*` means "no password" and lets keys through.
  usermod -p '*' "$TEST_USER"
  mkdir -p "$TEST_HOME"
  chown "$TEST_USER:" "$TEST_HOME"
}

write_keys() {
  local state=$1
  [ -f "$state/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C opworker-sftp-host -f "$state/host_key"
  [ -f "$state/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C opworker-sftp-client -f "$state/client_key"

  cp "$state/client_key.pub" "$state/authorized_keys"
  ssh-keygen -l -E sha256 -f "$state/host_key.pub" | awk '{ print $2 }' > "$state/host_fingerprint"

  # sshd reads authorized_keys as the test user, so it must reach the state dir; the
  # private keys stay 0600 and root-owned.
  chmod 755 "$state"
  chmod 644 "$state/authorized_keys" "$state/host_fingerprint"
}

write_config() {
  local port=$1 state=$2
  cat > "$state/sshd_config" <<CONFIG
ListenAddress 127.0.0.1
Port $port
HostKey $state/host_key
PidFile $state/sshd.pid
AuthorizedKeysFile $state/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers $TEST_USER
MaxStartups 100:30:200
MaxSessions 64
Subsystem sftp internal-sftp
ForceCommand internal-sftp
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
LogLevel INFO
CONFIG
}

run_server() {
  local port=${1:-} state=${2:-}
  [ -n "$port" ] && [ -n "$state" ] || fail "usage: sshd.sh run <port> <state-dir>"
  [ -x /usr/sbin/sshd ] || fail "/usr/sbin/sshd is missing; run 'sshd.sh install' first"
  id -u "$TEST_USER" > /dev/null 2>&1 || fail "test user $TEST_USER is missing; run 'sshd.sh install' first"

  mkdir -p "$state" /run/sshd
  state=$(cd "$state" && pwd)
  write_keys "$state"
  write_config "$port" "$state"
  exec /usr/sbin/sshd -D -e -f "$state/sshd_config"
}

case "${1:-}" in
  install) install_openssh; install_user ;;
  run) shift; run_server "$@" ;;
  *) fail "usage: sshd.sh install | sshd.sh run <port> <state-dir>" ;;
esac
