#!/usr/bin/env bash
# A real Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager + kube-scheduler, v1.20)
# on loopback, for the contract tests that hold the sandbox's kube emulator to the real API.
#
#   scripts/kube-control-plane.sh build        find or build the binaries into the cache (idempotent)
#   scripts/kube-control-plane.sh check        exit 0 when the cached binaries are all there, else 1
#   scripts/kube-control-plane.sh start DIR    start everything with state in DIR; writes DIR/env and DIR/*.pid
#                                              (a DIR/client-ca.crt put there first becomes --client-ca-file)
#   scripts/kube-control-plane.sh stop DIR     stop what `start DIR` started
#
# Nothing here is packaged for Debian bookworm, so `build` compiles Debian's `kubernetes` source package
# (1.20.5+really1.20.2, the upstream tree with vendor/) with Debian's Go. The binaries are cached outside the
# repository under ${ACK_COMPUTE_KUBE_CACHE:-$HOME/.cache/ack-compute-mcp/kube-1.20}/bin (never committed).
set -euo pipefail

CACHE="${ACK_COMPUTE_KUBE_CACHE:-$HOME/.cache/ack-compute-mcp/kube-1.20}"
BIN="$CACHE/bin"
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler etcd)
SRC_VERSION="1.20.5+really1.20.2"
# Bump when the recipe changes, so a cache built by an older recipe is rebuilt.
RECIPE="1.20.2-reflect2-1.0.2"

log() { echo "kube-control-plane: $*" >&2; }
die() { log "$*"; exit 1; }

have_all() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$BIN/$b" ]] || return 1; done
  [[ "$(cat "$BIN/RECIPE" 2>/dev/null)" == "$RECIPE" ]]
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

ensure_packages() {
  local missing=()
  command -v go >/dev/null || missing+=(golang-go)
  command -v rsync >/dev/null || missing+=(rsync)
  command -v make >/dev/null || missing+=(make)
  command -v openssl >/dev/null || missing+=(openssl)
  [[ -x /usr/bin/etcd ]] || missing+=(etcd-server)
  [[ -d $REFLECT2 ]] || missing+=(golang-github-modern-go-reflect2-dev)
  command -v dpkg-source >/dev/null || missing+=(dpkg-dev)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    as_root apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
}

ensure_deb_src() {
  if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding deb-src for bookworm"
    echo "deb-src http://deb.debian.org/debian bookworm main" | as_root tee /etc/apt/sources.list.d/ack-compute-kube-src.list >/dev/null
  fi
  as_root apt-get update -q >&2
}

cmd_build() {
  if have_all; then
    log "cached: $BIN"
    return 0
  fi
  mkdir -p "$BIN"
  ensure_deb_src
  ensure_packages
  [[ -x "$BIN/etcd" ]] || cp /usr/bin/etcd "$BIN/etcd"
  local work="$CACHE/src"
  mkdir -p "$work"
  local tree
  tree=$(find "$work" -maxdepth 1 -type d -name 'kubernetes-*' | head -n1 || true)
  if [[ -z "$tree" || ! -f "$tree/Makefile" ]]; then
    (cd "$work" && apt-get source --download-only "kubernetes=$SRC_VERSION" >&2 || apt-get source --download-only kubernetes >&2)
    local orig
    orig=$(ls "$work"/kubernetes_*.orig.tar.* | head -n1) || die "no kubernetes orig tarball downloaded"
    log "unpacking $(basename "$orig")"
    tar -xf "$orig" -C "$work"
    tree=$(find "$work" -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
    [[ -f "$tree/Makefile" ]] || die "unpacked tree has no Makefile: $tree"
  fi
  # The vendored reflect2 1.0.1 predates Go 1.18 and makes the apiserver panic while decoding any map field
  # (labels, ...) when built with bookworm's Go 1.19; 1.0.2 (packaged by Debian) is the upstream fix.
  rsync -a --delete --exclude .git "$REFLECT2/" "$tree/vendor/github.com/modern-go/reflect2/"
  log "building in $tree (several minutes cold)"
  local start=$SECONDS
  (cd "$tree" && GO111MODULE=off GOFLAGS= KUBE_BUILD_PLATFORMS=linux/$(go env GOARCH) \
    make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" >&2)
  local out
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    out=$(find "$tree/_output" -type f -name "$b" -perm -u+x | head -n1)
    [[ -n "$out" ]] || die "build produced no $b"
    cp "$out" "$BIN/$b"
  done
  echo "$RECIPE" >"$BIN/RECIPE"
  log "built in $((SECONDS - start)) s: $BIN"
  # The source tree and its Go build cache are large; the binaries are all that is kept.
  rm -rf "$tree"
  have_all
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.3
  done
  log "$what ready"
}

stop_dir() {
  local dir=$1 f pid
  for f in scheduler controller-manager apiserver etcd; do
    [[ -f "$dir/$f.pid" ]] || continue
    pid=$(cat "$dir/$f.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/$f.pid"
  done
}

kubeconfig() { # kubeconfig FILE SERVER TOKEN CA
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "$2", certificate-authority: "$4"}
users:
- name: u
  user: {token: "$3"}
contexts:
- name: local
  context: {cluster: local, user: u}
current-context: local
EOF
}

cmd_start() {
  local dir=${1:?usage: start DIR}
  have_all || die "binaries missing in $BIN; run: $0 build"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  stop_dir "$dir"
  rm -rf "$dir/etcd-data" "$dir/env"
  local started=$SECONDS
  local etcd_port etcd_peer api_port admin_token limited_token
  etcd_port=$(free_port)
  etcd_peer=$(free_port)
  api_port=$(free_port)
  admin_token=$(openssl rand -hex 24)
  limited_token=$(openssl rand -hex 24)

  "$BIN/etcd" --data-dir "$dir/etcd-data" --name local \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "local=http://127.0.0.1:$etcd_peer" >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"

  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  cat >"$dir/tokens.csv" <<EOF
$admin_token,kubernetes-admin,admin-uid,"system:masters"
$limited_token,limited-user,limited-uid,"limited-group"
EOF
  mkdir -p "$dir/certs"
  wait_for 30 etcd curl -sf "http://127.0.0.1:$etcd_port/health" || die "etcd did not start; see $dir/etcd.log"

  local gates="TTLAfterFinished=true"
  # Client certificates (CN = user, O = groups), as ACK kubeconfigs use, when the caller put a CA in DIR.
  local client_ca=()
  [[ -f "$dir/client-ca.crt" ]] && client_ca=(--client-ca-file="$dir/client-ca.crt")
  "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" --cert-dir="$dir/certs" \
    --bind-address=127.0.0.1 --secure-port="$api_port" --advertise-address=127.0.0.1 --insecure-port=0 \
    --token-auth-file="$dir/tokens.csv" "${client_ca[@]}" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$dir/sa.key" --service-account-signing-key-file="$dir/sa.key" \
    --service-cluster-ip-range=10.96.0.0/24 --disable-admission-plugins=ServiceAccount \
    --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname \
    --feature-gates="$gates" >"$dir/apiserver.log" 2>&1 &
  echo $! >"$dir/apiserver.pid"
  local server="https://127.0.0.1:$api_port"
  wait_for 60 kube-apiserver curl -sfk -H "Authorization: Bearer $admin_token" "$server/readyz" \
    || die "kube-apiserver did not become ready; see $dir/apiserver.log"
  local ca="$dir/certs/apiserver.crt"
  # The simulated kubelets serve logs over HTTPS for the apiserver's log proxy; without a kubelet CA the apiserver
  # does not verify them, so they reuse this self-signed pair (KUBE_KUBELET_CERT_FILE/KEY_FILE in DIR/env).

  kubeconfig "$dir/admin.kubeconfig" "$server" "$admin_token" "$ca"
  # The limited user may only read namespaces, nodes and pods, cluster-wide; the same role the emulator gives.
  local rbac
  rbac=$(cat <<'EOF'
{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"ack-compute-limited"},
 "rules":[{"apiGroups":[""],"resources":["namespaces","nodes","pods"],"verbs":["get","list","watch"]}]}
EOF
)
  curl -sfk -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -X POST "$server/apis/rbac.authorization.k8s.io/v1/clusterroles" -d "$rbac" >/dev/null \
    || die "could not create the limited ClusterRole"
  rbac='{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"ack-compute-limited"},
 "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"ack-compute-limited"},
 "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"limited-user"}]}'
  curl -sfk -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    -X POST "$server/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" -d "$rbac" >/dev/null \
    || die "could not create the limited ClusterRoleBinding"

  "$BIN/kube-controller-manager" --kubeconfig="$dir/admin.kubeconfig" \
    --controllers=job,deployment,replicaset,garbagecollector,namespace,ttl-after-finished \
    --leader-elect=false --port=0 --secure-port=0 --feature-gates="$gates" \
    --use-service-account-credentials=false >"$dir/controller-manager.log" 2>&1 &
  echo $! >"$dir/controller-manager.pid"
  "$BIN/kube-scheduler" --kubeconfig="$dir/admin.kubeconfig" --leader-elect=false --port=0 --secure-port=0 \
    >"$dir/scheduler.log" 2>&1 &
  echo $! >"$dir/scheduler.pid"
  sleep 1
  local f
  for f in controller-manager scheduler; do
    kill -0 "$(cat "$dir/$f.pid")" 2>/dev/null || die "kube-$f exited; see $dir/$f.log"
  done
  # The default namespace appears once the apiserver's bootstrap controller has run.
  wait_for 30 "default namespace" curl -sfk -H "Authorization: Bearer $admin_token" \
    "$server/api/v1/namespaces/default" || die "default namespace never appeared"

  cat >"$dir/env" <<EOF
KUBE_SERVER=$server
KUBE_ADMIN_TOKEN=$admin_token
KUBE_LIMITED_TOKEN=$limited_token
KUBE_LIMITED_USER=limited-user
KUBE_CA_FILE=$ca
KUBE_KUBELET_CERT_FILE=$dir/certs/apiserver.crt
KUBE_KUBELET_KEY_FILE=$dir/certs/apiserver.key
EOF
  log "control plane up in $((SECONDS - started)) s: $server (state in $dir)"
}

case "${1:-}" in
  build) cmd_build ;;
  check) have_all ;;
  start) cmd_start "${2:-}" ;;
  stop) stop_dir "${2:?usage: stop DIR}"; log "stopped $2" ;;
  *) echo "usage: $0 build | check | start DIR | stop DIR" >&2; exit 2 ;;
esac
