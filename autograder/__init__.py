"""The trusted autograder of the CNN Properties course.

``python -m autograder grade ASSIGNMENT`` grades every submission under
``submitted/*/ASSIGNMENT/``: the student's answer cells run in an isolated
worker process, hidden checks compare what they return with a trusted oracle,
and the scores land in nbgrader's gradebook.  See the instructor guide
(book/instructors/grading_guide.md and its pages, one per task) for the whole workflow.

The folders follow the trust boundary, from the inside out; each may import
only the ones before it (``tests/test_autograder_layout.py`` enforces it):

* ``in_sandbox/``: what runs inside the sandbox (standard library and numpy only);
* ``isolation/``: the host side of isolation: starting, limiting and talking to sandboxes;
* ``checks/``: the hidden checks with their oracle, cases and comparisons;
* ``nbgrader_io/``: notebooks, release, submissions, autograded notebooks, gradebook;
* ``similarity/``: the similarity report (which students' answer cells look alike), reading
  submissions only through ``nbgrader_io/``'s bounded readers, writing only its own folder;
* this folder: the command line (``__main__.py``), one submission
  (``one_submission.py``), a whole class (``whole_class.py``), the runners that grade a list
  of submissions (``runners.py``; ``cluster.py`` on Dask; ``lasting_runner.py`` for the grading
  service), grading on submit (``service.py`` and its loop ``service_loop.py``, with ``submit_policy.py``,
  ``service_state.py`` and ``course_locks.py``), the set-up checks
  (``setup_check.py``) and the checks inside a notebook kernel for plain nbgrader
  (``notebook.py``).

This package is the instructor's side: it never ships to students.
"""
