#!/usr/bin/env bash
# Prepare this clone for `make book` (mode: book) or `make test` (mode: test).
#
#   1. system packages a fresh Debian 12 lacks (apt-get, as root or through sudo):
#      python3-venv, npm (fetches the offline JavaScript), and for tests Debian's
#      chromium + chromium-driver when /usr/bin/chromium is missing;
#   2. the virtual environment .venv (created with $PYTHON, default python3.11);
#   3. requirements.txt, `pip install -e .` (the cnnbook package) and, for tests,
#      requirements-test.txt and the pinned axe-core the browser tests inject
#      (scripts/js_assets.py --tests).
#
# Idempotent and cheap when done: step 3 is skipped while .venv/.setup-<mode> holds
# the hash of the requirement files it installed.
set -euo pipefail

mode=${1:-}
if [[ $mode != book && $mode != test ]]; then
    echo "usage: scripts/setup.sh book|test" >&2
    exit 2
fi
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}
VENV=.venv

say() { echo "setup: $*"; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        say "need root (or sudo) to run: $*" >&2
        exit 1
    fi
}

apt_install() {
    if ! command -v apt-get >/dev/null; then
        say "missing system packages and no apt-get to install them: $*" >&2
        exit 1
    fi
    say "installing system packages: $*"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

system_packages_needed() {
    if [[ -z $PYTHON ]] || ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        echo python3-venv
    fi
    command -v npm >/dev/null || echo npm
    if [[ $mode == test && ! -x /usr/bin/chromium ]]; then
        echo chromium chromium-driver
    fi
}

check_python() {
    if [[ -z $PYTHON ]]; then
        say "no python3 found; install Python 3.11 or set PYTHON=/path/to/python3.11" >&2
        exit 1
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))'; then
        say "$PYTHON is $("$PYTHON" --version 2>&1); the book needs Python >= 3.11" >&2
        exit 1
    fi
}

requirement_files() {
    echo requirements.txt pyproject.toml
    [[ $mode == test ]] && echo requirements-test.txt
    return 0
}

read -r -a needed <<< "$(system_packages_needed | tr '\n' ' ')"
if (( ${#needed[@]} )); then
    apt_install "${needed[@]}"
    PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
fi
check_python

if [[ ! -x $VENV/bin/python ]]; then
    say "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi

if [[ $mode == test ]]; then
    # The browser tests inject axe-core (pinned in scripts/js_assets.json, test_packages)
    # and run with no network: stage it now. Cheap when it is already staged.
    "$VENV/bin/python" scripts/js_assets.py --tests
fi

# --- The course hub (hub/, tests/test_course_hub.py): JupyterHub and its proxy -------------------
# requirements-hub.txt into .venv, and configurable-http-proxy as hub/package-lock.json pins it into
# hub/node_modules (it needs node >= 20).  Skipped while .venv/.setup-hub holds the hash of both.
if [[ $mode == test ]]; then
    hub_hash=$(cat requirements-hub.txt hub/package-lock.json | sha256sum | cut -c1-16)
    if [[ ! -x hub/node_modules/.bin/configurable-http-proxy || ! -f $VENV/.setup-hub
          || $(cat "$VENV/.setup-hub") != "$hub_hash" ]]; then
        if (( $(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0) < 20 )); then
            say "the course hub's proxy needs node >= 20; found $(node --version 2>/dev/null || echo none)" >&2
            exit 1
        fi
        say "installing requirements-hub.txt and the hub's proxy (hub/node_modules)"
        "$VENV/bin/python" -m pip install --quiet -r requirements-hub.txt
        npm ci --prefix hub --no-audit --no-fund --loglevel=error
        echo "$hub_hash" > "$VENV/.setup-hub"
    fi
fi

read -r -a files <<< "$(requirement_files | tr '\n' ' ')"
hash=$(cat "${files[@]}" | sha256sum | cut -c1-16)
stamp=$VENV/.setup-$mode
if [[ -f $stamp && $(cat "$stamp") == "$hash" ]]; then
    say "$mode environment up to date (${files[*]} unchanged)"
    exit 0
fi

pip=("$VENV/bin/python" -m pip install --quiet)
say "installing requirements.txt and the cnnbook package into $VENV"
"${pip[@]}" -r requirements.txt
"${pip[@]}" -e .
if [[ $mode == test ]]; then
    say "installing requirements-test.txt"
    "${pip[@]}" -r requirements-test.txt
fi
echo "$hash" > "$stamp"
say "$mode environment ready"
