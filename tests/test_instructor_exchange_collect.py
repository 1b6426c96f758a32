"""``nbgrader collect`` on a hub's exchange, with real Unix users: nobody submits as another or backdates.

Two users made for the test write into a real exchange's inbound folder the way
``nbgrader submit`` does (a folder ``<user>+<assignment>+<time>+<random>`` with
``timestamp.txt``), and one of them attacks: a folder in the classmate's name with a
later time, a backdated time of its own, a link to the classmate's notebook, a link
in place of a folder, a name no user has, a name that is a path.  The instructor
(root) collects with the course's ``nbgrader_config.py``.  Needs root (``useradd``).
"""
import datetime
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from shlex import quote

import pytest

import corpus

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "numpy_cnn"
COURSE_ID = "cnn-properties"
ALICE, MALLORY = "cnnb-alice", "cnnb-mallory"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("useradd") is None,
                                reason="real Unix users need root and useradd")


@pytest.fixture(scope="module")
def users():
    made = []
    for name in (ALICE, MALLORY):
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
            made.append(name)
    yield
    for name in made:
        subprocess.run(["userdel", name], check=False)


def as_user(name, script, inbound):
    """Run the shell ``script`` as the Unix user ``name`` in ``inbound``, as a student's own process would."""
    account = pwd.getpwnam(name)
    subprocess.run(["sh", "-euc", script], cwd=inbound, user=account.pw_uid, group=account.pw_gid,
                   extra_groups=[], env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"}, check=True)


def stamp(when):
    return when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def submit_script(folder, notebooks, claimed):
    files = {**{f"{name}.ipynb": text for name, text in notebooks.items()}, "timestamp.txt": claimed}
    lines = [f"mkdir {quote(folder)}"]
    return "\n".join(lines + [f"printf '%s' {quote(text)} > {quote(folder + '/' + name)}" for name, text in files.items()])


@pytest.fixture(scope="module")
def collected(users):
    base = Path(tempfile.mkdtemp(prefix="exchange-collect-", dir="/tmp"))
    base.chmod(0o755)
    inbound = base / "exchange" / COURSE_ID / "inbound"
    inbound.mkdir(parents=True)
    for folder in (base / "exchange", base / "exchange" / COURSE_ID):
        folder.chmod(0o755)
    inbound.chmod(0o2733)                      # as nbgrader makes it: everyone writes, nobody lists
    now = datetime.datetime.now(datetime.timezone.utc)
    alice_folder = f"{ALICE}+{ASSIGNMENT}+{stamp(now)}+a1"
    as_user(ALICE, submit_script(alice_folder, {"convolution": "alice's own work"}, stamp(now)), inbound)
    later = stamp(now + datetime.timedelta(hours=1))
    attacks = "\n".join([
        # A classmate's name and a later time: with nbgrader's collect, the latest claim wins.
        submit_script(f"{ALICE}+{ASSIGNMENT}+{later}+m1", {"convolution": "mallory's work"}, later),
        # Mallory's own submission, backdated, with a link to Alice's notebook as a second notebook.
        submit_script(f"{MALLORY}+{ASSIGNMENT}+2020-01-01 00:00:00.000000 UTC+m2", {"convolution": "mallory"},
                      "2020-01-01 00:00:00.000000 UTC"),
        f"ln -s {quote(str(inbound / alice_folder / 'convolution.ipynb'))} "
        f"{quote(f'{MALLORY}+{ASSIGNMENT}+2020-01-01 00:00:00.000000 UTC+m2/max_pooling.ipynb')}",
        # A link where a folder should be, a user nobody is, a name that is a path.
        f"ln -s {quote(str(inbound / alice_folder))} "
        f"{quote(f'{ALICE}+{ASSIGNMENT}+{stamp(now + datetime.timedelta(hours=2))}+m3')}",
        submit_script(f"ghost+{ASSIGNMENT}+not a time+m4", {"convolution": "x"}, "x"),
        submit_script(f"..+{ASSIGNMENT}+{later}+m5", {"convolution": "x"}, later),
    ])
    as_user(MALLORY, attacks, inbound)
    course = corpus.make_course(base / "course", REPO)
    run = subprocess.run([sys.executable, "-m", "nbgrader", "collect", ASSIGNMENT, f"--Exchange.root={base / 'exchange'}"],
                         cwd=course, env=corpus.grader_environment(course, "collect-secret"),
                         capture_output=True, text=True, timeout=300)
    yield {"course": course, "run": run, "started": now, "output": run.stdout + run.stderr}
    shutil.rmtree(base, ignore_errors=True)


def submitted(collected, student):
    return collected["course"] / "submitted" / student / ASSIGNMENT


def test_a_folder_in_a_classmates_name_is_refused_and_the_classmates_own_work_is_collected(collected):
    assert collected["run"].returncode == 0, collected["output"][-3000:]
    assert (submitted(collected, ALICE) / "convolution.ipynb").read_text() == "alice's own work"
    assert f"its owner is {MALLORY}" in collected["output"]
    assert "stays in the exchange" in collected["output"]


def test_a_backdated_submission_is_collected_with_the_time_the_exchange_recorded(collected):
    text = (submitted(collected, MALLORY) / "timestamp.txt").read_text()
    collected_at = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f UTC").replace(tzinfo=datetime.timezone.utc)
    assert collected_at >= collected["started"] - datetime.timedelta(seconds=5)
    assert "claims an earlier time" in collected["output"]


def test_a_link_to_a_classmates_notebook_is_never_followed(collected):
    folder = submitted(collected, MALLORY)
    assert (folder / "convolution.ipynb").read_text() == "mallory"
    assert not (folder / "max_pooling.ipynb").exists()
    assert "max_pooling.ipynb (a link or not a regular file)" in collected["output"]


def test_links_unknown_users_and_path_names_are_refused_without_stopping_the_class(collected):
    output = collected["output"]
    assert "not a folder (a link or a file)" in output
    assert "its owner is" in output and "ghost" in output
    assert "not a plain folder name" in output
    names = sorted(path.name for path in (collected["course"] / "submitted").iterdir())
    assert names == [ALICE, MALLORY]


def test_a_copy_stops_at_its_entry_count_and_depth_and_never_follows_a_link(tmp_path):
    """No users needed: the copy of one submission folder, with more entries and levels than a submission has."""
    from autograder.nbgrader_io import exchange_collect
    wide, deep = tmp_path / "wide", tmp_path / "deep"
    for number in range(exchange_collect.MAX_ENTRIES + 50):
        (wide / f"{number:04d}.ipynb").parent.mkdir(exist_ok=True)
        (wide / f"{number:04d}.ipynb").write_text("x")
    (wide / "0000-link.ipynb").symlink_to(wide / "0000.ipynb")
    levels = deep.joinpath(*"abcde")
    levels.mkdir(parents=True)
    (levels / "too_deep.ipynb").write_text("x")
    (deep / "a" / "shallow.ipynb").write_text("x")
    for source in (wide, deep):
        (tmp_path / f"{source.name}-copy").mkdir()
    skipped = dict(exchange_collect.copy_regular_files(wide, tmp_path / "wide-copy", None, 1000))
    assert skipped["0000-link.ipynb"] == "a link or not a regular file"
    assert any("more than" in why for why in skipped.values())
    assert len(list((tmp_path / "wide-copy").iterdir())) < exchange_collect.MAX_ENTRIES
    exchange_collect.copy_regular_files(deep, tmp_path / "deep-copy", None, 1000)
    assert (tmp_path / "deep-copy" / "a" / "shallow.ipynb").is_file()
    assert not list((tmp_path / "deep-copy").rglob("too_deep.ipynb"))


def test_a_folder_that_cannot_be_read_is_refused_for_its_student_alone(tmp_path, monkeypatch):
    """As a collector without root meets a submission whose student made a subfolder unreadable."""
    from autograder.nbgrader_io import exchange_collect

    def unreadable(folder):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(exchange_collect, "kernel_time", unreadable)
    collect = exchange_collect.OwnerCheckedCollect()
    collect.inbound_path, collect._kernel_times = str(tmp_path), {}
    name = f"{ALICE}+{ASSIGNMENT}+2026-01-01 00:00:00.000000 UTC+r"
    (tmp_path / name).mkdir()
    record = collect._record(name)
    assert record["refused"] == "it could not be read (EACCES)" and "timestamp" not in record
