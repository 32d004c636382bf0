#!/usr/bin/env bash
# Fetches and runs a single-node Apache Cassandra for tests, bound to 127.0.0.1.
#
#   cassandra.sh install               fetch Cassandra and its dependencies from Maven Central
#   cassandra.sh run <port> <state>    run a node in the foreground, CQL on <port>, files under <state>
#   cassandra.sh wait <port> [secs]    wait until the CQL port accepts connections (default 120 s)
#
# `run` execs java, so the PID of this script is the PID of the node and killing it stops the node.
# The jars are cached in $OP_CACHE_DIR (default <repo>/.cache/cassandra); install skips the
# download when they are already there.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache_dir="${OP_CACHE_DIR:-$repo/.cache/cassandra}"
lib_dir="$cache_dir/lib"
pom="$here/cassandra/pom.xml"

die() {
  echo "cassandra.sh: $*" >&2
  exit 1
}

cassandra_version() {
  sed -n 's:.*<cassandra.version>\(.*\)</cassandra.version>.*:\1:p' "$pom"
}

install() {
  local version
  version="$(cassandra_version)"
  if [[ -f "$lib_dir/cassandra-all-$version.jar" && -f "$cache_dir/.complete-$version" ]]; then
    echo "cassandra.sh: Cassandra $version already in $lib_dir"
    return 0
  fi

  command -v mvn >/dev/null || die "mvn not found; install Maven (apt-get install -y maven)"
  command -v java >/dev/null || die "java not found; install a Java 17 runtime (apt-get install -y openjdk-17-jre-headless)"

  rm -rf "$lib_dir"
  mkdir -p "$lib_dir"
  local started=$SECONDS
  echo "cassandra.sh: fetching Cassandra $version into $lib_dir"
  mvn -B -q -f "$pom" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$lib_dir" \
    || die "mvn could not fetch org.apache.cassandra:cassandra-all:$version (see the Maven output above)"
  touch "$cache_dir/.complete-$version"
  echo "cassandra.sh: fetched $(ls "$lib_dir" | wc -l) jars ($(du -sh "$lib_dir" | cut -f1)) in $((SECONDS - started)) s"
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

render() {
  local template="$1" out="$2"
  shift 2
  local text
  text="$(cat "$template")"
  while (($#)); do
    text="${text//@$1@/$2}"
    shift 2
  done
  printf '%s\n' "$text" >"$out"
}

# Options for Java 17. Cassandra reaches into JDK internals (direct buffers, Unsafe,
# reflection on java.lang and java.nio, JMX internals), which the module system blocks
# unless these packages are exported or opened to the class path.
jvm_module_options=(
  --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
  --add-exports java.base/jdk.internal.ref=ALL-UNNAMED
  --add-exports java.base/sun.nio.ch=ALL-UNNAMED
  --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
  --add-exports java.sql/java.sql=ALL-UNNAMED
  --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED
  --add-opens java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens java.base/java.lang.module=ALL-UNNAMED
  --add-opens java.base/java.io=ALL-UNNAMED
  --add-opens java.base/java.nio=ALL-UNNAMED
  --add-opens java.base/java.util=ALL-UNNAMED
  --add-opens java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
  --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
  --add-opens java.base/jdk.internal.math=ALL-UNNAMED
  --add-opens java.base/jdk.internal.module=ALL-UNNAMED
  --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
  --add-opens java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
)

run() {
  local port="${1:-}" state_dir="${2:-}"
  [[ "$port" =~ ^[0-9]+$ ]] || die "run needs a CQL port number, got '${port}'"
  [[ -n "$state_dir" ]] || die "run needs a state directory"

  local version
  version="$(cassandra_version)"
  [[ -f "$cache_dir/.complete-$version" ]] || die "Cassandra $version is not installed; run '$0 install' first"

  mkdir -p "$state_dir"
  state_dir="$(cd "$state_dir" && pwd)"
  mkdir -p "$state_dir"/{data,commitlog,saved_caches,hints,cdc_raw,triggers}

  local storage_port ssl_storage_port
  storage_port="$(free_port)"
  ssl_storage_port="$(free_port)"
  render "$here/cassandra/cassandra.yaml.template" "$state_dir/cassandra.yaml" \
    STATE_DIR "$state_dir" NATIVE_PORT "$port" \
    STORAGE_PORT "$storage_port" SSL_STORAGE_PORT "$ssl_storage_port"
  render "$here/cassandra/logback.xml.template" "$state_dir/logback.xml" STATE_DIR "$state_dir"

  echo "cassandra.sh: starting Cassandra $version, CQL on 127.0.0.1:$port, storage port $storage_port, log $state_dir/system.log" >&2
  exec java \
    -Xms512m -Xmx1g -Xss512k \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=300 \
    -XX:+ExitOnOutOfMemoryError \
    -Djava.net.preferIPv4Stack=true \
    "${jvm_module_options[@]}" \
    -Dcassandra.config="file://$state_dir/cassandra.yaml" \
    -Dcassandra.storagedir="$state_dir" \
    -Dcassandra.triggers_dir="$state_dir/triggers" \
    -Dcassandra.logdir="$state_dir" \
    -Dlogback.configurationFile="file://$state_dir/logback.xml" \
    -Dcassandra-foreground=yes \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -Dcassandra.ring_delay_ms=0 \
    -Dcassandra.superuser_setup_delay_ms=0 \
    -Dcassandra.jmx.local.port="$(free_port)" \
    -cp "$lib_dir/*" \
    org.apache.cassandra.service.CassandraDaemon
}

wait_for() {
  local port="${1:-}" timeout="${2:-120}"
  [[ "$port" =~ ^[0-9]+$ ]] || die "wait needs a CQL port number, got '${port}'"
  local deadline=$((SECONDS + timeout))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    ((SECONDS < deadline)) || die "no CQL listener on 127.0.0.1:$port after $timeout s"
    sleep 0.5
  done
}

case "${1:-}" in
  install) install ;;
  run) shift; run "$@" ;;
  wait) shift; wait_for "$@" ;;
  *) die "usage: $0 install | run <port> <state-dir> | wait <port> [seconds]" ;;
esac
