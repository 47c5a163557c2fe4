#!/usr/bin/env bash
# After `make demo`: show the user where to look.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK="${1:-examples/leapfrog.yaml}"
LF=".venv/bin/leapfrog -f $STACK"
first=$($LF status --json | .venv/bin/python -c '
import json, sys
item = next(i for i in json.load(sys.stdin) if i["port"])
print(item["address"] + ":" + str(item["port"]))
')
cat <<TXT

The example platform is up. Where to look:
  curl http://$first/                 hello answers, with its instance and host name
  $LF status           every instance: state, address, pid
  $LF logs -f pinger   pinger calling both hello instances in turn
  $LF logs supervisor  what the supervisor did and when
  $LF down             stop everything
TXT
echo "Answer from hello right now: $(curl -s "http://$first/" || echo '(curl failed)')"
