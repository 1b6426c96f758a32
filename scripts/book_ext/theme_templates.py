"""Put ``templates/`` first on the template path: the book's versions of the theme's
templates are found before the theme's own.

They are the search field, the colour-mode button and the top of the primary sidebar (each
says why), and the page layout (see theme_scripts.py).
"""

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"


def add_templates(app, config):
    config.templates_path.insert(0, str(TEMPLATES))


def setup(app):
    app.connect("config-inited", add_templates)
