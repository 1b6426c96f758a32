"""Load static/math-tab-stops.js, which lets the keyboard reach a display equation that
scrolls sideways (see the script). On every page: it does nothing where MathJax is not
loaded, and it is smaller than the check that would leave it out."""

SCRIPT = "math-tab-stops.js"  # in static/, which offline_assets adds to html_static_path


def setup(app):
    # deferred after MathJax (priority 500 by default): window.MathJax.startup exists then
    app.add_js_file(SCRIPT, loading_method="defer", priority=600)
