"""Offline JavaScript: pinned, verified, staged, and the only scripts pages may load.

Also the two small page rules of scripts/book_ext (launch buttons, failing-cell report).
All fast: tarballs are built in tmp_path, nothing is downloaded.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import js_assets
from book_ext import cell_errors, launch_buttons, offline_assets


def make_tarball(path: Path, files: dict[str, bytes]) -> Path:
    """An npm-style tarball: every file under package/."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def fake_package(tarball: Path | None = None, **overrides) -> js_assets.Package:
    fields = dict(name="demo", version="1.0.0", include=("dist/*.js",), strip="dist/",
                  dest="demo", integrity="sha512-unset")
    if tarball is not None:
        fields["integrity"] = js_assets.sri_digest(tarball)
    fields.update(overrides)
    return js_assets.Package(**fields)


# ---------------------------------------------------------------- manifest


def test_manifest_pins_every_package_with_sha512():
    packages = js_assets.load_manifest()
    assert {p.name for p in packages} >= {"mathjax", "requirejs", "@jupyter-widgets/html-manager"}
    for package in packages:
        assert package.version[0].isdigit(), f"{package.name}: pin an exact version"
        assert package.integrity.startswith("sha512-") and len(package.integrity) == 95


def test_test_packages_are_pinned_apart_from_the_site(repo_root):
    """axe-core is pinned for the browser tests and staged outside the site's folder."""
    tools = js_assets.load_manifest(key="test_packages")
    assert [p.name for p in tools] == ["axe-core"]
    assert tools[0].integrity.startswith("sha512-") and tools[0].version[0].isdigit()
    assert "axe-core" not in {p.name for p in js_assets.load_manifest()}
    assert not js_assets.TESTS_DIR.is_relative_to(js_assets.SITE_DIR)


def test_staged_file_says_how_to_stage_a_missing_package(tmp_path, monkeypatch):
    tarball = make_tarball(tmp_path / "demo.tgz", {"dist/a.js": b"a"})
    package = fake_package(tarball)
    monkeypatch.setattr(js_assets, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(js_assets, "load_manifest", lambda key: [package])
    with pytest.raises(js_assets.AssetError, match=r"demo@1.0.0 is not staged .*--tests"):
        js_assets.staged_file("demo", "a.js")
    js_assets.extract(tarball, package, tmp_path / "tests")
    assert js_assets.staged_file("demo", "a.js").read_bytes() == b"a"
    with pytest.raises(js_assets.AssetError, match="no package 'other'"):
        js_assets.staged_file("other", "a.js")


def test_manifest_error_names_the_missing_key(tmp_path):
    bad = tmp_path / "assets.json"
    bad.write_text(json.dumps({"packages": [{"name": "x", "version": "1"}]}))
    with pytest.raises(js_assets.AssetError, match="package #1 lacks integrity, include"):
        js_assets.load_manifest(bad)


def test_config_refers_to_staged_or_own_scripts_only(repo_root):
    """_config.yml's scripts are staged npm files or the extension's own, never URLs."""
    config = yaml.safe_load((repo_root / "_config.yml").read_text())["sphinx"]["config"]
    destinations = {f"npm/{p.dest}/" for p in js_assets.load_manifest()}
    for script in [config["mathjax_path"], *config["nb_ipywidgets_js"]]:
        own = (offline_assets.OWN_STATIC / script).is_file()
        assert own or any(script.startswith(d) for d in destinations), script
    assert config["html_static_path"] == [str(js_assets.SITE_DIR.relative_to(repo_root))]


def test_widget_scripts_load_require_js_first():
    sorted_by_key = {"npm/html-manager/embed-amd.js": {}, "npm/requirejs/require.js": {},
                     "widget-setup.js": {}}
    assert list(offline_assets.in_widget_order(sorted_by_key)) == [
        "npm/requirejs/require.js", "widget-setup.js", "npm/html-manager/embed-amd.js"]


# ---------------------------------------------------------------- integrity and staging


def test_tampered_tarball_is_rejected(tmp_path):
    tarball = make_tarball(tmp_path / "demo.tgz", {"dist/a.js": b"var a = 1;"})
    package = fake_package(tarball)
    js_assets.verify_integrity(tarball, package)  # the pinned file passes
    make_tarball(tarball, {"dist/a.js": b"var a = 2;"})
    with pytest.raises(js_assets.AssetError, match="does not match the pinned integrity"):
        js_assets.verify_integrity(tarball, package)


def test_extract_keeps_included_files_and_marks_the_version(tmp_path):
    tarball = make_tarball(tmp_path / "demo.tgz", {
        "dist/a.js": b"a", "dist/sub/b.js": b"b", "dist/a.js.map": b"map", "README.md": b"r"})
    package = fake_package(tarball)
    site = tmp_path / "site"
    assert js_assets.extract(tarball, package, site) == 2
    staged = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert staged == ["npm/demo/.source", "npm/demo/a.js", "npm/demo/sub/b.js"]
    assert js_assets.is_staged(package, site)
    assert not js_assets.is_staged(fake_package(tarball, version="1.0.1"), site)
    assert js_assets.unstaged([package, fake_package(tarball, dest="other")], site) == [
        "demo@1.0.0"]


def test_extract_refuses_paths_leaving_the_folder(tmp_path):
    tarball = make_tarball(tmp_path / "evil.tgz", {"dist/../../escape.js": b"x"})
    with pytest.raises(js_assets.AssetError, match="unsafe path"):
        js_assets.extract(tarball, fake_package(tarball, include=("*",)), tmp_path / "site")


def test_extract_complains_when_nothing_matches(tmp_path):
    tarball = make_tarball(tmp_path / "demo.tgz", {"lib/a.css": b"a"})
    with pytest.raises(js_assets.AssetError, match="no file in the tarball matches"):
        js_assets.extract(tarball, fake_package(tarball), tmp_path / "site")


# ---------------------------------------------------------------- the build-time check


def sphinx_config(**overrides):
    config = dict(mathjax_path="npm/demo/a.js", nb_ipywidgets_js={}, html_js_files=[],
                  html_static_path=["site"])
    config.update(overrides)
    return SimpleNamespace(**config)


@pytest.fixture
def staged_site(tmp_path, monkeypatch):
    tarball = make_tarball(tmp_path / "demo.tgz", {"dist/a.js": b"a"})
    package = fake_package(tarball)
    js_assets.extract(tarball, package, tmp_path / "site")
    monkeypatch.setattr(js_assets, "load_manifest", lambda: [package])
    monkeypatch.setattr(js_assets, "REPO_ROOT", tmp_path)
    return tmp_path / "site"


def test_offline_check_accepts_a_staged_configuration(staged_site):
    assert offline_assets.problems(sphinx_config(), staged_site.parent, staged_site) == []


def test_offline_check_rejects_a_cdn_script(staged_site):
    config = sphinx_config(nb_ipywidgets_js={"https://cdn.jsdelivr.net/npm/x.js": {}})
    found = offline_assets.problems(config, staged_site.parent, staged_site)
    assert found and "https://cdn.jsdelivr.net/npm/x.js is loaded from the network" in found[0]


def test_offline_check_names_unstaged_packages_and_missing_files(staged_site):
    (staged_site / "npm" / "demo" / ".source").unlink()
    found = offline_assets.problems(sphinx_config(), staged_site.parent, staged_site)
    assert found == ["not staged: demo@1.0.0; run `python scripts/js_assets.py` "
                     "(`make book` does it)"]
    js_assets.extract(staged_site.parent / "demo.tgz", js_assets.load_manifest()[0], staged_site)
    found = offline_assets.problems(sphinx_config(mathjax_path="npm/demo/gone.js"),
                                    staged_site.parent, staged_site)
    assert found == ["npm/demo/gone.js is not in any html_static_path folder"]


def test_offline_check_names_a_mathjax_component_that_is_not_staged(staged_site):
    (staged_site / "npm" / "demo" / "input").mkdir()
    (staged_site / "npm" / "demo" / "input" / "tex.js").write_text("tex")
    config = sphinx_config(mathjax3_config={"loader": {"load": ["input/tex", "output/chtml"]}})
    found = offline_assets.problems(config, staged_site.parent, staged_site)
    assert found == ["npm/demo/output/chtml.js is not in any html_static_path folder"]


def test_offline_check_requires_the_site_folder_in_static_path(staged_site):
    found = offline_assets.problems(sphinx_config(html_static_path=[]),
                                    staged_site.parent, staged_site)
    assert found[0] == "html_static_path must list site"


# ---------------------------------------------------------------- launch buttons


@pytest.mark.parametrize("suffix, kept", [(".ipynb", True), (".md", False), (None, False)])
def test_launch_buttons_only_on_ipynb_pages(suffix, kept):
    buttons = [{"label": "launch-buttons"}, {"label": "download-buttons"}]
    context = {"header_buttons": buttons, "page_source_suffix": suffix}
    launch_buttons.remove_launch_buttons(None, "page", "page.html", context, None)
    labels = [button["label"] for button in context["header_buttons"]]
    assert labels == (["launch-buttons", "download-buttons"] if kept else ["download-buttons"])


# ---------------------------------------------------------------- failing-cell report


class ExecutionError(Exception):
    """Stands in for myst-nb's wrapper: same class name, path as message."""


class CellExecutionError(Exception):
    def __init__(self, ename, evalue):
        super().__init__(f"{ename}: {evalue}")
        self.ename, self.evalue = ename, evalue


def async_execute_cell(cell_index):  # the name nbclient's frame has
    raise CellExecutionError("ZeroDivisionError", "division by zero")


def test_failing_cell_is_located_from_the_exception_chain(tmp_path):
    notebook = tmp_path / "page.md"
    notebook.write_text("---\nkernelspec:\n  name: python3\n---\n# Page\n\n"
                        "```{code-cell} ipython3\nx = 1\n```\n\n"
                        "```{code-cell} ipython3\n1 / 0\n```\n")
    try:
        try:
            async_execute_cell(cell_index=2)
        except CellExecutionError as cause:
            raise ExecutionError(str(notebook)) from cause
    except ExecutionError as error:
        failure = cell_errors.locate_failure(error)
    assert failure is not None
    assert cell_errors.describe(failure, tmp_path) == (
        "notebook page.md failed in cell 3 of 3 (code cell at line 11): "
        "ZeroDivisionError: division by zero")


def test_unrelated_build_errors_are_left_alone():
    assert cell_errors.locate_failure(RuntimeError("a theme problem")) is None
