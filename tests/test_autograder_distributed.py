"""Grading on a real Dask cluster on this machine, against a local run of the same class.

A plain ``dask scheduler`` (started in an empty folder: no course code on its
path), two ``python -m autograder worker`` processes started from a second copy
of the course (so the client's folder is not shared), and a third worker whose
copy has one check file changed.  During the cluster run a busy worker process
is killed with SIGKILL.  The grades, the gradebook and the autograded
notebooks must equal a local run's; the changed worker must get no task; no
process started for the run may outlive it.  Then ``--cluster local:2``, and a
TLS client whose certificate comes from another authority.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

import corpus
from autograder.isolation.sandbox import available_isolation
from test_autograder_grading import gradebook_dump, read_grades_csv, tree_digest

REPO = Path(__file__).resolve().parents[1]
LEVEL, WHY = available_isolation()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(LEVEL == "process", reason=f"cluster workers need namespaces or userns: {WHY}"),
              pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificates")]
ASSIGNMENT = "numpy_cnn"
SECRET = "distributed-test-secret-77a0"
DASK = Path(sys.executable).parent / "dask"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def grade(course, *extra):
    command = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--call-timeout", "2", *extra]
    return subprocess.run(command, cwd=course, env=corpus.grader_environment(course, SECRET),
                          capture_output=True, text=True, timeout=600)


def build_class(course):
    solutions = corpus.solution_answers(course / "solutions" / ASSIGNMENT)
    part, source = corpus.BUGS["square_kernel"]
    corpus.write_submission(course, "alice", ASSIGNMENT, solutions)
    corpus.write_submission(course, "bob", ASSIGNMENT, {})
    corpus.write_submission(course, "bug", ASSIGNMENT, {**corpus.REFERENCE, part: source})


def scheduler_process(folder, port, *tls):
    """A plain `dask scheduler` in an empty folder, with no course code importable."""
    folder.mkdir(exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    command = [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", *tls]
    return subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def worker_process(course, address, nworkers, log):
    command = [sys.executable, "-m", "autograder", "worker", address, "--nworkers", str(nworkers)]
    return subprocess.Popen(command, cwd=course, env=corpus.grader_environment(course, "not-the-secret"),
                            stdout=log, stderr=subprocess.STDOUT)


def wait_for_workers(address, count, deadline_s=300):
    # Each worker process imports nbformat, pytest and PyTorch before it joins: tens of seconds under load.
    from distributed import Client
    with Client(address, timeout=30) as client:
        client.wait_for_workers(count, timeout=deadline_s)
        return {info["name"]: info["resources"] for info in client.scheduler_info(n_workers=-1)["workers"].values()}


def descendants(processes):
    found = set()
    for process in processes:
        try:
            found |= {child.pid for child in psutil.Process(process.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            pass
    return found


def kill_a_busy_worker(workers, seen, deadline_s=480):
    """SIGKILL one grading worker process while it has a sandbox running; its pid, or None."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        seen |= descendants(workers)
        for command in workers:
            for worker in psutil.Process(command.pid).children():
                if worker.children():          # a sandbox: it is grading
                    time.sleep(1.0)
                    worker.kill()
                    return worker.pid
        time.sleep(0.2)
    return None


def stop(processes):
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def is_running(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def still_alive(pids, deadline_s=10):
    """The ``pids`` still running after at most ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end and any(map(is_running, pids)):
        time.sleep(0.2)
    return [pid for pid in pids if is_running(pid)]


def autograded_cells(course):
    """Per student and notebook: each cell's source and outputs, as formgrader shows them."""
    shown = {}
    for path in sorted((course / "autograded").glob(f"*/{ASSIGNMENT}/*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        shown[(path.parts[-3], path.stem)] = [(c.source, c.get("outputs", [])) for c in notebook.cells]
    return shown


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("distributed")
    local, remote = (corpus.make_course(base / name, REPO) for name in ("local", "client"))
    for course in (local, remote):
        build_class(course)
    grading_copy = corpus.make_course(base / "grading_machine", REPO)
    changed_copy = corpus.make_course(base / "changed_machine", REPO)
    check = changed_copy / "autograder" / "checks" / "test_conv_forward_naive.py"
    check.write_text(check.read_text() + "\n# a lenient edit nobody reviewed\n")

    started = time.monotonic()
    local_run = grade(local, "--workers", "2")
    local_seconds = time.monotonic() - started
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = scheduler_process(base / "scheduler", port)
    logs = [open(base / f"worker{n}.log", "w") for n in range(2)]
    workers = [worker_process(grading_copy, address, 2, logs[0]), worker_process(changed_copy, address, 1, logs[1])]
    seen = set()
    try:
        registered = wait_for_workers(address, 3)
        client = subprocess.Popen([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--call-timeout", "2",
                                   "--scheduler", address], cwd=remote,
                                  env=corpus.grader_environment(remote, SECRET), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        killed = kill_a_busy_worker(workers[:1], seen)
        out, err = client.communicate(timeout=600)
        seen |= descendants(workers)
    finally:
        stop(workers + [scheduler])
        for log in logs:
            log.close()
    remote_run = subprocess.CompletedProcess(client.args, client.returncode, out, err)
    return {"local": local, "remote": remote, "local_run": local_run, "remote_run": remote_run,
            "killed": killed, "seen": seen, "registered": registered, "base": base,
            "scheduler_err": scheduler.stderr.read(), "local_seconds": local_seconds,
            "changed_pid": workers[1].pid}


def test_the_cluster_grades_everyone_like_the_local_pool(runs):
    assert runs["local_run"].returncode == 0, runs["local_run"].stdout + runs["local_run"].stderr
    run = runs["remote_run"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert "done: 3 graded, 0 error(s)" in run.stdout
    assert read_grades_csv(runs["remote"]) == read_grades_csv(runs["local"])
    assert gradebook_dump(runs["remote"]) == gradebook_dump(runs["local"])
    assert autograded_cells(runs["remote"]) == autograded_cells(runs["local"])
    assert float(read_grades_csv(runs["remote"])["alice"]["total"]) == 80


def test_a_worker_killed_mid_run_loses_nothing(runs):
    assert runs["killed"] is not None, "no worker was seen grading"
    retries = re.search(r"retries after a worker died: (\d+)", runs["remote_run"].stdout)
    assert retries and int(retries.group(1)) >= 1, runs["remote_run"].stdout


def test_a_worker_with_a_changed_check_file_gets_no_task(runs):
    digests = {name: {r.split("-")[1] for r in resources} for name, resources in runs["registered"].items()}
    changed = [name for name in digests if name.startswith(f"{socket.gethostname()}-{runs['changed_pid']}-")]
    assert len(changed) == 1 and digests[changed[0]] != digests[next(n for n in digests if n not in changed)]
    per_worker = re.search(r"tasks per worker: (.*);", runs["remote_run"].stdout).group(1)
    counts = dict(item.split(": ") for item in per_worker.split(", "))
    # The three students, and the pre-flight's grading of the instructor solutions.
    assert sum(map(int, counts.values())) == 4 and changed[0] not in counts, per_worker


def test_no_process_of_the_run_outlives_it(runs):
    assert runs["seen"], "no process of the workers was seen"
    assert still_alive(runs["seen"]) == []


def test_the_scheduler_ran_with_no_course_code(runs):
    assert "ModuleNotFoundError" not in runs["scheduler_err"]
    assert not (runs["base"] / "scheduler" / "autograder").exists()


def test_a_local_dask_cluster_gives_the_same_grades(runs, tmp_path):
    course = corpus.make_course(tmp_path / "one_big_machine", REPO)
    build_class(course)
    run = grade(course, "--cluster", "local:2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "on the Dask cluster at tcp://127.0.0.1:" in run.stdout
    assert read_grades_csv(course) == read_grades_csv(runs["local"])
    assert gradebook_dump(course) == gradebook_dump(runs["local"])
    assert autograded_cells(course) == autograded_cells(runs["local"])


# ---------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_authority(folder, name):
    """A throw-away certificate authority and one certificate it signed, as a --tls folder."""
    folder.mkdir()
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", f"/CN={name}",
            cwd=folder)
    openssl("req", *curve, "-keyout", "key.pem", "-out", "cert.csr", "-subj", f"/CN={name}-grader", cwd=folder)
    openssl("x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "cert.pem", "-days", "1", cwd=folder)
    return folder


def test_a_tls_client_with_a_certificate_from_another_authority_is_refused(tmp_path):
    from autograder.cluster import TlsFiles
    from distributed import Client
    ours, theirs = make_authority(tmp_path / "ours", "course"), make_authority(tmp_path / "theirs", "intruder")
    port = free_port()
    address = f"tls://127.0.0.1:{port}"
    scheduler = scheduler_process(tmp_path / "scheduler", port, "--protocol", "tls", "--tls-ca-file",
                                  str(ours / "ca.pem"), "--tls-cert", str(ours / "cert.pem"),
                                  "--tls-key", str(ours / "key.pem"))
    course = corpus.make_course(tmp_path / "course", REPO)
    corpus.write_submission(course, "alice", ASSIGNMENT, {})
    try:
        # The course's own certificate gets in (so the refusal below is about the authority)...
        with Client(address, security=TlsFiles.from_folder(ours).security(), timeout=30) as client:
            assert client.scheduler_info()["address"].startswith("tls://")
        # ...one signed by another authority does not, and nothing is graded or recorded.
        run = grade(course, "--scheduler", address, "--tls", str(theirs))
    finally:
        stop([scheduler])
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"cannot reach the Dask scheduler {address}" in run.stderr
    assert not (course / "autograded" / "alice").exists() and not (course / "grades.csv").exists()


def test_a_plain_tcp_scheduler_on_another_machine_is_refused_before_connecting(tmp_path):
    course = corpus.make_course(tmp_path / "course", REPO)
    corpus.write_submission(course, "alice", ASSIGNMENT, {})
    run = grade(course, "--scheduler", "tcp://192.0.2.10:8786")
    assert run.returncode == 2 and "only over TLS" in run.stderr
    worker = subprocess.run([sys.executable, "-m", "autograder", "worker", "tcp://192.0.2.10:8786"], cwd=course,
                            env=corpus.grader_environment(course, SECRET), capture_output=True, text=True,
                            timeout=60)
    assert worker.returncode == 2 and "only over TLS" in worker.stderr
