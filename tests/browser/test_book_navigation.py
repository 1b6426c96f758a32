"""A reader can move around the book at every width: menu, page contents, search, and the
site's address.

Each test clicks what the reader sees (buttons and links found by their role and name, as
a screen reader or a tap would find them; Playwright clicks only an element that is
visible and not covered), then checks where the reader lands.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from reader import MODES, open_page

pytestmark = pytest.mark.slow

START = "book/chapters/conv_forward.html"
# A page far from START in the table of contents, so only the menu reaches it in one step.
TARGET_TITLE, TARGET_PATH = "Lab: data augmentation", "book/labs/data_augmentation.html"
SECTION_TITLE, SECTION_ID = "Summary", "summary"
MENU_BUTTON = "Toggle primary sidebar"
CONTENTS_BUTTON = "Toggle secondary sidebar"


def toc_link(page):
    return page.get_by_role("link", name=TARGET_TITLE, exact=True)


def follow_and_check_arrival(page, link, problems):
    link.click()
    page.wait_for_url(f"**/{TARGET_PATH}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("data augmentation")
    assert not problems.report(), problems.report()


def test_on_a_phone_the_menu_button_opens_the_contents_and_a_link_in_it_opens_its_page(
        browser, site_url):
    with open_page(browser, site_url + START, site_url.rstrip("/"), MODES["phone"]) as (
            page, problems):
        expect(toc_link(page)).to_be_hidden()
        page.get_by_role("button", name=MENU_BUTTON).click()
        menu = page.get_by_role("dialog")
        expect(menu).to_be_visible()
        follow_and_check_arrival(page, menu.get_by_role("link", name=TARGET_TITLE, exact=True),
                                 problems)


def test_on_a_desktop_the_menu_button_hides_and_shows_the_contents_and_a_link_opens_its_page(
        browser, site_url):
    with open_page(browser, site_url + START, site_url.rstrip("/"), MODES["light"]) as (
            page, problems):
        expect(toc_link(page)).to_be_visible()
        menu_button = page.get_by_role("button", name=MENU_BUTTON)
        menu_button.click()
        expect(toc_link(page)).to_be_hidden()
        menu_button.click()
        expect(toc_link(page)).to_be_visible()
        follow_and_check_arrival(page, toc_link(page), problems)


def test_on_a_phone_the_contents_button_lists_the_sections_and_a_link_goes_to_one(
        browser, site_url):
    with open_page(browser, site_url + START, site_url.rstrip("/"), MODES["phone"]) as (
            page, problems):
        page.get_by_role("button", name=CONTENTS_BUTTON).click()
        contents = page.get_by_role("dialog")
        expect(contents).to_be_visible()
        contents.get_by_role("link", name=SECTION_TITLE, exact=True).click()
        page.wait_for_url(f"**/{START}#{SECTION_ID}")
        page.keyboard.press("Escape")  # the contents stay open over the page until closed
        expect(page.locator(f"#{SECTION_ID} h2")).to_be_in_viewport()
        assert not problems.report(), problems.report()


@pytest.mark.parametrize("mode, button", [("light", re.compile(r"^Search\b")),
                                          ("phone", re.compile(r"^Search$"))])
def test_one_search_button_opens_the_search_and_finds_pages(mode, button, browser, site_url):
    with open_page(browser, site_url + START, site_url.rstrip("/"), MODES[mode]) as (
            page, problems):
        searches = page.get_by_role("button", name=re.compile(r"^Search"))
        assert searches.count() == 1, f"{mode}: {searches.count()} search buttons are shown"
        page.get_by_role("button", name=button).click()
        field = page.get_by_role("searchbox")
        expect(field).to_be_visible()
        field.fill("equivariance")
        field.press("Enter")
        page.wait_for_url("**/search.html?q=equivariance")
        expect(page.locator("#search-results li a").first).to_be_visible()
        assert not problems.report(), problems.report()


def test_the_site_address_opens_the_first_page_without_an_error(browser, site_url):
    # not routed: a page without an icon then makes Chromium ask for /favicon.ico (a 404)
    with open_page(browser, site_url, site_url.rstrip("/"), MODES["light"], route=False) as (
            page, problems):
        page.wait_for_url("**/book/intro.html")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert not problems.report(), problems.report()
