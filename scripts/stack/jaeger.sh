# Jaeger all-in-one for the local stack (sourced by stack.sh; uses its say/die/port_open helpers).
# Jaeger publishes no Debian package and this machine fetches no release binaries, so it is built
# with `go install` (Go from Debian if missing) once per version, into $SAFE_STACK_DIR/jaeger/bin.
# A `go install` build has no web UI (its assets are not in the module): the query API is served.
# All of its listeners are bound to loopback, including the legacy agent/collector ports.

JAEGER_VERSION=${SAFE_JAEGER_VERSION:-1.42.0}
JAEGER_OTLP_GRPC_PORT=${SAFE_JAEGER_OTLP_GRPC_PORT:-4317}
JAEGER_OTLP_HTTP_PORT=${SAFE_JAEGER_OTLP_HTTP_PORT:-4318}
JAEGER_QUERY_PORT=${SAFE_JAEGER_QUERY_PORT:-16686}
JAEGER_MAX_TRACES=${SAFE_JAEGER_MAX_TRACES:-20000}
JAEGER_DIR=$STACK_DIR/jaeger
JAEGER_BIN=$JAEGER_DIR/bin/all-in-one-$JAEGER_VERSION
JAEGER_PID=$JAEGER_DIR/jaeger.pid
JAEGER_PORTS=$JAEGER_DIR/ports

jaeger_built() { [ -x "$JAEGER_BIN" ]; }

# Builds the all-in-one binary once; the Go module cache makes a rebuild of the same version quick.
jaeger_ensure_built() {
  jaeger_built && return 0
  local t0 tmp=$JAEGER_DIR/bin/.build
  t0=$(now)
  mkdir -p "$JAEGER_DIR/bin"
  command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || apt_install golang-go
  local go
  go=$(command -v go || echo /usr/local/go/bin/go)
  say "jaeger: building all-in-one v$JAEGER_VERSION with go install, once (~2-3 min; log: $LOGS/jaeger-build.log) ..."
  rm -rf "$tmp"
  GOBIN=$tmp "$go" install "github.com/jaegertracing/jaeger/cmd/all-in-one@v$JAEGER_VERSION" \
    >"$LOGS/jaeger-build.log" 2>&1 || die_component "jaeger" "go install of all-in-one v$JAEGER_VERSION failed" "$LOGS/jaeger-build.log"
  mv "$tmp/all-in-one" "$JAEGER_BIN"
  rm -rf "$tmp"
  say "jaeger: built all-in-one v$JAEGER_VERSION ($(du -h "$JAEGER_BIN" | cut -f1)) in $(since "$t0")"
}

jaeger_pid() { read_pid "$JAEGER_PID"; }
jaeger_running() {
  local pid
  pid=$(jaeger_pid)
  pid_alive "$pid" && case "$(pid_args "$pid")" in *all-in-one*) return 0 ;; esac
  return 1
}
# "otlp-grpc otlp-http query" ports of the running Jaeger (read back: env vars may differ since).
jaeger_port() {
  local i=$1
  if [ -f "$JAEGER_PORTS" ]; then cut -d' ' -f"$i" "$JAEGER_PORTS"; else
    case $i in 1) echo "$JAEGER_OTLP_GRPC_PORT" ;; 2) echo "$JAEGER_OTLP_HTTP_PORT" ;; 3) echo "$JAEGER_QUERY_PORT" ;; esac
  fi
}
jaeger_ready() { port_open "$(jaeger_port 2)" && port_open "$(jaeger_port 3)"; }

jaeger_start() {
  local log=$LOGS/jaeger.log p
  for p in "$JAEGER_OTLP_GRPC_PORT" "$JAEGER_OTLP_HTTP_PORT" "$JAEGER_QUERY_PORT"; do
    port_open "$p" && die_component "jaeger" "port $HOST:$p is already in use by another process (set SAFE_JAEGER_*_PORT)"
  done
  printf '%s %s %s\n' "$JAEGER_OTLP_GRPC_PORT" "$JAEGER_OTLP_HTTP_PORT" "$JAEGER_QUERY_PORT" >"$JAEGER_PORTS"
  nohup "$JAEGER_BIN" --memory.max-traces="$JAEGER_MAX_TRACES" \
    --collector.otlp.enabled=true \
    --collector.otlp.grpc.host-port="$HOST:$JAEGER_OTLP_GRPC_PORT" \
    --collector.otlp.http.host-port="$HOST:$JAEGER_OTLP_HTTP_PORT" \
    --query.http-server.host-port="$HOST:$JAEGER_QUERY_PORT" \
    --query.grpc-server.host-port="$HOST:0" \
    --admin.http.host-port="$HOST:0" \
    --collector.grpc-server.host-port="$HOST:0" \
    --collector.http-server.host-port="$HOST:0" \
    --http-server.host-port="$HOST:0" \
    --processor.jaeger-binary.server-host-port="$HOST:0" \
    --processor.jaeger-compact.server-host-port="$HOST:0" \
    --processor.zipkin-compact.server-host-port="$HOST:0" \
    >"$log" 2>&1 </dev/null 9>&- &
  # 9>&-: the stack's lock is on fd 9; a Jaeger that inherited it would hold it for good, and the
  # next `stack down` would wait on it forever.
  echo $! >"$JAEGER_PID"
}

jaeger_stop() {
  local pid
  pid=$(jaeger_pid)
  if jaeger_running; then
    say "jaeger: stopping (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$JAEGER_PID" "$JAEGER_PORTS"
}

# Builds (once) and starts Jaeger unless it runs; waits until its OTLP and query ports answer.
jaeger_up() {
  local t0
  jaeger_ensure_built
  t0=$(now)
  if jaeger_running; then
    say "jaeger: already running, query API on $HOST:$(jaeger_port 3) (pid $(jaeger_pid))"
  else
    say "jaeger: starting all-in-one v$JAEGER_VERSION (OTLP $HOST:$JAEGER_OTLP_GRPC_PORT/$JAEGER_OTLP_HTTP_PORT, query API $HOST:$JAEGER_QUERY_PORT)"
    jaeger_start
  fi
  wait_ready jaeger "$t0" jaeger_ready jaeger_running "$LOGS/jaeger.log"
}

jaeger_status() {
  if jaeger_running; then
    printf '%-9s running  %s:%s  pid %s  OTLP %s:%s (http) %s:%s (grpc)  no web UI (go install build)\n' jaeger "$HOST" "$(jaeger_port 3)" \
      "$(jaeger_pid)" "$HOST" "$(jaeger_port 2)" "$HOST" "$(jaeger_port 1)"
  else
    printf '%-9s stopped  (optional: pnpm stack up --jaeger)\n' jaeger
  fi
}

# Env lines for a running Jaeger: where to export spans, and where its query API is.
jaeger_env_lines() {
  jaeger_running || return 0
  printf 'SAFE_JAEGER_OTLP_ENDPOINT=http://%s:%s\n' "$HOST" "$(jaeger_port 2)"
  printf 'SAFE_JAEGER_URL=http://%s:%s\n' "$HOST" "$(jaeger_port 3)"
}
