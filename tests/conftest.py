"""Fixtures shared by the test suite.

``built_book`` builds the real book (incrementally, with the execution cache) once per
test session, so the build and browser tests always look at a site that matches the
sources, never at a stale ``_build``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build_book.py"
OUTPUT_TAIL_CHARS = 6000  # enough for Sphinx's warning list and the failing cell


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the book as `make book` does and return _build/html."""
    result = subprocess.run([sys.executable, str(BUILD_SCRIPT)], cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        output = result.stdout[-OUTPUT_TAIL_CHARS:]
        pytest.fail(f"the book does not build (scripts/build_book.py):\n{output}",
                    pytrace=False)
    return REPO_ROOT / "_build" / "html"
