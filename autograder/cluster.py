"""Grade a class on a Dask cluster: the client side of ``--cluster local:N`` and ``--scheduler ADDRESS``.

:class:`DaskRunner` has the shape of every runner (:mod:`autograder.runners`):
the client (this process) builds the jobs, sends each as one task, and hands the
outcomes back to :func:`~autograder.whole_class.grade_class`, which alone places
files and writes ``gradebook.db``.  What a task carries and how it runs on a
worker is in :mod:`autograder.grading_worker`.

The guarantees, and where each is kept:

* **same code, enough isolation**: a task asks for the one Dask resource
  ``autograder-<client's digest>-<level>``, which only workers with that grader
  code and at least that level advertise; ``process`` is never allowed;
* **the scheduler needs no course code**: a task is standard-library functions
  and plain data (:func:`_task`);
* **bounded work in flight**: at most one task per matching worker thread is
  submitted, so a task starts when it is sent, the per-task deadline
  (:attr:`ClusterSpec.task_timeout_s`) measures its grading, and the scheduler
  never holds the whole class;
* **faults**: a worker that dies has its task rescheduled by Dask; a submission
  that kills :data:`MAX_TRIES` workers ends as ``error`` (Dask's ``KilledWorker``);
  a task past its deadline is cancelled and its worker restarted; either way the
  student's result is an error that records no grade.
"""
import importlib
import itertools
import logging
import operator
import statistics
import time
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .grading_worker import (COURSE_ROOT_VAR, TASK_FUNCTION, grader_digest, grader_resources,
                             is_loopback, parse_resource, resource_name)
from .isolation.sandbox import ISOLATION_LEVELS, available_isolation
from .one_submission import Outcome, WireError, error_summary, job_to_wire, outcome_from_wire
from .runners import announce_isolation

# Dask's allowed-failures is the number of worker deaths a task survives: a submission
# that kills every worker it lands on is given up after this many tries.
MAX_TRIES = 3
WORKER_WAIT_S = 60.0              # how long the client waits for a matching worker to join
POLL_S = 0.5
CONNECT_S = 20.0                  # a TLS handshake the scheduler refuses is retried until then
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")


class ClusterError(Exception):
    """The cluster cannot grade this run; the message says what to fix."""


@dataclass(frozen=True)
class TlsFiles:
    ca: str
    cert: str
    key: str

    @classmethod
    def from_folder(cls, folder):
        missing = [name for name in TLS_FILES if not (Path(folder) / name).is_file()]
        if missing:
            raise ClusterError(f"{folder}: a TLS folder holds {', '.join(TLS_FILES)}; missing {', '.join(missing)}")
        return cls(*(str(Path(folder) / name) for name in TLS_FILES))

    def security(self):
        """One certificate for every role this process plays (client, worker, nanny)."""
        from distributed.security import Security
        pair = {f"tls_{role}_{part}": getattr(self, part)
                for role in ("client", "worker") for part in ("cert", "key")}
        return Security(tls_ca_file=self.ca, require_encryption=True, **pair)


@dataclass(frozen=True)
class ClusterSpec:
    """Which Dask cluster grades: ``local_workers`` processes here, or the scheduler at ``scheduler``."""
    scheduler: str = ""
    local_workers: int = 0
    tls: TlsFiles = None
    task_timeout_s: float = 0.0    # 0: derived from the time limits (see :func:`task_deadline`)

    def check(self):
        """A :class:`ClusterError` for a spec that would weaken the single-machine guarantees."""
        if bool(self.scheduler) == bool(self.local_workers):
            raise ClusterError("give either --cluster local:N or --scheduler ADDRESS")
        protocol = self.scheduler.partition("://")[0] if self.scheduler else "local"
        if protocol == "tls" and self.tls is None:
            raise ClusterError(f"{self.scheduler}: a tls:// scheduler needs --tls-ca/--tls-cert/--tls-key or --tls")
        if protocol == "tcp" and not is_loopback(self.scheduler.partition("://")[2]):
            raise ClusterError(f"{self.scheduler}: a scheduler on another machine is reached only over TLS "
                               "(tls://HOST:PORT with --tls-ca/--tls-cert/--tls-key)")
        if protocol not in ("tcp", "tls", "local"):
            raise ClusterError(f"{self.scheduler}: expected tcp://HOST:PORT (loopback) or tls://HOST:PORT")


def parse_cluster(text):
    """``local:N`` -> N (at least 1), else a :class:`ClusterError`."""
    kind, _, count = text.partition(":")
    if kind != "local" or not count.isdigit() or int(count) < 1:
        raise ClusterError(f"--cluster {text}: expected local:N with N >= 1 (worker processes on this machine)")
    return int(count)


def task_deadline(time_limits, parts):
    """Seconds a task may take before the client gives it up: every part's budget, plus start-up."""
    return parts * time_limits.part_s + 120.0


class DaskRunner:
    """Grades jobs on a Dask cluster; use as a context manager (it closes what it started)."""

    def __init__(self, spec, root):
        spec.check()
        self.spec, self.root = spec, str(root)
        self.digest = grader_digest()
        self.client = self.cluster = None
        self.level = ""
        self.per_worker = Counter()
        self.overheads = []            # seconds a task took beyond its grading: scheduling, transfers
        self.keys = []
        self.where = ""

    # -- connecting ---------------------------------------------------------

    def __enter__(self):
        from distributed import Client
        try:
            if self.spec.local_workers:
                self.cluster = _local_cluster(self.spec.local_workers, self.digest, self.root)
                self.client = Client(self.cluster)
            else:
                security = self.spec.tls.security() if self.spec.tls else None
                self.client = Client(self.spec.scheduler, security=security, timeout=CONNECT_S)
        except (OSError, TimeoutError) as error:
            self.__exit__(None, None, None)
            raise ClusterError(f"cannot reach the Dask scheduler {self.spec.scheduler}: {error}") from None
        return self

    def __exit__(self, *exc):
        for thing in (self.client, self.cluster):
            if thing is not None:
                thing.close()

    def matching_workers(self):
        """``{worker name: [levels]}`` of the workers whose grader digest equals this client's."""
        found = {}
        for info in self.client.scheduler_info(n_workers=-1)["workers"].values():
            for name in info.get("resources", {}):
                parsed = parse_resource(name)
                if parsed and parsed[0] == self.digest[:24]:
                    found.setdefault(str(info.get("name")), []).append(parsed[1])
        return found

    def choose_isolation(self, requested):
        """The level every task asks for: ``auto`` is the strongest a matching worker reaches."""
        if requested == "process":
            raise ClusterError("the process level is never used on a cluster: grading workers need "
                               "namespaces or userns isolation")
        workers = self._wait_for_workers()
        offered = {level for levels in workers.values() for level in levels}
        level = next(lvl for lvl in ISOLATION_LEVELS if lvl in offered) if requested == "auto" else requested
        if level not in offered:
            raise ClusterError(f"no worker reaches {level} isolation; offered: {', '.join(sorted(offered))}")
        self.level = level
        serving = sum(level in levels for levels in workers.values())
        self.where = f"on the Dask cluster at {self.client.scheduler.address} ({serving} matching worker(s))"
        announce_isolation(level, "" if level == "namespaces" else "the grading workers' level")
        return level

    def _wait_for_workers(self):
        deadline = time.monotonic() + WORKER_WAIT_S
        while time.monotonic() < deadline:
            found = self.matching_workers()
            if found:
                return found
            time.sleep(POLL_S)
        others = sorted(str(info.get("name")) for info in self.client.scheduler_info(n_workers=-1)["workers"].values())
        raise ClusterError(f"no worker of {self.client.scheduler.address} runs this grader (digest "
                           f"{self.digest[:24]}) within {WORKER_WAIT_S:g} s; other workers: "
                           f"{', '.join(others) or 'none'}. Start `python -m autograder worker` from a "
                           "copy of this course")

    # -- grading ----------------------------------------------------------------

    def run(self, jobs):
        """Yield each job's outcome as it finishes, keeping one task per matching worker in flight."""
        jobs, order, running = iter(jobs), itertools.count(), {}
        try:
            while True:
                self._top_up(jobs, order, running)
                if not running:
                    return
                for future in self._wait_some(running):
                    outcome = self._outcome(future, *running[future])
                    if outcome is not None:
                        del running[future]
                        yield outcome
        finally:
            for future in running:
                future.cancel()

    def _wait_some(self, running):
        """The finished futures, after at most POLL_S; futures past their deadline are given up."""
        from distributed import wait
        try:
            return wait(list(running), timeout=POLL_S, return_when="FIRST_COMPLETED").done
        except TimeoutError:
            pass
        now = time.monotonic()
        late = [future for future, (_, started, limit) in running.items() if now - started > limit]
        if late:
            self._restart_busy_workers(late)
        return late

    def _top_up(self, jobs, order, running):
        room = self._threads() - len(running)
        for _ in range(max(room, 0 if running else 1)):
            job = next(jobs, None)
            if job is None:
                return
            running[self._submit(job, next(order))] = (job, time.monotonic(), self._limit(job))

    def _threads(self):
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        wanted = resource_name(self.digest, self.level)
        return sum(info.get("nthreads", 1) for info in workers if wanted in info.get("resources", {}))

    def _limit(self, job):
        if self.spec.task_timeout_s:
            return self.spec.task_timeout_s
        from .checks.parts import assignment_parts
        return task_deadline(job.time_limits, len(assignment_parts(job.assignment)))

    def _submit(self, job, index):
        key = f"grade-{job.assignment}-{job.student}-{uuid.uuid4().hex[:12]}"
        self.keys.append(key)
        # Earlier jobs first (fresh submissions are first in the list); Dask runs higher priorities first.
        return self.client.get({key: _task(job_to_wire(job), self.digest)}, key, sync=False,
                               resources={resource_name(self.digest, self.level): 1}, priority=-index)

    def _outcome(self, future, job, started, limit):
        """The job's outcome, or None while it is still to come: a result that finished and was then lost
        with its worker (killed by another task) is computed again by Dask, and is not a failure."""
        if future.status == "pending" and time.monotonic() - started <= limit:
            return None
        if future.status == "finished":
            data = future.result()
            worker = data.pop("worker", "?") if type(data) is dict else "?"
            self.per_worker[worker if type(worker) is str else "?"] += 1
            try:
                outcome = outcome_from_wire(data, job)
            except WireError as error:
                failure = f"the reply of worker {worker!r:.80} was refused ({error}); nothing of it was written"
                return Outcome({**error_summary(job.student, failure), "seconds": round(time.monotonic() - started, 2)})
            self.overheads.append(time.monotonic() - started - outcome.summary.get("seconds", 0.0))
            return outcome
        failure = _failure(future, limit)     # before cancelling, which forgets the exception
        future.cancel()
        return Outcome({**error_summary(job.student, failure), "seconds": round(time.monotonic() - started, 2)})

    def _restart_busy_workers(self, futures):
        """Restart the workers still running ``futures`` (a hung task holds its thread for good)."""
        keys = {future.key for future in futures}
        busy = [worker for worker, held in self.client.processing().items() if keys & set(held)]
        if busy:
            self.client.restart_workers(busy, raise_for_error=False)

    # -- the report -----------------------------------------------------------

    def report(self):
        retries = self.retries()
        counts = ", ".join(f"{name}: {count}" for name, count in sorted(self.per_worker.items()))
        print(f"tasks per worker: {counts or 'none'}; retries after a worker died: {retries}", flush=True)
        if self.overheads:
            # A worker process's first task also imports nbformat, pytest and PyTorch: the maximum.
            print(f"per-task overhead of the cluster: {statistics.median(self.overheads):.3f} s median, "
                  f"{max(self.overheads):.3f} s at most", flush=True)

    def retries(self):
        """Times a task of this run was sent to a worker again (its first worker died or was restarted)."""
        story = self.client.story(*self.keys, on_error="ignore") if self.keys else []
        starts = Counter(entry[1] for entry in story if entry[0] == "scheduler" and entry[3] == "processing")
        return sum(count - 1 for count in starts.values() if count > 1)


def _failure(future, limit):
    if future.status == "pending":
        return f"no result from the cluster within {limit:g} s (a hung worker?); the task was stopped"
    error = future.exception()
    if type(error).__name__ == "KilledWorker":
        return f"grading this submission killed {MAX_TRIES} workers in turn; it was given up"
    return f"the cluster could not run the task: {type(error).__name__}: {error}"


def _task(wire_job, digest):
    """``grade_task(wire_job, digest)`` as a task made of standard-library calls only."""
    module, function = TASK_FUNCTION
    return (operator.call, (getattr, (importlib.import_module, module), function), wire_job, digest)


def _local_cluster(workers, digest, root):
    """N single-threaded worker processes on loopback, for this run; the dashboard is off."""
    import dask
    from distributed import LocalCluster
    level, _ = available_isolation()
    with dask.config.set({"distributed.scheduler.allowed-failures": MAX_TRIES - 1}), warnings.catch_warnings():
        # Its health-check HTTP server takes another loopback port when 8787 is busy: nothing to report.
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None, resources=grader_resources(digest, level),
                            env={COURSE_ROOT_VAR: root}, silence_logs=logging.ERROR)
