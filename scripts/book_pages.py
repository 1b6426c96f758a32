"""The pages of the book, in reading order, as listed by _toc.yml.

Tests derive their page list from here, so a page added to the table of contents is
covered by the build and browser tests without editing them.
"""

from __future__ import annotations

from pathlib import Path

from sphinx_external_toc.api import GlobItem, UrlItem
from sphinx_external_toc.parsing import parse_toc_yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
TOC = REPO_ROOT / "_toc.yml"
SOURCE_SUFFIXES = (".md", ".ipynb")


def toc_docnames(toc: Path = TOC) -> list[str]:
    """Docnames (paths without suffix) in reading order: root first, then depth first."""
    site_map = parse_toc_yaml(str(toc))
    ordered: list[str] = []

    def visit(docname: str) -> None:
        ordered.append(docname)
        for subtree in site_map[docname].subtrees:
            for item in subtree.items:
                if isinstance(item, (GlobItem, UrlItem)):
                    raise ValueError(f"{toc}: globs and URLs are not used in this book ({item})")
                visit(item)

    visit(site_map.root.docname)
    return ordered


def source_path(docname: str, root: Path = REPO_ROOT) -> Path:
    """The source file of a page; a clear error when it is missing or ambiguous."""
    found = [root / f"{docname}{suffix}" for suffix in SOURCE_SUFFIXES
             if (root / f"{docname}{suffix}").is_file()]
    if len(found) != 1:
        what = "no source file" if not found else f"two source files ({', '.join(map(str, found))})"
        raise FileNotFoundError(f"_toc.yml lists {docname!r} but there is {what}: "
                                f"expected exactly one of {docname}.md or {docname}.ipynb")
    return found[0]


def html_path(docname: str) -> str:
    """The page's path inside _build/html."""
    return f"{docname}.html"
