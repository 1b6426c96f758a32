"""Fixtures shared by the test suite.

``built_book`` builds the real book (incrementally, with the execution cache) once per
test session, so the build and browser tests always look at a site that matches the
sources, never at a stale ``_build``. ``tiny_book`` builds throwaway books with the real
configuration, to test the build's behaviour on pages made for the purpose.
``run_lab_offline`` executes a lab notebook the way the offline book build does.

``make test`` runs the suite in two steps (see the Makefile): first every test not marked
``alone`` on two pytest-xdist workers, a test file at a time per worker (its module fixtures are
built once), then the tests marked ``alone`` by themselves: the modules in :data:`ALONE` read the
state of the whole machine (every process, /dev/shm, the kernel's key counts), which a test running
beside them would change.  Book builds take :func:`book_lock`: the workers share ``_build``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

import build_book
import js_assets

REPO_ROOT = Path(__file__).resolve().parent.parent
# Tests that look at the whole machine: they run after the others, by themselves.
ALONE = {"test_autograder_isolation_shared_state.py", "test_autograder_sandbox.py"}
BOOK_LOCK = REPO_ROOT / "_build" / ".tests.lock"
BUILT_STAMP = REPO_ROOT / "_build" / ".built-by-test-run"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in ALONE:
            item.add_marker(pytest.mark.alone)


@contextlib.contextmanager
def book_lock():
    """One book build at a time on this machine: the workers of ``make test`` share ``_build``, the
    staged assets and the execution cache."""
    BOOK_LOCK.parent.mkdir(exist_ok=True)
    with open(BOOK_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


BUILD_SCRIPT = REPO_ROOT / "scripts" / "build_book.py"
OUTPUT_TAIL_CHARS = 6000  # enough for Sphinx's warning list and the failing cell


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the book as `make book` does and return _build/html.

    Under ``make test`` each worker asks for it; the first builds, the others wait for that build
    and use it (the run's id, which pytest-xdist gives every worker, marks a build of this run).
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    with book_lock():
        if run and BUILT_STAMP.is_file() and BUILT_STAMP.read_text() == run:
            return REPO_ROOT / "_build" / "html"
        BUILT_STAMP.unlink(missing_ok=True)
        result = subprocess.run([sys.executable, str(BUILD_SCRIPT)], cwd=REPO_ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            output = result.stdout[-OUTPUT_TAIL_CHARS:]
            pytest.fail(f"the book does not build (scripts/build_book.py):\n{output}",
                        pytrace=False)
        if run:
            BUILT_STAMP.write_text(run)
    return REPO_ROOT / "_build" / "html"


class TinyBook:
    """A throwaway book in a temporary folder, configured by the real _config.yml."""

    FRONT_MATTER = ("---\njupytext:\n  text_representation:\n    extension: .md\n"
                    "    format_name: myst\n{metadata}kernelspec:\n  display_name: Python 3\n"
                    "  language: python\n  name: python3\n---\n")

    def __init__(self, root: Path, repo_root: Path):
        self.root = root
        self.repo_root = repo_root
        self.html = root / "_build" / "html"

    def config(self) -> dict:
        """The real configuration, with its repository-relative paths made absolute."""
        config = yaml.safe_load((self.repo_root / "_config.yml").read_text())
        sphinx = config["sphinx"]
        sphinx["local_extensions"] = {name: str(self.repo_root / path)
                                      for name, path in sphinx["local_extensions"].items()}
        sphinx["config"]["html_static_path"] = [str(js_assets.SITE_DIR)]
        return config

    def build(self, pages: dict[str, str]) -> subprocess.CompletedProcess:
        """Write an index page, then `pages` (relative path -> source) in order; build."""
        with book_lock():      # it stages the assets the real build stages too
            return self._build(pages)

    def _build(self, pages: dict[str, str]) -> subprocess.CompletedProcess:
        (self.root / "_config.yml").write_text(yaml.safe_dump(self.config()))
        chapters = [{"file": Path(name).with_suffix("").as_posix()} for name in pages]
        toc = {"format": "jb-book", "root": "index", "chapters": chapters}
        (self.root / "_toc.yml").write_text(yaml.safe_dump(toc))
        (self.root / "index.md").write_text("# Tiny book\n\nA test book.\n")
        for name, source in pages.items():
            (self.root / name).parent.mkdir(parents=True, exist_ok=True)
            (self.root / name).write_text(source)
        assert js_assets.main() == 0, "the offline assets must be staged for the build"
        return subprocess.run(build_book.build_command(self.root, self.root), cwd=self.root,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              check=False)

    @classmethod
    def myst_notebook(cls, *cells: str, metadata: str = "", prose: str = "") -> str:
        """A MyST Markdown notebook; `metadata` is extra YAML front matter."""
        return (cls.FRONT_MATTER.format(metadata=metadata) + "# A notebook\n\n" + prose
                + "\n".join(f"```{{code-cell}} ipython3\n{cell}\n```\n" for cell in cells))

    @staticmethod
    def ipynb_notebook(*cells: str) -> str:
        notebook = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_markdown_cell("# A notebook")]
            + [nbformat.v4.new_code_cell(cell) for cell in cells],
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}})
        return nbformat.writes(notebook)

    @staticmethod
    def code_cell_line(source: str, index: int) -> int:
        """1-based line of the index-th (0-based) code cell of a MyST notebook."""
        return [number for number, text in enumerate(source.splitlines(), start=1)
                if text.startswith("```{code-cell}")][index]


@pytest.fixture
def tiny_book(tmp_path, repo_root) -> TinyBook:
    return TinyBook(tmp_path, repo_root)


@pytest.fixture
def run_lab_offline(tmp_path, monkeypatch):
    """A function that executes a lab notebook as the book build does here and returns the
    outputs of its code cells: in a fresh folder (no ./data there), downloads forbidden,
    quick mode forced, figures rendered inline."""
    from nbclient import NotebookClient

    def run(path: Path) -> list:
        shutil.copy(path, tmp_path)
        monkeypatch.setenv("CNNBOOK_DOWNLOAD", "0")
        monkeypatch.setenv("CNNBOOK_QUICK", "1")
        monkeypatch.delenv("CNNBOOK_DATA", raising=False)
        monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        nb = nbformat.read(tmp_path / path.name, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]

    return run
