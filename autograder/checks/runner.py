"""Run the hidden checks (the pytest modules beside this file) and score them.

Each graded part has one module, ``test_<part>.py``.  Its tests take
the fixtures ``student`` (a :class:`~autograder.isolation.student.Student` for that part),
``rng`` (a generator seeded from the submission's case key, the part and the check)
and ``verify`` (a :class:`~autograder.checks.checking.Verifier`), and carry their
share of the part's points as ``@pytest.mark.weight(w)``.  A part's score is
``points * (sum of passed weights) / (sum of all weights)``.

Instructors write and read the checks as pytest tests, and :func:`run_checks_under_pytest`
runs them so (quietly, in this process; ``conftest.py`` provides the fixtures).  A
submission is graded by :func:`run_checks`, which runs the same functions with the same
three fixtures in the same order and reports the same results, without a pytest session per
submission (its collection, hooks and reports cost about as much as the checks of a
correct submission).  A test holds the two to the same results, check by check.
"""
import ast
import contextlib
import importlib
import inspect
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from .checking import CheckFailed, Verifier
from .secret import case_seed
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
        verifier = item.stash.get(VERIFIER, None)
        return check_result(item.function, item.name, item.nodeid, verifier,
                            call.excinfo.value if call.excinfo else None, self.log)


def check_result(function, name, where, verifier, error, log):
    """The :class:`CheckResult` of one check function that raised ``error`` (None: it passed)."""
    weight = check_weight(function)
    doc = (function.__doc__ or name).strip().splitlines()[0]
    notes = list(verifier.notes) if verifier else []
    if weight is None:
        log.append(f"{where} has no weight marker; it counts for nothing")
    weight = weight or 0.0
    if error is None:
        return CheckResult(name, doc, weight, True, notes=notes)
    if isinstance(error, CheckFailed):
        message = str(error)
    elif isinstance(error, StudentError):
        message = "your code " + error.describe()
    elif isinstance(error, (StudentCrash, StudentTimeout)):
        message = str(error)
    else:
        detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        log.append(f"internal error in {where}:\n{detail}")
        return CheckResult(name, doc, weight, False, INTERNAL_ERROR, internal_error=True)
    return CheckResult(name, doc, weight, False, message, notes=notes)


def check_weight(function):
    """The check's ``@pytest.mark.weight(w)`` as a float; None without one."""
    for mark in getattr(function, "pytestmark", ()):
        if mark.name == "weight":
            return float(mark.args[0])
    return None


# The fixtures of conftest.py, which the light runner provides in the same way.
FIXTURES = ("student", "rng", "verify")


def run_checks(parts, student_factory, case_key, log=None):
    """Run the checks of ``parts`` (``{part: max_points}``); returns ``{part: PartResult}``.

    ``student_factory(part)`` returns the :class:`Student` for a part; it is called once per
    part, when its first check asks for it (a ``module``-scoped fixture under pytest), and the
    student is closed after the part's last check.
    """
    log = log if log is not None else []
    results, students = {}, {}
    for part in parts:
        try:
            module = check_functions(part)
        except Exception as error:
            detail = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            log.append(f"could not load hidden checks {check_module(part).name}:\n{detail}")
            continue
        student = _LazyStudent(student_factory, part)
        try:
            results[part] = [_run_one(function, part, student, case_key, log) for function in module]
        finally:
            student.close()
        students[part] = student.made
    return _part_results(parts, results, students, log)


def check_functions(part):
    """The check functions of ``part``'s module, in the order pytest runs them (their order in the file)."""
    module = importlib.import_module(f"{__package__}.{check_module(part).stem}")
    functions = []
    for name, value in vars(module).items():
        if name.startswith("test_") and inspect.isfunction(value):
            unknown = set(inspect.signature(value).parameters) - set(FIXTURES)
            if unknown:
                raise TypeError(f"{name} asks for {', '.join(sorted(unknown))}; a check may take only "
                                f"{', '.join(FIXTURES)} (autograder/checks/conftest.py)")
            functions.append(value)
        elif name.startswith("Test") and inspect.isclass(value):
            raise TypeError(f"{name}: checks are functions, not classes")
    return functions


class _LazyStudent:
    """The ``student`` fixture: made on first use, and what making it raised is raised again to every
    later check of the part, as pytest does with a module-scoped fixture."""

    def __init__(self, factory, part):
        self.factory, self.part = factory, part
        self.made, self.error = None, None

    def get(self):
        if self.error is not None:
            raise self.error
        if self.made is None:
            try:
                self.made = self.factory(self.part)
            except Exception as error:
                self.error = error
                raise
        return self.made

    def close(self):
        if self.made is not None:
            self.made.close()


def _run_one(function, part, student, case_key, log):
    verifier, error = None, None
    try:
        arguments = {}
        for name in inspect.signature(function).parameters:
            if name == "student":
                arguments[name] = student.get()
            elif name == "rng":
                arguments[name] = np.random.default_rng(case_seed(case_key, part, function.__name__))
            else:
                arguments[name] = verifier = Verifier()
        function(**arguments)
    except Exception as raised:
        error = raised
    where = f"{check_module(part).name}::{function.__name__}"
    return check_result(function, function.__name__, where, verifier, error, log)


def run_checks_under_pytest(parts, student_factory, case_key, log=None):
    """:func:`run_checks` through a quiet pytest session (``conftest.py``'s fixtures): the checks as
    instructors write and debug them, and the reference the light runner is tested against."""
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
    return _part_results(parts, collector.results, collector.students, log)


def _part_results(parts, checks, students, log):
    results = {}
    for part, max_points in parts.items():
        result = PartResult(part, float(max_points), checks.get(part, []))
        result.notes = list(getattr(students.get(part), "notes", []) or [])
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
