#!/usr/bin/env bash
# Builds CoreDNS, the cluster DNS of the real test node (leapfrog.testing.RealNode), from Go
# modules into a cache keyed by version: tools/coredns is a wrapper module requiring
# github.com/coredns/coredns at a pinned release, whose main.go compiles in only the plugins
# the node's Corefile uses (CoreDNS's documented way to choose plugins at build time).
# Idempotent: when cached it checks a stamp and exits at once; a cold build takes a few
# minutes on two cores (the Go build and module caches then make re-builds quick).
set -euo pipefail
cd "$(dirname "$0")/.."

# Bumped when the way the program is built changes, so a cached build is redone.
RECIPE=1
MODULE=tools/coredns
VERSION=$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/coredns/coredns" && $(i + 1) ~ /^v/) { print $(i + 1); exit } }' "$MODULE/go.mod")
if [ -z "$VERSION" ]; then
  echo "coredns: $MODULE/go.mod requires no github.com/coredns/coredns version" >&2
  exit 1
fi

source scripts/_cache.sh
DIR=$CACHE/coredns/$VERSION
BIN=$DIR/bin
STAMP=$DIR/stamp

want_stamp() {
  { cat "$MODULE/go.mod" "$MODULE/go.sum" "$MODULE"/*.go; echo "$RECIPE"; } | sha256sum | cut -d' ' -f1
}
say() { printf '\033[1m==>\033[0m coredns: %s\n' "$*" >&2; }
ready() { [ -x "$BIN/coredns" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(want_stamp)" ]; }

ready && exit 0

GO=$(command -v go || true)
[ -n "$GO" ] || GO=/usr/local/go/bin/go
if [ ! -x "$GO" ]; then
  echo "coredns: Go is needed to build the real test node's cluster DNS (Go >= 1.26, at /usr/local/go/bin/go or on PATH)" >&2
  exit 1
fi

mkdir -p "$BIN"
# Two concurrent runs (two test sessions) must not build into the same place at once.
exec 9>"$DIR/.lock"
flock 9
ready && exit 0
rm -f "$BIN/coredns" "$STAMP"

export GOFLAGS="${GOFLAGS:-} -trimpath" GOTOOLCHAIN=local
started=$SECONDS
say "building coredns $VERSION ($MODULE)"
# Statically linked, as CoreDNS releases it.
(cd "$MODULE" && CGO_ENABLED=0 "$GO" build -ldflags="-s -w" -o "$BIN/.coredns.partial" .)
mv "$BIN/.coredns.partial" "$BIN/coredns"
want_stamp >"$STAMP"
say "ready in $DIR ($(du -sh "$BIN" | cut -f1), $((SECONDS - started)) s)"
