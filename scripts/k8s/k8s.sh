#!/usr/bin/env bash
# A one-node Kubernetes cluster on this machine, for developers and CI (see scripts/k8s/README.md).
# Nothing is pulled: Kubernetes, helm and CoreDNS are built from the Go module proxy, base images
# are made with debootstrap, the rest comes from Debian packages. Needs root (kubelet, containerd).
#
#   pnpm k8s up              install what is missing, build what is not cached, start what is stopped,
#                            wait until the node is Ready; prints the env lines (also in $SAFE_K8S_DIR/k8s.env)
#   pnpm k8s down [--purge]  stop everything `up` started (pods first); --purge also deletes the
#                            cluster's state (etcd, volumes); the build cache and images stay
#   pnpm k8s status          one line per component; exit 0 only if all run and the node is Ready
#   pnpm k8s env             print KUBECONFIG=... and PATH=... (with the built kubectl and helm)
#   pnpm k8s images          build the project's image and the chart's infrastructure images and
#                            load them into the cluster (helm/safe-network/ci/local-values.yaml uses them)
#   pnpm k8s engine          start only containerd and dockerd (no cluster): enough for the tests'
#                            testcontainers (docs/testing.md) and for `k8s images`; `down` stops them
#
# Progress and errors go to stderr; env and status lines go to stdout.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

K8S_DIR=${SAFE_K8S_DIR:-/var/lib/safe-k8s}
K8S_CACHE=${SAFE_K8S_CACHE:-/var/cache/safe-k8s}
BIN=$K8S_CACHE/bin
LOGS=$K8S_DIR/logs
RUN=$K8S_DIR/run
PKI=$K8S_DIR/pki
SOCK_DIR=/run/safe-k8s
CONTAINERD_SOCK=$SOCK_DIR/containerd/containerd.sock
DOCKER_SOCK=${SAFE_K8S_DOCKER_SOCK:-/var/run/docker.sock}
API_PORT=${SAFE_K8S_API_PORT:-6443}
ETCD_PORT=${SAFE_K8S_ETCD_PORT:-2379}
POD_CIDR=${SAFE_K8S_POD_CIDR:-10.244.0.0/24}
SERVICE_CIDR=${SAFE_K8S_SERVICE_CIDR:-10.96.0.0/16}
API_SERVICE_IP=${SAFE_K8S_API_SERVICE_IP:-10.96.0.1} # the first address of SERVICE_CIDR
TIMEOUT=${SAFE_K8S_TIMEOUT:-180}
NODE_NAME=${SAFE_K8S_NODE_NAME:-$(hostname | tr '[:upper:]_' '[:lower:]-')}
ENV_FILE=$K8S_DIR/k8s.env
KUBECONFIG_FILE=$K8S_DIR/kubeconfig
IPT_TAG=safe-k8s
PAUSE_IMAGE=safe-local/pause:3.10

LOG_TAG=k8s
# shellcheck source=../lib/log.sh
. "$HERE/../lib/log.sh"
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
read_pid() { [ -f "$1" ] && head -n 1 "$1" | tr -dc '0-9' || true; }

# shellcheck source=build.sh
. "$HERE/build.sh"
# shellcheck source=components.sh
. "$HERE/components.sh"
# shellcheck source=images.sh
. "$HERE/images.sh"

lock() {
  mkdir -p "$K8S_DIR" "$LOGS" "$RUN"
  exec 9>"$K8S_DIR/.lock"
  flock -w 900 9 || die "another 'k8s' command holds $K8S_DIR/.lock"
}

need_root() { [ "$(id -u)" -eq 0 ] || die "the cluster needs root (kubelet, containerd, iptables); run 'pnpm k8s $1' as root"; }

# maven: `images` resolves the Kafka jars itself when no local stack did it first (pnpm test starts no
# local stack where the tests' servers run in containers).
APT_PKGS=(docker.io containerd runc etcd-server containernetworking-plugins debootstrap conntrack iptables openssl socat maven)
ensure_packages() {
  local missing=() p
  for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing packages: ${missing[*]} and no apt-get here"
  say "installing ${missing[*]} via apt-get (log: $LOGS/apt.log) ..."
  apt-get -o DPkg::Lock::Timeout=300 update >>"$LOGS/apt.log" 2>&1 || die_component install "apt-get update failed" "$LOGS/apt.log"
  # policy-rc.d (if present) keeps apt from starting the system's own containerd/dockerd/etcd.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}" \
    >>"$LOGS/apt.log" 2>&1 || die_component install "apt-get install failed" "$LOGS/apt.log"
}

env_lines() {
  printf 'KUBECONFIG=%s\n' "$KUBECONFIG_FILE"
  # shellcheck disable=SC2016 # $PATH is for the shell that loads these lines
  printf 'PATH=%s:$PATH\n' "$BIN"
}

cmd_up() {
  [ $# -eq 0 ] || die "usage: k8s up"
  need_root up
  local t0
  t0=$(now)
  lock
  ensure_packages
  build_k8s
  build_helm
  build_coredns
  build_pause
  start_all
  env_lines >"$ENV_FILE.tmp" && mv "$ENV_FILE.tmp" "$ENV_FILE"
  say "cluster up in $(since "$t0"); env written to $ENV_FILE"
  cat "$ENV_FILE"
}

cmd_down() {
  local purge=0
  case "${1:-}" in "") ;; --purge) purge=1 ;; *) die "usage: k8s down [--purge]" ;; esac
  need_root down
  [ -d "$K8S_DIR" ] || { say "nothing to stop ($K8S_DIR does not exist)"; return 0; }
  lock
  stop_all
  if [ "$purge" -eq 1 ]; then
    say "purging cluster state in $K8S_DIR (keeping images in containerd and the build cache $K8S_CACHE)"
    rm -rf "$K8S_DIR/etcd" "$K8S_DIR/volumes" "$K8S_DIR/kubelet" "$K8S_DIR/cni-ipam" "$PKI" "$KUBECONFIG_FILE" "$ENV_FILE"
  fi
  say "cluster down"
}

cmd_env() { if [ -f "$ENV_FILE" ]; then cat "$ENV_FILE"; else env_lines; fi; }

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  status) [ $# -eq 0 ] || die "usage: k8s status"; status_all ;;
  env) [ $# -eq 0 ] || die "usage: k8s env"; cmd_env ;;
  images) need_root images; lock; cmd_images "$@" ;;
  engine) [ $# -eq 0 ] || die "usage: k8s engine"; need_root engine; lock; ensure_packages; start_engine ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
