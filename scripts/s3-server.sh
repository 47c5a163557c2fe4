#!/usr/bin/env bash
# Builds the S3-compatible server the backup tests store objects in: versitygw (Versity's
# S3 gateway; its `posix` backend keeps each bucket in a directory), from its Go module,
# into a cache keyed by version. Idempotent: when it is cached it exits at once; a cold
# build takes a few minutes on two busy cores (the Go caches make re-builds quick).
# Prints nothing on success; the tests find it at $CACHE/versitygw/$VERSION/bin/versitygw.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=v1.0.14

source scripts/_cache.sh
DIR=$CACHE/versitygw/$VERSION
BIN=$DIR/bin

say() { printf '\033[1m==>\033[0m s3-server: %s\n' "$*" >&2; }
[ -x "$BIN/versitygw" ] && exit 0

GO=$(command -v go || true)
[ -n "$GO" ] || GO=/usr/local/go/bin/go
if [ ! -x "$GO" ]; then
  echo "s3-server: Go is needed to build versitygw for the backup tests (at /usr/local/go/bin/go or on PATH)" >&2
  exit 1
fi

mkdir -p "$BIN"
# Two concurrent runs (two test sessions) must not build into the same place at once.
exec 9>"$DIR/.lock"
flock 9
[ -x "$BIN/versitygw" ] && exit 0

export GOFLAGS="${GOFLAGS:-} -trimpath" GOTOOLCHAIN=local
started=$SECONDS
say "building versitygw $VERSION"
rm -rf "$BIN/.partial"
GOBIN="$BIN/.partial" "$GO" install -ldflags='-s -w' \
  "github.com/versity/versitygw/cmd/versitygw@$VERSION"
mv "$BIN/.partial/versitygw" "$BIN/versitygw"
rmdir "$BIN/.partial"
say "ready in $DIR ($((SECONDS - started)) s)"
