"""The similarity report: which students' answer cells look alike, for an instructor to read.

``python -m autograder similarity ASSIGNMENT`` compares every pair of students' answer cells and
writes an HTML page ranked by similarity, with the matching code side by side, and a CSV of every
pair.  It reads submissions and the release, and writes only its own output folder: never a grade.

* ``answers.py``: each student's answer cells, read through the grader's bounded readers
  (:mod:`autograder.nbgrader_io.submission`), with the release's own lines taken out;
* ``detector.py``: copydetect's fingerprints of each student's code and every pair compared;
* ``report_page.py``: the HTML page (every student byte escaped, a strict Content-Security-Policy,
  nothing loaded from anywhere); ``report_table.py``: the CSV;
* ``command.py``: the ``similarity`` command (``add_similarity_command``, ``similarity_command``)
  and the folder it writes, replaced whole or not at all.

Imports: ``autograder.nbgrader_io`` (the release, the submissions, the course directory),
``autograder.checks.parts`` (the graded parts), copydetect and the standard library; never the
orchestration.  ``tests/test_autograder_layout.py`` enforces it.
"""
