"""Build the book into <output>/_build/html, the way `make book` and the tests do.

Stages the pinned offline JavaScript (cheap when already done), then runs Jupyter Book
with every Sphinx warning as an error (-W), nitpicky references (-n) and --keep-going,
so one run lists all the problems. Notebooks execute in cache mode: a
rebuild only re-runs notebooks whose code changed (and re-reads every page, see FULL_READ),
or every notebook when the cnnbook package they import, or a lab's recorded run, changed
(see drop_stale_cache).

    python scripts/build_book.py            # build into ./_build/html, reusing the cache
    python scripts/build_book.py --clean    # delete ./_build first (execution cache too)
"""

from __future__ import annotations

import argparse
import hashlib
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
# Jupyter Book's execution cache is keyed on each notebook's own code, so a change to
# the cnnbook package every page imports would leave stale outputs on the pages, and so
# would a new recorded run of a lab (book/labs/recorded/*.json, read by the lab's page).
PACKAGE = REPO_ROOT / "cnnbook"
RECORDED = REPO_ROOT / "book" / "labs" / "recorded"


def package_fingerprint(package: Path = PACKAGE, recorded: Path = RECORDED) -> str:
    """SHA-256 over the package's Python sources and the labs' recorded runs, names included."""
    digest = hashlib.sha256()
    files = [(package, path) for path in sorted(package.rglob("*.py"))]
    files += [(recorded, path) for path in sorted(recorded.glob("*.json"))]
    for root, path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def drop_stale_cache(build_dir: Path, fingerprint: str) -> bool:
    """Delete the execution cache in ``build_dir`` if it was made with other package code.

    Returns True when it deleted one. The fingerprint of the code the cache is made with
    is kept beside it.
    """
    cache = build_dir / ".jupyter_cache"
    stamp = build_dir / ".jupyter_cache.cnnbook-sha256"
    stale = cache.exists() and (not stamp.exists() or stamp.read_text().strip() != fingerprint)
    if stale:
        shutil.rmtree(cache)
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint + "\n")
    return stale


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
    if drop_stale_cache(output / "_build", package_fingerprint()):
        print("build_book: cnnbook changed since the last build; every notebook runs again")
    started = time.perf_counter()
    status = subprocess.run(build_command(source, output), cwd=source, check=False).returncode
    elapsed = time.perf_counter() - started
    verdict = "built" if status == 0 else "FAILED"
    html = output / "_build" / "html"
    print(f"build_book: {verdict} in {elapsed:.1f} s -> {html}")
    if status == 0:
        total, files = site_size(html)
        print(f"build_book: the site is {total / 1e6:.1f} MB in {files} files "
              "(each page's own weight, at most 2 MB, is checked by tests/browser)")
    return status


def site_size(html_dir: Path) -> tuple[int, int]:
    """Bytes and number of the files a static server publishes from ``html_dir`` (hidden
    ones, such as Sphinx's .buildinfo, left out)."""
    files = [path for path in html_dir.rglob("*") if path.is_file()
             and not any(part.startswith(".") for part in path.relative_to(html_dir).parts)]
    return sum(path.stat().st_size for path in files), len(files)


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
