#!/usr/bin/env bash
# Builds HashiCorp's own Consul clients that the catalog's conformance tests run, from Go
# modules, into a cache keyed by version: consul-template, and consulapi (tools/consulapi,
# our small program on github.com/hashicorp/consul/api). Idempotent: when both are cached
# it checks a stamp and exits at once; a cold build takes a few minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."

CONSUL_TEMPLATE_VERSION=v0.41.1
# Bumped when the way the programs are built changes, so cached builds are redone.
RECIPE=1
MODULE=tools/consulapi

# The same rule as leapfrog.shared.cache.cache_dir(), which the test harness reads.
if [ -n "${LEAPFROG_CACHE:-}" ]; then CACHE=$LEAPFROG_CACHE
elif [ "$(id -u)" -eq 0 ]; then CACHE=/var/cache/leapfrog
else CACHE=$HOME/.cache/leapfrog; fi
DIR=$CACHE/consul-tools/$CONSUL_TEMPLATE_VERSION
BIN=$DIR/bin
STAMP=$DIR/stamp

want_stamp() {
  { cat "$MODULE/go.mod" "$MODULE/go.sum" "$MODULE"/*.go; echo "$RECIPE"; } | sha256sum | cut -d' ' -f1
}
say() { printf '\033[1m==>\033[0m consul-tools: %s\n' "$*" >&2; }
ready() { [ -x "$BIN/consul-template" ] && [ -x "$BIN/consulapi" ] && [ -f "$STAMP" ] &&
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
# Our program changes with the tests, so it is rebuilt whenever its source does.
say "building consulapi ($MODULE)"
(cd "$MODULE" && "$GO" build -ldflags="$LDFLAGS" -o "$BIN/.consulapi.partial" .)
mv "$BIN/.consulapi.partial" "$BIN/consulapi"
want_stamp >"$STAMP"
say "ready in $DIR ($((SECONDS - started)) s)"
