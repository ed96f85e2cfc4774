# Builds the cluster's binaries once into $K8S_CACHE/bin (sourced by k8s.sh; uses its helpers).
# Kubernetes, helm and CoreDNS publish no Debian packages and this machine fetches no release
# binaries, so they come from the Go module proxy. `go install k8s.io/kubernetes/...` is refused
# (its go.mod has replace directives), so a wrapper module requires it and pins its staging modules.

K8S_VERSION=${SAFE_K8S_VERSION:-1.33.13}
HELM_VERSION=${SAFE_HELM_VERSION:-3.16.4}
COREDNS_VERSION=${SAFE_COREDNS_VERSION:-1.12.1}
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

go_bin() { command -v go 2>/dev/null || { [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go; } || die "Go is needed to build Kubernetes (apt-get install golang-go, or /usr/local/go)"; }

k8s_built() { [ -f "$BIN/.k8s-$K8S_VERSION" ]; }

build_k8s() {
  k8s_built && return 0
  local go t0 mod=$K8S_CACHE/src/kubernetes-$K8S_VERSION minor=${K8S_VERSION#*.} log=$LOGS/build-kubernetes.log
  go=$(go_bin)
  minor=${minor%%.*}
  t0=$(now)
  say "building Kubernetes v$K8S_VERSION from the Go module proxy, once (~11 min, 2 GB; log: $log) ..."
  mkdir -p "$mod" "$BIN"
  # The staging modules k8s.io/kubernetes replaces with ./staging/... are published as v0.<minor>.<patch>.
  local gomod
  gomod=$(cd "$mod" && GOFLAGS=-mod=mod "$go" mod download -json "k8s.io/kubernetes@v$K8S_VERSION" 2>>"$log" | sed -n -E 's/^[[:space:]]*"GoMod": "(.*)",?$/\1/p')
  [ -f "$gomod" ] || die_component kubernetes "could not download k8s.io/kubernetes@v$K8S_VERSION" "$log"
  {
    printf 'module safe.local/k8s-build\n\ngo 1.24\n\nrequire k8s.io/kubernetes v%s\n\n' "$K8S_VERSION"
    sed -n -E 's#^[[:space:]]*(k8s\.io/[a-z0-9-]+) => \./staging/.*#replace \1 => \1 v0.'"${K8S_VERSION#*.}"'#p' "$gomod"
  } >"$mod/go.mod"
  [ "$(grep -c '^replace' "$mod/go.mod")" -gt 20 ] || die_component kubernetes "found no staging replaces in $gomod" "$log"
  printf 'package main\n' >"$mod/doc.go"
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  local pkgs=()
  for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$mod" && GOFLAGS=-mod=mod CGO_ENABLED=0 "$go" get "k8s.io/kubernetes@v$K8S_VERSION" >>"$log" 2>&1 &&
    GOFLAGS=-mod=mod CGO_ENABLED=0 "$go" build -trimpath -ldflags "$ld" -o "$BIN/" "${pkgs[@]}" >>"$log" 2>&1) ||
    die_component kubernetes "go build failed" "$log"
  touch "$BIN/.k8s-$K8S_VERSION"
  say "built Kubernetes v$K8S_VERSION ($(du -sh "$BIN" | cut -f1)) in $(since "$t0")"
}

build_helm() {
  [ -x "$BIN/helm" ] && [ -f "$BIN/.helm-$HELM_VERSION" ] && return 0
  local t0 go log=$LOGS/build-helm.log
  go=$(go_bin)
  # The one scripts/tools/ensure-helm.sh installs (same version) saves a build.
  local gopath_helm
  gopath_helm=$("$go" env GOPATH)/bin/helm
  if [ -x "$gopath_helm" ] && "$go" version -m "$gopath_helm" 2>/dev/null | grep -qE "^[[:space:]]+mod[[:space:]]+helm.sh/helm/v3[[:space:]]+v$HELM_VERSION[[:space:]]"; then
    cp "$gopath_helm" "$BIN/helm" && touch "$BIN/.helm-$HELM_VERSION" && return 0
  fi
  t0=$(now)
  say "building helm v$HELM_VERSION (log: $log) ..."
  GOBIN=$BIN CGO_ENABLED=0 "$go" install "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" >"$log" 2>&1 || die_component helm "go install failed" "$log"
  touch "$BIN/.helm-$HELM_VERSION"
  say "built helm in $(since "$t0")"
}

# CoreDNS with only the plugins the cluster's Corefile uses (its full plugin set is a far longer build).
build_coredns() {
  [ -x "$BIN/coredns" ] && [ -f "$BIN/.coredns-$COREDNS_VERSION" ] && return 0
  local t0 go mod=$K8S_CACHE/src/coredns-$COREDNS_VERSION log=$LOGS/build-coredns.log
  go=$(go_bin)
  t0=$(now)
  say "building CoreDNS v$COREDNS_VERSION (log: $log) ..."
  mkdir -p "$mod"
  cp "$HERE/coredns/main.go" "$mod/main.go"
  printf 'module safe.local/coredns\n\ngo 1.24\n\nrequire github.com/coredns/coredns v%s\n' "$COREDNS_VERSION" >"$mod/go.mod"
  (cd "$mod" && GOFLAGS=-mod=mod CGO_ENABLED=0 "$go" mod tidy >"$log" 2>&1 &&
    GOFLAGS=-mod=mod CGO_ENABLED=0 "$go" build -trimpath -ldflags "-s -w" -o "$BIN/coredns" . >>"$log" 2>&1) ||
    die_component coredns "go build failed" "$log"
  touch "$BIN/.coredns-$COREDNS_VERSION"
  say "built CoreDNS in $(since "$t0")"
}
