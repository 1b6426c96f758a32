"""Fixtures of the hidden checks: the student, a seeded generator, a verifier.

The runner (autograder/checks/runner.py) provides the student factory and the
submission's case key (:func:`~autograder.checks.secret.submission_key`) through pytest's
stash; run the checks through it, not bare.
"""
import numpy as np
import pytest

from autograder.checks.checking import Verifier
from autograder.checks.runner import CASE_KEY, STUDENTS, VERIFIER
from autograder.checks.secret import case_seed


@pytest.fixture(scope="module")
def student(request):
    factory = request.config.stash.get(STUDENTS, None)
    if factory is None:
        raise pytest.UsageError("the hidden checks run through autograder.checks.runner.run_checks")
    student = factory(request.module.PART)
    yield student
    student.close()


@pytest.fixture
def rng(request):
    case_key = request.config.stash[CASE_KEY]
    return np.random.default_rng(case_seed(case_key, request.module.PART, request.node.name))


@pytest.fixture
def verify(request):
    verifier = Verifier()
    request.node.stash[VERIFIER] = verifier
    return verifier
