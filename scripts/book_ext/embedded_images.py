"""Serve the images embedded in notebooks' HTML outputs as files, fetched when shown.

An HTML output can carry its images inline, as ``data:image/...;base64,...`` URLs: the
shifted-MNIST lab's position viewer holds 196 frames (four panels, 49 positions) in its
script and shows four at a time, so every reader downloaded all of them (0.9 MB) with
the page. Here each embedded image becomes a file of ``_images/`` named by its content
(as myst-nb names the figures it writes), and the output refers to it by a relative URL:
the page then loads only the frames on screen, the rest when the slider reaches them,
and the files are cached like every other figure. The output's markup and script are
otherwise untouched; only the URLs change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import posixpath
import re
from pathlib import Path

from docutils import nodes
from sphinx.util.osutil import relative_uri

DATA_URL = re.compile(r"data:image/(?P<type>png|jpeg|gif|webp);base64,(?P<data>[A-Za-z0-9+/]+=*)")
EXTENSIONS = {"png": "png", "jpeg": "jpg", "gif": "gif", "webp": "webp"}


def in_cell_output(node: nodes.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if getattr(parent, "get", None) and parent.get("nb_element") == "cell_code_output":
            return True
        parent = parent.parent
    return False


def externalise(html: str, image_dir: Path, image_url: str) -> str:
    """``html`` with each embedded image written to ``image_dir`` and replaced by
    ``image_url/<sha256>.<ext>``; an URL that is not valid base64 is left as it is."""
    def to_file(match: re.Match) -> str:
        try:
            data = base64.b64decode(match["data"], validate=True)
        except binascii.Error:
            return match[0]
        name = f"{hashlib.sha256(data).hexdigest()}.{EXTENSIONS[match['type']]}"
        target = image_dir / name
        if not target.exists():
            image_dir.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return posixpath.join(image_url, name)
    return DATA_URL.sub(to_file, html)


def externalise_embedded_images(app, doctree, docname):
    if app.builder.format != "html":
        return
    image_dir = Path(app.outdir) / app.builder.imagedir
    image_url = relative_uri(app.builder.get_target_uri(docname), app.builder.imagedir)
    for raw in list(doctree.findall(nodes.raw)):
        if "html" not in raw.get("format", "").split() or not in_cell_output(raw):
            continue
        text = raw.astext()
        if "data:image/" not in text:
            continue
        new_text = externalise(text, image_dir, image_url)
        if new_text != text:
            raw.replace_self(nodes.raw(new_text, new_text, **raw.attributes))


def setup(app):
    app.connect("doctree-resolved", externalise_embedded_images)
