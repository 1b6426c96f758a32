"""Drop sphinx-thebe's scripts from every page.

Jupyter Book always loads sphinx-thebe, which puts two scripts on each page even when
thebe is off (``launch_buttons.thebe: false``): an inline one that only stores the
CDN address thebe would be loaded from, and the loader that would fetch it on a click
no page offers. sphinx-thebe 0.3.1 also adds the inline one twice, which declares the
same ``const`` twice: a console error on every page. The book runs with no network,
so neither script can ever do anything useful.
"""

import posixpath

THEBE_LOADER = "sphinx-thebe.js"
THEBE_CONFIG_PREFIX = "const THEBE_JS_URL"


def is_thebe_script(script) -> bool:
    # Sphinx holds a script by its path in the site: _static/sphinx-thebe.js
    if script.filename and posixpath.basename(script.filename) == THEBE_LOADER:
        return True
    return not script.filename and script.attributes.get("body", "").startswith(THEBE_CONFIG_PREFIX)


def drop_thebe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if scripts:
        context["script_files"] = [script for script in scripts if not is_thebe_script(script)]


def setup(app):
    app.connect("html-page-context", drop_thebe_scripts)
