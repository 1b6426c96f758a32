"""Execute the book's notebook pages in parallel, into the build's execution cache.

Sphinx reads the pages one after the other, so in a clean build every notebook runs in
turn while the other cores wait. This step runs the notebook pages that are not cached
yet in a pool of processes (one per core), with the same reader, working folder and
per-cell time limit as the build, into the jupyter-cache the build reads
(<output>/_build/.jupyter_cache). The build then finds them cached.

It only saves time: a page that fails here is left out of the cache, and the build
runs it again and reports the failing notebook and cell.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import nbformat
import yaml
from jupyter_cache import get_cache
from jupyter_cache.executors import load_executor
from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook

import book_pages

REPO_ROOT = Path(__file__).resolve().parent.parent
# How myst-nb asks jupyter-cache to read each kind of page (myst_nb.core.read).
READ_DATA = {".md": {"type": "plugin", "name": "myst_nb_md"},
             ".ipynb": {"type": "plugin", "name": "nbformat"}}


@dataclass(frozen=True)
class ExecutionSettings:
    mode: str
    timeout: int
    exclude_patterns: tuple[str, ...]

    @classmethod
    def from_config(cls, config_path: Path) -> ExecutionSettings:
        execute = yaml.safe_load(config_path.read_text()).get("execute", {})
        return cls(mode=execute.get("execute_notebooks", "auto"),
                   timeout=int(execute.get("timeout", 30)),
                   exclude_patterns=tuple(execute.get("exclude_patterns", [])))

    def excludes(self, path: Path) -> bool:
        """myst-nb's rule: a pattern matches the absolute path from the right."""
        posix = PurePosixPath(path.resolve().as_posix())
        return any(posix.match(pattern) for pattern in self.exclude_patterns)


def read_notebook(path: Path):
    """The page as a notebook (as myst-nb reads it), or None for a plain Markdown page."""
    if path.suffix == ".ipynb":
        return nbformat.read(path, as_version=4)
    text = path.read_text("utf8")
    if not is_myst_markdown_notebook(text):
        return None
    return read_myst_markdown_notebook(text, path=path)


def cacheable_pages(root: Path, settings: ExecutionSettings) -> list[Path]:
    """Notebook pages of the toc that the build would execute through the cache."""
    pages = []
    for docname in book_pages.toc_docnames(root / "_toc.yml"):
        path = book_pages.source_path(docname, root)
        notebook = read_notebook(path)
        if notebook is None or settings.excludes(path):
            continue
        own_mode = notebook.metadata.get("mystnb", {}).get("execution_mode", settings.mode)
        if own_mode == "cache":
            pages.append(path)
    return pages


def preexecute(root: Path = REPO_ROOT, output: Path = REPO_ROOT) -> str:
    """Execute the uncached notebook pages in parallel; return a one-line summary."""
    settings = ExecutionSettings.from_config(root / "_config.yml")
    if settings.mode != "cache":
        return f"pre-execution skipped: execute_notebooks is {settings.mode!r}, not 'cache'"
    pages = cacheable_pages(root, settings)
    cache = get_cache(str(output / "_build" / ".jupyter_cache"))
    uris = [str(cache.add_nb_to_project(str(path), read_data=READ_DATA[path.suffix]).uri)
            for path in pages]
    pending = cache.list_unexecuted(filter_uris=uris)
    if not pending:
        return f"all {len(pages)} notebook pages are cached"
    quiet = logging.getLogger("book.preexecute")
    quiet.setLevel(logging.ERROR)  # failures are reported by the build, with their cell
    executor = load_executor("local-parallel", cache=cache, logger=quiet)
    started = time.perf_counter()
    result = executor.run_and_cache(filter_uris=[record.uri for record in pending],
                                    timeout=settings.timeout, allow_errors=False)
    failed = sorted(result.excepted + result.errored)
    summary = (f"executed {len(result.succeeded)} of {len(pending)} uncached notebook pages "
               f"in parallel in {time.perf_counter() - started:.1f} s")
    if failed:
        names = ", ".join(str(Path(uri).relative_to(root)) for uri in failed)
        summary += f"; failed: {names} (the build runs them again and names the cell)"
    return summary
