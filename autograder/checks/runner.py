"""Run the hidden checks (the pytest modules beside this file) and score them.

Each graded part has one module, ``test_<part>.py``.  Its tests take
the fixtures ``student`` (a :class:`~autograder.isolation.student.Student` for that part),
``rng`` (a generator seeded from the submission's case key, the part and the check)
and ``verify`` (a :class:`~autograder.checks.checking.Verifier`), and carry their
share of the part's points as ``@pytest.mark.weight(w)``.  A part's score is
``points * (sum of passed weights) / (sum of all weights)``.

pytest runs quietly in this process (no terminal output, no cache, plain
asserts); the results are collected by a small plugin.
"""
import ast
import contextlib
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .checking import CheckFailed
from ..isolation.student import StudentCrash, StudentError, StudentTimeout

CHECKS_DIR = Path(__file__).resolve().parent
STUDENTS = pytest.StashKey()
CASE_KEY = pytest.StashKey()
VERIFIER = pytest.StashKey()
INTERNAL_ERROR = ("the grader could not run this check (a problem on the grading side, "
                  "not in your code); your instructor has been told")


@dataclass
class CheckResult:
    name: str
    title: str
    weight: float
    passed: bool
    message: str = ""            # why it failed, for the student
    notes: list = field(default_factory=list)   # what passed, for the student
    internal_error: bool = False


@dataclass
class PartResult:
    part: str
    max_points: float
    checks: list = field(default_factory=list)
    notes: list = field(default_factory=list)   # how the answer cells were found and loaded

    @property
    def earned_fraction(self):
        total = sum(check.weight for check in self.checks)
        passed = sum(check.weight for check in self.checks if check.passed)
        return passed / total if total else 0.0

    @property
    def points(self):
        return round(self.max_points * self.earned_fraction, 4)

    @property
    def internal_errors(self):
        return [check for check in self.checks if check.internal_error]


def check_weights(part):
    """``[(check name, title, weight)]`` of a part, read from its module's source (nothing imported)."""
    tree = ast.parse(check_module(part).read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.mark.weight":
                    title = (ast.get_docstring(node) or node.name).splitlines()[0]
                    found.append((node.name, title, float(ast.literal_eval(decorator.args[0]))))
    return found


def check_module(part):
    path = CHECKS_DIR / f"test_{part}.py"
    if not path.is_file():
        raise KeyError(f"no hidden checks for the part {part!r} (expected {path.name})")
    return path


class _Collector:
    """pytest plugin: hands out students and records each check's outcome."""

    def __init__(self, student_factory, case_key, log):
        self.student_factory = student_factory
        self.case_key = case_key
        self.log = log
        self.results = {}
        self.students = {}

    def pytest_configure(self, config):
        config.stash[STUDENTS] = self._student_for
        config.stash[CASE_KEY] = self.case_key

    def _student_for(self, part):
        student = self.student_factory(part)
        self.students[part] = student
        return student

    def pytest_collectreport(self, report):
        if report.failed:
            self.log.append(f"could not load hidden checks {report.nodeid}:\n{report.longreprtext}")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.when == "call" or (report.when == "setup" and report.failed):
            self.results.setdefault(item.module.PART, []).append(self._result(item, call))

    def _result(self, item, call):
        marker = item.get_closest_marker("weight")
        doc = (item.function.__doc__ or item.name).strip().splitlines()[0]
        weight = float(marker.args[0]) if marker else 0.0
        verifier = item.stash.get(VERIFIER, None)
        notes = list(verifier.notes) if verifier else []
        if marker is None:
            self.log.append(f"{item.nodeid} has no weight marker; it counts for nothing")
        if call.excinfo is None:
            return CheckResult(item.name, doc, weight, True, notes=notes)
        error = call.excinfo.value
        if isinstance(error, CheckFailed):
            message = str(error)
        elif isinstance(error, StudentError):
            message = "your code " + error.describe()
        elif isinstance(error, (StudentCrash, StudentTimeout)):
            message = str(error)
        else:
            detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            self.log.append(f"internal error in {item.nodeid}:\n{detail}")
            return CheckResult(item.name, doc, weight, False, INTERNAL_ERROR, internal_error=True)
        return CheckResult(item.name, doc, weight, False, message, notes=notes)


def run_checks(parts, student_factory, case_key, log=None):
    """Run the checks of ``parts`` (``{part: max_points}``); returns ``{part: PartResult}``.

    ``student_factory(part)`` returns the :class:`Student` for a part; it is
    called once per part, and the student is closed after its checks.
    """
    log = log if log is not None else []
    collector = _Collector(student_factory, case_key, log)
    paths = [str(check_module(part)) for part in parts]
    # no:unraisableexception: its clean-up runs gc.collect() on the grader's whole heap (numpy,
    # torch) several times per run, a quarter of a second each, to report nothing we use.
    args = ["-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:stepwise", "-p", "no:unraisableexception",
            "--assert=plain", "-c", str(CHECKS_DIR / "pytest.ini"), "--rootdir", str(CHECKS_DIR),
            "-W", "ignore", *paths]
    with _quiet_pytest():
        pytest.main(args, plugins=[collector])
    results = {}
    for part, max_points in parts.items():
        result = PartResult(part, float(max_points), collector.results.get(part, []))
        student = collector.students.get(part)
        result.notes = list(getattr(student, "notes", []) or [])
        if not result.checks:
            log.append(f"no check of {part} ran")
            result.checks = [CheckResult("checks", "hidden checks", 1.0, False, INTERNAL_ERROR,
                                         internal_error=True)]
        results[part] = result
    return results


@contextlib.contextmanager
def _quiet_pytest():
    """No third-party pytest plugins and no bytecode files while the checks run."""
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    saved_bytecode = sys.dont_write_bytecode
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = saved_bytecode
        if saved is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved
