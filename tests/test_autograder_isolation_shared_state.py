"""No shared state between sandboxes: IPC, keyrings, /dev/shm, hostname, user ids, processes, scratch folders.

Each hostile cell of ``corpus.SHARED_STATE_ATTACKS`` plants something in one sandbox; a later
sandbox (with the same user id where that matters) must find nothing, and the host must hold
nothing afterwards.  The grader itself runs in a child process where a test kills it.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import corpus
from autograder.isolation import claims
from autograder.isolation.claims import BASE_UID, UID_SLOTS, claim_scratch, claim_uid, sweep_stale_scratch
from test_autograder_sandbox import LEVELS, call, needs_namespaces, run, started  # noqa: F401 (started is a fixture)

REPO = Path(__file__).resolve().parents[1]
NAMESPACE_LEVELS = LEVELS[:2]


def planted_then_harvested(started, level, attack, after_each=lambda: None):
    """What a second sandbox finds of what the first planted (each closed when done, then ``after_each()``)."""
    first = started(level)
    assert run(first, corpus.SHARED_STATE_ATTACKS[attack])["ok"]
    planted = call(first, "plant")[1]
    first.close()
    left = [after_each()]
    second = started(level)
    run(second, corpus.SHARED_STATE_ATTACKS[attack])
    harvested = call(second, "harvest")[1]
    second.close()
    return planted, harvested, left + [after_each()]


def host_ipc_objects():
    listing = subprocess.run(["ipcs", "-m", "-q", "-s"], capture_output=True, text=True, check=True).stdout
    return sorted(line for line in listing.splitlines() if line.startswith("0x"))


@pytest.mark.parametrize("level", NAMESPACE_LEVELS)
def test_sysv_shared_memory_and_queues_die_with_their_sandbox(started, level):
    before = host_ipc_objects()
    planted, harvested, _ = planted_then_harvested(started, level, "sysv_ipc")
    assert planted[0] >= 0 and planted[1] >= 0 and planted[2] == 0, "the attack should work inside its sandbox"
    assert harvested == []
    assert host_ipc_objects() == before


@pytest.mark.parametrize("level", NAMESPACE_LEVELS)
def test_keys_stored_by_one_sandbox_are_not_found_by_the_next_with_the_same_uid(started, level, monkeypatch):
    uid = BASE_UID + UID_SLOTS - 1
    monkeypatch.setattr(claims, "_candidate_uids", lambda: [uid])
    planted, harvested, key_bytes = planted_then_harvested(started, level, "keyring", lambda: stored_key_bytes(uid))
    assert all(serial > 0 for serial in planted), "the attack should store its keys"
    assert harvested == []
    # The second sandbox stored nothing: what the kernel holds for the uid after each is the
    # same (its empty keyrings at the namespaces level, nothing at the userns level).
    assert key_bytes[0] == key_bytes[1]


def stored_key_bytes(uid, settle_s=1.0):
    """Bytes of key data the kernel holds for ``uid``, once unlinked keys are collected (asynchronously)."""
    deadline, last = time.monotonic() + settle_s, None
    while time.monotonic() < deadline:
        rows = [line.split() for line in Path("/proc/key-users").read_text().splitlines()]
        last = sum(int(row[4].split("/")[0]) for row in rows if row[0] == f"{uid}:")
        time.sleep(0.1)
    return last


@pytest.mark.parametrize("level", NAMESPACE_LEVELS)
def test_there_is_no_dev_shm_to_share(started, level):
    before = sorted(os.listdir("/dev/shm"))
    planted, harvested, _ = planted_then_harvested(started, level, "dev_shm")
    assert planted.startswith("refused") and harvested.startswith("no /dev/shm")
    assert sorted(os.listdir("/dev/shm")) == before


@pytest.mark.parametrize("level", NAMESPACE_LEVELS)
def test_the_hostname_is_the_sandboxes_own(started, level):
    host = socket.gethostname()
    planted, harvested, _ = planted_then_harvested(started, level, "hostname")
    assert planted.startswith("refused") and harvested == "sandbox"
    assert socket.gethostname() == host


@needs_namespaces
def test_two_live_sandboxes_run_as_two_users(started):
    first, second = started("namespaces"), started("namespaces")
    uids = []
    for sandbox in (first, second):
        run(sandbox, "import os\ndef uid():\n    return os.getuid()\n")
        uids.append(call(sandbox, "uid")[1])
    assert uids[0] != uids[1] and all(uid >= BASE_UID for uid in uids)


@pytest.mark.parametrize("level", LEVELS)
def test_nothing_a_sandbox_writes_outlives_it(started, level):
    sandbox = started(level)
    # A sandbox started alone keeps its files under a scratch folder of the host; one forked
    # from the namespaces level's template has none (its /tmp is a filesystem of its own).
    scratch = sandbox._scratch
    # Where honest code keeps files: the working folder, tempfile's folder, HOME (the
    # process level cannot stop a write to an absolute path such as /tmp/x: it is degraded).
    folders = "('.', tempfile.gettempdir(), os.environ['HOME'])"
    run(sandbox, f"import os, tempfile\nfor folder in {folders}:\n"
                 "    with open(os.path.join(folder, 'left-behind-7781.txt'), 'w') as handle:\n"
                 "        handle.write('answers of alice')\n")
    sandbox.close()
    assert scratch is None or not Path(scratch).exists()
    assert not Path(tempfile.gettempdir(), "left-behind-7781.txt").exists()
    # The next sandbox (at the namespaces level, forked from the same template) finds none of them.
    found = run(started(level), f"import os, tempfile\nfor folder in {folders}:\n"
                        "    assert not os.path.exists(os.path.join(folder, 'left-behind-7781.txt')), folder\n")
    assert found["ok"], found


def test_concurrent_sandboxes_never_share_a_uid_and_a_released_one_is_reused(monkeypatch):
    held = [claim_uid() for _ in range(20)]
    assert len({claim.uid for claim in held}) == 20
    assert all(BASE_UID <= claim.uid < BASE_UID + UID_SLOTS for claim in held)
    taken = held[0].uid
    monkeypatch.setattr(claims, "_candidate_uids", lambda: [taken, taken + 1 if taken + 1 < BASE_UID + UID_SLOTS
                                                            else taken - 1])
    assert claim_uid().uid != taken
    held[0].release()
    assert claim_uid().uid == taken
    for claim in held:
        claim.release()


def test_a_uid_held_by_another_grading_process_is_skipped(monkeypatch):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_A_UID], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        taken = int(holder.stdout.readline())
        monkeypatch.setattr(claims, "_candidate_uids", lambda: [taken])
        with pytest.raises(claims.ClaimError, match="no free sandbox user id"):
            claim_uid()
        holder.kill()
        holder.wait()
        assert claim_uid().uid == taken  # a killed holder's claim ends with it
    finally:
        holder.kill()


HOLD_A_UID = ("import sys, time\nfrom autograder.isolation.claims import claim_uid\n"
              "claim = claim_uid()\nprint(claim.uid, flush=True)\ntime.sleep(60)\n")


def test_stale_scratch_folders_are_swept_and_live_ones_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(claims.tempfile, "gettempdir", lambda: str(tmp_path))
    live, fresh = claim_scratch(), claim_scratch()
    killed_run = claim_scratch()
    stale = Path(killed_run.path)
    (stale / "left by a killed run").write_text("x")
    killed_run.release()  # as its grader's death does
    Path(fresh.path).joinpath("x").write_text("x")
    fresh.release()  # released, but younger than STALE_AFTER_S: a sandbox may be about to lock it
    old = time.time() - 2 * claims.STALE_AFTER_S
    for path in (live.path, stale):
        os.utime(path, (old, old))
    (tmp_path / "unrelated").mkdir()
    swept = sweep_stale_scratch()
    assert swept == [str(stale)] and not stale.exists()
    assert os.path.isdir(live.path) and os.path.isdir(fresh.path) and (tmp_path / "unrelated").is_dir()
    live.release()


# ---------------------------------------------------------------------------
# The grader's own process: signals from inside, and its death
# ---------------------------------------------------------------------------

def grader_process(level, cell, then):
    """A grading process (own session, so that a regression cannot hit pytest) running ``cell`` in a sandbox."""
    script = GRADER_SCRIPT.format(repo=str(REPO), level=level, cell=cell, then=then)
    return subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


GRADER_SCRIPT = '''
import sys, time
sys.path.insert(0, {repo!r})
sys.path.insert(0, {repo!r} + "/tests")
from test_autograder_sandbox import call, run
from autograder.isolation.sandbox import Sandbox, SandboxDied
sandbox = Sandbox({level!r}, {repo!r})
sandbox.start()
print("unshare", sandbox.process.pid, flush=True)
print(run(sandbox, {cell!r}), flush=True)
{then}
'''


@pytest.mark.parametrize("level", LEVELS)
def test_a_kill_of_the_process_group_inside_never_reaches_the_grader(level):
    then = ("try:\n    call(sandbox, 'strike')\nexcept SandboxDied:\n    pass\n"
            "print('grader survived', flush=True)\nsandbox.close()\n")
    grader = grader_process(level, corpus.KILL_PROCESS_GROUP, then)
    out, err = grader.communicate(timeout=60)
    assert grader.returncode == 0 and "grader survived" in out, (grader.returncode, out, err)


SLEEPER = "sleep 7781"


@pytest.mark.parametrize("level", NAMESPACE_LEVELS)
def test_a_sandbox_dies_with_its_grader_killed_by_sigkill(level):
    # The worker is busy in a call when its grader dies, so it never sees its input close.
    cell = (f"import subprocess\nsubprocess.Popen({SLEEPER.split()!r}, start_new_session=True)\n"
            "def spin():\n    while True:\n        pass\n")
    grader = grader_process(level, cell, "print('ready', flush=True)\ncall(sandbox, 'spin', timeout=600)")
    try:
        unshare = int(grader.stdout.readline().split()[1])
        assert "'ok': True" in grader.stdout.readline()
        assert grader.stdout.readline().strip() == "ready"
        assert wait_for(lambda: sleepers() != [])
        os.kill(grader.pid, signal.SIGKILL)
        grader.wait()
        assert wait_for(lambda: sleepers() == [] and not Path(f"/proc/{unshare}").exists())
    finally:
        grader.kill()
        for pid in sleepers():
            os.kill(pid, signal.SIGKILL)


@needs_namespaces
def test_keys_stored_in_a_sandbox_are_gone_after_its_grader_is_killed_by_sigkill(started, monkeypatch):
    # The sandbox's first process empties its user id's keyrings when the grader's end of the
    # control pipe closes, and a killed grader's end closes too.
    cell = corpus.SHARED_STATE_ATTACKS["keyring"] + "\ndef spin():\n    while True:\n        pass\n"
    then = ("print('uid', sandbox._uid, flush=True)\nprint(call(sandbox, 'plant')[1], flush=True)\n"
            "call(sandbox, 'spin', timeout=600)")
    grader = grader_process("namespaces", cell, then)
    try:
        unshare = int(grader.stdout.readline().split()[1])
        assert "'ok': True" in grader.stdout.readline()
        uid = int(grader.stdout.readline().split()[1])
        planted = eval(grader.stdout.readline())
        assert all(serial > 0 for serial in planted), "the attack should store its keys"
        os.kill(grader.pid, signal.SIGKILL)
        grader.wait()
        assert wait_for(lambda: not Path(f"/proc/{unshare}").exists())
        left = stored_key_bytes(uid)
    finally:
        grader.kill()
    # What the kernel keeps for a user id after a sandbox that stored nothing, closed as usual.
    monkeypatch.setattr(claims, "_candidate_uids", lambda: [uid])
    started("namespaces").close()
    assert left == stored_key_bytes(uid)


def sleepers():
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes() == SLEEPER.replace(" ", "\0").encode() + b"\0":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
