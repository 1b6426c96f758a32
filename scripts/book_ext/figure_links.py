"""Make each figure a notebook draws a link to its full-size image: tap to enlarge.

The book's figures are drawn about 630 pixels wide. On a phone the page is 390 pixels
wide, so a figure is shown at little more than half its size and its tick labels are too
small to read. Each image in a cell output becomes a link to its own file, as Sphinx
already does for images it scales down (html_scaled_image_link): a tap opens the figure
at full size, where the phone's zoom works. The image and its caption are unchanged.
"""

from __future__ import annotations

import posixpath

from docutils import nodes
from sphinx.util.osutil import relative_uri

from .embedded_images import in_cell_output

LINK_CLASS = "figure-full-size"


def served_name(env, image: nodes.image) -> str | None:
    """The image's file name in _images/, as Sphinx will copy it; None if not collected."""
    path = (image.get("candidates") or {}).get("*") or image.get("uri")
    if path in env.images:
        return env.images[path][1]
    return None


def link_output_figures(app, doctree, docname):
    if app.builder.format != "html":
        return
    image_url = relative_uri(app.builder.get_target_uri(docname), app.builder.imagedir)
    for image in list(doctree.findall(nodes.image)):
        if isinstance(image.parent, nodes.reference) or not in_cell_output(image):
            continue
        name = served_name(app.env, image)
        if name is None:
            continue
        link = nodes.reference("", "", internal=True, classes=[LINK_CLASS],
                               refuri=posixpath.join(image_url, name))
        image.replace_self(link)
        link.append(image)


def setup(app):
    app.connect("doctree-resolved", link_output_figures)
