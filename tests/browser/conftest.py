"""Fixtures for the real-browser test: the freshly built site on localhost, and Chromium.

Debian's /usr/bin/chromium is driven by Playwright (no browser download). Playwright
starts it headless with a fresh temporary profile (--user-data-dir) of its own.
"""

from __future__ import annotations

import concurrent.futures
import functools
import http.server
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Flags that work as root on a machine with no network; --headless is Playwright's own.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def in_chromium(task, *args):
    """``task(page, *args)`` in headless Chromium; its result.

    Playwright's sync API refuses a thread whose asyncio loop runs (the Dask tests leave one
    behind in the main thread), so Chromium is driven from a thread of its own.
    """
    def drive():
        from playwright.sync_api import sync_playwright
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                return task(chromium.new_page(), *args)
            finally:
                chromium.close()
    with concurrent.futures.ThreadPoolExecutor(1) as browser_thread:
        return browser_thread.submit(drive).result()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@contextmanager
def serve(directory: Path):
    """Serve a folder on localhost from a thread; yield its base URL (ends with '/')."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def folder_server():
    """The `serve` context manager, for tests that serve pages of their own."""
    return serve


@pytest.fixture(scope="session")
def site_url(built_book):
    with serve(built_book) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshot_dir(repo_root) -> Path:
    folder = repo_root / "test-results" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
