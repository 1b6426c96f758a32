"""The nbgrader side: notebooks, cells, the release, submissions, autograded notebooks, the gradebook.

* ``cells.py``: reading notebooks and finding cells by nbgrader's metadata;
* ``release.py``: the trusted release and how it fits the graded parts;
* ``submission.py``: one pass over a student's folder into what each part's sandbox loads,
  with tampering evidence;
* ``autograded.py``: the autograded notebook formgrader and the feedback show;
* ``gradebook.py``: nbgrader's course directory and the trusted scores in ``gradebook.db``.

Imports: nbgrader and nbformat, ``autograder.checks`` (parts, results, feedback text) and
``autograder.isolation`` (what a sandbox loads); never the orchestration.
"""
