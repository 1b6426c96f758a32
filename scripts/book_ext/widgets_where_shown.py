"""Load the Jupyter widget manager only on pages that show a widget.

myst-nb adds the saved widget state and the widget scripts (require.js, widget-setup.js
and the 3.6 MB embed-amd.js) to every page whose notebook has widget state in its
metadata, even when no output on the page is a widget: a lab that builds an ipywidgets
slider in a cell whose output the book removes (``remove-output``) still carried the
state and the manager, and nothing for them to draw. A page shows a widget when its body
holds a widget view (a ``<script type="application/vnd.jupyter.widget-view+json">``).
"""

import posixpath

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def is_widget_script(script, widget_files) -> bool:
    """The saved widget state, or one of the configured widget scripts."""
    if script.attributes.get("type") == WIDGET_STATE:
        return True
    return bool(script.filename) and script.filename in widget_files


def drop_unused_widget_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts or WIDGET_VIEW in context.get("body", ""):
        return
    # Sphinx stores a page's scripts by their path in the site: _static/<configured path>
    widget_files = {posixpath.join("_static", path)
                    for path in getattr(app.config, "nb_ipywidgets_js", {}) or {}}
    context["script_files"] = [script for script in scripts
                               if not is_widget_script(script, widget_files)]


def setup(app):
    # after myst-nb's handler (priority 500), which adds the page's notebook scripts
    app.connect("html-page-context", drop_unused_widget_scripts, priority=600)
