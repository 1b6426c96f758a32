"""The isolated worker: what it can reach, limits, crashes, timeouts, leftovers, restarts."""
import os
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

from autograder.in_sandbox import wire  # noqa: E402
from autograder.isolation import sandbox as sandbox_module  # noqa: E402
from autograder.isolation.probe import probe_answers  # noqa: E402
from autograder.isolation.claims import BASE_UID  # noqa: E402
from autograder.isolation.sandbox import (Sandbox, SandboxDied, SandboxError, SandboxTimeout,  # noqa: E402
                                          available_isolation)
from autograder.isolation.student import (Program, SandboxStudent, StudentCrash, StudentError,  # noqa: E402
                                StudentTimeout, TimeLimits)

NAMESPACES, WHY_NOT = available_isolation()
needs_namespaces = pytest.mark.skipif(NAMESPACES != "namespaces",
                                      reason=f"namespaces isolation unavailable here: {WHY_NOT}")
# The userns level is what instructors without root get; root is refused it (and gets namespaces).
needs_userns = pytest.mark.skipif(NAMESPACES != "userns", reason=f"the userns level needs a grader without root "
                                  f"and user namespaces (here: {NAMESPACES}{', ' + WHY_NOT if WHY_NOT else ''})")
LEVELS = [pytest.param("namespaces", marks=needs_namespaces), pytest.param("userns", marks=needs_userns),
          "process"]


def sandbox_processes(sleeper="sleep 777"):
    """Processes running under a sandbox uid, or the sleeper (a command line) the tests start."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        if uid >= BASE_UID or sleeper in cmdline or "/grader/worker.py" in cmdline:
            found.append((entry.name, uid, cmdline))
    return found


def wait_until_gone(deadline_s=5.0, sleeper="sleep 777"):
    end = time.monotonic() + deadline_s
    while sandbox_processes(sleeper) and time.monotonic() < end:
        time.sleep(0.1)
    return sandbox_processes(sleeper)


def run(sandbox, source, timeout=10.0):
    header, _ = sandbox.request({"op": "exec", "source": source, "filename": "<answer cell t>"}, timeout=timeout)
    return header


def call(sandbox, name, *args, timeout=10.0):
    arrays = []
    node = wire.encode(list(args), arrays, None)
    header, arrays = sandbox.request({"op": "call", "target": {"name": name}, "args": node,
                                      "kwargs": {"d": []}}, arrays, timeout=timeout)
    return header, (wire.decode(header["value"], arrays, wire.RemoteRef) if header.get("ok") else None)


@pytest.fixture
def started():
    sandboxes = []

    def start(level):
        sandbox = Sandbox(level, str(REPO))
        sandbox.start()
        sandboxes.append(sandbox)
        return sandbox

    yield start
    for sandbox in sandboxes:
        sandbox.close()


@pytest.mark.parametrize("level", LEVELS[:2])
def test_namespace_sandboxes_see_no_network_no_course_and_cannot_write(level):
    answers = probe_answers(level, REPO)
    assert answers["network"].startswith("unreachable")
    # The course root is visible only as the parent of the virtual environment, if it holds it.
    assert answers["course directory"] == "visible: .venv" or answers["course directory"].startswith("hidden")
    assert all(answers[name] == "hidden" for name in ("autograder", "solutions", "submitted", "gradebook.db"))
    assert answers["cnnbook"] == "imports the grader's own (/grader/cnnbook)"
    assert answers["write to cnnbook/"].startswith("refused")
    assert answers["hostname"] == "sandbox" and answers["/dev/shm"] == "absent"
    assert int(answers["processes visible"]) <= 3
    if level == "namespaces":
        assert int(answers["user id"]) >= BASE_UID


@pytest.mark.parametrize("level", LEVELS[:2])
def test_paths_exposed_from_under_tmp_stay_visible_beside_the_scratch_tmp(started, level, tmp_path,
                                                                          monkeypatch):
    """A course cloned under /tmp (as a CI runner may do) exposes its venv and cnnbook from there."""
    shared = tmp_path / "clone" / "cnnbook"
    shared.mkdir(parents=True)
    (shared / "marker.txt").write_text("seen")
    shared.chmod(0o755)
    (shared / "marker.txt").chmod(0o644)
    exposed = sandbox_module.exposed_paths
    monkeypatch.setattr(sandbox_module, "exposed_paths", lambda root: exposed(root) + [str(shared)])
    sandbox = started(level)
    run(sandbox, "def peek(path):\n"
                 "    open('/tmp/scratch.txt', 'w').write('ok')\n"
                 "    return open(path).read() + open('/tmp/scratch.txt').read()\n")
    assert call(sandbox, "peek", str(shared / "marker.txt"))[1] == "seenok"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root is refused the userns level")
def test_root_is_refused_the_userns_level_whose_worker_would_own_roots_files():
    """Root of a user namespace made by root reads /etc/shadow, capabilities or not."""
    sandbox = Sandbox("userns", str(REPO))
    with pytest.raises(SandboxError, match="the userns level is for graders without root"):
        sandbox.start()
    assert sandbox.process is None


@needs_userns
def test_userns_worker_has_no_capabilities_and_cannot_remount(started):
    sandbox = started("userns")
    run(sandbox, "import ctypes\n"
                 "def caps():\n"
                 "    status = dict(line.split(':\\t') for line in open('/proc/self/status').read().splitlines()\n"
                 "                  if line.startswith('Cap'))\n"
                 "    libc = ctypes.CDLL(None, use_errno=True)\n"
                 "    remount = libc.mount(None, b'/usr', None, 32, None)  # MS_REMOUNT, read-write\n"
                 "    return status['CapEff'].strip(), status['CapBnd'].strip(), remount, ctypes.get_errno()\n")
    effective, bounding, remount, errno = call(sandbox, "caps")[1]
    assert int(effective, 16) == 0 and int(bounding, 16) == 0
    assert remount == -1 and errno == 1  # EPERM


@pytest.mark.parametrize("level", LEVELS)
def test_arrays_in_arrays_out(started, level):
    sandbox = started(level)
    assert run(sandbox, "import numpy as np\ndef f(x, p):\n    p['k'] = 2\n    return x * 2, p\n")["ok"]
    header, value = call(sandbox, "f", np.arange(3.0), {"k": 1})
    assert np.array_equal(value[0], [0.0, 2.0, 4.0]) and value[1] == {"k": 2}


@pytest.mark.parametrize("level", LEVELS)
def test_student_errors_name_the_students_line_only(started, level):
    sandbox = started(level)
    header = run(sandbox, "x = 1\ny = x / 0\n")
    # The worker names the place; the grader shows the line from its own copy of the source.
    assert header["error"] == {"type": "ZeroDivisionError", "message": "division by zero",
                               "file": "answer cell t", "line": 2}
    header = run(sandbox, "def f(:\n")
    assert header["error"]["type"] == "SyntaxError" and header["error"]["file"] == "answer cell t"
    assert header["error"]["line"] == 1


@pytest.mark.parametrize("level", LEVELS)
def test_endless_loop_is_stopped_and_the_sandbox_killed(started, level):
    sandbox = started(level)
    run(sandbox, "def spin():\n    while True:\n        pass\n")
    started_at = time.monotonic()
    with pytest.raises(SandboxTimeout):
        call(sandbox, "spin", timeout=1.0)
    assert time.monotonic() - started_at < 5 and not sandbox.alive


@pytest.mark.parametrize("level", LEVELS)
def test_exit_and_forged_replies_end_the_worker(started, level):
    sandbox = started(level)
    run(sandbox, "import os\ndef leave():\n    os._exit(3)\n")
    with pytest.raises(SandboxDied):
        call(sandbox, "leave")
    sandbox = started(level)
    # Write a frame header announcing a terabyte on every descriptor, the reply stream included.
    run(sandbox, "import os\ndef forge():\n    for fd in range(3, 10):\n        try:\n"
                 "            os.write(fd, (1 << 40).to_bytes(8, 'big'))\n        except OSError:\n"
                 "            pass\n    return 1\n")
    with pytest.raises(SandboxDied):
        call(sandbox, "forge")
    assert not sandbox.alive


@pytest.mark.parametrize("level", LEVELS)
def test_memory_limit_turns_huge_allocations_into_memory_errors(started, level):
    sandbox = started(level)
    header = run(sandbox, "import numpy as np\ndef size(v):\n    return len(v)\nhoard = np.ones((6 << 30) // 8)\n")
    assert header["error"]["type"] == "MemoryError"
    assert call(sandbox, "size", [1, 2])[1] == 2  # and the worker is still fine


@pytest.mark.parametrize("level", LEVELS[:2])
def test_empty_files_in_the_scratch_tmp_stop_at_the_inode_limit(started, level):
    """Empty files cost no bytes but kernel memory: a submission gets at most tmp_inodes of them."""
    sandbox = started(level)
    header = run(sandbox, "import os\n"
                          "made = 0\n"
                          "def count():\n"
                          "    return made\n"
                          "try:\n"
                          "    for made in range(100_000):\n"
                          "        open(f'/tmp/{made}', 'w').close()\n"
                          "except OSError as error:\n"
                          "    assert error.errno == 28, error\n")
    assert header.get("ok"), header
    assert 0 < call(sandbox, "count")[1] <= sandbox_module.Limits().tmp_inodes


@pytest.mark.parametrize("level", LEVELS[:2])
def test_nothing_the_submission_starts_outlives_its_sandbox(started, level):
    sandbox = started(level)
    header = run(sandbox, "import os, subprocess, time\n"
                          "subprocess.Popen(['sleep', '777'], start_new_session=True)\n"
                          "children = 0\n"
                          "for _ in range(64):\n"
                          "    try:\n"
                          "        if os.fork() == 0:\n"
                          "            os.setsid()\n"
                          "            time.sleep(600)\n"
                          "            os._exit(0)\n"
                          "        children += 1\n"
                          "    except OSError:\n"
                          "        break\n")
    assert header["ok"]
    assert sandbox_processes(), "the sleeper and the forks should be running inside the sandbox"
    sandbox.close()
    assert wait_until_gone() == []


def test_degraded_level_kills_its_process_group(started):
    sandbox = started("process")
    run(sandbox, "import subprocess\nsubprocess.Popen(['sleep', '777'])\n")
    deadline = time.monotonic() + 5  # between fork and exec the child is not "sleep" yet
    while not any("sleep 777" in cmd for _, _, cmd in sandbox_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any("sleep 777" in cmd for _, _, cmd in sandbox_processes())
    sandbox.close()
    assert wait_until_gone() == []


# ---------------------------------------------------------------------------
# SandboxStudent: restarts after crashes, budgets, fatal loads
# ---------------------------------------------------------------------------

def student(cells, level=None, **limits):
    level = level or ("namespaces" if NAMESPACES == "namespaces" else "process")
    return SandboxStudent(Program(["import numpy as np"], cells), level, str(REPO), TimeLimits(**limits))


def test_a_crash_costs_one_call_and_the_next_call_gets_a_fresh_worker():
    source = ("import os\nCALLS = []\n"
              "def flaky(x):\n    CALLS.append(1)\n    if x < 0:\n        os._exit(1)\n    return len(CALLS)\n")
    s = student([("flaky", source)])
    try:
        assert s.call("flaky", 1) == 1
        with pytest.raises(StudentCrash, match="exited during the call"):
            s.call("flaky", -1)
        assert s.call("flaky", 1) == 1  # a new worker: its own CALLS list
    finally:
        s.close()


def test_restarts_are_limited_per_part():
    s = student([("boom", "import os\ndef boom():\n    os._exit(1)\n")], restarts=2)
    try:
        for _ in range(3):
            with pytest.raises(StudentCrash, match="exited during the call"):
                s.call("boom")
        with pytest.raises(StudentCrash, match="too many times"):
            s.call("boom")
    finally:
        s.close()


def test_a_cell_that_kills_the_worker_at_load_fails_every_call_at_once():
    s = student([("bad", "import os\nos._exit(0)\n")])
    try:
        with pytest.raises(StudentCrash, match="while loading"):
            s.call("anything")
        started_at = time.monotonic()
        with pytest.raises(StudentCrash, match="while loading"):
            s.call("anything")
        assert time.monotonic() - started_at < 0.5
    finally:
        s.close()


def test_load_errors_become_notes_and_calls_report_the_students_exception():
    s = student([("part", "def f():\n    raise KeyError('k')\nundefined_name\n")])
    try:
        with pytest.raises(StudentError, match="""raised KeyError: "'k'" """.strip()):
            s.call("f")
        assert s.notes == ["""running your answer cell part raised NameError: "name 'undefined_name' is not """
                           """defined" (in answer cell part, line 3); anything it defined """
                           "before that line is graded"]
    finally:
        s.close()


def test_timeouts_and_the_part_budget():
    s = student([("spin", "def spin():\n    while True:\n        pass\n")], call_s=0.5, part_s=4.0, restarts=100)
    started_at = time.monotonic()
    try:
        with pytest.raises(StudentTimeout, match="did not return within 0.5 s"):
            s.call("spin")
        messages = []
        while time.monotonic() - started_at < 30 and not any("time budget" in m for m in messages):
            with pytest.raises(StudentTimeout) as stopped:
                s.call("spin")
            messages.append(str(stopped.value))
        assert "time budget" in messages[-1]
        assert time.monotonic() - started_at < 4.0 + 2.0  # the budget bounds the part's time
    finally:
        s.close()


def test_references_do_not_survive_a_restart():
    source = "import os\ndef make():\n    return object()\ndef crash():\n    os._exit(1)\n"
    s = student([("refs", source)])
    try:
        ref = s.call("make")
        assert isinstance(ref, wire.RemoteRef)
        with pytest.raises(StudentCrash):
            s.call("crash")
        with pytest.raises(StudentCrash, match="lost when the worker was restarted"):
            s.call_method(ref, "__repr__")
    finally:
        s.close()
    assert os.path.isdir(REPO / "autograder")
