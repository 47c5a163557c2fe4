#!/usr/bin/env bash
# Installs what leapfrog needs on this machine, idempotently: Debian packages via apt,
# uv (from PyPI, cached in ~/.cache/leapfrog), and the Python environment in .venv.
# Re-runs are fast: each step checks first and does nothing when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${LEAPFROG_CACHE:-$HOME/.cache/leapfrog}"
mkdir -p "$CACHE"
say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

# Debian packages: "command-that-proves-it package" pairs.
APT_NEEDS=(
  "/usr/bin/python3.11 python3.11"
  "useradd passwd"
  "ps procps"
  "curl curl"
  "make make"
  "dig dnsutils"
  "java openjdk-17-jre-headless"
  "javac openjdk-17-jdk-headless"
  "mvn maven"
  "wrk wrk"
  "/usr/bin/chromium chromium"
  "/usr/sbin/nft nftables"
  "/usr/lib/cni/bridge containernetworking-plugins"
  "buildah buildah"            # leapfrog image build: no daemon (crun and the rest come along)
  "mmdebstrap mmdebstrap"      # the image's Debian base, from Debian's packages
  "strip binutils"             # debug info out of the image's shared objects
)
missing=()
for pair in "${APT_NEEDS[@]}"; do
  set -- $pair
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then missing+=("$2"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    echo "missing Debian packages: ${missing[*]}; install them (apt-get install ${missing[*]}) and re-run" >&2
    exit 1
  fi
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# uv, from PyPI, kept in the cache (never in the repo). A `uv` on PATH is used only if it
# runs: a version manager's shim can be there without the program behind it.
UV=""
if command -v uv >/dev/null 2>&1 && uv --version >/dev/null 2>&1; then UV="$(command -v uv)"; fi
if [ -z "$UV" ]; then
  UV="$CACHE/uv/bin/uv"
  if [ ! -x "$UV" ]; then
    say "installing uv into $CACHE/uv"
    if ! PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --target "$CACHE/uv" uv; then
      /usr/bin/python3 -m venv "$CACHE/uv-venv"
      "$CACHE/uv-venv/bin/pip" install --quiet --disable-pip-version-check uv
      mkdir -p "$CACHE/uv/bin" && ln -sf "$CACHE/uv-venv/bin/uv" "$UV"
    fi
  fi
fi

# Debian's interpreter, so the unprivileged app user can run .venv's Python too.
PY=/usr/bin/python3.11
[ -x "$PY" ] || PY="$(command -v python3)"
export UV_PYTHON_DOWNLOADS=never
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import leapfrog' 2>/dev/null \
   || [ ! -e .venv/.synced-v2 ] || [ uv.lock -nt .venv/.synced-v2 ]; then
  say "syncing .venv (Python packages from uv.lock)"
  # Bytecode is compiled now, once: a shell with PYTHONDONTWRITEBYTECODE would otherwise
  # recompile every module on every `leapfrog` command.
  "$UV" sync --frozen --quiet --compile-bytecode --python "$PY"
  touch .venv/.synced-v2
fi
.venv/bin/python -m compileall -q src >/dev/null
