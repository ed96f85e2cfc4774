# Images (sourced by k8s.sh): nothing can be pulled here, so the bases are made locally and every
# image the cluster runs is built by the cluster's dockerd and imported into containerd's k8s.io
# namespace. Names: docker.io/safe-local/* (never pulled: they exist only here).

DEBIAN_IMAGE=safe-local/debian:bookworm
NODE_BASE_IMAGE=safe-local/node:20-bookworm-slim
PROJECT_IMAGE=${SAFE_K8S_PROJECT_IMAGE:-safe-vault:dev}
KAFKA_VERSION=${SAFE_KAFKA_VERSION:-3.9.2}
JAEGER_VERSION=${SAFE_JAEGER_VERSION:-1.42.0}
DEBIAN_MIRROR=${SAFE_K8S_DEBIAN_MIRROR:-http://deb.debian.org/debian}
INFRA_IMAGES=(postgres:safe-local/postgres:15 redis:safe-local/redis:7 kafka:safe-local/kafka:$KAFKA_VERSION jaeger:safe-local/jaeger:$JAEGER_VERSION)

DOCKER() { DOCKER_BUILDKIT=0 docker -H "unix://$DOCKER_SOCK" "$@"; }
CTR() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
have_image() { DOCKER image inspect "$1" >/dev/null 2>&1; }

build_pause() {
  [ -x "$BIN/pause" ] && return 0
  local go
  go=$(go_bin)
  (cd "$HERE/pause" && GOFLAGS=-mod=mod GO111MODULE=off CGO_ENABLED=0 "$go" build -ldflags "-s -w" -o "$BIN/pause" main.go) \
    >"$LOGS/build-pause.log" 2>&1 || die_component pause "go build failed" "$LOGS/build-pause.log"
}

# import_image <image>: docker save | ctr import, skipped when containerd already has this build.
import_image() {
  local img=$1 id mark
  id=$(DOCKER image inspect -f '{{.Id}}' "$img")
  mark=$RUN/imported.$(printf '%s' "$img" | tr '/:' '__')
  if [ "$(cat "$mark" 2>/dev/null)" = "$id" ] && CTR images ls -q | grep -qxF "docker.io/$img"; then return 0; fi
  DOCKER save "$img" | CTR images import - >>"$LOGS/images.log" 2>&1 || die_component images "importing $img into containerd failed" "$LOGS/images.log"
  printf '%s\n' "$id" >"$mark"
  say "imported $img"
}

# The sandbox image: a static pause binary, FROM scratch.
load_pause_image() {
  if ! have_image "$PAUSE_IMAGE"; then
    local tmp
    tmp=$(mktemp -d)
    install -m 0755 "$BIN/pause" "$tmp/pause"
    tar -C "$tmp" -c pause | DOCKER import --change 'ENTRYPOINT ["/pause"]' - "$PAUSE_IMAGE" >>"$LOGS/images.log" 2>&1 ||
      die_component images "docker import of the pause image failed" "$LOGS/images.log"
    rm -rf "$tmp"
  fi
  import_image "$PAUSE_IMAGE"
}

# A minbase Debian bookworm rootfs (debootstrap, from the apt mirror), imported as an image.
ensure_debian_image() {
  have_image "$DEBIAN_IMAGE" && return 0
  local t0 dir=$K8S_CACHE/rootfs/bookworm log=$LOGS/debootstrap.log
  t0=$(now)
  if [ ! -f "$dir/.complete" ]; then
    say "debootstrap --variant=minbase bookworm from $DEBIAN_MIRROR (log: $log) ..."
    rm -rf "$dir" && mkdir -p "$dir"
    debootstrap --variant=minbase bookworm "$dir" "$DEBIAN_MIRROR" >"$log" 2>&1 || die_component debootstrap "failed" "$log"
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    touch "$dir/.complete"
  fi
  tar -C "$dir" --exclude ./.complete -c . | DOCKER import - "$DEBIAN_IMAGE" >>"$LOGS/images.log" 2>&1 ||
    die_component images "docker import of the Debian rootfs failed" "$LOGS/images.log"
  say "made $DEBIAN_IMAGE ($(since "$t0"))"
}

# build_image <image> <context> [docker build args...]: host network (dockerd has no bridge).
build_image() {
  local img=$1 ctx=$2 t0 log
  shift 2
  log=$LOGS/build-$(printf '%s' "$img" | tr '/:' '__').log
  t0=$(now)
  say "docker build $img (log: $log) ..."
  DOCKER build --network host -t "$img" "$@" "$ctx" >"$log" 2>&1 || die_component images "docker build of $img failed" "$log"
  say "built $img ($(since "$t0"))"
}

ensure_node_image() {
  have_image "$NODE_BASE_IMAGE" && return 0
  local ctx=$ROOT/docker/node
  command -v node >/dev/null 2>&1 || die "the node base image copies this machine's Node.js 20, and there is none"
  install -m 0755 "$(readlink -f "$(command -v node)")" "$ctx/node"
  rm -rf "$ctx/node_modules" && mkdir -p "$ctx/node_modules"
  cp -a /usr/lib/node_modules/npm /usr/lib/node_modules/corepack "$ctx/node_modules/"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  build_image "$NODE_BASE_IMAGE" "$ctx" --build-arg "BASE_IMAGE=$DEBIAN_IMAGE"
}

kafka_jars() {
  local dir=$K8S_CACHE/kafka-$KAFKA_VERSION stack_lib=${SAFE_STACK_DIR:-$ROOT/.safe-stack}/kafka/lib
  if [ ! -f "$dir/.resolved" ]; then
    if [ -f "$stack_lib/.resolved-$KAFKA_VERSION" ]; then
      rm -rf "$dir" && cp -a "$stack_lib" "$dir"
    else
      say "resolving Apache Kafka $KAFKA_VERSION jars from Maven Central (log: $LOGS/mvn.log) ..."
      rm -rf "$dir"
      mvn -B -ntp -f "$ROOT/scripts/stack/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$dir" >"$LOGS/mvn.log" 2>&1 || die_component kafka "mvn failed" "$LOGS/mvn.log"
    fi
    touch "$dir/.resolved"
  fi
  rm -rf "$ROOT/docker/kafka/lib" && mkdir -p "$ROOT/docker/kafka/lib"
  cp "$dir"/*.jar "$ROOT/docker/kafka/lib/"
}

# The stack's Jaeger build (scripts/stack/jaeger.sh) when there is one, else the same go install.
jaeger_binary() {
  local stack_bin=${SAFE_STACK_DIR:-$ROOT/.safe-stack}/jaeger/bin/all-in-one-$JAEGER_VERSION
  local bin=$BIN/jaeger-all-in-one-$JAEGER_VERSION go
  if [ ! -x "$bin" ]; then
    if [ -x "$stack_bin" ]; then cp "$stack_bin" "$bin"; else
      go=$(go_bin)
      say "building Jaeger all-in-one v$JAEGER_VERSION with go install (log: $LOGS/build-jaeger.log) ..."
      GOBIN=$K8S_CACHE/jaeger-build CGO_ENABLED=0 "$go" install "github.com/jaegertracing/jaeger/cmd/all-in-one@v$JAEGER_VERSION" \
        >"$LOGS/build-jaeger.log" 2>&1 || die_component jaeger "go install failed" "$LOGS/build-jaeger.log"
      mv "$K8S_CACHE/jaeger-build/all-in-one" "$bin"
    fi
  fi
  install -m 0755 "$bin" "$ROOT/docker/jaeger/all-in-one"
}

cmd_images() {
  local only=${1:-all} t0 entry name img
  case "$only" in all | project | infra) ;; *) die "usage: k8s images [project|infra]" ;; esac
  comp_running dockerd && comp_running containerd || die "the cluster is not up: run 'pnpm k8s up' first"
  t0=$(now)
  ensure_debian_image
  if [ "$only" != project ]; then
    kafka_jars
    jaeger_binary
    for entry in "${INFRA_IMAGES[@]}"; do
      name=${entry%%:*} img=${entry#*:}
      build_image "$img" "$ROOT/docker/$name" --build-arg "BASE_IMAGE=$DEBIAN_IMAGE"
      import_image "$img"
    done
  fi
  if [ "$only" != infra ]; then
    ensure_node_image
    build_image "$PROJECT_IMAGE" "$ROOT" --build-arg "NODE_IMAGE=$NODE_BASE_IMAGE"
    import_image "$PROJECT_IMAGE"
  fi
  say "images ready in $(since "$t0")"
}
