"""``grade_part``: the hidden checks inside a notebook kernel (plain nbgrader).

Each graded test cell of the release ends with a hidden part::

    grade_part("conv_forward_naive", globals(), max_points=10)

``nbgrader autograde`` and ``nbgrader validate`` execute it in the student's
own kernel, so this path is only as trustworthy as the student's notebook:
it exists so that plain nbgrader keeps working (and so that instructors can
validate their solutions).  Trusted grades come from
``python -m autograder grade``, which never runs this cell.

Feedback goes to stdout only (nbgrader gives zero points to a cell that
writes to stderr); the points earned are the return value, which nbgrader
reads as partial credit when it is the cell's last expression.
"""
import contextlib
import os
import sys

from .checks.feedback import part_feedback
from .checks.runner import run_checks
from .checks.secret import course_secret
from .isolation.student import DirectStudent

DEBUG_VAR = "AUTOGRADER_DEBUG"


def grade_part(part, namespace, max_points):
    """Run the hidden checks of ``part`` on the notebook namespace; print feedback, return points."""
    log = []
    with contextlib.redirect_stderr(sys.stdout):
        try:
            results = run_checks({part: max_points}, lambda _part: DirectStudent(namespace),
                                 course_secret(), log)
        except Exception as error:  # never let the grader itself break the student's cell
            print(f"{part}: the hidden checks could not run ({type(error).__name__}: {error}); 0 points")
            return 0.0
    result = results[part]
    print("\n".join(part_feedback(result)))
    if log and os.environ.get(DEBUG_VAR):
        print("\n".join(log))
    return float(result.points)
