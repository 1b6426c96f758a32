"""Which students have a new submission in nbgrader's exchange: the grading service's look at the inbound folder.

``nbgrader submit`` copies a student's assignment folder to
``<exchange>/<course>/inbound/<student>+<assignment>+<time>+<random>/``, then sets the
permissions of what it copied, the folder itself last.  Every user of the hub may write
there (mode 2733), so everything in it, names included, is the students'.  A scan reads
names and ``lstat`` results only, never a file: collecting is nbgrader's collect with the
owner checked (:mod:`.exchange_collect`), which this scan mirrors so that it never reports a
folder that collect would refuse.

=====================  ================================================================
what an entry may be   what the scan does
=====================  ================================================================
more than MAX_ENTRIES  reads MAX_ENTRIES names, says so once; the rest wait for a later
                       scan (nbgrader never removes a submission: clean up by hand)
a name of another      not looked at (another assignment, or not nbgrader's pattern)
shape or assignment
a student that is no   ignored, said once, with the name quoted and cut short (it may hold
plain folder name      control characters, slashes or megabytes of text)
a link, a file, a      ignored, said once: never followed
FIFO
a folder owned by      ignored, said once, as collect refuses it: nobody submits in a
another user           classmate's name (unless ``check_owner`` is off, as for collect)
a folder still being   not taken until it has been still for SETTLE_S seconds: collect
written                would copy half of it
a backdated or future  its name's time is never read: the folder's change time is the
time in the name       kernel's, which no user can set
=====================  ================================================================

A student's many folders are one arrival: collect takes the latest, so a burst of
submissions costs one grading.
"""
import os
import pwd
import stat
from dataclasses import dataclass

from .gradebook import STUDENT_ID

# A course's inbound folder holds a few submissions per student; this many names is a deadline
# night of a very large course, and listing them takes well under a second.
MAX_ENTRIES = 100_000
# nbgrader submit writes a submission in milliseconds; one second still covers a loaded machine.
SETTLE_S = 1.0
MAX_SAID = 10_000          # refusals said once each, remembered up to this many
SHOWN_CHARS = 80


@dataclass(frozen=True)
class Arrival:
    """A student with new folders in the inbound folder, changed at the latest at ``changed_at``."""
    student: str
    changed_at: float
    folders: int


class InboundWatch:
    """Scans one assignment's submissions in ``inbound``; ``say`` gets each refusal once."""

    def __init__(self, inbound, assignment, check_owner=True, say=print):
        self.inbound, self.assignment, self.check_owner, self.say = str(inbound), assignment, check_owner, say
        self._said = set()

    def scan(self, seen_through, now):
        """Settled arrivals, oldest first: students whose latest folder changed after ``seen_through[student]``."""
        newest, counts, unsettled = {}, {}, set()
        for name, info in self._entries():
            student = self._student_of(name, info)
            if student is None or info.st_ctime <= seen_through.get(student, 0.0):
                continue
            newest[student] = max(newest.get(student, 0.0), info.st_ctime)
            counts[student] = counts.get(student, 0) + 1
            if now - info.st_ctime < SETTLE_S:
                unsettled.add(student)
        arrivals = [Arrival(student, newest[student], counts[student]) for student in newest
                    if student not in unsettled]
        return sorted(arrivals, key=lambda arrival: (arrival.changed_at, arrival.student))

    def _entries(self):
        """``(name, lstat)`` of this assignment's entries, at most MAX_ENTRIES names read."""
        marker = f"+{self.assignment}+"
        with os.scandir(self.inbound) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_ENTRIES:
                    self._say_once("*", f"the inbound folder holds over {MAX_ENTRIES} entries; later ones wait "
                                        "for a later scan (remove old submissions by hand)")
                    return
                if marker in entry.name:
                    try:
                        yield entry.name, entry.stat(follow_symlinks=False)
                    except OSError:
                        continue      # removed since it was listed

    def _student_of(self, name, info):
        """The student a folder counts for, or None (said once) when collect would refuse it."""
        fields = name.rsplit("+", 3)
        if len(fields) != 4 or fields[1] != self.assignment:
            return None
        student = fields[0]
        if not STUDENT_ID.fullmatch(student):
            return self._refuse(name, "its student name is not a plain folder name")
        if not stat.S_ISDIR(info.st_mode):
            return self._refuse(name, "it is not a folder (a link or a file)")
        if self.check_owner and info.st_uid not in (_uid_of(student), os.geteuid()):
            return self._refuse(name, f"it names {student} but another user owns it")
        return student

    def _refuse(self, name, why):
        self._say_once(name, f"inbound: ignored {_shown(name)}: {why}; it stays in the exchange")
        return None

    def _say_once(self, key, text):
        if key not in self._said and len(self._said) < MAX_SAID:
            self._said.add(key)
            self.say(text)


def _shown(name):
    """A name as a log shows it: quoted, escapes for control characters, cut short."""
    text = repr(name[:SHOWN_CHARS])
    return text + ("..." if len(name) > SHOWN_CHARS else "")


def _uid_of(username):
    try:
        return pwd.getpwnam(username).pw_uid
    except KeyError:
        return None
