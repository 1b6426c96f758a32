"""Synthetic courses and submissions, to test and benchmark the grader.

A synthetic submission is the release notebooks with chosen answer cells
filled in (from the instructor solutions, or any source text) and, when a
test needs it, further edits to the notebook (a deleted test cell, stripped
metadata, a fake output).  It is written where nbgrader's ``collect`` would
put it: ``submitted/<student>/<assignment>/``.
"""
import copy
import re
import shutil
from pathlib import Path

import nbformat

from . import cells

SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.MULTILINE)


def make_course(target, repo_root, assignment="numpy_cnn"):
    """A course directory at ``target`` with the repository's config, solutions and release."""
    target, repo_root = Path(target), Path(repo_root)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(repo_root / "nbgrader_config.py", target / "nbgrader_config.py")
    for folder in ("solutions", "exercises"):
        source = repo_root / folder / assignment
        if source.is_dir():
            shutil.copytree(source, target / folder / assignment, dirs_exist_ok=True)
    return target


def solution_answers(solutions_dir):
    """``{grade_id: source}`` of every answer cell of the instructor solutions, markers removed.

    That is what a student's answer cell looks like once the work is done.
    """
    answers = {}
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        for gid, cell in cells.answer_cells(cells.read_notebook(path)).items():
            answers[gid] = SOLUTION_MARKERS.sub("", cells.cell_source(cell))
    return answers


def write_submission(course, student, assignment, answers, edit=None, timestamp="2026-03-01 12:00:00"):
    """Write a submission: the release with ``answers`` (``{grade_id: source}``) filled in.

    ``edit(name, notebook)`` may change each notebook further (or return None
    to leave that notebook out of the submission).
    """
    release = Path(course) / "exercises" / assignment
    folder = Path(course) / "submitted" / student / assignment
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for path in sorted(release.glob("*.ipynb")):
        notebook = copy.deepcopy(cells.read_notebook(path))
        for cell in notebook.cells:
            gid = cells.grade_id(cell)
            if gid in answers and cells.is_answer_cell(cell):
                cell.source = answers[gid]
        if edit is not None:
            notebook = edit(path.stem, notebook)
        if notebook is not None:
            nbformat.write(notebook, str(folder / path.name))
    (folder / "timestamp.txt").write_text(timestamp + "\n", encoding="utf-8")
    return folder
