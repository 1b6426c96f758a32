"""The nbgrader side: notebooks, cells, the release, submissions, autograded notebooks, the gradebook.

* ``cells.py``: reading notebooks and finding cells by nbgrader's metadata, with
  ``json_bounds.py`` counting what a notebook's JSON would build before anything parses it;
* ``release.py``: the trusted release and how it fits the graded parts;
* ``submission.py``: one pass over a student's folder into what each part's sandbox loads,
  with tampering evidence;
* ``autograded.py``: the autograded notebook formgrader and the feedback show, its student
  content made inert by ``student_content.py`` (also a preprocessor of every page nbconvert renders);
* ``gradebook.py``: nbgrader's course directory and the trusted scores in ``gradebook.db``,
  and the totals read back from it (``grades.csv``, the feedback's total);
* ``regenerate.py``: regenerating the release without losing the old one on failure;
* ``lms_intake.py``: an LMS's bulk download into ``submitted/``, every notebook accounted for:
  ``lms_names.py`` reads who uploaded a file from the part of its name the LMS writes, and
  ``upload_zips.py`` reads the download and the students' zips within counted budgets; with a
  roster (``roster.py``: each nbgrader id beside the student's ids in each LMS, read strictly) each
  upload is filed under its nbgrader id;
* ``lms_export.py``: the gradebook's totals in Canvas's, Moodle's or Blackboard's own grade import
  file, by the roster's ids;
* hooks that ``nbgrader_config.py`` installs into nbgrader itself: ``feedback_page.py``
  (``generate_feedback``: the whole trusted feedback on every page), ``feedback_release.py``
  (``release_feedback`` for hub and LMS students), ``exchange_collect.py`` (``collect`` taking a
  submission's owner and time from the kernel) and ``plain_autograde.py`` (``nbgrader autograde``
  refused where it would replace trusted grades);
* for grading on submit: ``inbound_watch.py`` (which students have a new submission in the
  exchange), ``one_student.py`` (nbgrader's collect and feedback steps for one student, in process),
  ``feedback_details.py`` (how much a page shows) and ``received_page.py`` (the page of a
  submission that could not be graded).

Imports: nbgrader and nbformat, ``autograder.checks`` (parts, results, feedback text) and
``autograder.isolation`` (what a sandbox loads); never the orchestration.
"""
