"""Build the book into <output>/_build/html, the way `make book` and the tests do.

Stages the pinned offline JavaScript (cheap when already done), then runs Jupyter Book
with every Sphinx warning as an error (-W), nitpicky references (-n) and --keep-going,
so one run lists all the problems. Notebooks execute in cache mode: a
rebuild only re-runs notebooks whose code changed (and re-reads every page, see FULL_READ).

    python scripts/build_book.py            # build into ./_build/html, reusing the cache
    python scripts/build_book.py --clean    # delete ./_build first (execution cache too)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import js_assets

REPO_ROOT = Path(__file__).resolve().parent.parent
STRICT_FLAGS = ("-W", "-n", "--keep-going")
# Sphinx re-reads every page (notebook outputs still come from the cache, so this costs
# seconds): its incremental mode leaves stale state behind, e.g. Sphinx 7.4 drops the
# index entries of unchanged pages from the search index.
FULL_READ = ("--all",)


def build_command(source: Path, output: Path) -> list[str]:
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    return [str(jupyter_book), "build", str(source), "--path-output", str(output),
            "--builder", "html", *STRICT_FLAGS, *FULL_READ]


def build(source: Path = REPO_ROOT, output: Path = REPO_ROOT, clean: bool = False) -> int:
    """Build and return the exit status (0 when the book built without a warning)."""
    if clean:
        shutil.rmtree(output / "_build", ignore_errors=True)
    if js_assets.main() != 0:
        return 1
    started = time.perf_counter()
    status = subprocess.run(build_command(source, output), cwd=source, check=False).returncode
    elapsed = time.perf_counter() - started
    verdict = "built" if status == 0 else "FAILED"
    print(f"build_book: {verdict} in {elapsed:.1f} s -> {output / '_build' / 'html'}")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true",
                        help="delete _build (and the execution cache) before building")
    parser.add_argument("--path-output", type=Path, default=REPO_ROOT,
                        help="folder that receives _build/ (default: the repository)")
    args = parser.parse_args(argv)
    return build(output=args.path_output.resolve(), clean=args.clean)


if __name__ == "__main__":
    sys.exit(main())
