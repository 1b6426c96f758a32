"""The instructor guide's commands are the ones the tests run.

The guide is the section ``book/instructors/``: a front page (``grading_guide.md``) and a page per task.
Every shell block of its instructor pages is preceded by a ``% guide-step: NAME`` comment (a MyST
comment, invisible on the page), every configuration block by ``% guide-config: NAME``; a name is
used once across all the pages. ``tests/test_instructor_loop.py`` runs those blocks themselves, read
from the pages, in a throw-away course; this module holds the reader, checks that no block escapes it,
and runs the set-up block (which needs the repository itself, not a throw-away course).
"""
import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GUIDE_DIR = REPO / "book" / "instructors"
# Every page of the instructor section, read in the order of their file names: a page added to the
# folder is read without editing this list (and must be in _toc.yml, checked below).
GUIDE_PAGES = sorted(GUIDE_DIR.glob("*.md"))
# The pages this module's step lists were written for; each is checked to exist.
TASK_PAGES = ("grading_guide.md", "set_up.md", "release_and_collect.md", "grade.md", "feedback_and_grades.md",
              "grade_on_submit.md", "large_courses.md", "protections.md", "lms_round_trip.md",
              "similarity_report.md")
# Pages and sections written by other engineers, whose commands other tests own.
OTHER_PAGES = ("large_courses.md", "protections.md")
OTHER_SECTIONS = ("## Isolation and limits", "## How the grader works")
TAGGED = re.compile(r"^% guide-(step|config): (?P<name>[\w-]+)\n```(?P<lang>\w+)\n(?P<body>.*?)^```", re.S | re.M)
# Which test runs each step: test_instructor_loop runs them in a term's order, this module the set-up.
STEPS_RUN_BY_THE_LOOP = ("exchange", "generate", "due-date", "release", "collect", "lms", "grade", "regrade",
                         "validate", "feedback", "plain-autograde", "grades", "export")
STEPS_RUN_HERE = ("setup",)
STEPS_RUN_BY_THE_BROWSER_TEST = ("formgrader",)
STEPS_RUN_BY_THE_SERVICE_TEST = ("serve",)           # tests/test_service_exchange.py
STEPS_RUN_BY_THE_ROUND_TRIP_TEST = ("roster-intake", "export-canvas", "export-moodle",
                                    "export-blackboard")     # tests/test_lms_export_guide.py
STEPS_RUN_BY_THE_SIMILARITY_TEST = ("similarity", "similarity-threshold")   # tests/test_similarity_guide.py
CONFIGS_USED_BY_THE_LOOP = ("late-penalty", "exchange")
CONFIGS_USED_BY_THE_SERVICE_TEST = ("grade-on-submit",)
CONFIGS_USED_BY_THE_ROUND_TRIP_TEST = ("roster",)    # tests/test_lms_export_guide.py


def instructor_sections(text):
    """A page without the sections other engineers own (each ends at the next heading of its level)."""
    for heading in OTHER_SECTIONS:
        start = text.find(heading + "\n")
        if start < 0:
            continue
        level = heading.split(" ")[0]
        end = re.search(rf"^#{{1,{len(level)}}} ", text[start + len(heading):], re.M)
        text = text[:start] + (text[start + len(heading) + end.start():] if end else "")
    return text


def tagged_blocks():
    """``(page name, kind, name, body)`` of every tagged block, page by page in ``GUIDE_PAGES`` order."""
    return [(page.name, m.group(1), m.group("name"), m.group("body"))
            for page in GUIDE_PAGES for m in TAGGED.finditer(page.read_text(encoding="utf-8"))]


def guide_blocks(kind):
    """``{name: body}`` of the ``% guide-KIND: name`` blocks of every page of the section."""
    blocks = {}
    for page, found, name, body in tagged_blocks():
        if found == kind:
            if name in blocks:
                raise ValueError(f"guide-{kind} {name!r} appears twice (the second time in {page})")
            blocks[name] = body
    return blocks


def test_the_section_has_its_pages_and_every_page_is_in_the_table_of_contents():
    import book_pages   # the book's build tools (scripts/), which a grading machine need not have
    assert set(TASK_PAGES) <= {page.name for page in GUIDE_PAGES}
    listed = set(book_pages.toc_docnames(REPO / "_toc.yml"))
    missing = [page.name for page in GUIDE_PAGES if f"book/instructors/{page.stem}" not in listed]
    assert not missing, f"instructor pages not in _toc.yml (so never built): {missing}"


def test_no_block_name_is_used_twice_across_the_pages():
    counts = Counter((kind, name) for _page, kind, name, _body in tagged_blocks())
    twice = {f"guide-{kind}: {name}": [page for page, k, n, _ in tagged_blocks() if (k, n) == (kind, name)]
             for (kind, name), count in counts.items() if count > 1}
    assert not twice, twice


def test_every_shell_block_of_the_instructor_sections_is_a_named_step():
    for page in GUIDE_PAGES:
        if page.name in OTHER_PAGES:
            continue
        text = instructor_sections(page.read_text(encoding="utf-8"))
        shell_blocks = re.findall(r"^```bash\n", text, re.M)
        tagged = [m for m in TAGGED.finditer(text) if m.group("lang") == "bash"]
        assert len(shell_blocks) == len(tagged), f"a bash block of {page.name} has no '% guide-step:' line above it"
        assert all(m.group(1) == "step" for m in tagged), page.name


def test_every_named_step_and_configuration_is_run_by_a_test():
    pages = {(kind, name): page for page, kind, name, _body in tagged_blocks()}
    steps = set(guide_blocks("step"))
    listed = set(STEPS_RUN_BY_THE_LOOP + STEPS_RUN_HERE + STEPS_RUN_BY_THE_BROWSER_TEST + STEPS_RUN_BY_THE_SERVICE_TEST
                 + STEPS_RUN_BY_THE_ROUND_TRIP_TEST + STEPS_RUN_BY_THE_SIMILARITY_TEST)
    assert not steps - listed, {name: pages["step", name] for name in steps - listed}   # no test runs them
    assert not listed - steps, listed - steps                                           # no page has them
    configs = set(guide_blocks("config"))
    listed = set(CONFIGS_USED_BY_THE_LOOP + CONFIGS_USED_BY_THE_SERVICE_TEST + CONFIGS_USED_BY_THE_ROUND_TRIP_TEST)
    assert not configs - listed, {name: pages["config", name] for name in configs - listed}
    assert not listed - configs, listed - configs


def test_the_guide_quotes_no_placeholder():
    for page in GUIDE_PAGES:
        assert "PLACEHOLDER" not in page.read_text(encoding="utf-8"), page.name


@pytest.mark.slow
def test_the_setup_step_installs_nothing_new_here_and_prints_one_ok_line_per_check():
    body = guide_blocks("step")["setup"]
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PIP_NO_INDEX": "1"}, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    checks = [line for line in done.stdout.splitlines() if not line.startswith("setup: ")]
    assert len(checks) >= 9 and all(line.split()[0] in ("ok", "WARN") for line in checks), done.stdout
    for subject in ("nbgrader 0.9.6", "cnnbook imports from this course", "sandbox at the", "release fits"):
        assert any(subject in line for line in checks), subject
