"""Student content is data: the notebook every page renders holds nothing a browser would run.

Formgrader shows a submission on the instructor's own Jupyter server: a script in a student's
markdown would run there, with the instructor's cookies, and could read the page, its XSRF token
and the formgrader and contents APIs.  The student's feedback page is rendered from the same
autograded notebook.  Neither page can be trusted to clean what it shows (formgrader's template
renders markdown with no sanitiser at all), so the notebook itself is made inert before it is
written, and again, as a second layer, by :class:`InertStudentContent` when a page renders it
(``c.HTMLExporter.preprocessors`` in ``nbgrader_config.py``, for notebooks graded by other means).

What survives, cell by cell:

* **markdown** is rendered here, with nbconvert's own markdown parser, to HTML that must pass
  :func:`inert_html`: an allow-list of plain tags (paragraphs, lists, tables, code, emphasis,
  ``details``), every tag written in one canonical form and balanced, no ``id``, ``class``,
  event handler or ``style`` (but a table cell's alignment), links only to ``http(s)``/``mailto``
  or ``#``, images only ``data:image/png|jpeg|gif`` (so a page never requests a URL the student
  chose, not even one on the instructor's server).  A cell that fails is shown as text, in
  ``<pre>``, saying why.  The HTML is stored back as the cell's source on one line, inside one
  ``<div>``: a markdown renderer passes such an HTML block through unchanged, so the page shows
  exactly what was checked.  TeX that MathJax would turn into a link, a style or a loaded
  extension (``\\href``, ``\\style``, ``\\require``...) puts the whole cell out of MathJax's reach.
* **attachments** are resolved into those data URLs (png, jpeg, gif whose bytes say so, each
  at most :data:`MAX_IMAGE_BYTES`), then dropped; never svg.
* **raw cells** become markdown cells showing their text.
* **outputs** keep text, errors and checked png/jpeg/gif images; never html, javascript, svg,
  markdown, latex or widgets.  (The grader's autograded notebook has only its own test outputs.)
* **metadata**: a cell keeps its id and, with a release, the release's nbgrader metadata of its
  grade id; the notebook's comes from the release (kernelspec, language_info) -- a student's
  could carry widget state that the HTML exporter turns into scripts from a CDN.

Bounds keep one notebook cheap to render: :data:`MAX_MARKDOWN_CHARS` per cell,
:data:`MAX_NOTEBOOK_MARKDOWN_CHARS` per notebook, and per cell a budget of link and image URL
characters, so that a reference used thousands of times cannot multiply the page.
"""
import base64
import binascii
import copy
import functools
import html
import math
import re
from urllib.parse import urlsplit

import nbformat
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath, import_plugin
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

# Honest cells are a few thousand characters (the release's longest is about 3,000); the parser's
# worst inputs cost about a second per 50,000 characters on a loaded machine, so a notebook
# (the release has 5,000 to 9,000 characters of markdown in each) costs at most about 4 s.
MAX_MARKDOWN_CHARS = 50_000
MAX_NOTEBOOK_MARKDOWN_CHARS = 200_000
MAX_SHOWN_CHARS = 5_000            # of a cell shown as text
MAX_IMAGE_BYTES = 1024 * 1024      # a screenshot or a plot; one image of a cell or an output
_MAX_IMAGE_CHARS = (MAX_IMAGE_BYTES + 2) // 3 * 4                  # the same in base64
MAX_CELL_IMAGE_CHARS = 4 * 1024 * 1024
MAX_URL_CHARS = 2_000
MAX_CELL_LINK_CHARS = 50_000
MAX_DEPTH = 64                     # nesting of tags in one cell

TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "b", "i", "u", "s", "del",
        "ins", "sub", "sup", "small", "mark", "code", "pre", "kbd", "samp", "var", "blockquote", "q",
        "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "th", "td",
        "caption", "a", "img", "span", "div", "details", "summary", "abbr"}
VOID_TAGS = {"br", "hr", "img"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
              "th": {"style"}, "td": {"style"}, "ol": {"start"}, "abbr": {"title"}}
IMAGE_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff", "image/gif": b"GIF8"}
# MathJax commands that make links, styles, classes or ids, or load code (its Safe extension filters
# them too, when the page's MathJax URL asks for it).
RISKY_TEX = re.compile(r"\\(?:href|url|style|class|cssId|bbox|unicode|require|mmlToken|html|data|attr)"
                       r"(?![A-Za-z])")
IGNORED_BY_MATHJAX = "tex2jax_ignore"

_TOKEN = re.compile(r'<(/?)([a-z][a-z0-9]*)((?: [a-z]+="[^"<>]*")*)( ?/)?>|[^<]+')
_ATTRIBUTE = re.compile(r' ([a-z]+)="([^"<>]*)"')
_DATA_IMAGE = re.compile(r"data:(image/(?:png|jpeg|gif));base64,([A-Za-z0-9+/]+={0,2})")
_STORED = re.compile(rf'<div(?: class="{IGNORED_BY_MATHJAX}")?>([^\r\n]*)</div>\n?')
_CELL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ALIGN = {"text-align:left", "text-align:center", "text-align:right"}
_NOT_URL = re.compile(r"[\x00-\x20\x7f-\x9f\s\\]")


class InertStudentContent(Preprocessor):
    """The second layer, for any page nbconvert renders: :func:`inert_notebook` without a release."""

    enabled = Bool(True)      # nbconvert runs a preprocessor only when enabled; listing it is the choice

    def preprocess(self, nb, resources):
        return inert_notebook(nb), resources


def inert_notebook(notebook, release=None):
    """``notebook``, changed in place: every cell inert, the metadata the release's (or a safe part of its own)."""
    budget = [MAX_NOTEBOOK_MARKDOWN_CHARS]
    release_meta = _release_nbgrader(release) if release is not None else None
    for index, cell in enumerate(notebook.cells):
        notebook.cells[index] = _inert_cell(cell, budget, release_meta)
    _unique_ids(notebook.cells)
    notebook.metadata = _notebook_metadata(release if release is not None else notebook)
    notebook.nbformat, notebook.nbformat_minor = 4, 5          # 4.5: every cell has an id
    return notebook


def text_cell(text):
    """A markdown cell showing ``text`` as it is (the grader's own notices use it too)."""
    return nbformat.v4.new_markdown_cell(_stored(f"<pre>{html.escape(text)}</pre>"))


def inert_markdown(source, attachments=None, budget=None):
    """The stored form of a markdown cell: checked HTML in one ``<div>`` on one line, or its text."""
    budget = budget if budget is not None else [MAX_NOTEBOOK_MARKDOWN_CHARS]
    stored = _STORED.fullmatch(source)
    if stored and inert_html(stored.group(1)):
        return _stored(stored.group(1))             # already inert (rendered here before)
    if len(source) > MAX_MARKDOWN_CHARS:
        return _as_text(source, f"it is longer than {MAX_MARKDOWN_CHARS} characters")
    if len(source) > budget[0]:
        return _as_text(source, f"the notebook's markdown is longer than {MAX_NOTEBOOK_MARKDOWN_CHARS} characters")
    budget[0] -= len(source)
    images = _images(attachments or {})
    stored = _checked_markdown(source) if not images and len(source) <= MAX_KEPT_CHARS else \
        _checked_render(source, images)
    if stored is None:
        return _as_text(source, "it holds markup the grader does not show (scripts, styles, frames, "
                                "event handlers, or links and images from elsewhere)")
    return stored


def _checked_render(source, images):
    """The stored form of ``source`` rendered with ``images`` if it passes :func:`inert_html`, else None."""
    try:
        rendered = _render(source, images)
    except Exception:      # a parser's bug on a hostile input costs that cell its formatting, never the notebook
        return None
    return _stored(rendered) if inert_html(rendered) else None


# The release's own markdown comes back unchanged in every submission: a worker renders each cell once
# (26 cells took about 30 ms of CPU for every submission; now about 2 ms).  Bounded to a few MiB.
MAX_KEPT_CHARS = 10_000


@functools.lru_cache(maxsize=512)
def _checked_markdown(source):
    """:func:`_checked_render` of a cell without images, kept for the next submission."""
    return _checked_render(source, {})


def inert_html(fragment):
    """Whether ``fragment`` is only allowed tags, in canonical form, balanced, with allowed attributes."""
    open_tags, position = [], 0
    while position < len(fragment):
        token = _TOKEN.match(fragment, position)
        if token is None:
            return False
        position = token.end()
        closing, tag, attributes, slash = token.groups()
        if tag is None:
            continue                                # text: it has no "<", so it is only text
        if closing:
            if attributes or slash or not open_tags or open_tags.pop() != tag:
                return False
        elif not _start_tag_ok(tag, attributes, slash, open_tags):
            return False
    return not open_tags


def _start_tag_ok(tag, attributes, slash, open_tags):
    if tag not in TAGS or (slash and tag not in VOID_TAGS):
        return False
    if not all(_attribute_ok(tag, name, value) for name, value in _ATTRIBUTE.findall(attributes)):
        return False
    if tag not in VOID_TAGS:
        open_tags.append(tag)
    return len(open_tags) <= MAX_DEPTH


def _attribute_ok(tag, name, value):
    if name not in ATTRIBUTES.get(tag, ()):
        return False
    value = html.unescape(value)                    # what the browser will see
    if name == "href":
        return link_ok(value)
    if name == "src":
        return _DATA_IMAGE.fullmatch(value) is not None
    if name == "style":
        return value in _ALIGN
    if name in ("width", "height", "start"):
        return re.fullmatch(r"[0-9]{1,4}", value) is not None
    return True                                     # alt and title: text


def link_ok(url):
    """A link a student may put on a page: ``http(s)`` or ``mailto`` elsewhere, or ``#`` in the page.

    Nothing relative: on the instructor's server a relative link reaches its own APIs.
    """
    if _NOT_URL.search(url) or len(url) > MAX_URL_CHARS:
        return False
    if url.startswith("#"):
        return True
    parts = urlsplit(url)
    return (parts.scheme in ("http", "https") and bool(parts.netloc)) or (parts.scheme == "mailto" and bool(parts.path))


def image_data_url(bundle):
    """``data:`` URL of the first png, jpeg or gif in a mime bundle whose bytes are that image, or None."""
    for mime, magic in IMAGE_MAGIC.items():
        value = bundle.get(mime)
        value = "".join(value) if isinstance(value, list) and len(value) < _MAX_IMAGE_CHARS else value
        if not isinstance(value, str) or len(value) > 2 * _MAX_IMAGE_CHARS:      # room for line breaks
            continue
        encoded = "".join(value.split())
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(data) <= MAX_IMAGE_BYTES and data.startswith(magic):
            return f"data:{mime};base64,{encoded}"
    return None


class _InertRenderer(IPythonRenderer):
    """nbconvert's renderer, minus what the checker would refuse in honest markdown.

    Links and images it cannot keep become their text; headings get no ids, code no classes.
    """

    def __init__(self, images):
        super().__init__(escape=False, allow_harmful_protocols=False, exclude_anchor_links=True)
        self.images = images
        self.link_chars, self.image_chars = MAX_CELL_LINK_CHARS, MAX_CELL_IMAGE_CHARS

    def link(self, text, url, title=None):
        if not link_ok(url) or len(url) > self.link_chars:
            return text
        self.link_chars -= len(url)
        return f'<a href="{html.escape(url)}">{text}</a>'

    def image(self, text, url, title=None):
        alt = html.escape(html.unescape(re.sub(r"<[^>]*>", "", text)))
        src = self.images.get(url[len("attachment:"):]) if url.startswith("attachment:") else None
        inline = _DATA_IMAGE.fullmatch(url)
        if src is None and inline:
            src = image_data_url({inline.group(1): inline.group(2)})
        if src is None or len(src) > self.image_chars:
            return f"[image: {alt}]"
        self.image_chars -= len(src)
        return f'<img src="{src}" alt="{alt}" />'

    def heading(self, text, level, **attrs):
        return f"<h{level}>{text}</h{level}>\n"

    def block_code(self, code, info=None):
        return f"<pre><code>{html.escape(code, quote=False)}</code></pre>\n"


# Task lists render <input> elements; students' "[ ]" stays text.
_PLUGINS = tuple(p for p in MarkdownWithMath.DEFAULT_PLUGINS if p != "task_lists")


def _render(source, images):
    parser = MarkdownWithMath(renderer=_InertRenderer(images), plugins=[import_plugin(p) for p in _PLUGINS])
    return parser.render(source)


def _images(attachments):
    """``{name: data URL}`` of the attachments that are checked png, jpeg or gif images."""
    if not isinstance(attachments, dict):
        return {}
    found = {name: image_data_url(bundle) for name, bundle in attachments.items() if isinstance(bundle, dict)}
    return {name: url for name, url in found.items() if url is not None}


def _stored(fragment):
    """One line, one ``<div>``: a markdown renderer passes it through as it is (no blank line ends it)."""
    text = html.unescape(re.sub(r"<[^>]*>", "", fragment))
    opening = f'<div class="{IGNORED_BY_MATHJAX}">' if RISKY_TEX.search(text) else "<div>"
    return opening + fragment.replace("\r", "&#13;").replace("\n", "&#10;") + "</div>"


def _as_text(source, why):
    """The stored form of ``source`` shown as text under a note saying ``why``; long text is cut."""
    shown = source[:MAX_SHOWN_CHARS]
    more = f"\n[... {len(source) - len(shown)} more characters not shown]" if len(source) > len(shown) else ""
    return _stored(f"<p><em>Shown as text: {html.escape(why)}.</em></p><pre>{html.escape(shown + more)}</pre>")


def _inert_cell(cell, budget, release_meta):
    """A new cell of ``cell``'s content made inert; its id is checked later, with all the others'."""
    source = _joined(cell.get("source", ""))
    if cell.get("cell_type") == "code":
        count = cell.get("execution_count")
        inert = {"cell_type": "code", "source": source, "outputs": _inert_outputs(cell.get("outputs")),
                 "execution_count": count if type(count) is int else None}
    elif cell.get("cell_type") == "markdown":
        inert = {"cell_type": "markdown", "source": inert_markdown(source, cell.get("attachments"), budget)}
    else:                                           # raw (nbconvert would paste it into the page as HTML)
        inert = {"cell_type": "markdown", "source": _as_text(source, "it is a raw cell")}
    nbgrader = _nbgrader(cell, release_meta)
    inert.update(id=cell.get("id"), metadata={"nbgrader": nbgrader} if nbgrader else {})
    return nbformat.from_dict(inert)


def _joined(value):
    """nbformat's multiline string as one string; anything else as nothing."""
    return "".join(value) if isinstance(value, list) else value if isinstance(value, str) else ""


# nbgrader's cell metadata, as its preprocessors and formgrader's template read it (grade_id becomes
# an HTML id there, unescaped).
_NBGRADER_TYPES = {"grade": (bool,), "solution": (bool,), "locked": (bool,), "task": (bool,),
                   "points": (int, float), "schema_version": (int,)}
_NBGRADER_WORDS = ("grade_id", "cell_type", "checksum")
_WORD = re.compile(r"[A-Za-z0-9_-]{1,200}")


def _nbgrader(cell, release_meta):
    """The release's nbgrader metadata of the cell's grade id; without a release, the well-typed part of its own."""
    metadata = cell.get("metadata")
    own = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    if not isinstance(own, dict) or not isinstance(own.get("grade_id"), str) or not _WORD.fullmatch(own["grade_id"]):
        return None
    if release_meta is not None:
        found = release_meta.get(own["grade_id"])
        return copy.deepcopy(found) if found else None
    kept = {key: own[key] for key in _NBGRADER_WORDS if isinstance(own.get(key), str) and _WORD.fullmatch(own[key])}
    kept.update({key: own[key] for key, kinds in _NBGRADER_TYPES.items() if type(own.get(key)) in kinds})
    if not math.isfinite(kept.get("points", 0)):
        del kept["points"]
    return kept


def _release_nbgrader(release):
    """``{grade_id: nbgrader metadata}`` of the release's cells."""
    found = {}
    for cell in release.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            found.setdefault(meta["grade_id"], meta)
    return found


def _inert_outputs(outputs):
    """Text, errors and checked images; anything else becomes a line saying what was not shown."""
    kept = [_inert_output(output) for output in (outputs if isinstance(outputs, list) else [])]
    return [output for output in kept if output is not None]


def _inert_output(output):
    kind = output.get("output_type") if isinstance(output, dict) else None
    if kind == "stream":                            # its name becomes a class on the page, unescaped
        name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
        return nbformat.v4.new_output("stream", name=name, text=_joined(output.get("text")))
    if kind == "error":
        trace = output.get("traceback") if isinstance(output.get("traceback"), list) else []
        return nbformat.v4.new_output("error", ename=_joined(output.get("ename")), evalue=_joined(output.get("evalue")),
                                      traceback=[line for line in trace if isinstance(line, str)])
    if kind in ("execute_result", "display_data"):
        return _inert_data_output(kind, output)
    return None


def _inert_data_output(kind, output):
    """Its text and its first checked image; nothing else, not even its metadata (sizes go into attributes)."""
    data = output.get("data") if isinstance(output.get("data"), dict) else {}
    kept = {"text/plain": _joined(data["text/plain"])} if "text/plain" in data else {}
    image = image_data_url(data)
    if image:
        mime, encoded = _DATA_IMAGE.fullmatch(image).groups()
        kept[mime] = encoded
    if not kept:
        kept["text/plain"] = f"[an output of type {', '.join(sorted(map(str, data)))[:200] or 'none'}: not shown]"
    extra = {"execution_count": output.get("execution_count") if type(output.get("execution_count")) is int else None}
    return nbformat.v4.new_output(kind, data=kept, **(extra if kind == "execute_result" else {}))


def _unique_ids(cells):
    """Every cell an id of nbformat's form, none twice (nbformat 4.5 requires both)."""
    seen = set()
    for index, cell in enumerate(cells):
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not _CELL_ID.fullmatch(cell_id) or cell_id in seen:
            cell_id, extra = f"cell-{index}", 0
            while cell_id in seen:
                extra += 1
                cell_id = f"cell-{index}-{extra}"
        cell["id"] = cell_id
        seen.add(cell_id)


# Top-level metadata a page needs (the kernel's language, for highlighting code), as plain words.
_NOTEBOOK_KEYS = {"kernelspec": ("name", "display_name", "language"),
                  "language_info": ("name", "version", "mimetype", "file_extension", "pygments_lexer")}
_PLAIN_VALUE = re.compile(r"[\w .+()/-]{1,100}")


def _notebook_metadata(source_notebook):
    """The kernelspec and language_info of ``source_notebook``, plain words only."""
    metadata = source_notebook.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    kept = {}
    for key, fields in _NOTEBOOK_KEYS.items():
        value = metadata.get(key)
        if isinstance(value, dict):
            kept[key] = {field: value[field] for field in fields
                         if isinstance(value.get(field), str) and _PLAIN_VALUE.fullmatch(value[field])}
    return nbformat.from_dict(kept)
