"""Fetch, verify and stage the JavaScript the built book serves itself.

The book must render with no network, so MathJax, require.js and the Jupyter widget
manager are not loaded from a CDN: this script downloads the npm packages pinned in
``scripts/js_assets.json`` with ``npm pack``, checks each tarball against the pinned
sha512 integrity, and copies the needed files into ``.cache/js-assets/site/npm/``.
``_config.yml`` lists ``.cache/js-assets/site`` in ``html_static_path``, so Sphinx
copies them into ``_build/html/_static/npm/``.

Run it as ``python scripts/js_assets.py``; it does nothing for packages already staged
at the pinned version, so it is cheap to call before every build.

The manifest's ``test_packages`` are what the browser tests inject into pages (axe-core);
they are never part of the site. ``python scripts/js_assets.py --tests`` (run by
``scripts/setup.sh test``) stages them in ``.cache/js-assets/tests/npm/``, where the tests
find them with ``staged_file`` and no network.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFEST = REPO_ROOT / "scripts" / "js_assets.json"
CACHE_DIR = REPO_ROOT / ".cache" / "js-assets"
SITE_DIR = CACHE_DIR / "site"  # what html_static_path points at
TESTS_DIR = CACHE_DIR / "tests"  # what the browser tests inject; never served by the site
# Manifest key -> the folder of .cache/js-assets/ its packages are staged in.
FOLDERS = {"packages": "site", "test_packages": "tests"}
MARKER = ".source"  # dotfile: Sphinx does not copy it into the site
REQUIRED_KEYS = ("name", "version", "integrity", "include", "strip", "dest")


class AssetError(RuntimeError):
    """A pinned asset could not be fetched, verified or found."""


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str
    include: tuple[str, ...]
    strip: str
    dest: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    def staged_dir(self, site_dir: Path = SITE_DIR) -> Path:
        return site_dir / "npm" / self.dest


def load_manifest(path: Path = MANIFEST, key: str = "packages") -> list[Package]:
    """Read a pinned package list (``packages`` for the site, ``test_packages`` for the
    browser tests), with a clear error for a malformed entry."""
    try:
        entries = json.loads(path.read_text())[key]
    except (OSError, ValueError, KeyError) as err:
        raise AssetError(f"{path}: cannot read the {key!r} list ({err})") from None
    packages = []
    for index, entry in enumerate(entries):
        missing = [key for key in REQUIRED_KEYS if key not in entry]
        if missing:
            raise AssetError(f"{path}: package #{index + 1} lacks {', '.join(missing)}")
        if not entry["integrity"].startswith("sha512-"):
            raise AssetError(f"{path}: {entry['name']}: integrity must be a sha512-... value")
        packages.append(Package(name=entry["name"], version=entry["version"],
                                integrity=entry["integrity"], include=tuple(entry["include"]),
                                strip=entry["strip"], dest=entry["dest"]))
    return packages


def sri_digest(path: Path) -> str:
    """The Subresource-Integrity string (as npm reports it) of a file."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def verify_integrity(tarball: Path, package: Package) -> None:
    actual = sri_digest(tarball)
    if actual != package.integrity:
        raise AssetError(
            f"{package.spec}: {tarball.name} does not match the pinned integrity\n"
            f"  pinned:     {package.integrity}\n  downloaded: {actual}\n"
            "The download is corrupted or the registry served a different file; "
            "the file was deleted, nothing was installed.")


def npm_pack(package: Package, tarball_dir: Path) -> Path:
    """Download the package tarball from the npm registry with npm's own client."""
    if shutil.which("npm") is None:
        raise AssetError("npm is not installed: it downloads the book's offline JavaScript. "
                         "Install it (Debian: apt-get install npm) or run `make book`, "
                         "which does so.")
    tarball_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["npm", "pack", package.spec, "--json", "--pack-destination", str(tarball_dir)],
        capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssetError(f"npm pack {package.spec} failed:\n{result.stderr.strip()}")
    filename = json.loads(result.stdout)[0]["filename"]
    return tarball_dir / filename


def selected_members(tar: tarfile.TarFile, package: Package) -> dict[str, tarfile.TarInfo]:
    """Map each kept file's destination path to its tar member."""
    kept = {}
    for member in tar.getmembers():
        inner = member.name.removeprefix("package/")
        if not member.isfile() or not any(fnmatch.fnmatchcase(inner, p) for p in package.include):
            continue
        relative = inner.removeprefix(package.strip)
        if relative.startswith("/") or ".." in Path(relative).parts:
            raise AssetError(f"{package.spec}: refusing unsafe path {member.name!r} in tarball")
        kept[relative] = member
    if not kept:
        raise AssetError(f"{package.spec}: no file in the tarball matches {package.include}")
    return kept


def extract(tarball: Path, package: Package, site_dir: Path = SITE_DIR) -> int:
    """Replace the package's staged folder with the selected files; return their count."""
    target = package.staged_dir(site_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staging = Path(tmp) / package.dest
        with tarfile.open(tarball, "r:gz") as tar:
            members = selected_members(tar, package)
            for relative, member in members.items():
                out = staging / relative
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(tar.extractfile(member).read())
        (staging / MARKER).write_text(marker_text(package))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return len(members)


def marker_text(package: Package) -> str:
    """What was staged: a change of version, tarball or file selection restages."""
    return f"{package.spec} {package.integrity} {package.strip!r} {' '.join(package.include)}\n"


def is_staged(package: Package, site_dir: Path = SITE_DIR) -> bool:
    marker = package.staged_dir(site_dir) / MARKER
    return marker.is_file() and marker.read_text() == marker_text(package)


def stage(package: Package, cache_dir: Path = CACHE_DIR, folder: str = "site") -> str:
    """Make sure the package is staged in ``cache_dir/folder``; return a one-line account
    of what was done."""
    site_dir = cache_dir / folder
    if is_staged(package, site_dir):
        return f"{package.spec}: already staged"
    tarball = npm_pack(package, cache_dir / "tarballs")
    try:
        verify_integrity(tarball, package)
    except AssetError:
        tarball.unlink()
        raise
    count = extract(tarball, package, site_dir)
    return f"{package.spec}: verified {package.integrity[:19]}..., staged {count} files"


def unstaged(packages: list[Package], site_dir: Path = SITE_DIR) -> list[str]:
    """The specs of the packages not staged at their pinned version."""
    return [package.spec for package in packages if not is_staged(package, site_dir)]


def staged_file(name: str, relative: str, key: str = "test_packages") -> Path:
    """The path of one staged file of the pinned package ``name``; an AssetError that says
    how to stage it when it is missing."""
    folder = CACHE_DIR / FOLDERS[key]
    for package in load_manifest(key=key):
        if package.name == name:
            path = package.staged_dir(folder) / relative
            if is_staged(package, folder) and path.is_file():
                return path
            flag = " --tests" if key == "test_packages" else ""
            raise AssetError(f"{package.spec} is not staged in {folder}: run "
                             f"`python scripts/js_assets.py{flag}` (`make test` does it)")
    raise AssetError(f"{MANIFEST.name}: no package {name!r} in {key!r}")


def main(argv: list[str] = ()) -> int:
    """Stage the site's packages, or with ``--tests`` the browser tests' packages."""
    key = "test_packages" if "--tests" in argv else "packages"
    try:
        for package in load_manifest(key=key):
            print(f"js-assets: {stage(package, folder=FOLDERS[key])}")
    except AssetError as err:
        print(f"js-assets: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
