#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, types, layer contract, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
step "ruff"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
step "mypy (strict on src)"
.venv/bin/mypy
step "import-linter (layers)"
.venv/bin/lint-imports
step "kubernetes test tools (built once, cached)"
scripts/kube-tools.sh
step "CoreDNS, the real test node's cluster DNS (built once, cached)"
scripts/coredns.sh
step "HashiCorp's Consul clients (built once, cached)"
scripts/consul-tools.sh
step "S3-compatible server for the backup tests (built once, cached)"
scripts/s3-server.sh
step "platform components (installed once, cached)"
.venv/bin/python scripts/install_components.py
if [ $# -gt 0 ]; then  # what the caller names, as it is
  step "pytest"
  exec .venv/bin/pytest -q "$@"
fi
# Unit tests side by side (pytest-xdist): they mostly wait (timeouts, retries), and none
# shares a fixed address or file.
# The rest in three sessions side by side, each running its tests one at a time: their
# servers listen on fixed loopback addresses, so the split keeps every user of one fixed
# address (the tier's Kafka on 127.0.0.31, the console's default ports, the real node) in
# one session, and each session starts Kafka, OpenSearch, Flink, the control plane...
# once. Ports drawn with free_port are claimed across sessions; a stack's default /16
# skips one in use. The sessions beside print their output when they end. The lb's rollout
# tests (free ports only) run beside too: they balance the sessions' lengths.
# Everything runs whatever the others' outcome; the script fails if any did.
step "pytest: unit tests (two workers)"
unit=0
.venv/bin/pytest -q -n 2 tests/unit || unit=$?
BESIDE=(
  "tests/kubernetes tests/e2e tests/integration/console"
  "tests/integration/backup tests/integration/pipelines tests/integration/telemetry tests/integration/runtime tests/integration/lb/test_rollout.py"
)
step "pytest: integration, end-to-end and Kubernetes tests (three sessions side by side)"
logs=() pids=() ignored=()
trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; rm -f "${logs[@]}"' EXIT
for group in "${BESIDE[@]}"; do
  read -ra folders <<<"$group"
  log=$(mktemp /tmp/leapfrog-tests-beside.XXXXXX)
  .venv/bin/pytest -q -p no:cacheprovider "${folders[@]}" >"$log" 2>&1 &
  pids+=($!) logs+=("$log")
  ignored+=("${folders[@]/#/--ignore=}")
done
failed=0
.venv/bin/pytest -q tests/integration "${ignored[@]}" || failed=1
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed=1
  step "pytest: ${BESIDE[$i]} (a session beside)"
  cat "${logs[$i]}"
done
pids=()
[ "$unit" -eq 0 ] && [ "$failed" -eq 0 ]
