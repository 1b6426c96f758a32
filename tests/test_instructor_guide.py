"""The instructor guide's commands are the ones the tests run.

Every shell block of the guide's instructor sections is preceded by a ``% guide-step: NAME`` comment
(a MyST comment, invisible on the page), every configuration block by ``% guide-config: NAME``.
``tests/test_instructor_loop.py`` runs those blocks themselves, read from the guide, in a throw-away
course; this module holds the reader, checks that no block escapes it, and runs the set-up block
(which needs the repository itself, not a throw-away course).
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "book" / "instructors" / "grading_guide.md"
# Sections written by other engineers, whose commands other tests own.
OTHER_SECTIONS = ("### Isolation and limits", "## Large courses", "## How the grader works",
                  "## What the grader protects against")
TAGGED = re.compile(r"^% guide-(step|config): (?P<name>[\w-]+)\n```(?P<lang>\w+)\n(?P<body>.*?)^```", re.S | re.M)
# Which test runs each step: test_instructor_loop runs them in a term's order, this module the set-up.
STEPS_RUN_BY_THE_LOOP = ("exchange", "generate", "due-date", "release", "collect", "lms", "grade", "regrade",
                         "validate", "feedback", "plain-autograde", "grades", "export")
STEPS_RUN_HERE = ("setup",)
STEPS_RUN_BY_THE_BROWSER_TEST = ("formgrader",)
STEPS_RUN_BY_THE_SERVICE_TEST = ("serve",)           # tests/test_service_exchange.py
CONFIGS_USED_BY_THE_LOOP = ("late-penalty", "exchange")
CONFIGS_USED_BY_THE_SERVICE_TEST = ("grade-on-submit",)


def instructor_sections(text):
    """The guide without the sections other engineers own (each ends at the next heading of its level)."""
    for heading in OTHER_SECTIONS:
        start = text.find(heading)
        if start < 0:
            continue
        level = heading.split(" ")[0]
        end = re.search(rf"^#{{1,{len(level)}}} ", text[start + len(heading):], re.M)
        text = text[:start] + (text[start + len(heading) + end.start():] if end else "")
    return text


def guide_blocks(kind):
    """``{name: body}`` of the guide's ``% guide-KIND: name`` blocks."""
    text = GUIDE.read_text(encoding="utf-8")
    return {m.group("name"): m.group("body") for m in TAGGED.finditer(text) if m.group(1) == kind}


def test_every_shell_block_of_the_instructor_sections_is_a_named_step():
    text = instructor_sections(GUIDE.read_text(encoding="utf-8"))
    shell_blocks = re.findall(r"^```bash\n", text, re.M)
    tagged = [m for m in TAGGED.finditer(text) if m.group("lang") == "bash"]
    assert len(shell_blocks) == len(tagged), "a bash block of the guide has no '% guide-step:' line above it"
    assert all(m.group(1) == "step" for m in tagged)


def test_every_named_step_and_configuration_is_run_by_a_test():
    steps = set(guide_blocks("step"))
    assert steps == set(STEPS_RUN_BY_THE_LOOP + STEPS_RUN_HERE + STEPS_RUN_BY_THE_BROWSER_TEST
                        + STEPS_RUN_BY_THE_SERVICE_TEST)
    assert set(guide_blocks("config")) == set(CONFIGS_USED_BY_THE_LOOP + CONFIGS_USED_BY_THE_SERVICE_TEST)


def test_the_guide_quotes_no_placeholder():
    assert "PLACEHOLDER" not in GUIDE.read_text(encoding="utf-8")


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
