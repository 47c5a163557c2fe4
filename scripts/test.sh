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
step "HashiCorp's Consul clients (built once, cached)"
scripts/consul-tools.sh
step "S3-compatible server for the backup tests (built once, cached)"
scripts/s3-server.sh
step "platform components (installed once, cached)"
.venv/bin/python scripts/install_components.py
step "pytest"
.venv/bin/pytest -q "$@"
