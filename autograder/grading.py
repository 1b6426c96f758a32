"""Grade one submission: trusted side of the grader, run in a pool process.

For every part, the student's answer cells (and those of the parts it
needs) are loaded into a fresh sandbox together with the release's setup
imports; the hidden checks call them through that sandbox.  The results go
into autograded notebooks and a feedback file under
``autograded/<student>/<assignment>/``; the summary returned to the main
process (which alone writes the gradebook) is plain JSON-able data.
"""
import json
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import autograded, cells
from .parts import assignment_parts
from .report import submission_feedback
from .runner import CheckResult, PartResult, run_checks
from .student import Program, SandboxStudent, TimeLimits
from .submission import (claimed_pass, honesty_flags, integrity_flags, load_release, locate_answer,
                         needed_setup)

FEEDBACK_FILE = "autograder_feedback.txt"
REPORTS_DIR = ".autograder"       # under autograded/: instructor-only records, ignored by nbgrader's globs


@dataclass(frozen=True)
class Job:
    root: str
    assignment: str
    student: str
    release_dir: str
    submitted_dir: str            # submitted/<student>/<assignment>
    autograded_dir: str           # autograded/<student>/<assignment>
    isolation: str
    secret: str
    time_limits: TimeLimits = TimeLimits()


def reports_dir(root, assignment):
    return Path(root) / "autograded" / REPORTS_DIR / assignment


def grade_submission(job):
    """Grade one student; never raises (a failure comes back as status 'error')."""
    started = time.monotonic()
    try:
        summary = _grade(job)
    except Exception as error:
        summary = {"student": job.student, "status": "error", "points": {}, "flags": [],
                   "error": f"{type(error).__name__}: {error}",
                   "log": ["".join(traceback.format_exception(type(error), error, error.__traceback__))]}
    summary["seconds"] = round(time.monotonic() - started, 2)
    _write_log(job, summary.pop("log", []))
    return summary


@dataclass
class _Submission:
    """What the trusted side read from one student's submitted notebooks."""
    notebooks: dict = field(default_factory=dict)   # notebook name -> notebook
    located: dict = field(default_factory=dict)     # notebook name -> {part: Located}
    programs: dict = field(default_factory=dict)    # part -> Program for its sandbox
    missing: dict = field(default_factory=dict)     # part -> why its notebook is absent
    flags: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def _grade(job):
    parts = assignment_parts(job.assignment)
    release = load_release(job.release_dir, parts)
    submission = _read_submission(job, release)
    log = []

    def student_for(part_name):
        return SandboxStudent(submission.programs[part_name], job.isolation, job.root, job.time_limits, log)

    graded = {part.name: release.points[part.name] for part in parts if part.name in submission.programs}
    results = run_checks(graded, student_for, job.secret.encode("utf-8"), log) if graded else {}
    for part_name, reason in submission.missing.items():
        results[part_name] = PartResult(part_name, release.points[part_name], [
            CheckResult("submission", "notebook submitted", 1.0, False, reason)])
    ordered = [results[part.name] for part in parts]
    flags = submission.flags + _disagreements(parts, release, submission.notebooks, results)
    _write_outputs(job, release, submission, results, ordered)
    internal = [f"{r.part}/{c.name}" for r in ordered for c in r.internal_errors]
    return {"student": job.student, "status": "error" if internal else "graded",
            "error": f"internal grader errors in {', '.join(internal)}" if internal else "",
            "points": {r.part: r.points for r in ordered}, "max_points": {r.part: r.max_points for r in ordered},
            "flags": flags, "log": log,
            "notebooks": {name: name in submission.notebooks for name in release.notebooks}}


def _read_submission(job, release):
    submission = _Submission()
    for name, release_nb in release.notebooks.items():
        path = Path(job.submitted_dir) / f"{name}.ipynb"
        try:
            notebook = cells.read_notebook(path)
        except cells.NotebookError as error:
            reason = "unreadable" if path.exists() else "not submitted"
            detail = f" ({error})" if path.exists() else ""
            submission.notes.append(f"{name}.ipynb: {reason}{detail}; its parts get 0 points")
            if path.exists():
                submission.flags.append(f"{name}: notebook unreadable")
            submission.missing.update({part.name: f"{name}.ipynb was {reason}" for part in release_nb.parts})
            continue
        submission.notebooks[name] = notebook
        submission.flags += integrity_flags(notebook, release_nb)
        located = {}
        for part in release_nb.parts:
            release_source = cells.cell_source(release_nb.answers[part.name])
            where = locate_answer(notebook, release_nb.answers[part.name], part)
            if where is not None:
                located[part.name] = where
                submission.flags += honesty_flags(where, release_source, part, name)
        submission.located[name] = located
        for part in release_nb.parts:
            submission.programs[part.name] = _program(part, located, release_nb)
    return submission


def _program(part, located, release_nb):
    """Setup imports plus the answer cells ``part`` needs, its dependencies first."""
    wanted = [name for name in (*part.needs, part.name) if name in located]
    sources = [located[name].source for name in wanted]
    notes = [located[name].note for name in wanted if located[name].note]
    for name in (*part.needs, part.name):
        if name not in located:
            needed_by = "" if name == part.name else f", which {part.name} needs"
            notes.append(f"no answer cell for {name} was found (no cell with its grade_id or cell id, "
                         f"and none defining it){needed_by}")
    cells_to_run = [(name, cells.strip_magics(located[name].source)) for name in wanted]
    return Program(needed_setup(release_nb.setup, sources), cells_to_run, notes)


def _disagreements(parts, release, student_nbs, results):
    """Test cells the submitted notebook shows passing while the trusted grade is zero."""
    flags = []
    for part in parts:
        notebook = student_nbs.get(release.part_notebook[part.name])
        result = results[part.name]
        if notebook is not None and claimed_pass(notebook, part.test_cell) and result.points == 0:
            flags.append(f"{part.test_cell}: the submitted notebook shows it passing, "
                         f"the trusted grade is 0 / {result.max_points:g}")
    return flags


def _write_outputs(job, release, submission, results, ordered):
    out = Path(job.autograded_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, notebook in submission.notebooks.items():
        release_nb = release.notebooks[name]
        part_results = {p.name: results[p.name] for p in release_nb.parts}
        graded = autograded.build(release_nb, notebook, submission.located[name], part_results)
        nbformat.write(graded, str(out / f"{name}.ipynb"))
    timestamp = Path(job.submitted_dir) / "timestamp.txt"
    if timestamp.is_file():
        shutil.copyfile(timestamp, out / "timestamp.txt")
    text = submission_feedback(job.student, job.assignment, ordered, submission.notes)
    (out / FEEDBACK_FILE).write_text(text, encoding="utf-8")


def _write_log(job, log):
    directory = reports_dir(job.root, job.assignment)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{job.student}.log").write_text("\n\n".join(log) + "\n", encoding="utf-8")


def write_summary(root, assignment, summary):
    """The instructor's record of one student's grading (read back for grades.csv)."""
    directory = reports_dir(root, assignment)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{summary['student']}.json").write_text(
        json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
