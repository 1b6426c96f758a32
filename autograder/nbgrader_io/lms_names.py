"""Who uploaded a file of an LMS bulk download, read only from the part of its name the LMS writes.

Each system writes a prefix of its own in front of the name the student gave the file:

* Canvas: ``<name>_[LATE_]<user id>_<attachment id>_<file>``, every file at the top of the zip.
  ``<name>`` is the student's sortable name, lowercased and stripped to word characters.  Canvas
  collapses ``_<digits>_`` in it, but a student who may edit their own name can still smuggle one
  in (a character Canvas strips after that step: ``evil_102 _``), so the name may be the student's.
* Blackboard: ``<title>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>``, or ``.txt`` instead of
  ``_<file>`` for the attempt's receipt.  The title is the LMS's (it may differ from nbgrader's
  assignment name) and heads every file of one download; usernames are the institution's.
* Moodle: ``<full name>_<participant id>_assignsubmission_<file|onlinetext>_`` followed by ``/``
  (a folder per student) or glued to the file's name.  Moodle turns ``_`` in full names into
  spaces, so the first ``_`` of the path ends the name.

The rules, which make the prefix unsteerable by anything a student names:

1. Read left to right, anchored to the layout: Canvas's first ``_[LATE_]<digits>_<digits>_`` group,
   Blackboard's first ``_attempt_<date>`` with a well-formed date (the username is what lies between
   the download's common title and it: distinct prefixes, distinct folders; a username with ``_``
   whose first part every student of the download shares, or a download of one student, is cut
   at its last ``_``), Moodle's group at the first ``_``.  Everything after the
   LMS's part is the student's own, opaque name for the file; ``[0-9]`` only, never Unicode digits.
2. A name that reads as the upload of two different students is refused.  Canvas: another place
   where the name splits as ``<name>_[LATE_]<id>_<id>_`` with another id, anywhere, overlapping
   ones included; such a file is reported under "(no student)", since the part in front of the
   first group may be the student's own.  (An honest file name with such a group, say
   ``lab_1_2_final.zip``, is refused too: rename it by hand.)  Blackboard and Moodle: the
   student's part (a folder inside Moodle's per-student folder included) carries another
   student's group; the LMS's part is certain there, so the file is left out for the student
   who uploaded it.
3. The same holds inside a student's zips: an entry named as another student's upload is left out
   (:meth:`other_student`).
4. A student id becomes a folder name (:data:`STUDENT_ID`), and :func:`shown` is how any name a
   student chose is printed: control, format and separator characters escaped, long names cut.
"""
import dataclasses
import datetime
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

from .gradebook import STUDENT_ID

ATTEMPT_FORMAT = "%Y-%m-%d-%H-%M-%S"
NOT_LMS_NAMED = "not named like a submission of this LMS"
# A name printed in the report is cut after this many characters: a file name cannot flood the line.
SHOWN_CHARACTERS = 160


@dataclass(frozen=True)
class NameReading:
    """What the LMS's part of one path says: whose upload it is, and for Blackboard which attempt."""
    student: str = ""        # "" when no student can be named with certainty
    attempt: str = ""        # Blackboard's "YYYY-MM-DD-HH-MM-SS", else ""
    uploaded_as: str = ""    # the student's own name for the file; "" for a Blackboard receipt
    refused: str = ""        # why the file is left out, when it is


def shown(text):
    """``text`` safe on one report line: control, format and line-separator characters escaped, cut."""
    safe = "".join(ascii(ch)[1:-1] if unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp")
                   else ch for ch in text[:SHOWN_CHARACTERS])
    return safe + "..." if len(text) > SHOWN_CHARACTERS else safe


def _refused(student, reason):
    """A refusal for ``student``, or for no one when that id could not be a folder name."""
    return NameReading(student=student if STUDENT_ID.fullmatch(student) else "", refused=reason)


def _checked_id(student, reading):
    """``reading``, or a refusal when its student id cannot be a folder name."""
    if not STUDENT_ID.fullmatch(student):
        return _refused("", f"{NOT_LMS_NAMED}, or no usable student id")
    return reading


class Canvas:
    """``<name>_[LATE_]<user id>_<attachment id>_<file>``, flat."""
    # Zero width, so that finditer sees every split, overlapping ones too ("a_101_9001_1_x" has three).
    GROUP = re.compile(r"(?=_(?:LATE_)?([0-9]+)_[0-9]+_[^/])", re.ASCII)
    AT = re.compile(r"_(?:LATE_)?([0-9]+)_[0-9]+_([^/]+)", re.ASCII | re.DOTALL)
    # An ASCII character Canvas never leaves in a name it writes (it keeps word characters and
    # lowercases them).  Only ASCII, where that is certain: Ruby's Unicode tables are not Python's.
    NOT_IN_A_NAME = re.compile(r"[^a-z0-9_\x80-\U0010ffff]")

    def read(self, path):
        splits = self._splits(path)
        if "/" in path or not splits:
            return _refused("", NOT_LMS_NAMED)
        # Every split counts, whatever stands in front of it: which name Canvas wrote depends on its
        # version, and guessing it wrong would let a display name choose the student.
        students = {student for _, student in splits}
        if len(students) > 1:
            return _refused("", f"its name reads as the upload of students {', '.join(sorted(students, key=int))}: "
                                "rename it by hand to the right student's <name>_<id>_<id>_ prefix")
        first = self.AT.match(path, splits[0][0])
        return _checked_id(first[1], NameReading(first[1], uploaded_as=first[2]))

    def other_student(self, text, owner):
        """Another student's id that ``text`` (a path inside ``owner``'s upload) could be read as, or "".

        Only a split after a name Canvas could have written counts: inside an upload, refusing more
        loses nothing but the owner's own files.  Linear: a split counts when no odd character of
        its folder's name comes before it, so the search stops at the first odd one."""
        for part in text.split("/"):
            odd = self.NOT_IN_A_NAME.search(part)
            limit = odd.start() if odd else len(part)
            for split in self.GROUP.finditer(part):
                if split.start() > limit:
                    break
                if split.start() > 0 and split[1] != owner:
                    return split[1]
        return ""

    def _splits(self, text):
        return [(m.start(), m[1]) for m in self.GROUP.finditer(text) if m.start() > 0]


class Blackboard:
    """``<title>_<username>_attempt_<date>_<file>`` (``.txt`` for a receipt), flat; one title per download."""
    ATTEMPT = re.compile(r"_attempt_([0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2})", re.ASCII)

    def __init__(self, paths):
        self.title = self._common_title(paths)

    def read(self, path):
        attempt = self._first_attempt(path)
        if attempt is None or "/" in path:
            return _refused("", NOT_LMS_NAMED)
        prefix, after = path[:attempt.start()], path[attempt.end():]
        if not prefix.startswith(self.title + "_"):
            return _refused("", f"{NOT_LMS_NAMED}: the download's other files share no assignment title with it")
        if not (after == ".txt" or after.startswith("_") and len(after) > 1):
            return _refused("", NOT_LMS_NAMED)
        student, uploaded_as = prefix[len(self.title) + 1:], after[1:] if after != ".txt" else ""
        other = self.other_student(uploaded_as, student)
        if other:
            return dataclasses.replace(_refused(student, names_another(other)), attempt=attempt[1])
        return _checked_id(student, NameReading(student, attempt[1], uploaded_as))

    def other_student(self, text, owner):
        """Another student's username that an ``_attempt_<date>`` group in ``text`` names, or ""."""
        for attempt in self._attempts(text):
            named = self._username(text[:attempt.start()].rpartition("/")[2])
            if named != owner:
                return named or "(unnamed)"
        return ""

    def _username(self, prefix):
        if self.title and prefix.startswith(self.title + "_"):
            return prefix[len(self.title) + 1:]
        return prefix.rpartition("_")[2]

    def _attempts(self, text):
        return (m for m in self.ATTEMPT.finditer(text) if _is_attempt_date(m[1]))

    def _first_attempt(self, text):
        return next(self._attempts(text), None)

    def _common_title(self, paths):
        """The longest ``_``-separated start that every file's LMS prefix shares, one token short of the
        shortest: the title.  Prefixes differ, so usernames differ: no two students share a folder."""
        prefixes = [path[:m.start()].split("_") for path in paths
                    if "/" not in path and (m := self._first_attempt(path)) and "_" in path[:m.start()]]
        if not prefixes:
            return ""
        common = os.path.commonprefix(prefixes)
        return "_".join(common[:min(len(tokens) for tokens in prefixes) - 1])


class Moodle:
    """``<full name>_<participant id>_assignsubmission_<file|onlinetext>_`` then ``/<file>`` or ``<file>``."""
    PREFIX = re.compile(r"([^_/]+)_([0-9]+)_assignsubmission_(?:file|onlinetext)_(.*)", re.ASCII | re.DOTALL)
    GROUP = re.compile(r"_([0-9]+)_assignsubmission_(?:file|onlinetext)_", re.ASCII)

    def read(self, path):
        match = self.PREFIX.fullmatch(path)
        if not match or not match[3].lstrip("/"):
            return _refused("", NOT_LMS_NAMED)
        student, uploaded = match[2], match[3].removeprefix("/")
        other = self.other_student(uploaded, student)
        if other:
            return _refused(student, names_another(other))
        return _checked_id(student, NameReading(student, uploaded_as=PurePosixPath(uploaded).name))

    def other_student(self, text, owner):
        """Another participant id that a Moodle group in ``text`` (any folder of it) names, or ""."""
        return next((m[1] for m in self.GROUP.finditer(text) if m[1] != owner), "")


def names_another(student):
    return (f"the student's own name for it reads as another student's upload ({shown(student)}): left out "
            "so that no file lands in another student's folder; check it by hand")


def _is_attempt_date(text):
    try:
        datetime.datetime.strptime(text, ATTEMPT_FORMAT)
    except ValueError:
        return False
    return True


LAYOUTS = {"canvas": Canvas, "blackboard": Blackboard, "moodle": Moodle}


def name_reader(lms, paths):
    """The reader of this download's names (Blackboard's needs every path, to find the common title)."""
    layout = LAYOUTS[lms]
    return layout(paths) if layout is Blackboard else layout()
