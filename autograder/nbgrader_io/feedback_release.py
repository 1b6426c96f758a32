"""``nbgrader release_feedback`` for a class collected through the exchange, an LMS, or both.

nbgrader's own release reads ``submission_secret.txt`` from each student's
``feedback/`` folder, to name the released page so that only that student's
``fetch_feedback`` finds it; it stops the whole class with a
``FileNotFoundError`` when the file is absent.  The trusted grader does not
carry that file into ``autograded/`` (it is no part of grading), so this
release takes it from where ``nbgrader collect`` left it,
``submitted/<student>/<assignment>/``.  A student collected from an LMS has
none, and no hub account to fetch with: that student is skipped with a warning
that says which folder to upload to the LMS instead.  Selected in the course's
``nbgrader_config.py`` as ``c.ExchangeFactory.release_feedback``.
"""
import glob
import os
import shutil

from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback

SECRET_FILE = "submission_secret.txt"


class ReleaseFeedbackToEveryRoute(ExchangeReleaseFeedback):

    def copy_files(self):
        without_secret = [student for student in self._students_with_feedback() if not self._place_secret(student)]
        for student in without_secret:
            self.log.warning(
                "no %s for student '%s' (collected from an LMS, not the exchange): nothing to release on the "
                "hub; upload the folder %s to the LMS instead", SECRET_FILE, student, self._feedback_dir(student))
        excluded = [s for s in (self.coursedir.student_id_exclude or "").split(",") if s]
        self.coursedir.student_id_exclude = ",".join(excluded + without_secret)
        try:
            super().copy_files()
        finally:
            self.coursedir.student_id_exclude = ",".join(excluded)

    def _students_with_feedback(self):
        # src_path is feedback/<student, or *>/<assignment>, so a page's student is two folders up.
        pages = glob.glob(os.path.join(self.src_path, "*.html"))
        return sorted({os.path.basename(os.path.dirname(os.path.dirname(page))) for page in pages})

    def _feedback_dir(self, student):
        return self.coursedir.format_path(self.coursedir.feedback_directory, student, self.coursedir.assignment_id)

    def _place_secret(self, student):
        """Copy the exchange's secret next to the pages, once; False when the student has none."""
        placed = os.path.join(self._feedback_dir(student), SECRET_FILE)
        if os.path.isfile(placed):
            return True
        collected = os.path.join(self.coursedir.format_path(
            self.coursedir.submitted_directory, student, self.coursedir.assignment_id), SECRET_FILE)
        if not os.path.isfile(collected):
            return False
        shutil.copyfile(collected, placed)
        return True
