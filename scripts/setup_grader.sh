#!/usr/bin/env bash
# Set up this course clone for grading only (no book build, no browser, no test suite):
#
#   1. the virtual environment $VENV (default .venv), created with $PYTHON (default python3.11);
#   2. requirements-grader.txt, and the course's own cnnbook package (editable, no dependencies);
#   3. `python -m autograder check`: one line per check, exit status 1 if any fails.
#
# Repeatable: what is installed already is left as it is (pip needs no network for it).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}
VENV=${VENV:-.venv}
say() { echo "setup: $*"; }

if [[ ! -x $VENV/bin/python ]]; then
    [[ -n $PYTHON ]] || { say "no python3.11 or python3 on PATH; install Python 3.11" >&2; exit 1; }
    say "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
say "installing requirements-grader.txt into $VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-grader.txt
if ! "$VENV/bin/python" -c 'import cnnbook, pathlib, sys; sys.exit(pathlib.Path(cnnbook.__file__).resolve().parent != pathlib.Path("cnnbook").resolve())' 2>/dev/null; then
    say "installing this course's cnnbook package"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
fi
say "checking"
exec "$VENV/bin/python" -m autograder check
