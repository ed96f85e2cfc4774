# The cluster's processes (sourced by k8s.sh). Each runs detached with its pid in $RUN/<name>.pid
# and its log in $LOGS/<name>.log; `down` stops only those pids.

HOST_IP=${SAFE_K8S_HOST_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n -E 's/.* src ([0-9.]+).*/\1/p')}
DNS_PORT=53
COREDNS_READY_PORT=${SAFE_K8S_DNS_READY_PORT:-18181}
COMPONENTS=(containerd dockerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy coredns provisioner)
KCTL() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

comp_pid() { read_pid "$RUN/$1.pid"; }
comp_running() { pid_alive "$(comp_pid "$1")"; }

# start_bg <name> <cmd...>: detached, own session, the lock's fd closed so it never holds it.
start_bg() {
  local name=$1
  shift
  printf '\n==== %s starting %s ====\n' "$(date -Is)" "$name" >>"$LOGS/$name.log"
  setsid nohup "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$RUN/$name.pid"
}

wait_for() {
  local name=$1 probe=$2 start=$SECONDS
  while ! eval "$probe" >/dev/null 2>&1; do
    comp_running "$name" || die_component "$name" "exited during startup" "$LOGS/$name.log"
    ((SECONDS - start < TIMEOUT)) || die_component "$name" "not ready after ${TIMEOUT}s (SAFE_K8S_TIMEOUT)" "$LOGS/$name.log"
    sleep 0.5
  done
}

# --------------------------------------------------------------------------------- certificates

make_pki() {
  [ -f "$PKI/admin.token" ] && return 0
  say "making certificates and the admin token in $PKI"
  mkdir -p "$PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj /CN=safe-k8s-ca
    cert() { # cert <name> <subject> [subjectAltName]
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2"
      if [ -n "${3:-}" ]; then printf 'subjectAltName=%s\n' "$3" >"$1.ext"; else : >"$1.ext"; fi
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 -extfile "$1.ext"
    }
    cert apiserver /CN=kube-apiserver "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$API_SERVICE_IP,IP:$HOST_IP"
    cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
    cert kubelet "/CN=$NODE_NAME" "DNS:$NODE_NAME,IP:127.0.0.1,IP:$HOST_IP"
    openssl genrsa -out sa.key 2048
    openssl rsa -in sa.key -pubout -out sa.pub
    openssl rand -hex 24 >admin.token
    printf '%s,admin,admin,system:masters\n' "$(cat admin.token)" >tokens.csv
    chmod 600 ./*.key admin.token tokens.csv
  ) >"$LOGS/pki.log" 2>&1 || die_component pki "openssl failed" "$LOGS/pki.log"
}

write_kubeconfig() {
  cat >"$KUBECONFIG_FILE.tmp" <<EOC
apiVersion: v1
kind: Config
clusters:
  - name: safe-k8s
    cluster:
      server: https://127.0.0.1:$API_PORT
      certificate-authority: $PKI/ca.crt
users:
  - name: admin
    user:
      token: $(cat "$PKI/admin.token")
contexts:
  - name: safe-k8s
    context: { cluster: safe-k8s, user: admin }
current-context: safe-k8s
EOC
  chmod 600 "$KUBECONFIG_FILE.tmp"
  mv "$KUBECONFIG_FILE.tmp" "$KUBECONFIG_FILE"
}

# ---------------------------------------------------------------------------------------- engine

start_containerd() {
  mkdir -p "$K8S_DIR/containerd" "$K8S_DIR/cni" "$SOCK_DIR/containerd"
  cat >"$K8S_DIR/containerd/config.toml" <<EOC
version = 2
root = "$K8S_DIR/containerd/root"
state = "$SOCK_DIR/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/$PAUSE_IMAGE"
  # This VM refuses any negative oom_score_adj, even to root; without this runc fails every sandbox.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$K8S_DIR/cni"
EOC
  # One bridge, host-local addresses; masquerading is one rule of ours (see net_up), not CNI chains.
  cat >"$K8S_DIR/cni/10-safe-k8s.conflist" <<EOC
{"cniVersion": "0.4.0", "name": "safe-k8s", "plugins": [
  {"type": "bridge", "bridge": "safek8s0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$K8S_DIR/cni-ipam"}},
  {"type": "loopback"}
]}
EOC
  start_bg containerd containerd --config "$K8S_DIR/containerd/config.toml"
  wait_for containerd "ctr --address $CONTAINERD_SOCK version"
}

# dockerd only builds images: no bridge and no iptables rules of its own, builds use --network host.
start_dockerd() {
  [ -S "$DOCKER_SOCK" ] && docker -H "unix://$DOCKER_SOCK" version >/dev/null 2>&1 &&
    die_component dockerd "another Docker engine already answers on $DOCKER_SOCK (set SAFE_K8S_DOCKER_SOCK)"
  mkdir -p "$K8S_DIR/docker" "$SOCK_DIR/docker"
  start_bg dockerd dockerd --containerd="$CONTAINERD_SOCK" --data-root "$K8S_DIR/docker" --exec-root "$SOCK_DIR/docker" \
    --pidfile "$SOCK_DIR/docker/dockerd.pid" -H "unix://$DOCKER_SOCK" --iptables=false --ip-masq=false --ip-forward=false --bridge=none
  wait_for dockerd "docker -H unix://$DOCKER_SOCK version"
}

# Only the engine, for the tests' testcontainers and `k8s images` without a cluster.
start_engine() {
  local t0
  t0=$(now)
  comp_running containerd || start_containerd
  comp_running dockerd || start_dockerd
  say "engine up: containerd and dockerd ($(since "$t0")); docker -H unix://$DOCKER_SOCK"
}

# ---------------------------------------------------------------------------------- control plane

start_etcd() {
  port_open "$ETCD_PORT" && die_component etcd "port $ETCD_PORT is in use by another process (set SAFE_K8S_ETCD_PORT)"
  start_bg etcd etcd --name safe-k8s --data-dir "$K8S_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "safe-k8s=http://127.0.0.1:$((ETCD_PORT + 1))"
  wait_for etcd "port_open $ETCD_PORT"
}

start_apiserver() {
  port_open "$API_PORT" && die_component kube-apiserver "port $API_PORT is in use by another process (set SAFE_K8S_API_PORT)"
  start_bg kube-apiserver "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --secure-port "$API_PORT" --advertise-address "$HOST_IP" --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC --token-auth-file "$PKI/tokens.csv" --client-ca-file "$PKI/ca.crt" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-issuer https://kubernetes.default.svc.cluster.local --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" --allow-privileged=true
  wait_for kube-apiserver "KCTL get --raw /readyz"
}

start_controllers() {
  start_bg kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$KUBECONFIG_FILE" --leader-elect=false \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" --use-service-account-credentials=false \
    --bind-address 127.0.0.1
  start_bg kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$KUBECONFIG_FILE" --leader-elect=false --bind-address 127.0.0.1
}

# ------------------------------------------------------------------------------------------- node

# ip_forward as it was before the first `up` (dockerd is told not to touch it), restored by `down`.
save_ip_forward() { [ -s "$RUN/ip_forward.before" ] || sysctl -n net.ipv4.ip_forward >"$RUN/ip_forward.before"; }

net_up() {
  sysctl -qw net.ipv4.ip_forward=1
  local rule
  for rule in "FORWARD -s $POD_CIDR" "FORWARD -d $POD_CIDR"; do
    # shellcheck disable=SC2086
    iptables -C $rule -m comment --comment "$IPT_TAG" -j ACCEPT 2>/dev/null || iptables -I $rule -m comment --comment "$IPT_TAG" -j ACCEPT
  done
  iptables -t nat -C POSTROUTING -s "$POD_CIDR" ! -d "$POD_CIDR" -m comment --comment "$IPT_TAG" -j MASQUERADE 2>/dev/null ||
    iptables -t nat -A POSTROUTING -s "$POD_CIDR" ! -d "$POD_CIDR" -m comment --comment "$IPT_TAG" -j MASQUERADE
}

# Deletes exactly the rules net_up added (matched by their comment), and kube-proxy's chains.
net_down() {
  local table line
  for table in filter nat; do
    iptables -t "$table" -S | grep -F -- "--comment $IPT_TAG" | sed 's/^-A /-D /' | while read -r line; do
      # shellcheck disable=SC2086
      iptables -t "$table" $line || true
    done || true
  done
  "$BIN/kube-proxy" --cleanup >>"$LOGS/kube-proxy.log" 2>&1 || true
  # kubelet's own chains (KUBE-FIREWALL, the canaries) are left by kube-proxy's cleanup: every
  # KUBE-* chain and the jumps to them go (no other Kubernetes can run beside this one).
  local ipt rule chain chains
  for ipt in iptables ip6tables; do
    for table in filter nat mangle; do
      "$ipt" -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | sed 's/^-A /-D /' | while read -r rule; do
        eval "$ipt -t $table $rule" 2>/dev/null || true
      done || true
      chains=$("$ipt" -t "$table" -S 2>/dev/null | sed -n -E 's/^-N (KUBE-[A-Z0-9-]+)$/\1/p' || true)
      for chain in $chains; do "$ipt" -t "$table" -F "$chain" 2>/dev/null || true; done
      for chain in $chains; do "$ipt" -t "$table" -X "$chain" 2>/dev/null || true; done
    done
  done
  ip link del safek8s0 2>/dev/null || true
  if [ -s "$RUN/ip_forward.before" ]; then
    sysctl -qw "net.ipv4.ip_forward=$(cat "$RUN/ip_forward.before")" && rm -f "$RUN/ip_forward.before"
  fi
}

start_kubelet() {
  mkdir -p "$K8S_DIR/kubelet"
  cat >"$K8S_DIR/kubelet.yaml" <<EOC
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $PKI/ca.crt }
authorization: { mode: Webhook }
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
clusterDNS: [$HOST_IP]
clusterDomain: cluster.local
readOnlyPort: 0
# Images here cannot be pulled again: never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2% }
serializeImagePulls: false
EOC
  start_bg kubelet "$BIN/kubelet" --config "$K8S_DIR/kubelet.yaml" --kubeconfig "$KUBECONFIG_FILE" \
    --root-dir "$K8S_DIR/kubelet" --hostname-override "$NODE_NAME" --node-ip "$HOST_IP"
}

start_kube_proxy() {
  cat >"$K8S_DIR/kube-proxy.yaml" <<EOC
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
clientConnection: { kubeconfig: $KUBECONFIG_FILE }
# Leave the machine's conntrack limits alone.
conntrack: { maxPerCore: 0 }
metricsBindAddress: 127.0.0.1:10249
EOC
  start_bg kube-proxy "$BIN/kube-proxy" --config "$K8S_DIR/kube-proxy.yaml"
}

# Cluster DNS is a host process on the node's address, which kubelet's clusterDNS names.
start_coredns() {
  cat >"$K8S_DIR/Corefile" <<EOC
.:$DNS_PORT {
  bind $HOST_IP
  errors
  ready 127.0.0.1:$COREDNS_READY_PORT
  kubernetes cluster.local in-addr.arpa ip6.arpa {
    kubeconfig $KUBECONFIG_FILE safe-k8s
    pods insecure
    fallthrough in-addr.arpa ip6.arpa
  }
  forward . /etc/resolv.conf
  cache 30
  loadbalance
}
EOC
  start_bg coredns "$BIN/coredns" -conf "$K8S_DIR/Corefile"
}

start_provisioner() {
  start_bg provisioner bash "$HERE/provisioner.sh" "$BIN/kubectl" "$KUBECONFIG_FILE" "$K8S_DIR/volumes"
}

node_ready() { [ "$(KCTL get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }

start_all() {
  [ -n "$HOST_IP" ] || die "cannot tell this machine's address (set SAFE_K8S_HOST_IP)"
  local t0 c started=()
  t0=$(now)
  save_ip_forward
  make_pki
  write_kubeconfig
  net_up
  comp_running containerd || { start_containerd; started+=(containerd); }
  comp_running dockerd || { start_dockerd; started+=(dockerd); }
  load_pause_image
  comp_running etcd || { start_etcd; started+=(etcd); }
  comp_running kube-apiserver || { start_apiserver; started+=(kube-apiserver); }
  comp_running kube-controller-manager || { start_controllers; started+=(kube-controller-manager kube-scheduler); }
  comp_running kubelet || { start_kubelet; started+=(kubelet); }
  comp_running kube-proxy || { start_kube_proxy; started+=(kube-proxy); }
  comp_running coredns || { start_coredns; started+=(coredns); }
  comp_running provisioner || { start_provisioner; started+=(provisioner); }
  [ "${#started[@]}" -eq 0 ] && say "every component was already running" || say "started ${started[*]}"
  local start=$SECONDS
  until node_ready; do
    for c in "${COMPONENTS[@]}"; do comp_running "$c" || die_component "$c" "exited" "$LOGS/$c.log"; done
    ((SECONDS - start < TIMEOUT)) || die_component kubelet "node $NODE_NAME not Ready after ${TIMEOUT}s" "$LOGS/kubelet.log"
    sleep 1
  done
  wait_for coredns "curl -fsS http://127.0.0.1:$COREDNS_READY_PORT/ready"
  KCTL apply -f "$HERE/storageclass.yaml" >>"$LOGS/apply.log" 2>&1 || die_component storageclass "kubectl apply failed" "$LOGS/apply.log"
  say "node $NODE_NAME Ready ($(since "$t0"))"
}

stop_pid() {
  local name=$1 pid i
  pid=$(comp_pid "$name")
  if pid_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.2; done
    pid_alive "$pid" && { warn "$name still running 20s after SIGTERM, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$RUN/$name.pid"
}

# Pods first, with the controllers stopped so nothing replaces them: kubelet tears down their
# network and volumes itself. What kubelet did not get to, containerd's tasks are killed.
stop_all() {
  local c start
  stop_pid kube-controller-manager
  stop_pid kube-scheduler
  stop_pid provisioner
  if comp_running kube-apiserver && comp_running kubelet; then
    say "deleting every pod (kubelet stops them and frees their network)"
    KCTL delete pods --all -A --wait=false >/dev/null 2>&1 || true
    start=$SECONDS
    while [ -n "$(KCTL get pods -A -o name 2>/dev/null)" ] && ((SECONDS - start < 90)); do sleep 1; done
  fi
  for c in kubelet kube-proxy coredns kube-apiserver etcd dockerd; do stop_pid "$c"; done
  if comp_running containerd; then
    local t
    for t in $(ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
    done
    sleep 1
    stop_pid containerd
  fi
  # Mounts the kubelet left (volumes, tokens) and the pods' network namespaces.
  grep -oE " ($K8S_DIR/kubelet|$SOCK_DIR)(/[^ ]*)? " /proc/mounts | tr -d ' ' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done || true
  net_down
}

status_all() {
  local c rc=0 pid
  for c in "${COMPONENTS[@]}"; do
    pid=$(comp_pid "$c")
    if pid_alive "$pid"; then printf '%-24s running  pid %s\n' "$c" "$pid"; else printf '%-24s stopped\n' "$c"; rc=3; fi
  done
  if [ -f "$KUBECONFIG_FILE" ] && [ -x "$BIN/kubectl" ] && node_ready; then
    printf '%-24s Ready    %s (Kubernetes v%s)\n' "node" "$NODE_NAME" "$K8S_VERSION"
  else
    printf '%-24s not ready\n' node
    rc=3
  fi
  return "$rc"
}
