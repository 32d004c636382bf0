#!/usr/bin/env bash
# Apache httpd with mod_dav_fs, the WebDAV server of the WebDAV plugin's tests.
#
#   webdav.sh install                 install apache2 and openssl (idempotent)
#   webdav.sh run <port> <state-dir>  run httpd in the foreground on 127.0.0.1:<port>
#
# `run` keeps all of its state in <state-dir>: the served files (`data/`), the generated
# `httpd.conf`, the password file, the DAV lock database, the PID file and the error log
# `error.log` (errors before httpd opens it go to stderr). It serves the same `data/`
# folder three times, once per kind of credentials:
#
#   /open/...    no authentication
#   /basic/...   HTTP basic authentication as user `opworker`, password `opworker-secret`
#   /bearer/...  only requests with `Authorization: Bearer opworker-token` (others get 403)
#
# mod_dav_fs writes a PUT body to a temporary file and renames it into place when the body
# is complete, lists names beginning with a dot, and accepts PUT with Content-Range (the
# `moddav` dialect of writes at an offset). nginx's DAV modules were not chosen because
# nginx-dav-ext 3.0 leaves names beginning with a dot out of PROPFIND listings and nginx
# rejects PUT with Content-Range.
set -euo pipefail

MODULES=/usr/lib/apache2/modules
BASIC_USER=opworker
BASIC_PASSWORD=opworker-secret
BEARER_TOKEN=opworker-token

fail() {
  echo "webdav.sh: $*" >&2
  exit 1
}

install_apache() {
  [ -x /usr/sbin/apache2 ] && [ -f "$MODULES/mod_dav_fs.so" ] && command -v openssl > /dev/null && return 0
  export DEBIAN_FRONTEND=noninteractive

  # Keep the package's postinst from starting a system-wide httpd on port 80: this
  # script only ever runs httpd on 127.0.0.1 with its own config.
  local policy=/usr/sbin/policy-rc.d
  local own_policy=no
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    own_policy=yes
  fi

  local log=/tmp/opworker-webdav-apt.log
  local packages=(apache2 openssl)
  local status=0
  apt-get install -y -q --no-install-recommends "${packages[@]}" > "$log" 2>&1 \
    || { apt-get update -q >> "$log" 2>&1 && apt-get install -y -q --no-install-recommends "${packages[@]}" >> "$log" 2>&1; } \
    || status=$?
  [ "$own_policy" = yes ] && rm -f "$policy"
  [ "$status" -eq 0 ] || fail "apt-get install ${packages[*]} failed (log: $log)"
  [ -x /usr/sbin/apache2 ] || fail "apache2 installed but /usr/sbin/apache2 is missing"
  [ -f "$MODULES/mod_dav_fs.so" ] || fail "apache2 installed but $MODULES/mod_dav_fs.so is missing"
}

write_config() {
  local port=$1 state=$2 user=$3
  cat > "$state/httpd.conf" <<CONFIG
ServerRoot /usr/lib/apache2
LoadModule mpm_event_module $MODULES/mod_mpm_event.so
LoadModule authn_core_module $MODULES/mod_authn_core.so
LoadModule authn_file_module $MODULES/mod_authn_file.so
LoadModule authz_core_module $MODULES/mod_authz_core.so
LoadModule authz_user_module $MODULES/mod_authz_user.so
LoadModule auth_basic_module $MODULES/mod_auth_basic.so
LoadModule alias_module $MODULES/mod_alias.so
LoadModule dir_module $MODULES/mod_dir.so
LoadModule dav_module $MODULES/mod_dav.so
LoadModule dav_fs_module $MODULES/mod_dav_fs.so
$user

ServerName localhost
Listen 127.0.0.1:$port
PidFile $state/run/httpd.pid
DefaultRuntimeDir $state/run
Mutex file:$state/run default
ErrorLog $state/error.log
LogLevel warn
DavLockDB $state/run/davlock

Timeout 60
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
LimitRequestBody 0
ThreadsPerChild 25
MaxRequestWorkers 100

Alias /open/ $state/data/
Alias /basic/ $state/data/
Alias /bearer/ $state/data/

<Directory />
  AllowOverride None
  Require all denied
</Directory>

<Directory $state/data>
  Dav On
  Options None
  AllowOverride None
  DirectoryIndex disabled
</Directory>

<Location /open/>
  Require all granted
</Location>

<Location /basic/>
  AuthType Basic
  AuthName "op-worker WebDAV tests"
  AuthBasicProvider file
  AuthUserFile $state/htpasswd
  Require valid-user
</Location>

<Location /bearer/>
  Require expr "%{HTTP:Authorization} == 'Bearer $BEARER_TOKEN'"
</Location>
CONFIG
}

run_server() {
  local port=${1:-} state=${2:-}
  [ -n "$port" ] && [ -n "$state" ] || fail "usage: webdav.sh run <port> <state-dir>"
  [ -x /usr/sbin/apache2 ] || fail "/usr/sbin/apache2 is missing; run 'webdav.sh install' first"

  mkdir -p "$state/data" "$state/run"
  state=$(cd "$state" && pwd)
  printf '%s:%s\n' "$BASIC_USER" "$(openssl passwd -apr1 "$BASIC_PASSWORD")" > "$state/htpasswd"

  # Started as root, httpd serves requests from processes running as `nobody`, which
  # must reach and write the served files and the lock database.
  local user=''
  if [ "$(id -u)" -eq 0 ]; then
    user=$'User nobody\nGroup nogroup'
    chmod 755 "$state"
    chown -R nobody:nogroup "$state/data" "$state/run"
    chmod 644 "$state/htpasswd"
    runuser -u nobody -- test -w "$state/data" \
      || fail "user nobody cannot reach $state/data; choose a state dir whose parent folders are world-executable"
  fi

  write_config "$port" "$state" "$user"
  exec /usr/sbin/apache2 -f "$state/httpd.conf" -DFOREGROUND
}

case "${1:-}" in
  install) install_apache ;;
  run) shift; run_server "$@" ;;
  *) fail "usage: webdav.sh install | webdav.sh run <port> <state-dir>" ;;
esac
