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
# shares a fixed address or file. The rest one at a time: their servers listen on fixed
# loopback addresses, and each session starts Kafka, OpenSearch, Flink... only once.
# Both run whatever the other's outcome; the script fails if either did.
step "pytest: unit tests (two workers)"
unit=0
.venv/bin/pytest -q -n 2 tests/unit || unit=$?
step "pytest: integration, end-to-end and Kubernetes tests"
rest=0
.venv/bin/pytest -q tests/integration tests/e2e tests/kubernetes || rest=$?
[ "$unit" -eq 0 ] && [ "$rest" -eq 0 ]
