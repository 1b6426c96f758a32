"""``python -m autograder generate ASSIGNMENT``: regenerate the release, keeping the old one if that fails.

``nbgrader generate_assignment --force`` deletes ``exercises/<assignment>/`` first, and
deletes what it wrote when a notebook fails, so a broken solution notebook leaves the
course with no release at all (and the book with no exercises).  This runs the same
nbgrader command into a staging folder of the course root, and only when it succeeds
puts the new release in place of the old one, by renames: the old release is there
until the new one is complete.
"""
import os
import shutil
import tempfile
from pathlib import Path

from . import gradebook


def regenerate_release(coursedir, assignment):
    """Generate ``assignment``'s release from the source folder and swap it in; the release folder."""
    release = gradebook.assignment_dir(coursedir, "release", assignment)
    staging = Path(tempfile.mkdtemp(prefix=".autograder-generate-", dir=coursedir.root))
    try:
        gradebook.generate_into(coursedir, assignment, staging)
        release.parent.mkdir(parents=True, exist_ok=True)
        if release.exists():
            os.rename(release, staging / ".previous")
        os.rename(staging / assignment, release)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return release
