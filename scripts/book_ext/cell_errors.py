"""Name the notebook and the cell when a notebook fails to execute during the build.

myst-nb aborts the build with ``ExecutionError(<path>)`` chained to nbclient's error, and
prints the failing cell's source and traceback, but neither its position in the notebook
nor its line in a MyST Markdown file. Sphinx emits ``build-finished`` with the exception
before re-raising it; this handler adds one line such as::

    book/chapters/x.md:41: ERROR: notebook book/chapters/x.md failed in cell 7 of 12
    (code cell at line 41): ValueError: shapes do not match
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from sphinx.util import logging

logger = logging.getLogger(__name__)

# nbclient executes each cell in this coroutine; its frame holds the cell and its index.
_CELL_FRAME = "async_execute_cell"


@dataclass(frozen=True)
class FailedCell:
    notebook: Path
    index: int  # 0-based position among all cells of the notebook
    cell_count: int | None
    line: int | None  # 1-based line of the cell in a MyST Markdown source
    reason: str


def _exception_chain(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _frames(tb: TracebackType | None):
    while tb is not None:
        yield tb.tb_frame
        tb = tb.tb_next


def _failing_cell_index(error: BaseException) -> int | None:
    for link in _exception_chain(error):
        for frame in _frames(link.__traceback__):
            if frame.f_code.co_name == _CELL_FRAME and "cell_index" in frame.f_locals:
                return frame.f_locals["cell_index"]
    return None


def _reason(error: BaseException) -> str:
    """nbclient's error under myst-nb's wrapper, as 'Name: message'.

    A CellExecutionError carries the kernel's exception (ename, evalue); a timeout or a
    dead kernel is described by its own first line. Deeper links (e.g. queue.Empty behind
    a timeout) are implementation details.
    """
    chain = [link for link in _exception_chain(error)
             if type(link).__name__ != "ExecutionError"]
    cause = chain[0] if chain else error
    if getattr(cause, "ename", None):
        return f"{cause.ename}: {cause.evalue}"
    first_line = str(cause).strip().splitlines()[:1]
    return f"{type(cause).__name__}: {first_line[0] if first_line else ''}".rstrip(": ")


def _notebook_path(error: BaseException) -> Path | None:
    """myst-nb's ExecutionError carries the notebook path as its message."""
    for link in _exception_chain(error):
        if type(link).__name__ == "ExecutionError" and str(link):
            return Path(str(link))
    return None


def _cell_layout(path: Path) -> tuple[int | None, list[int] | None]:
    """(number of cells, start line of each cell or None) as myst-nb reads the file."""
    try:
        if path.suffix == ".md":
            from myst_nb.core.read import read_myst_markdown_notebook

            notebook = read_myst_markdown_notebook(path.read_text("utf8"), add_source_map=True,
                                                   path=path)
            return len(notebook.cells), list(notebook.metadata.get("source_map", [])) or None
        import nbformat

        return len(nbformat.read(path, as_version=4).cells), None
    except Exception:  # the report is best effort: never hide the original failure
        return None, None


def locate_failure(error: BaseException) -> FailedCell | None:
    path = _notebook_path(error)
    index = _failing_cell_index(error)
    if path is None or index is None:
        return None
    cell_count, lines = _cell_layout(path)
    line = lines[index] if lines and index < len(lines) else None
    return FailedCell(path, index, cell_count, line, _reason(error))


def describe(failure: FailedCell, srcdir: Path) -> str:
    try:
        name = failure.notebook.resolve().relative_to(srcdir.resolve())
    except ValueError:
        name = failure.notebook
    total = f" of {failure.cell_count}" if failure.cell_count else ""
    where = f" (code cell at line {failure.line})" if failure.line else ""
    return f"notebook {name} failed in cell {failure.index + 1}{total}{where}: {failure.reason}"


def _location(app, failure: FailedCell):
    """Sphinx's (docname, line) location, printed as 'path:line:' before the message."""
    try:
        docname = app.env.path2doc(str(failure.notebook))
    except Exception:  # best effort, as above
        docname = None
    if docname is None:
        return None
    return (docname, failure.line) if failure.line else docname


def report_failed_cell(app, exception: BaseException | None) -> None:
    if exception is None:
        return
    failure = locate_failure(exception)
    if failure is None:
        return
    logger.error(describe(failure, Path(app.srcdir)), location=_location(app, failure))


def setup(app):
    app.connect("build-finished", report_failed_cell)
