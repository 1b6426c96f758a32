"""The hidden checks, with everything they judge by.

* ``test_<part>.py``: one pytest module per graded part (weights in ``@pytest.mark.weight``);
  ``conftest.py`` gives them the ``student``, ``rng`` and ``verify`` fixtures;
* ``parts.py``: the graded parts of each assignment;
* ``oracle.py``: trusted PyTorch float64 references; ``cases.py``: seeded random inputs;
  ``secret.py``: the course secret and the per-check seeds drawn from it;
* ``checking.py``: comparisons whose messages teach but never leak;
* ``runner.py``: runs the modules and scores them; ``feedback.py``: the results in words.

Imports: ``autograder.isolation`` (a check reaches student code only through a
``Student``), numpy, PyTorch and pytest; never the nbgrader side or the orchestration.
Run the modules through :func:`autograder.checks.runner.run_checks`, not bare.
"""
