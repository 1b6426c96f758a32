"""The pieces of distributed grading that need no cluster: placement, the wire, digests, resources, addresses."""
import collections
import pickle
import pickletools
import shutil
import time
from pathlib import Path

import pytest

from autograder import cluster, grading_worker, whole_class
from autograder.isolation.student import TimeLimits
from autograder.one_submission import (MAX_WIRE_TEXT, Job, Outcome, WireError, error_summary, job_from_wire, job_to_wire,
                                       outcome_from_wire, outcome_to_wire, place_outcome, reports_dir)
from autograder.nbgrader_io.submission import SubmittedFolder

REPO = Path(__file__).resolve().parents[1]
PLAIN_TYPES = (dict, list, tuple, str, bytes, int, float, bool, type(None))


def outcome(student="alice", notebook_text="{}", feedback="well done"):
    summary = {"student": student, "status": "graded", "points": {"p": 1.0}, "flags": [], "error": ""}
    return Outcome(summary, {"convolution": notebook_text}, feedback, "2026-03-01 12:00:00", ["log line"])


def test_placing_an_outcome_replaces_the_old_folder_whole_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "autograded" / "alice" / "numpy_cnn"
    target.mkdir(parents=True)
    (target / "stale.ipynb").write_text("from an older run")
    place_outcome(tmp_path, target, "numpy_cnn", outcome())
    assert sorted(p.name for p in target.iterdir()) == ["autograder_feedback.txt", "convolution.ipynb",
                                                        "timestamp.txt"]
    assert [p.name for p in target.parent.iterdir()] == ["numpy_cnn"]   # no .incoming folder left
    assert (reports_dir(tmp_path, "numpy_cnn") / "alice.log").read_text() == "log line\n"


def test_an_outcome_without_files_leaves_no_autograded_folder(tmp_path):
    target = tmp_path / "autograded" / "alice" / "numpy_cnn"
    target.mkdir(parents=True)
    (target / "convolution.ipynb").write_text("from an older run")
    place_outcome(tmp_path, target, "numpy_cnn", Outcome(error_summary("alice", "the worker died")))
    assert not target.exists()


def test_a_reader_never_sees_a_half_placed_folder(tmp_path, monkeypatch):
    # Writing the new files fails halfway: the old folder must stay as it was.
    target = tmp_path / "autograded" / "alice" / "numpy_cnn"
    target.mkdir(parents=True)
    (target / "convolution.ipynb").write_text("old")
    real_write = Path.write_text

    def failing_write(self, text, *args, **kwargs):
        if self.name == "autograder_feedback.txt":
            raise OSError("disk full")
        return real_write(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write)
    with pytest.raises(OSError):
        place_outcome(tmp_path, target, "numpy_cnn", outcome(notebook_text="new"))
    assert [p.name for p in target.iterdir()] == ["convolution.ipynb"]
    assert (target / "convolution.ipynb").read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["numpy_cnn"]


def pickled_globals(value):
    """The ``module name`` pairs a pickle of ``value`` would import when loaded."""
    found, strings = set(), []
    for opcode, argument, _ in pickletools.genops(pickle.dumps(value)):
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(argument)
        elif opcode.name == "STACK_GLOBAL":
            found.add(tuple(strings[-2:]))
        elif opcode.name == "GLOBAL":
            found.add(tuple(argument.split(" ")))
    return found


def a_job():
    submitted = SubmittedFolder("alice", {"convolution": b"{}"}, "2026-03-01 12:00:00", {"max_pooling.ipynb": "a link"})
    return Job("numpy_cnn", "alice", {"convolution": b"{}"}, submitted, "namespaces", "key", TimeLimits(call_s=2))


def test_jobs_and_outcomes_cross_the_wire_as_plain_data_and_come_back_equal():
    job, result = a_job(), outcome()
    assert pickled_globals(job_to_wire(job)) == set() and pickled_globals(outcome_to_wire(result)) == set()
    assert job_from_wire(pickle.loads(pickle.dumps(job_to_wire(job)))) == job
    assert outcome_from_wire(pickle.loads(pickle.dumps(outcome_to_wire(result))), job) == result


HOSTILE_REPLIES = {
    "another student": lambda data: data["summary"].update(student="bob"),
    "a notebook outside the release": lambda data: data["notebooks"].update({"../../bob/numpy_cnn/convolution": "{}"}),
    "a notebook that is not text": lambda data: data["notebooks"].update(convolution=b"{}"),
    "a huge feedback": lambda data: data.update(feedback="x" * (MAX_WIRE_TEXT + 1)),
    "another timestamp": lambda data: data.update(timestamp="2020-01-01 00:00:00"),
    "points that are not numbers": lambda data: data["summary"].update(points={"p": float("nan")}),
    "an unknown status": lambda data: data["summary"].update(status="graded by hand"),
    "a field too many": lambda data: data.update(extra=1),
    "a log of objects": lambda data: data.update(log=[{"x": 1}]),
}


@pytest.mark.parametrize("change", HOSTILE_REPLIES.values(), ids=HOSTILE_REPLIES.keys())
def test_a_reply_that_does_not_fit_its_job_is_refused_before_anything_is_written(change):
    data = outcome_to_wire(outcome())
    change(data)
    with pytest.raises(WireError):
        outcome_from_wire(data, a_job())


def test_a_result_lost_with_its_worker_is_waited_for_not_recorded_as_an_error():
    """Done, then its worker was killed by another task: Dask computes it again (status back to pending)."""
    class Lost:
        status = "pending"
        def cancel(self):
            self.status = "cancelled"
    runner = cluster.DaskRunner.__new__(cluster.DaskRunner)
    assert runner._outcome(Lost(), a_job(), time.monotonic(), 10) is None
    late = runner._outcome(Lost(), a_job(), time.monotonic() - 11, 10)
    assert late.summary["status"] == "error" and "no result from the cluster within 10 s" in late.summary["error"]


def test_the_cluster_records_a_refused_reply_as_an_error_of_the_jobs_own_student():
    class Finished:
        status = "finished"
        def result(self):
            return {**outcome_to_wire(outcome("bob")), "worker": "tcp://127.0.0.1:1"}
    runner = cluster.DaskRunner.__new__(cluster.DaskRunner)
    runner.per_worker, runner.overheads = collections.Counter(), []
    got = runner._outcome(Finished(), a_job(), time.monotonic(), 10)
    assert got.student == "alice" and got.summary["status"] == "error" and not got.notebooks
    assert "refused (the reply names another student" in got.summary["error"]


def test_a_task_needs_only_the_standard_library_on_the_scheduler():
    task = cluster._task(job_to_wire(a_job()), "d" * 64)
    modules = {module for module, _ in pickled_globals(task)}
    assert modules <= {"_operator", "operator", "builtins", "importlib"}, modules
    assert "autograder" not in str(pickled_globals(task))


def copy_of_grader(tmp_path):
    target = tmp_path / "autograder"
    shutil.copytree(REPO / "autograder", target, ignore=shutil.ignore_patterns("__pycache__", ".secret"))
    return target


def test_the_digest_changes_with_any_check_file_and_ignores_caches_and_the_secret(tmp_path):
    grader = copy_of_grader(tmp_path)
    before = grading_worker.grader_digest(grader)
    (grader / "__pycache__").mkdir(exist_ok=True)
    (grader / "__pycache__" / "x.pyc").write_bytes(b"cache")
    (grader / ".secret").write_text("term secret")
    assert grading_worker.grader_digest(grader) == before
    check = grader / "checks" / "test_conv_forward_naive.py"
    check.write_text(check.read_text() + "\n# lenient\n")
    assert grading_worker.grader_digest(grader) != before


def test_a_worker_serves_its_level_and_weaker_ones_but_never_process():
    digest = "a" * 64
    assert set(grading_worker.grader_resources(digest, "namespaces")) == {
        grading_worker.resource_name(digest, "namespaces"), grading_worker.resource_name(digest, "userns")}
    assert set(grading_worker.grader_resources(digest, "userns")) == {grading_worker.resource_name(digest, "userns")}
    assert grading_worker.grader_resources(digest, "process") == {}
    assert grading_worker.parse_resource(grading_worker.resource_name(digest, "userns")) == (digest[:24], "userns")


def test_a_task_with_another_digest_is_refused_on_the_worker_before_any_grading():
    wire = grading_worker.grade_task(job_to_wire(a_job()), "0" * 64)
    assert wire["summary"]["status"] == "error" and "differs from the client's" in wire["summary"]["error"]
    assert wire["notebooks"] == {} and "seconds" not in wire["summary"]


@pytest.mark.parametrize("spec, message", [
    (cluster.ClusterSpec(scheduler="tcp://10.1.2.3:8786"), "only over TLS"),
    (cluster.ClusterSpec(scheduler="tls://grader.example:8786"), "needs --tls"),
    (cluster.ClusterSpec(scheduler="inproc://x"), "expected tcp://"),
    (cluster.ClusterSpec(), "either --cluster"),
    (cluster.ClusterSpec(scheduler="tcp://127.0.0.1:8786", local_workers=2), "either --cluster"),
])
def test_cluster_addresses_that_would_weaken_the_guarantees_are_refused(spec, message):
    with pytest.raises(cluster.ClusterError, match=message):
        spec.check()


def test_a_worker_listens_on_loopback_and_refuses_a_plain_tcp_scheduler_elsewhere():
    assert grading_worker.listen_host("tcp://127.0.0.1:8786") == "127.0.0.1"
    assert grading_worker.listen_host("tcp://localhost:8786") == "127.0.0.1"
    assert grading_worker.listen_host("tls://10.1.2.3:8786") is None
    with pytest.raises(grading_worker.WorkerRefused, match="only over TLS"):
        grading_worker.listen_host("tcp://10.1.2.3:8786")


@pytest.mark.parametrize("text", ["local", "local:0", "local:x", "remote:2", "2"])
def test_a_malformed_local_cluster_is_refused(text):
    with pytest.raises(cluster.ClusterError, match="expected local:N"):
        cluster.parse_cluster(text)


def test_a_tls_folder_must_hold_all_three_files(tmp_path):
    (tmp_path / "ca.pem").write_text("x")
    with pytest.raises(cluster.ClusterError, match="missing cert.pem, key.pem"):
        cluster.TlsFiles.from_folder(tmp_path)


def test_a_second_outcome_for_a_student_in_one_run_is_dropped(monkeypatch, capsys):
    placed = []
    monkeypatch.setattr(whole_class, "place_outcome", lambda root, folder, assignment, o: placed.append(o.student))
    monkeypatch.setattr(whole_class, "_record", lambda coursedir, config, assignment, summary: None)
    monkeypatch.setattr(whole_class, "write_summary", lambda root, assignment, summary: None)
    monkeypatch.setattr(whole_class.gradebook, "assignment_dir", lambda *args: Path("unused"))
    outcomes = [outcome("alice"), outcome("alice", feedback="a late duplicate"), outcome("bob")]
    summaries = whole_class._grade_all("root", None, None, "numpy_cnn", iter(outcomes), 2)
    assert placed == ["alice", "bob"] and [s["student"] for s in summaries] == ["alice", "bob"]
    assert "[2/2] bob" in capsys.readouterr().out


def test_submissions_never_graded_come_before_regrades(tmp_path):
    reports = reports_dir(tmp_path, "numpy_cnn")
    reports.mkdir(parents=True)
    for student in ("amy", "cat"):
        (reports / f"{student}.json").write_text("{}")
    assert whole_class.fresh_first(tmp_path, "numpy_cnn", ["amy", "bo", "cat", "dee"]) == ["bo", "dee", "amy", "cat"]


def test_a_machine_that_reaches_only_the_process_level_refuses_to_serve(monkeypatch):
    monkeypatch.setattr(grading_worker, "available_isolation", lambda: ("process", "user namespaces disabled"))
    with pytest.raises(grading_worker.WorkerRefused, match="reaches only process isolation"):
        grading_worker.worker_command("tcp://127.0.0.1:8786", 1, None, REPO)


def test_what_a_job_carries_to_a_worker_holds_the_submission_key_never_the_term_secret(monkeypatch, tmp_path):
    monkeypatch.setattr(whole_class, "course_secret", lambda: b"term-secret-5e1c")
    monkeypatch.setattr(whole_class, "release_files", lambda folder: {"convolution": b"{}"})
    monkeypatch.setattr(whole_class, "submitted_files", lambda folder, names: SubmittedFolder("alice", {}))
    monkeypatch.setattr(whole_class.gradebook, "assignment_dir", lambda *args: tmp_path)
    [job] = whole_class._jobs(None, "numpy_cnn", ["alice"], tmp_path, "namespaces", TimeLimits())
    wire = pickle.dumps(cluster._task(job_to_wire(job), "d" * 64))
    assert b"term-secret-5e1c" not in wire and job.case_key.encode() in wire
