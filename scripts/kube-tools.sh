#!/usr/bin/env bash
# Builds what the Kubernetes test tier runs, from Go modules, into a cache keyed by version:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and the kubelet
# and kube-proxy of the real test node (leapfrog.testing.RealNode), from the wrapper module
# tools/kube (k8s.io/kubernetes with its staging modules pinned), and KWOK, which plays the
# kubelets of fake nodes. Idempotent: when everything is cached it checks a stamp and exits
# at once; a cold build takes tens of minutes on two cores (the Go build cache and module
# cache then make re-builds quick).
set -euo pipefail
cd "$(dirname "$0")/.."

KWOK_VERSION=v0.8.0
# Bumped when the way the programs are built changes, so cached builds are redone.
RECIPE=2
MODULE=tools/kube
K8S_VERSION=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$MODULE/go.mod")
if [ -z "$K8S_VERSION" ]; then
  echo "kube-tools: $MODULE/go.mod requires no k8s.io/kubernetes version" >&2
  exit 1
fi

source scripts/_cache.sh
DIR=$CACHE/kubernetes/$K8S_VERSION
BIN=$DIR/bin
STAMP=$DIR/stamp
TOOLS=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy kwok)

want_stamp() {
  { cat "$MODULE/go.mod" "$MODULE/go.sum"; echo "$KWOK_VERSION $RECIPE"; } | sha256sum | cut -d' ' -f1
}
say() { printf '\033[1m==>\033[0m kube-tools: %s\n' "$*" >&2; }

all_present() {
  local tool
  for tool in "${TOOLS[@]}"; do [ -x "$BIN/$tool" ] || return 1; done
  [ -s "$DIR/kwok-stages.yaml" ]
}

if [ -f "$STAMP" ] && all_present && [ "$(cat "$STAMP")" = "$(want_stamp)" ]; then
  exit 0
fi

GO=$(command -v go || true)
[ -n "$GO" ] || GO=/usr/local/go/bin/go
if [ ! -x "$GO" ]; then
  echo "kube-tools: Go is needed to build the Kubernetes test tier (Go >= 1.26, at /usr/local/go/bin/go or on PATH)" >&2
  exit 1
fi

mkdir -p "$BIN"
# Two concurrent runs (two test sessions) must not build into the same place at once.
exec 9>"$DIR/.lock"
flock 9
if [ -f "$STAMP" ] && all_present && [ "$(cat "$STAMP")" = "$(want_stamp)" ]; then
  exit 0
fi
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" != "$(want_stamp)" ]; then
  say "the wrapper module or the build recipe changed: rebuilding into $BIN"
  rm -f "${BIN:?}"/* "$STAMP"
fi

export GOFLAGS="${GOFLAGS:-} -trimpath" GOTOOLCHAIN=local
LDFLAGS='-s -w'
# What Kubernetes' own build stamps in, so servers and kubectl report their real version.
minor=${K8S_VERSION#v1.}
KUBE_LDFLAGS="$LDFLAGS"
for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  KUBE_LDFLAGS+=" -X $package.gitVersion=$K8S_VERSION -X $package.gitMajor=1"
  KUBE_LDFLAGS+=" -X $package.gitMinor=${minor%%.*} -X $package.gitTreeState=clean"
done
build() {  # build NAME PACKAGE: one program of the wrapper module into $BIN/NAME
  local name=$1 package=$2 started=$SECONDS
  [ -x "$BIN/$name" ] && return 0
  say "building $name ($package, Kubernetes $K8S_VERSION)"
  (cd "$MODULE" && "$GO" build -ldflags="$KUBE_LDFLAGS" -o "$BIN/.$name.partial" "$package")
  mv "$BIN/.$name.partial" "$BIN/$name"
  say "built $name in $((SECONDS - started)) s"
}

started=$SECONDS
build etcd go.etcd.io/etcd/server/v3
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
build kubectl k8s.io/kubernetes/cmd/kubectl
# Statically linked, as Kubernetes releases it (the real node was proven with this build).
CGO_ENABLED=0 build kubelet k8s.io/kubernetes/cmd/kubelet
build kube-proxy k8s.io/kubernetes/cmd/kube-proxy

if [ ! -x "$BIN/kwok" ]; then
  say "building kwok $KWOK_VERSION"
  # KWOK is its own module with its own k8s.io/* versions, so it is installed on its own.
  GOBIN="$BIN/.kwok-partial" "$GO" install -ldflags="$LDFLAGS" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  mv "$BIN/.kwok-partial/kwok" "$BIN/kwok"
  rmdir "$BIN/.kwok-partial"
fi

# KWOK does nothing without stages: the ones kwokctl uses by default (nodes become Ready and
# keep a lease, pods become Ready, Job pods complete), from the same KWOK version.
STAGES=$("$GO" mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" |
  sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')/kustomize/stage
{
  for file in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo "---"
    cat "$STAGES/$file"
  done
} >"$DIR/kwok-stages.yaml.partial"
mv "$DIR/kwok-stages.yaml.partial" "$DIR/kwok-stages.yaml"

want_stamp >"$STAMP"
say "ready in $DIR ($(du -sh "$BIN" | cut -f1), $((SECONDS - started)) s)"
