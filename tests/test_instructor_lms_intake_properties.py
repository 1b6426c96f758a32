"""Properties of the LMS intake over generated bulk downloads (hypothesis), for all three systems.

Names: a small class whose honest students upload the release notebooks by name, and whose other
students name their files from pieces that attack the parse: the systems' separators
(``_attempt_<date>_``, ``_<id>_assignsubmission_file_``, ``_LATE_``), classmates' whole prefixes
and ids, the release names in other case, Unicode forms (NFD, fullwidth) and with `` (1)`` or
``-1``, control characters; a Canvas display name may smuggle a classmate's id in.  Zips: one
student's upload is a generated tree of zips (nested, encrypted, Deflate64, bzip2, declaring
gigabytes, declaring 1000 bytes of megabytes) among honest classmates.

Every notebook uploaded holds a marker naming its uploader, so whatever the parse does, each
example checks:

* no folder holds another student's file: every notebook written carries the marker of the
  student whose folder it is, the id the LMS wrote (and Blackboard's time is that student's
  latest attempt as the LMS wrote it);
* every honest classmate is collected in full, and every file of the download is named on the
  report (taken or left out);
* the intake stays within a time and a traced-memory bound.

Derandomized with no example database, so CI sees the same examples every run.
"""
import datetime
import io
import json
import tempfile
import time
import tracemalloc
import unicodedata
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import corpus
import test_instructor_lms_intake as examples
from autograder.nbgrader_io.lms_intake import intake, report_line
from autograder.nbgrader_io.lms_names import shown
from autograder.nbgrader_io.roster import DOWNLOAD_ID_COLUMN, Roster, RosterEntry

RELEASE = ["convolution", "max_pooling"]
WHEN = (2026, 11, 30, 9, 15, 42)
SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SECONDS, TRACED_BYTES = 10, 48 * 2**20     # per example; the largest generated read is 4 MiB

RELEASE_VARIANTS = ["convolution", "Convolution", "CONVOLUTION", "convolution (1)", "convolution-2",
                    unicodedata.normalize("NFD", "Convolution"), "\uff43onvolution", "max_pooling", "Max_Pooling-1",
                    "max_pooling (12)", "notes"]
SEPARATORS = ["_", "__", "_LATE_", "_attempt_2026-12-01-09-00-00_", "_attempt_2026-13-01-09-00-00_",
              "_assignsubmission_file_", "_assignsubmission_onlinetext_", "_1_2_", "-1", " (1)", "\n", "\r",
              "\u202e", "\x1b[2J", "\u00e9", "e\u0301", " "]
ENDINGS = [".ipynb", ".ipynb", ".IPYNB", ".txt", ".zip", ""]


def marker(uploader, serial):
    """The bytes of an uploaded notebook: whose it is, and which of theirs."""
    return json.dumps({"uploader": uploader, "serial": serial}).encode()


@st.composite
def own_names(draw, classmates):
    """A file name a student chooses, built from pieces that look like the LMS's own prefixes."""
    stolen = st.builds(str.__add__, st.sampled_from(classmates), st.sampled_from(RELEASE_VARIANTS))
    pieces = st.one_of(st.sampled_from(RELEASE_VARIANTS), st.sampled_from(SEPARATORS), stolen,
                       st.sampled_from(classmates), st.text(st.characters(blacklist_categories=("Cs",),
                                                                          blacklist_characters="/\x00"), max_size=3))
    return "".join(draw(st.lists(pieces, min_size=1, max_size=4))) + draw(st.sampled_from(ENDINGS))


@st.composite
def canvas_class(draw):
    """Canvas students: (id, the prefix Canvas writes), a display name possibly smuggling a classmate's id."""
    ids = draw(st.lists(st.integers(1, 99_999).map(str), min_size=3, max_size=4, unique=True))
    students = []
    for serial, student in enumerate(ids):
        # What Canvas writes differs by version: an NFD accent, a hyphen, a letter Python and Ruby case differently.
        name = draw(st.from_regex(r"[a-z]{1,6}", fullmatch=True) | st.sampled_from(["e\u0301vil", "o-neil", "\u03d2x"]))
        if draw(st.booleans()) and serial > 0:
            name += "_" + draw(st.sampled_from(ids[:serial])) + draw(st.sampled_from(["", "_7"]))
        late = "LATE_" if draw(st.booleans()) else ""
        students.append((student, f"{name}_{late}{student}_{draw(st.integers(1, 99_999))}_"))
    return students


@st.composite
def blackboard_class(draw):
    """Blackboard students: (username, prefix), each with one or two attempts, the same title for all."""
    usernames = draw(st.lists(st.from_regex(r"[a-z][a-z0-9.]{0,5}", fullmatch=True), min_size=3, max_size=4,
                              unique=True))
    title = draw(st.sampled_from(["numpy_cnn", "Numpy CNN lab", "hw_2_numpy_cnn"]))
    students = []
    for username in usernames:
        for day in sorted(draw(st.lists(st.integers(1, 28), min_size=1, max_size=2, unique=True))):
            students.append((username, f"{title}_{username}_attempt_2026-11-{day:02d}-10-00-00_"))
    return students


@st.composite
def moodle_class(draw):
    """Moodle students: (participant id, prefix), as a folder or glued, full names in any Unicode form."""
    ids = draw(st.lists(st.integers(1, 99_999).map(str), min_size=3, max_size=4, unique=True))
    students = []
    for student in ids:
        name = draw(st.sampled_from(["Alice Smith", "Jos\u00e9 Diaz", unicodedata.normalize("NFD", "Jos\u00e9 Diaz"),
                                     "Group A-Bob", "Participant"]))
        folder = "/" if draw(st.booleans()) else ""
        students.append((student, f"{name}_{student}_assignsubmission_file_{folder}"))
    return students


CLASSES = {"canvas": canvas_class(), "blackboard": blackboard_class(), "moodle": moodle_class()}


@st.composite
def downloads(draw, lms):
    """``(entries, uploaders, honest)``: the bulk download's ``{path: bytes}``, who uploaded each path,
    and the students (the first of the class) who named their files plainly."""
    students = draw(CLASSES[lms])
    prefixes = [prefix for _, prefix in students] + [f"_{student}_" for student, _ in students]
    entries, uploaders, serial = {}, {}, 0
    for student, prefix in students:
        honest = student == students[0][0]
        names = [f"{name}.ipynb" for name in RELEASE] if honest else draw(st.lists(own_names(prefixes), max_size=4))
        for name in names:
            serial += 1
            path = prefix + name
            if path not in entries and not path.endswith("/"):      # a name ending in "/" is a folder
                entries[path], uploaders[path] = marker(student, serial), student
    return entries, uploaders, {students[0][0]}


def collect(lms, entries, roster=None):
    """Run the intake on a download of ``entries``; the written folders, the report and the costs."""
    with tempfile.TemporaryDirectory() as folder:
        download, submitted = Path(folder) / "download.zip", Path(folder) / "submitted"
        download.write_bytes(examples.zip_bytes(entries, when=WHEN))
        tracemalloc.start()
        started = time.perf_counter()
        try:
            results = intake(submitted, "numpy_cnn", download, lms, "UTC", RELEASE, roster=roster)
            seconds, peak = time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        written = {path.parent.parent.name: {} for path in submitted.glob("*/numpy_cnn/timestamp.txt")}
        for path in submitted.glob("*/numpy_cnn/*"):
            written[path.parent.parent.name][path.name] = path.read_bytes()
    return written, "\n".join(report_line(result) for result in results), seconds, peak


def uploader_of(data):
    """The student a written file's marker names; "" for bytes that hold none (zeros, a zip)."""
    try:
        return json.loads(data)["uploader"]
    except (ValueError, TypeError, KeyError):
        return ""


def assert_nobody_lands_in_anothers_folder(written, unmarked_from=()):
    """Every notebook written is its folder's student's; only ``unmarked_from`` uploaded unmarked bytes."""
    for student, files in written.items():
        for name, data in files.items():
            if name != "timestamp.txt":
                assert uploader_of(data) == student or not uploader_of(data) and student in unmarked_from, \
                    (student, name, data[:80])


def assert_honest_collected_and_every_file_reported(written, report, entries, honest):
    for student in honest:
        assert sorted(written[student]) == sorted(f"{name}.ipynb" for name in RELEASE) + ["timestamp.txt"], report
    for path in entries:
        assert shown(path) in report, (path, report)


def assert_within_bounds(seconds, peak):
    assert seconds < SECONDS and peak < TRACED_BYTES, (seconds, peak / 2**20)


def check_names(lms, download):
    entries, uploaders, honest = download
    written, report, seconds, peak = collect(lms, entries)
    assert_nobody_lands_in_anothers_folder(written)
    assert_honest_collected_and_every_file_reported(written, report, entries, honest)
    assert_within_bounds(seconds, peak)
    return written, uploaders


@SETTINGS
@given(downloads("canvas"))
def test_canvas_names_never_steer_a_file_into_another_students_folder(download):
    check_names("canvas", download)


@SETTINGS
@given(downloads("moodle"))
def test_moodle_names_never_steer_a_file_into_another_students_folder(download):
    check_names("moodle", download)


@SETTINGS
@given(downloads("blackboard"))
def test_blackboard_names_never_steer_a_file_or_its_attempt_time(download):
    written, uploaders = check_names("blackboard", download)
    for student, files in written.items():
        # The generated titles and usernames hold no "_attempt_": the first one is Blackboard's.
        latest = max(path.split("_attempt_")[1][:19] for path, uploader in uploaders.items() if uploader == student)
        stamp = datetime.datetime.strptime(latest, "%Y-%m-%d-%H-%M-%S").strftime("%Y-%m-%d %H:%M:%S")
        assert files["timestamp.txt"] == f"{stamp}.000000 UTC\n".encode(), (student, latest)


@st.composite
def rostered_downloads(draw):
    """``(lms, download, roster)``: a generated download, and a roster mapping some of its students'
    LMS ids (never the first, honest one left out) to nbgrader ids unlike them."""
    lms = draw(st.sampled_from(sorted(CLASSES)))
    download = draw(downloads(lms))
    ids = sorted(set(download[1].values()))
    mapped = [student for student in ids if student in download[2] or draw(st.booleans())]
    column = DOWNLOAD_ID_COLUMN[lms]
    return lms, download, Roster(tuple(RosterEntry(f"n{serial}-{student}", **{column: student})
                                       for serial, student in enumerate(mapped)))


@SETTINGS
@given(rostered_downloads())
def test_with_a_roster_every_file_lands_under_its_uploaders_nbgrader_id_or_nowhere(case):
    lms, (entries, uploaders, honest), roster = case
    nbgrader_id = {getattr(entry, DOWNLOAD_ID_COLUMN[lms]): entry.nbgrader_id for entry in roster.entries}
    written, report, seconds, peak = collect(lms, entries, roster)
    assert set(written) <= set(nbgrader_id.values())
    for student, files in written.items():
        for name, data in files.items():
            if name != "timestamp.txt":
                assert nbgrader_id.get(uploader_of(data)) == student, (student, name, report)
    for uploader in set(uploaders.values()) - set(nbgrader_id):
        assert not any(folder.endswith(f"-{uploader}") for folder in written)
    unmapped = [line for line in report.splitlines() if line.startswith("(not in the roster)")]
    assert all("nothing written" in line and f"has no {DOWNLOAD_ID_COLUMN[lms]}" in line for line in unmapped)
    assert_honest_collected_and_every_file_reported(
        {nbgrader_id.get(student, student): files for student, files in written.items()}, report, entries, set())
    assert all(nbgrader_id[student] in written for student in honest), report
    assert_within_bounds(seconds, peak)


@SETTINGS
@given(st.lists(st.sampled_from(["alice", "Alice", "ALICE", "bob", "Bob"]), min_size=2, max_size=4))
def test_usernames_that_fold_to_one_never_share_a_folder(usernames):
    entries = {f"numpy_cnn_{name}_attempt_2026-11-30-10-00-{serial:02d}_convolution.ipynb": marker(name, serial)
               for serial, name in enumerate(usernames)}
    written, _report, _seconds, _peak = collect("blackboard", entries)
    assert_nobody_lands_in_anothers_folder(written)
    folded = [name.casefold() for name in set(usernames)]
    assert sorted(written) == sorted(name for name in set(usernames) if folded.count(name.casefold()) == 1)


CONVOLUTION_COPIES = ["convolution.ipynb", "Convolution.ipynb", "CONVOLUTION.IPYNB", "convolution (1).ipynb",
                      "convolution-2.ipynb", "\uff43onvolution.ipynb", "work/convolution.ipynb",
                      unicodedata.normalize("NFD", "Convolution\u0301.ipynb")]


@SETTINGS
@given(st.dictionaries(st.sampled_from(CONVOLUTION_COPIES), st.integers(0, 3 * 86_400 // 2), min_size=1))
def test_of_several_copies_of_a_notebook_the_newest_is_taken_and_the_others_named(copies):
    """Copies whose names differ in case, Unicode form or a copy's suffix stand for one release notebook;
    the newest (by the zip's time, then path) is written, every other one is named on the report."""
    times = {name: datetime.datetime(2026, 11, 28) + datetime.timedelta(seconds=2 * half) for name, half in copies.items()}
    upload = io.BytesIO()
    with zipfile.ZipFile(upload, "w") as archive:
        for serial, (name, when) in enumerate(times.items()):
            archive.writestr(zipfile.ZipInfo(name, date_time=when.timetuple()[:6]), marker("101", serial))
    written, report, _seconds, _peak = collect("canvas", {"smithalice_101_9001_work.zip": upload.getvalue()})
    taken = [name for name in times if release_names_of(name) == "convolution"]
    newest = max(taken, key=lambda name: (times[name], f"smithalice_101_9001_work.zip/{name}"), default=None)
    if newest is None:
        assert "101" not in written
        return
    assert written["101"]["convolution.ipynb"] == marker("101", list(times).index(newest)), report
    assert all(shown(f"work.zip/{name}") in report for name in times if name != newest), report


def release_names_of(name):
    """Which release notebook a copy's name stands for, as this test's data was made: "" for the one
    with an accent, which stands for no release notebook."""
    return "" if "\u0301" in name else "convolution"


# ---------------------------------------------------------------------------
# Generated zips: one student's upload, beside two honest classmates
# ---------------------------------------------------------------------------
HOWS = ["deflated", "deflated", "encrypted", "deflate64", "bzip2", "declares_3_gib", "declares_1000_bytes"]
ZIP_ENTRY_NAMES = st.one_of(st.sampled_from([f"{name}.ipynb" for name in RELEASE_VARIANTS]),
                            st.sampled_from(["work/convolution.ipynb", "__MACOSX/._convolution.ipynb",
                                             "jonesbob_102_9002_convolution.ipynb", "../convolution.ipynb",
                                             "Bob Jones_502_assignsubmission_file_/max_pooling.ipynb",
                                             "inner.zip", "data.bin"]))


def zip_trees(uploader):
    """A student's zip as ``(how, {name: content})``: contents are marker notebooks, zeros or zips."""
    leaves = st.one_of(st.builds(marker, st.just(uploader), st.integers(0, 10**6)),
                       st.sampled_from([corpus.Zeros(2**20), corpus.Zeros(4 * 2**20)]))
    def zips(inner):
        return st.tuples(st.sampled_from(HOWS), st.dictionaries(ZIP_ENTRY_NAMES, inner, min_size=1, max_size=4))
    return zips(st.recursive(leaves, zips, max_leaves=8))


def built(tree):
    """The bytes of a generated zip tree (a tuple), a marker or zeros."""
    if isinstance(tree, tuple):
        how, children = tree
        return examples.crafted_zip(how, {name: child if isinstance(child, corpus.Zeros) else built(child)
                                          for name, child in children.items()})
    return tree


@SETTINGS
@given(zip_trees("104"))
def test_a_hostile_zip_is_its_students_alone_and_costs_bounded_time_and_memory(tree):
    entries = {f"jonesbob_102_9002_{name}.ipynb": marker("102", serial) for serial, name in enumerate(RELEASE)}
    entries.update({f"leecarol_103_9003_{name}.ipynb": marker("103", serial) for serial, name in enumerate(RELEASE)})
    entries["evilmallory_104_9104_upload.zip"] = built(tree)
    written, report, seconds, peak = collect("canvas", entries)
    assert_nobody_lands_in_anothers_folder(written, unmarked_from={"104"})
    assert_honest_collected_and_every_file_reported(written, report, entries, {"102", "103"})
    assert any(line.startswith("104") for line in report.splitlines())
    assert_within_bounds(seconds, peak)


def test_the_generated_zips_are_what_they_claim_to_be():
    """The crafted zips the properties use do carry the flags, methods and sizes they are named after."""
    for how, check in [("encrypted", lambda info: info.flag_bits & 1), ("deflate64", lambda info: info.compress_type == 9),
                       ("bzip2", lambda info: info.compress_type == 12),
                       ("declares_3_gib", lambda info: info.file_size == 3 * 2**30)]:
        with zipfile.ZipFile(io.BytesIO(examples.crafted_zip(how, {"a.ipynb": b"{}"}))) as archive:
            assert check(archive.infolist()[0]), how
