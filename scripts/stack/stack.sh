#!/usr/bin/env bash
# Local real stack for the SAFE vault personas: Postgres + Redis + Kafka (KRaft), all on loopback,
# all as plain processes owned by this script (not the system services). See scripts/stack/README.md.
#
#   pnpm stack up [--jaeger]   install what is missing, start what is stopped, wait until ready,
#                              print the connection env lines (also written to $SAFE_STACK_DIR/stack.env);
#                              --jaeger also builds (once) and starts Jaeger all-in-one (see jaeger.sh)
#   pnpm stack down [--purge]  stop all three (and Jaeger); --purge also deletes their data (keeps the
#                              Kafka jar and Jaeger binary caches)
#   pnpm stack restart <postgres|redis|kafka>   stop one component cleanly and start it again with
#                              its data (what a crash-free restart of that server looks like to clients)
#   pnpm stack status          one line per component; exit 0 only if all three are running
#   pnpm stack env             print the env lines
#   pnpm stack kafka <topics|groups|configs> [args]   Kafka admin CLIs against the local broker
#
# Progress and errors go to stderr; the env lines (and status lines) go to stdout.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

STACK_DIR=${SAFE_STACK_DIR:-$ROOT/.safe-stack}
case $STACK_DIR in /*) ;; *) STACK_DIR=$PWD/$STACK_DIR ;; esac
PG_PORT=${SAFE_PG_PORT:-55432}
REDIS_PORT=${SAFE_REDIS_PORT:-56379}
KAFKA_PORT=${SAFE_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${SAFE_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
KAFKA_VERSION=${SAFE_KAFKA_VERSION:-3.9.2}
KAFKA_HEAP=${SAFE_KAFKA_HEAP:--Xms256m -Xmx512m}
KAFKA_PARTITIONS=${SAFE_KAFKA_PARTITIONS:-3}
KAFKA_AUTO_CREATE=${SAFE_KAFKA_AUTO_CREATE_TOPICS:-false}
PG_MAX_CONNECTIONS=${SAFE_PG_MAX_CONNECTIONS:-300}
TIMEOUT=${SAFE_STACK_TIMEOUT:-120}            # seconds each component may take to become ready
KAFKA_STOP_TIMEOUT=${SAFE_KAFKA_STOP_TIMEOUT:-60}
HOST=127.0.0.1

LOGS=$STACK_DIR/logs
PGDATA=$STACK_DIR/postgres
REDIS_DIR=$STACK_DIR/redis
REDIS_CONF=$REDIS_DIR/redis.conf
REDIS_PID=$REDIS_DIR/redis.pid
KAFKA_DIR=$STACK_DIR/kafka
KAFKA_LIB=$KAFKA_DIR/lib
KAFKA_DATA=$KAFKA_DIR/data
KAFKA_CONF=$KAFKA_DIR/config/server.properties
KAFKA_LOG4J=$KAFKA_DIR/config/log4j.properties
KAFKA_TOOLS_LOG4J=$KAFKA_DIR/config/tools-log4j.properties
KAFKA_PID=$KAFKA_DIR/kafka.pid
ENV_FILE=$STACK_DIR/stack.env

# shellcheck source=jaeger.sh
. "$HERE/jaeger.sh"

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# ---------------------------------------------------------------------------------------------- util

LOG_TAG=stack
# shellcheck source=../lib/log.sh
. "$HERE/../lib/log.sh"

# True if something accepts TCP connections on 127.0.0.1:<port>.
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_args() {
  if [ -r "/proc/$1/cmdline" ]; then tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; else ps -ww -o args= -p "$1" 2>/dev/null || true; fi
}
read_pid() { [ -f "$1" ] && head -n 1 "$1" | tr -dc '0-9' || true; }

# Value of "key" in a "key=value" or "key value" config file.
conf_get() {
  [ -f "$1" ] || return 0
  sed -n -E "s/^[[:space:]]*$2[[:space:]]*[= ][[:space:]]*'?([^' #]*)'?.*/\1/p" "$1" | tail -n 1
}

lock() {
  mkdir -p "$STACK_DIR"
  exec 9>"$STACK_DIR/.lock"
  flock -w 600 9 || die "another 'stack' command holds $STACK_DIR/.lock"
}

prepare_dirs() {
  mkdir -p "$STACK_DIR" "$LOGS" "$REDIS_DIR" "$KAFKA_DIR/config" "$KAFKA_DATA"
  # Keep the runtime dir out of git even though it lives in the repo root by default.
  [ -f "$STACK_DIR/.gitignore" ] || printf '*\n' >"$STACK_DIR/.gitignore"
}

# ------------------------------------------------------------------------------------------ install

APT_UPDATED=0
apt_install() {
  local sudo=()
  if [ "$IS_ROOT" -ne 1 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo)
    else
      die "missing packages: $* -- install them (apt-get install -y $*) or run 'stack up' as root"
    fi
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing packages: $* and no apt-get on this machine; install them manually"
  say "installing $* via apt-get (log: $LOGS/apt.log) ..."
  # Another apt (unattended upgrades, a second install) may hold the dpkg lock: wait for it, bounded.
  local wait_lock=(-o DPkg::Lock::Timeout=300)
  if [ "$APT_UPDATED" -eq 0 ]; then
    "${sudo[@]}" apt-get "${wait_lock[@]}" update >>"$LOGS/apt.log" 2>&1 || die_component "install" "apt-get update failed" "$LOGS/apt.log"
    APT_UPDATED=1
  fi
  # policy-rc.d (if present) keeps apt from starting the system services; we never use them anyway.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${wait_lock[@]}" install -y --no-install-recommends "$@" \
    >>"$LOGS/apt.log" 2>&1 || die_component "install" "apt-get install $* failed" "$LOGS/apt.log"
}

# Directory with initdb/pg_ctl/postgres/pg_isready/psql; matches an existing cluster's major version.
pg_bindir() {
  local d v
  if [ -f "$PGDATA/PG_VERSION" ]; then
    v=$(cat "$PGDATA/PG_VERSION")
    [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ] && { echo "/usr/lib/postgresql/$v/bin"; return 0; }
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"
    return 0
  fi
  return 1
}

java_major() {
  java -XshowSettings:properties -version 2>&1 | sed -n -E 's/^[[:space:]]*java\.specification\.version = (1\.)?([0-9]+).*/\2/p' | head -n 1
}

kafka_resolved() { [ -f "$KAFKA_LIB/.resolved-$KAFKA_VERSION" ]; }

ensure_installed() {
  local pkgs=()
  pg_bindir >/dev/null || pkgs+=(postgresql)
  { command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || pkgs+=(redis-server)
  command -v java >/dev/null 2>&1 || pkgs+=(default-jre-headless)
  kafka_resolved || command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
  command -v node >/dev/null 2>&1 || die "node is required (it runs scripts/stack/kafka-ready.mjs)"
  if [ "${#pkgs[@]}" -gt 0 ]; then
    local t0
    t0=$(now)
    apt_install "${pkgs[@]}"
    say "installed ${pkgs[*]} in $(since "$t0")"
  fi
  PGBIN=$(pg_bindir) || die_component "postgres" "no PostgreSQL server binaries found after install"
  local jm
  jm=$(java_major)
  [ -n "$jm" ] && [ "$jm" -ge 11 ] || die_component "kafka" "Kafka $KAFKA_VERSION needs Java 11+ (17 recommended); found: $(java -version 2>&1 | head -n 1)"
  if ! kafka_resolved; then
    local t0 tmp=$KAFKA_LIB.tmp
    t0=$(now)
    say "resolving Apache Kafka $KAFKA_VERSION jars from Maven Central (log: $LOGS/mvn.log) ..."
    rm -rf "$tmp"
    mvn -B -ntp -f "$HERE/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"$LOGS/mvn.log" 2>&1 || die_component "kafka" "mvn could not resolve Apache Kafka $KAFKA_VERSION" "$LOGS/mvn.log"
    [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] && [ -f "$tmp/kafka-clients-$KAFKA_VERSION.jar" ] ||
      die_component "kafka" "mvn finished but kafka_2.13-$KAFKA_VERSION.jar / kafka-clients-$KAFKA_VERSION.jar are missing" "$LOGS/mvn.log"
    rm -rf "$KAFKA_LIB"
    mv "$tmp" "$KAFKA_LIB"
    touch "$KAFKA_LIB/.resolved-$KAFKA_VERSION"
    say "kafka jars: $(find "$KAFKA_LIB" -name '*.jar' | wc -l) files, $(du -sh "$KAFKA_LIB" | cut -f1), in $(since "$t0")"
  fi
}

# -------------------------------------------------------------------------------------------- postgres

# Postgres refuses to run as root: as root, run its binaries as the `postgres` OS user.
as_pg() {
  if [ "$IS_ROOT" -eq 1 ]; then
    (cd / && exec 9>&- && runuser -u postgres -- "$@")
  else
    ("$@" 9>&-)
  fi
}

pg_port() {
  local p
  p=$(conf_get "$PGDATA/safe-stack.conf" port)
  echo "${p:-$PG_PORT}"
}
pg_pid() { read_pid "$PGDATA/postmaster.pid"; }
pg_running() {
  [ -f "$PGDATA/postmaster.pid" ] || return 1
  local b
  b=$(pg_bindir) || return 1
  as_pg "$b/pg_ctl" status -D "$PGDATA" >/dev/null 2>&1
}
pg_ready() { "$PGBIN/pg_isready" -h "$HOST" -p "$(pg_port)" -U safe -d postgres -q >/dev/null 2>&1; }

pg_write_conf() {
  cat >"$PGDATA/safe-stack.conf" <<EOF
# Written by scripts/stack/stack.sh on every start; edits are overwritten.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = ''
max_connections = $PG_MAX_CONNECTIONS
shared_buffers = 128MB
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  [ "$IS_ROOT" -eq 1 ] && chown postgres:postgres "$PGDATA/safe-stack.conf"
  grep -q "safe-stack.conf" "$PGDATA/postgresql.conf" ||
    printf "\ninclude_if_exists = 'safe-stack.conf'\n" >>"$PGDATA/postgresql.conf"
}

pg_start() {
  local log=$LOGS/postgres.log
  if [ "$IS_ROOT" -eq 1 ] && ! id postgres >/dev/null 2>&1; then
    die_component "postgres" "running as root but there is no 'postgres' OS user to run the server as"
  fi
  mkdir -p "$PGDATA"
  touch "$log"
  if [ "$IS_ROOT" -eq 1 ]; then chown postgres:postgres "$PGDATA" "$log"; fi
  chmod 700 "$PGDATA"
  as_pg test -w "$PGDATA" ||
    die_component "postgres" "the postgres OS user cannot write $PGDATA (put SAFE_STACK_DIR under a world-traversable path)"
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    say "postgres: initdb $PGDATA"
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U safe --auth=trust -E UTF8 --locale=C --no-instructions \
      >>"$log" 2>&1 || die_component "postgres" "initdb failed" "$log"
  fi
  pg_write_conf
  if port_open "$PG_PORT"; then
    die_component "postgres" "port $HOST:$PG_PORT is already in use by another process (set SAFE_PG_PORT)"
  fi
  as_pg "$PGBIN/pg_ctl" start -D "$PGDATA" -l "$log" -W -s >>"$log" 2>&1 ||
    die_component "postgres" "pg_ctl start failed" "$log"
  # pg_ctl -W returns before the postmaster writes its pid file, which pg_running looks for.
  for _ in $(seq 1 50); do [ -f "$PGDATA/postmaster.pid" ] && break; sleep 0.2; done
}

pg_after_ready() {
  local port exists
  port=$(pg_port)
  exists=$("$PGBIN/psql" -X -h "$HOST" -p "$port" -U safe -d postgres -tAqc \
    "select 1 from pg_database where datname = 'safe'" 2>>"$LOGS/postgres.log") ||
    die_component "postgres" "cannot connect as user safe" "$LOGS/postgres.log"
  if [ "$exists" != "1" ]; then
    "$PGBIN/createdb" -h "$HOST" -p "$port" -U safe -O safe safe 2>>"$LOGS/postgres.log" ||
      die_component "postgres" "createdb safe failed" "$LOGS/postgres.log"
    say "postgres: created database safe"
  fi
}

pg_stop() {
  if pg_running; then
    say "postgres: stopping (pg_ctl stop -m fast)"
    as_pg "$(pg_bindir)/pg_ctl" stop -D "$PGDATA" -m fast -w -t 60 -s ||
      warn "postgres: pg_ctl stop failed (see $LOGS/postgres.log)"
  fi
}

# ----------------------------------------------------------------------------------------------- redis

redis_port() {
  local p
  p=$(conf_get "$REDIS_CONF" port)
  echo "${p:-$REDIS_PORT}"
}
redis_pid() { read_pid "$REDIS_PID"; }
redis_running() {
  local pid
  pid=$(redis_pid)
  pid_alive "$pid" && [[ $(pid_args "$pid") == *redis-server* ]]
}
redis_ready() { [ "$(redis-cli -h "$HOST" -p "$(redis_port)" ping 2>/dev/null)" = "PONG" ]; }

redis_start() {
  local log=$LOGS/redis.log
  cat >"$REDIS_CONF" <<EOF
# Written by scripts/stack/stack.sh on every start; edits are overwritten.
bind $HOST
port $REDIS_PORT
protected-mode yes
daemonize no
pidfile $REDIS_PID
logfile ""
loglevel notice
dir $REDIS_DIR
# The firewall, accumulators and sync entries live here: a restarted Redis must still know which
# requests were handled (docs/replay.md), so it logs every write and replays the log on start.
save ""
appendonly yes
appendfsync everysec
tcp-keepalive 60
EOF
  if port_open "$REDIS_PORT"; then
    die_component "redis" "port $HOST:$REDIS_PORT is already in use by another process (set SAFE_REDIS_PORT)"
  fi
  rm -f "$REDIS_PID"
  (cd "$REDIS_DIR" && exec 9>&- setsid nohup redis-server "$REDIS_CONF" >>"$log" 2>&1 </dev/null) &
  echo "$!" >"$REDIS_PID"
}

redis_stop() {
  if redis_running; then
    local pid
    pid=$(redis_pid)
    say "redis: stopping (shutdown nosave)"
    redis-cli -h "$HOST" -p "$(redis_port)" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.2; done
    if pid_alive "$pid"; then
      warn "redis: still running after shutdown, sending SIGTERM"
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.2; done
      pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$REDIS_PID"
}

# ----------------------------------------------------------------------------------------------- kafka

kafka_port() {
  local l
  l=$(conf_get "$KAFKA_CONF" advertised.listeners)
  l=${l##*:}
  echo "${l:-$KAFKA_PORT}"
}
kafka_controller_port() {
  local v
  v=$(conf_get "$KAFKA_CONF" controller.quorum.voters)
  v=${v##*:}
  echo "${v:-$KAFKA_CONTROLLER_PORT}"
}
kafka_pid() { read_pid "$KAFKA_PID"; }
kafka_running() {
  local pid
  pid=$(kafka_pid)
  pid_alive "$pid" && [[ $(pid_args "$pid") == *kafka.Kafka*"$KAFKA_CONF"* ]]
}
KAFKA_PROBE=""
kafka_ready() { KAFKA_PROBE=$(node "$HERE/kafka-ready.mjs" "$HOST" "$(kafka_port)" 2000 2>/dev/null); }

kafka_write_conf() {
  cat >"$KAFKA_CONF" <<EOF
# Written by scripts/stack/stack.sh on every start; edits are overwritten.
# One node, KRaft combined mode (broker + controller), loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=$KAFKA_PARTITIONS
default.replication.factor=1
auto.create.topics.enable=$KAFKA_AUTO_CREATE
offsets.topic.replication.factor=1
# 50 (the default) only slows a one-node broker's start; 10 is plenty for a dev stack.
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
num.network.threads=3
num.io.threads=4
log.retention.hours=24
log.segment.bytes=67108864
EOF
  cat >"$KAFKA_LOG4J" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$LOGS/kafka.log
log4j.appender.file.MaxFileSize=50MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.network.RequestChannel\$=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.authorizer.logger=WARN
EOF
  cat >"$KAFKA_TOOLS_LOG4J" <<EOF
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr.Target=System.err
EOF
}

kafka_start() {
  local out=$LOGS/kafka.out
  kafka_write_conf
  if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
    local id
    if [ -s "$KAFKA_DIR/cluster.id" ]; then
      id=$(cat "$KAFKA_DIR/cluster.id")
    else
      # Kafka cluster ids are 16 random bytes, base64url without padding (like Uuid.randomUuid()).
      id=$(node -e "let s;do{s=require('node:crypto').randomBytes(16).toString('base64url')}while(s.startsWith('-'));process.stdout.write(s)")
      echo "$id" >"$KAFKA_DIR/cluster.id"
    fi
    say "kafka: formatting storage (cluster id $id)"
    java -Dlog4j.configuration="file:$KAFKA_TOOLS_LOG4J" -cp "$KAFKA_LIB/*" kafka.tools.StorageTool \
      format -t "$id" -c "$KAFKA_CONF" --ignore-formatted >>"$out" 2>&1 ||
      die_component "kafka" "kafka-storage format failed" "$out"
  fi
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$p"; then
      die_component "kafka" "port $HOST:$p is already in use by another process (set SAFE_KAFKA_PORT / SAFE_KAFKA_CONTROLLER_PORT)"
    fi
  done
  local -a jvm
  read -r -a jvm <<<"$KAFKA_HEAP"
  jvm+=(-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$KAFKA_LOG4J" "-Dkafka.logs.dir=$LOGS")
  printf '\n==== %s starting kafka %s ====\n' "$(date -Is)" "$KAFKA_VERSION" >>"$out"
  (cd "$KAFKA_DIR" && exec 9>&- setsid nohup java "${jvm[@]}" -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_CONF" \
    >>"$out" 2>&1 </dev/null) &
  echo "$!" >"$KAFKA_PID"
  echo "$KAFKA_VERSION" >"$KAFKA_DIR/running.version"
}

kafka_stop_begin() {
  if kafka_running; then
    say "kafka: stopping (SIGTERM, controlled shutdown)"
    kill -TERM "$(kafka_pid)" 2>/dev/null || true
  fi
}
kafka_stop_wait() {
  local pid
  pid=$(kafka_pid)
  if pid_alive "$pid" && [[ $(pid_args "$pid") == *kafka.Kafka* ]]; then
    for _ in $(seq 1 $((KAFKA_STOP_TIMEOUT * 5))); do pid_alive "$pid" || break; sleep 0.2; done
    if pid_alive "$pid"; then
      warn "kafka: still running ${KAFKA_STOP_TIMEOUT}s after SIGTERM, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 25); do pid_alive "$pid" || break; sleep 0.2; done
    fi
  fi
  rm -f "$KAFKA_PID"
}

# ----------------------------------------------------------------------------------------- commands

env_lines() {
  printf 'SAFE_POSTGRES_URL=postgres://safe@%s:%s/safe\n' "$HOST" "$(pg_port)"
  printf 'SAFE_REDIS_URL=redis://%s:%s\n' "$HOST" "$(redis_port)"
  printf 'SAFE_KAFKA_BROKERS=%s:%s\n' "$HOST" "$(kafka_port)"
  jaeger_env_lines
}

# wait_ready <component> <t0> <probe-fn> <alive-fn> <log...>
wait_ready() {
  local comp=$1 t0=$2 probe=$3 alive=$4 start=$SECONDS
  shift 4
  while ! "$probe"; do
    "$alive" || die_component "$comp" "process exited during startup" "$@"
    if ((SECONDS - start >= TIMEOUT)); then
      die_component "$comp" "not ready after ${TIMEOUT}s (SAFE_STACK_TIMEOUT)" "$@"
    fi
    sleep 0.3
  done
  say "$comp: ready ($(since "$t0"))"
}

cmd_up() {
  local t_all t_pg t_redis t_kafka jaeger=0
  case "${1:-}" in
    "") ;;
    --jaeger) jaeger=1 ;;
    *) die "usage: stack up [--jaeger]" ;;
  esac
  t_all=$(now)
  lock
  prepare_dirs
  ensure_installed

  # Start whatever is stopped (all three in parallel), then wait for each.
  t_pg=$(now)
  if pg_running; then
    say "postgres: already running on $HOST:$(pg_port) (pid $(pg_pid))"
    [ "$(pg_port)" = "$PG_PORT" ] || warn "postgres runs on port $(pg_port), not SAFE_PG_PORT=$PG_PORT; 'stack down' first to change it"
  else
    say "postgres: starting on $HOST:$PG_PORT"
    pg_start
  fi
  t_redis=$(now)
  if redis_running; then
    say "redis: already running on $HOST:$(redis_port) (pid $(redis_pid))"
    [ "$(redis_port)" = "$REDIS_PORT" ] || warn "redis runs on port $(redis_port), not SAFE_REDIS_PORT=$REDIS_PORT; 'stack down' first to change it"
  else
    say "redis: starting on $HOST:$REDIS_PORT"
    redis_start
  fi
  t_kafka=$(now)
  if kafka_running; then
    say "kafka: already running on $HOST:$(kafka_port) (pid $(kafka_pid))"
    [ "$(kafka_port)" = "$KAFKA_PORT" ] || warn "kafka runs on port $(kafka_port), not SAFE_KAFKA_PORT=$KAFKA_PORT; 'stack down' first to change it"
    local rv
    rv=$(cat "$KAFKA_DIR/running.version" 2>/dev/null || true)
    [ -z "$rv" ] || [ "$rv" = "$KAFKA_VERSION" ] || warn "kafka $rv is running, not SAFE_KAFKA_VERSION=$KAFKA_VERSION; 'stack down' first to switch"
  else
    say "kafka: starting $KAFKA_VERSION (KRaft, broker $HOST:$KAFKA_PORT, controller $HOST:$KAFKA_CONTROLLER_PORT)"
    kafka_start
  fi

  wait_ready postgres "$t_pg" pg_ready pg_running "$LOGS/postgres.log"
  pg_after_ready
  wait_ready redis "$t_redis" redis_ready redis_running "$LOGS/redis.log"
  wait_ready kafka "$t_kafka" kafka_ready kafka_running "$LOGS/kafka.out" "$LOGS/kafka.log"
  # Make the broker create __consumer_offsets / __transaction_state now (no-op once they exist).
  KAFKA_PROBE=$(node "$HERE/kafka-ready.mjs" "$HOST" "$(kafka_port)" 5000 --coordinators 2>&1) ||
    die_component kafka "group/transaction coordinators not available: $KAFKA_PROBE" "$LOGS/kafka.log"
  say "kafka: $KAFKA_PROBE ($(since "$t_kafka"))"
  [ "$jaeger" -eq 0 ] || jaeger_up

  env_lines >"$ENV_FILE.tmp" && mv "$ENV_FILE.tmp" "$ENV_FILE"
  say "stack up in $(since "$t_all"); env written to $ENV_FILE"
  cat "$ENV_FILE"
}

cmd_down() {
  local purge=0
  case "${1:-}" in
    "") ;;
    --purge) purge=1 ;;
    *) die "usage: stack down [--purge]" ;;
  esac
  [ -d "$STACK_DIR" ] || { say "nothing to stop ($STACK_DIR does not exist)"; return 0; }
  lock
  kafka_stop_begin # Kafka takes longest; let it shut down while the others stop
  pg_stop
  redis_stop
  kafka_stop_wait
  jaeger_stop
  if [ "$purge" -eq 1 ]; then
    say "purging data in $STACK_DIR (keeping the Kafka jar cache $KAFKA_LIB)"
    rm -rf "$PGDATA" "$REDIS_DIR" "$KAFKA_DATA" "$KAFKA_DIR/config" "$KAFKA_DIR/cluster.id" \
      "$KAFKA_DIR/running.version" "$LOGS" "$ENV_FILE"
  fi
  say "stack down"
}

cmd_status() {
  local all=0 pid
  if pg_running; then
    printf '%-9s running  %s:%s  pid %s\n' postgres "$HOST" "$(pg_port)" "$(pg_pid)"
  else
    printf '%-9s stopped  %s:%s\n' postgres "$HOST" "$(pg_port)"
    all=3
  fi
  if redis_running; then
    printf '%-9s running  %s:%s  pid %s\n' redis "$HOST" "$(redis_port)" "$(redis_pid)"
  else
    printf '%-9s stopped  %s:%s\n' redis "$HOST" "$(redis_port)"
    all=3
  fi
  if kafka_running; then
    pid=$(kafka_pid)
    if kafka_ready; then
      printf '%-9s running  %s:%s  pid %s  controller %s:%s  %s\n' kafka "$HOST" "$(kafka_port)" "$pid" \
        "$HOST" "$(kafka_controller_port)" "$(cat "$KAFKA_DIR/running.version" 2>/dev/null || true)"
    else
      printf '%-9s starting %s:%s  pid %s  (process up, broker not answering Metadata yet)\n' kafka "$HOST" "$(kafka_port)" "$pid"
      all=3
    fi
  else
    printf '%-9s stopped  %s:%s\n' kafka "$HOST" "$(kafka_port)"
    all=3
  fi
  jaeger_status
  return "$all"
}

cmd_env() {
  if [ -f "$ENV_FILE" ]; then cat "$ENV_FILE"; else env_lines; fi
}

cmd_kafka() {
  local tool=${1:-} cls
  [ -n "$tool" ] && shift || true
  case "$tool" in
    topics) cls=org.apache.kafka.tools.TopicCommand ;;
    groups) cls=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    configs) cls=kafka.admin.ConfigCommand ;;
    *) die "usage: stack kafka <topics|groups|configs> [args]   (--bootstrap-server is added for you)" ;;
  esac
  kafka_resolved || die "kafka jars not resolved yet; run 'stack up' first"
  [ -f "$KAFKA_TOOLS_LOG4J" ] || kafka_write_conf
  exec java -Xmx256m -Dlog4j.configuration="file:$KAFKA_TOOLS_LOG4J" -cp "$KAFKA_LIB/*" "$cls" \
    --bootstrap-server "$HOST:$(kafka_port)" "$@"
}

cmd_restart() {
  local t0
  [ $# -eq 1 ] || die "usage: stack restart <postgres|redis|kafka>"
  lock
  prepare_dirs
  ensure_installed
  t0=$(now)
  case "$1" in
    postgres)
      pg_running || die "postgres is not running: 'stack up' starts it"
      pg_stop
      pg_start
      wait_ready postgres "$t0" pg_ready pg_running "$LOGS/postgres.log"
      ;;
    redis)
      redis_running || die "redis is not running: 'stack up' starts it"
      redis_stop
      redis_start
      wait_ready redis "$t0" redis_ready redis_running "$LOGS/redis.log"
      ;;
    kafka)
      kafka_running || die "kafka is not running: 'stack up' starts it"
      kafka_stop_begin
      kafka_stop_wait
      kafka_start
      wait_ready kafka "$t0" kafka_ready kafka_running "$LOGS/kafka.out" "$LOGS/kafka.log"
      ;;
    *) die "usage: stack restart <postgres|redis|kafka> (not '$1')" ;;
  esac
}

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  restart) cmd_restart "$@" ;;
  status) cmd_status "$@" ;;
  env) cmd_env "$@" ;;
  kafka) cmd_kafka "$@" ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
