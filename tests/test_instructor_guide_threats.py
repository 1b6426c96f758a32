"""The guide's threat model: every cell filled, and every test it names exists.

The table in ``book/instructors/protections.md`` ("Where untrusted bytes enter") is the
one list of surfaces where student bytes reach the trusted side, against the classes of
attack.  A cell says what the grader does and names the test that holds it (``key::test``,
the keys listed under the table), or says why the class cannot apply (``n/a: ...``).
"""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "book" / "instructors" / "protections.md"
HEADING = "## Where untrusted bytes enter: the threat model"
CLASSES = ["size and count", "depth and amplification", "names and encodings", "identity and collisions",
           "rendering and script", "state left behind", "time"]
REFERENCE = re.compile(r"`(\w+)::(test_\w+)`")


def section():
    """The threat model's section of its page: from its heading to the next of its level, or the end."""
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(HEADING)
    end = text.find("\n## ", start + len(HEADING))
    return text[start:end if end >= 0 else len(text)]


def table():
    """``(header, rows)``: the cells of the section's table, split on unescaped pipes."""
    lines = [line for line in section().splitlines() if line.startswith("|")]
    split = [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    return split[0], split[2:]


def legend():
    return dict(re.findall(r"`(\w+)`\s+(?:is\s+)?`(tests/[\w/]+\.py)`", section()))


def test_the_table_has_every_class_of_attack_and_every_row_all_of_them():
    header, rows = table()
    assert header == ["surface", *CLASSES]
    assert len(rows) >= 12
    for row in rows:
        assert len(row) == len(header), row[0]


def test_no_cell_is_empty_and_each_names_a_test_or_says_why_not():
    _, rows = table()
    for row in rows:
        for attack, cell in zip(CLASSES, row[1:]):
            assert cell, (row[0], attack)
            assert cell.startswith("n/a: ") or REFERENCE.search(cell), (row[0], attack, cell)


@pytest.mark.parametrize("key, name", sorted({ref for row in table()[1] for cell in row
                                             for ref in REFERENCE.findall(cell)}))
def test_every_test_the_table_names_exists(key, name):
    files = legend()
    assert key in files, f"{key} is not in the list of test files under the table"
    source = (REPO / files[key]).read_text(encoding="utf-8")
    assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{files[key]} has no test {name}"
