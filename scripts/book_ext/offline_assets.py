"""Check at start-up that every script the pages load is served by the book itself.

``scripts/js_assets.py`` stages pinned npm packages in ``.cache/js-assets/site``; this
handler stops the build with one clear message when they are missing (a fresh clone
where nobody ran ``make book``) or when the configuration points at an absolute URL
(a CDN) instead of a file of that folder.
"""

from pathlib import Path

from sphinx.errors import ConfigError

import js_assets


def _is_url(path: str) -> bool:
    return "://" in path or path.startswith("//")


def _configured_scripts(config) -> list[str]:
    """Script paths the configuration makes pages load, relative to ``_static``."""
    scripts = [config.mathjax_path]
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
    found = problems(config, Path(app.srcdir))
    if found:
        raise ConfigError("offline JavaScript: " + "; ".join(found))


def setup(app):
    app.connect("config-inited", check_offline_assets)
