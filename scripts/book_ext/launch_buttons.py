"""Keep launch buttons (Colab, Binder) only on pages whose source is a ``.ipynb`` file.

sphinx-book-theme adds them to every notebook page, MyST Markdown notebooks included, and
links those to the ``.md`` file: Colab cannot open that, and Binder would need jupytext.
The theme's handler must still run on ``.md`` notebooks, because it is the one that copies
the executed ``.ipynb`` next to the sources for the download button; so this handler runs
after it (priority 502 > the theme's 501) and only removes the launch group.
"""

LAUNCH_GROUP = "launch-buttons"  # sphinx-book-theme's label for the launch dropdown


def has_launch_buttons(source_suffix: str | None) -> bool:
    return source_suffix == ".ipynb"


def remove_launch_buttons(app, pagename, templatename, context, doctree):
    buttons = context.get("header_buttons")
    if buttons and not has_launch_buttons(context.get("page_source_suffix")):
        buttons[:] = [button for button in buttons if button.get("label") != LAUNCH_GROUP]


def setup(app):
    app.connect("html-page-context", remove_launch_buttons, priority=502)
