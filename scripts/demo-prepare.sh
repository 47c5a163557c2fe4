#!/usr/bin/env bash
# Run as root, the demo's services run as the unprivileged user `leapfrog`, who must be
# able to enter every directory on the way to the example stack. A clone in a private
# directory (mktemp -d makes them 0700) is opened for entering (o+x), not for reading.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || exit 0
dir="$(cd "$(dirname "${1:-examples/leapfrog.yaml}")" && pwd)"
while [ "$dir" != "/" ]; do
  if [ "$(stat -c %u "$dir")" -eq 0 ] && [ $(( 0$(stat -c %a "$dir") & 01 )) -eq 0 ]; then
    chmod o+x "$dir"
    echo "made $dir enterable (o+x) for the app user leapfrog" >&2
  fi
  dir="$(dirname "$dir")"
done
