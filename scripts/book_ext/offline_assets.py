"""Check at start-up that every script the pages load is served by the book itself.

``scripts/js_assets.py`` stages pinned npm packages in ``.cache/js-assets/site``; this
handler stops the build with one clear message when they are missing (a fresh clone
where nobody ran ``make book``) or when the configuration points at an absolute URL
(a CDN) instead of a file of that folder.
"""

import posixpath
from pathlib import Path

from sphinx.errors import ConfigError

import js_assets

OWN_STATIC = Path(__file__).parent / "static"  # the book's own scripts


def _is_url(path: str) -> bool:
    return "://" in path or path.startswith("//")


def _mathjax_components(config) -> list[str]:
    """The MathJax components its loader fetches (``mathjax3_config.loader.load``), as
    paths relative to ``_static``: they sit next to ``mathjax_path``."""
    loader = (getattr(config, "mathjax3_config", None) or {}).get("loader") or {}
    folder = posixpath.dirname(config.mathjax_path)
    return [posixpath.join(folder, f"{name}.js") for name in loader.get("load", [])]


def _configured_scripts(config) -> list[str]:
    """Script paths the configuration makes pages load, relative to ``_static``."""
    scripts = [config.mathjax_path, *_mathjax_components(config)]
    scripts += list(getattr(config, "nb_ipywidgets_js", {}) or {})
    scripts += [entry if isinstance(entry, str) else entry[0] for entry in config.html_js_files]
    return scripts


def problems(config, srcdir: Path, site_dir: Path = js_assets.SITE_DIR) -> list[str]:
    """Everything that would make a page fetch a script from elsewhere or miss one."""
    found = []
    static_dirs = [(srcdir / entry).resolve() for entry in config.html_static_path]
    if site_dir.resolve() not in static_dirs:
        found.append(f"html_static_path must list {site_dir.relative_to(js_assets.REPO_ROOT)}")
    missing = js_assets.unstaged(js_assets.load_manifest(), site_dir)
    if missing:
        found.append(f"not staged: {', '.join(missing)}; run `python scripts/js_assets.py` "
                     "(`make book` does it)")
    for script in _configured_scripts(config):
        if _is_url(script):
            found.append(f"{script} is loaded from the network; stage it in "
                         "scripts/js_assets.json and refer to it relatively")
        elif not missing and not any((d / script).is_file() for d in static_dirs):
            found.append(f"{script} is not in any html_static_path folder")
    return found


def check_offline_assets(app, config):
    srcdir = Path(app.srcdir)
    found = problems(config, srcdir)
    if found:
        # `jupyter-book build <page>` builds from the page's folder, where the relative
        # static paths of _config.yml point nowhere.
        hint = "" if (srcdir / "_config.yml").is_file() else (
            " (build the whole book from the folder of _config.yml, e.g. `make book`: "
            "single-page builds are not supported)")
        raise ConfigError("offline JavaScript: " + "; ".join(found) + hint)


# The widget manager (embed-amd.js) is made of AMD modules: require.js must run first,
# then static/widget-setup.js, which points require.js at the manager's folder.
WIDGET_SCRIPT_ORDER = ("require.js", "widget-setup.js", "embed-amd.js")


def in_widget_order(scripts: dict) -> dict:
    """myst-nb adds the widget scripts in the mapping's order; Jupyter Book hands the
    mapping over sorted by key, which would put .../embed-amd.js before .../require.js."""
    def rank(item):
        names = [index for index, name in enumerate(WIDGET_SCRIPT_ORDER) if item[0].endswith(name)]
        return names[0] if names else len(WIDGET_SCRIPT_ORDER)
    return dict(sorted(scripts.items(), key=rank))


def add_own_static_files(app, config):
    config.html_static_path.append(str(OWN_STATIC))


def order_widget_scripts(app, config):
    config.nb_ipywidgets_js = in_widget_order(config.nb_ipywidgets_js)


def setup(app):
    app.connect("config-inited", add_own_static_files, priority=400)
    app.connect("config-inited", check_offline_assets)
    app.connect("config-inited", order_widget_scripts)
