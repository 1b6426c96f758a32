"""Load static/book.css, the book's own style rules (each says why), on every page."""

STYLESHEET = "book.css"  # in static/, which offline_assets adds to html_static_path


def setup(app):
    app.add_css_file(STYLESHEET)
