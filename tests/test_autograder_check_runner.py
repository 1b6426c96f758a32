"""The light check runner gives what a pytest session gives: the same checks, results and logs.

Submissions are graded by :func:`~autograder.checks.runner.run_checks`, which calls the
check functions itself; instructors write and debug the checks as pytest tests, which
:func:`~autograder.checks.runner.run_checks_under_pytest` runs.  Here both grade the same
code (a correct submission, every typical bug of the corpus, a student whose start fails,
a check that is broken) in-process, and every result must be equal, field by field.
"""
import sys
import types

import pytest

import corpus
from autograder.checks import runner
from autograder.checks.parts import assignment_parts
from autograder.checks.runner import INTERNAL_ERROR, run_checks, run_checks_under_pytest
from autograder.isolation.student import DirectStudent
from autograder.nbgrader_io import release

POINTS = release.load_release(corpus.REPO / "exercises" / "numpy_cnn", assignment_parts("numpy_cnn")).points
KEY = b"runner-equivalence-key"


def namespace_of(sources):
    namespace = {"__name__": "__main__"}
    for part in POINTS:
        exec(compile(sources[part], f"<answer cell {part}>", "exec"), namespace)
    return namespace


def both(factory, parts=POINTS):
    """``(light results, light log, pytest results, pytest log)`` of the same checks."""
    light_log, pytest_log = [], []
    light = run_checks(dict(parts), factory, KEY, light_log)
    under_pytest = run_checks_under_pytest(dict(parts), factory, KEY, pytest_log)
    return light, light_log, under_pytest, pytest_log


CASES = {"reference": {}, **{name: {part: source} for name, (part, source) in corpus.BUGS.items()}}


@pytest.mark.parametrize("case", CASES)
def test_both_runners_give_the_same_results_check_by_check(case):
    namespace = namespace_of({**corpus.REFERENCE, **CASES[case]})
    parts = {part: POINTS[part] for part in CASES[case]} or POINTS   # a bug: the part it is in
    light, light_log, under_pytest, pytest_log = both(lambda _part: DirectStudent(namespace), parts)
    assert light == under_pytest
    assert light_log == pytest_log == []
    if case != "reference":
        assert any(not check.passed for result in light.values() for check in result.checks), "the bug must cost"


def test_a_student_that_cannot_start_fails_every_check_of_its_part_alike():
    def factory(part):
        if part == "max_pool_forward_naive":
            raise RuntimeError("no sandbox today")
        return DirectStudent(namespace_of(corpus.REFERENCE))

    light, light_log, under_pytest, pytest_log = both(factory)
    assert light == under_pytest
    failed = light["max_pool_forward_naive"].checks
    assert failed and all(check.internal_error and check.message == INTERNAL_ERROR for check in failed)
    # One log entry per check that could not run, each naming the check and the cause.
    assert len(light_log) == len(pytest_log) == len(failed)
    assert all("no sandbox today" in entry for entry in light_log)


def test_a_check_that_breaks_is_an_internal_error_in_both(monkeypatch):
    module = sys.modules.get("autograder.checks.test_max_pool_forward_naive") or __import__(
        "autograder.checks.test_max_pool_forward_naive", fromlist=["PART"])
    first = next(name for name in vars(module) if name.startswith("test_"))
    original = getattr(module, first)

    def broken(student, rng, verify):
        raise KeyError("a bug of the grader")
    broken.__name__, broken.__doc__, broken.pytestmark = first, original.__doc__, original.pytestmark
    monkeypatch.setattr(module, first, broken)
    namespace = namespace_of(corpus.REFERENCE)
    parts = {"max_pool_forward_naive": POINTS["max_pool_forward_naive"]}
    light, light_log, under_pytest, pytest_log = both(lambda _part: DirectStudent(namespace), parts)
    assert light == under_pytest
    check = light["max_pool_forward_naive"].checks[0]
    assert check.name == first and check.internal_error and not check.passed
    assert len(light_log) == len(pytest_log) == 1 and "KeyError: 'a bug of the grader'" in light_log[0]


def test_a_check_asking_for_a_fixture_the_runner_lacks_is_refused(monkeypatch):
    module = types.ModuleType("autograder.checks.test_fake_part")
    exec("import pytest\n@pytest.mark.weight(1)\ndef test_uses_tmp_path(student, tmp_path):\n    '''t'''\n",
         module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(runner, "check_module", lambda part: corpus.REPO / "autograder" / "checks" / f"test_{part}.py")
    with pytest.raises(TypeError, match="tmp_path"):
        runner.check_functions("fake_part")
