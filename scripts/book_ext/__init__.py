"""Sphinx extension with the book platform's own rules.

Loaded through ``sphinx.local_extensions`` in ``_config.yml``:

- ``cell_errors``: when a notebook fails during the build, name the notebook and the cell.
- ``offline_assets``: fail early and clearly when the pinned offline JavaScript is missing
  or when the configuration points a page at a CDN.
- ``launch_buttons``: show launch buttons (Colab, Binder) only on ``.ipynb`` pages.
- ``no_thebe``: drop the (disabled) thebe scripts, which name a CDN and raise a console error.
- ``exec_times``: list each notebook page's execution time at the end of the build.
- ``search_summary``: keep Sphinx 7.4's search page from stopping at an index entry.
- ``book_links``: make the exercises' links to the published book point inside this build.
- ``theme_templates``: the book's versions of theme templates (templates/) come first.
- ``theme_scripts``: leave fontawesome.js and the search index off the pages.
- ``icon_fonts``: cut the theme's icon fonts down to the icons the site shows.
- ``widgets_where_shown``: load the widget manager only on pages that show a widget.
- ``embedded_images``: serve images embedded in HTML outputs as files, fetched when shown.
- ``fold_figure_code``: fold the code of every cell that draws a captioned figure.
- ``figure_links``: make each output figure a link to its full-size image.
- ``output_tables``: no empty header cells in notebook output tables.
- ``wide_tables``: wide tables of the text read as labelled cards on a phone.
- ``book_style``: static/book.css, the book's own style rules.
- ``math_tab_stops``: let the keyboard reach a display equation that scrolls sideways.
- ``root_redirect``: a complete index.html that sends readers to the first page.
"""

from . import (book_links, book_style, cell_errors, embedded_images, exec_times, figure_links,
               fold_figure_code, icon_fonts, launch_buttons, math_tab_stops, no_thebe,
               offline_assets, output_tables, root_redirect, search_summary, theme_scripts,
               theme_templates, wide_tables, widgets_where_shown)


def setup(app):
    cell_errors.setup(app)
    offline_assets.setup(app)
    launch_buttons.setup(app)
    no_thebe.setup(app)
    exec_times.setup(app)
    search_summary.setup(app)
    book_links.setup(app)
    theme_templates.setup(app)
    theme_scripts.setup(app)
    icon_fonts.setup(app)
    widgets_where_shown.setup(app)
    embedded_images.setup(app)
    fold_figure_code.setup(app)
    figure_links.setup(app)
    output_tables.setup(app)
    wide_tables.setup(app)
    book_style.setup(app)
    math_tab_stops.setup(app)
    root_redirect.setup(app)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
