#!/usr/bin/env bash
# Builds the HashiCorp programs the catalog's conformance tests run, from Go modules, into a
# cache keyed by version: consul-template, consulapi (tools/consulapi, our small program on
# github.com/hashicorp/consul/api), and Consul 1.20 itself (tools/consul, a wrapper module)
# for the differential tier. Idempotent: when all are cached it checks a stamp and exits
# at once; a cold build takes a few minutes, Consul up to ~25 minutes on two busy cores
# (the Go build and module caches then make re-builds quick).
set -euo pipefail
cd "$(dirname "$0")/.."

CONSUL_TEMPLATE_VERSION=v0.41.1
# Bumped when the way the programs are built changes, so cached builds are redone.
RECIPE=1
MODULE=tools/consulapi
CONSUL_MODULE=tools/consul

source scripts/_cache.sh
DIR=$CACHE/consul-tools/$CONSUL_TEMPLATE_VERSION
BIN=$DIR/bin
STAMP=$DIR/stamp

want_stamp() {
  { cat "$MODULE/go.mod" "$MODULE/go.sum" "$MODULE"/*.go "$CONSUL_MODULE/go.mod"; echo "$RECIPE"; } |
    sha256sum | cut -d' ' -f1
}
say() { printf '\033[1m==>\033[0m consul-tools: %s\n' "$*" >&2; }
ready() { [ -x "$BIN/consul-template" ] && [ -x "$BIN/consulapi" ] && [ -x "$BIN/consul" ] && [ -f "$STAMP" ] &&
  [ "$(cat "$STAMP")" = "$(want_stamp)" ]; }

ready && exit 0

GO=$(command -v go || true)
[ -n "$GO" ] || GO=/usr/local/go/bin/go
if [ ! -x "$GO" ]; then
  echo "consul-tools: Go is needed to build HashiCorp's Consul clients for the catalog tests (at /usr/local/go/bin/go or on PATH)" >&2
  exit 1
fi

mkdir -p "$BIN"
# Two concurrent runs (two test sessions) must not build into the same place at once.
exec 9>"$DIR/.lock"
flock 9
ready && exit 0

export GOFLAGS="${GOFLAGS:-} -trimpath" GOTOOLCHAIN=local
LDFLAGS='-s -w'
started=$SECONDS
if [ ! -x "$BIN/consul-template" ]; then
  say "building consul-template $CONSUL_TEMPLATE_VERSION"
  GOBIN="$BIN/.partial" "$GO" install -ldflags="$LDFLAGS" \
    "github.com/hashicorp/consul-template@$CONSUL_TEMPLATE_VERSION"
  mv "$BIN/.partial/consul-template" "$BIN/consul-template"
  rmdir "$BIN/.partial"
fi
consul_stamp() { cat "$CONSUL_MODULE/go.mod" "$CONSUL_MODULE/go.sum" | sha256sum | cut -d' ' -f1; }
if [ ! -x "$BIN/consul" ] || [ "$(cat "$DIR/consul.stamp" 2>/dev/null)" != "$(consul_stamp)" ]; then
  say "building consul ($CONSUL_MODULE, github.com/hashicorp/consul); this one takes a while"
  (cd "$CONSUL_MODULE" && "$GO" build -ldflags="$LDFLAGS" -o "$BIN/.consul.partial" github.com/hashicorp/consul)
  mv "$BIN/.consul.partial" "$BIN/consul"
  consul_stamp >"$DIR/consul.stamp"
fi
# Our program changes with the tests, so it is rebuilt whenever its source does.
say "building consulapi ($MODULE)"
(cd "$MODULE" && "$GO" build -ldflags="$LDFLAGS" -o "$BIN/.consulapi.partial" .)
mv "$BIN/.consulapi.partial" "$BIN/consulapi"
want_stamp >"$STAMP"
say "ready in $DIR ($((SECONDS - started)) s)"
