"""Load static/search-summary-fix.js: Sphinx 7.4's search page stops with a TypeError on
the first result that points at an index entry (see the script). Jupyter Book 1 pins
Sphinx below 8, so the fix is a small wrapper around searchtools.js's function."""

SCRIPT = "search-summary-fix.js"  # in static/, which offline_assets adds to html_static_path


def setup(app):
    app.add_js_file(SCRIPT, loading_method="defer")
