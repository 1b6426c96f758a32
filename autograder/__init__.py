"""The trusted autograder of the CNN Properties course.

``python -m autograder grade ASSIGNMENT`` grades every submission under
``submitted/*/ASSIGNMENT/``: the student's answer cells run in an isolated
worker process, hidden checks compare what they return with a trusted oracle,
and the scores land in nbgrader's gradebook.  See the instructor guide
(book/instructors/grading_guide.md) for the whole workflow.

This package is the instructor's side: it never ships to students.
"""
