"""The course's locks: one grading service per course, one writer of the gradebook at a time.

``autograder/course_locks.py``: ``flock`` locks under ``autograded/.autograder/``, released by the
kernel with their process however it ends.  ``grade`` by hand records each outcome under the same
gradebook lock as the service (``whole_class.record_outcome``), so the two never interleave a record.
"""
import subprocess
import sys
import threading
import time

import pytest

from autograder import course_locks, whole_class
from autograder.course_locks import ServiceRunning, gradebook_lock, service_lock
from autograder.one_submission import Outcome

HOLD = """
import sys, time
sys.path.insert(0, {repo!r})
from autograder.course_locks import {lock}
with {lock}({root!r}{more}):
    print("held", flush=True)
    time.sleep(60)
"""


def holder(tmp_path, lock, more=""):
    """A process that holds ``lock`` of the course at ``tmp_path`` until killed."""
    from pathlib import Path
    repo = str(Path(__file__).resolve().parents[1])
    process = subprocess.Popen([sys.executable, "-c", HOLD.format(repo=repo, lock=lock, root=str(tmp_path), more=more)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "held\n"
    return process


def test_a_second_service_is_refused_naming_the_first_and_the_lock_dies_with_its_process(tmp_path):
    first = holder(tmp_path, "service_lock", ", 'numpy_cnn'")
    try:
        with pytest.raises(ServiceRunning, match=rf"already runs for this course \(process {first.pid}, serving "
                                                 r"numpy_cnn\); one course has one service"):
            with service_lock(tmp_path, "numpy_cnn"):
                pass
    finally:
        first.kill()
        first.wait()
    with service_lock(tmp_path, "numpy_cnn"):        # killed, not stopped: the kernel let go of its lock
        pass


def test_a_lock_file_replaced_by_a_link_is_refused_not_followed(tmp_path):
    folder = tmp_path / course_locks.LOCK_FOLDER
    folder.mkdir(parents=True)
    (folder / course_locks.GRADEBOOK_LOCK).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        with gradebook_lock(tmp_path):
            pass
    assert not (tmp_path / "elsewhere").exists()


def test_grade_by_hand_records_an_outcome_only_while_nobody_else_holds_the_gradebook(tmp_path, monkeypatch):
    steps = []
    for name in ("place_outcome", "_record", "write_summary"):
        monkeypatch.setattr(whole_class, name, lambda *args, name=name: steps.append((name, time.monotonic())))
    monkeypatch.setattr(whole_class.gradebook, "assignment_dir", lambda *args: tmp_path / "autograded" / "alice")
    other = holder(tmp_path, "gradebook_lock")
    outcome = Outcome({"student": "alice", "status": "graded", "points": {}, "flags": []})
    recording = threading.Thread(target=whole_class.record_outcome, args=(tmp_path, None, None, "numpy_cnn", outcome))
    recording.start()
    time.sleep(1.0)
    assert steps == []                                # waits for the service's record to end
    released = time.monotonic()
    other.kill()
    other.wait()
    recording.join(timeout=30)
    assert [name for name, _ in steps] == ["place_outcome", "_record", "write_summary"]
    assert all(when >= released for _, when in steps)


@pytest.fixture
def course_with_a_running_service(tmp_path):
    """A throw-away course with an exchange whose service lock another process holds."""
    import corpus
    from pathlib import Path
    course = corpus.make_course(tmp_path / "course", Path(__file__).resolve().parents[1])
    (tmp_path / "exchange" / "cnn-properties" / "inbound").mkdir(parents=True)
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(f'\nc.Exchange.root = "{tmp_path / "exchange"}"\n')
    first = holder(course, "service_lock", ", 'numpy_cnn'")
    yield course, corpus.grader_environment(course, "locks-secret")
    first.kill()
    first.wait()


def start_service(course, env):
    return subprocess.Popen([sys.executable, "-m", "autograder", "serve", "numpy_cnn", "--workers", "1"], cwd=course,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_second_service_started_by_hand_exits_at_once_with_status_2(course_with_a_running_service):
    course, env = course_with_a_running_service
    service = start_service(course, env)
    output, _ = service.communicate(timeout=120)
    assert service.returncode == 2 and "error: a grading service already runs for this course" in output, output


def test_a_hubs_service_that_cannot_start_says_why_once_and_waits_for_the_hubs_stop_instead_of_a_restart_loop(
        course_with_a_running_service):
    """JupyterHub starts a managed service again the moment it exits: exiting at once would loop forever."""
    import signal
    course, env = course_with_a_running_service
    service = start_service(course, {**env, "JUPYTERHUB_SERVICE_NAME": "grading"})
    lines = [service.stdout.readline() for _ in range(2)]
    assert lines[0].startswith("error: a grading service already runs for this course"), lines
    assert "waits for the hub to stop it" in lines[1], lines
    time.sleep(2)
    assert service.poll() is None, "the service exited: the hub would start it again at once"
    service.send_signal(signal.SIGINT)                 # how JupyterHub stops a managed service
    assert service.wait(timeout=30) == 2
    assert service.stdout.read() == "", "it said why once, not once per second"
