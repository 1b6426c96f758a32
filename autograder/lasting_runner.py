"""The local runner that lasts: grading processes kept between submissions, for the grading service.

:class:`~autograder.runners.LocalRunner` starts a pool for each ``grade``: right for a class, but
a service that grades one submission at a time would pay a fresh process, its imports and its
sandbox template (seconds on a loaded machine) for every submission.  :class:`LastingLocalRunner`
has the shape of every runner (:mod:`autograder.runners`) and keeps ``workers`` spawned grading
processes for its whole life, each grading one job at a time with
:func:`~autograder.one_submission.grade_submission`, as a pool's process does.

* **one process per job in flight**: a job takes an idle process and gives it back; a process
  that dies while grading (the job's outcome lost) is replaced, and the job tried once more on
  the new one, as ``grade``'s pool does; a second death is the job's error.  Only that job's
  process is touched: other jobs in flight go on;
* **threads**: ``run`` may be called from several threads at once (the service waits for each
  job in a thread of its own); a call waits for an idle process;
* **closing** (leaving the ``with`` block): every process is killed, the sandboxes of a job in
  flight die with it, and every ``run`` still waiting raises :class:`HandedBack`: the job was
  given back unfinished, and nothing of it may be recorded.
"""
import multiprocessing
import queue
import signal
import threading

from .one_submission import Outcome, error_summary, grade_submission
from .runners import choose_isolation

TRIES = 2


class HandedBack(Exception):
    """The runner was closed while this job waited or was graded: it has no outcome."""


class _Lost(Exception):
    """The grading process died before it answered."""


def _serve_jobs(connection, root):
    """A grading process: answer each job sent with its outcome until the other end closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is the service's to handle, not each worker's
    import torch  # noqa: F401 -- paid once here, before the first job, not by the first student
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return
        connection.send(grade_submission(job, root))


class _Process:
    def __init__(self, root):
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve_jobs, args=(child, root), name="autograder-grading")
        self.process.start()
        child.close()

    def grade(self, job):
        try:
            self.connection.send(job)
            return self.connection.recv()
        except (EOFError, OSError) as error:
            raise _Lost() from error

    def kill(self):
        self.process.kill()
        self.process.join(timeout=10)
        self.connection.close()


class LastingLocalRunner:
    """``workers`` grading processes on this machine, kept until the ``with`` block ends."""

    def __init__(self, root, workers):
        self.root, self.workers = str(root), workers
        self.where = f"with {workers} lasting worker(s)"
        self._idle = queue.Queue()
        self._every = set()
        self._lock = threading.Lock()
        self._closed = False
        self._level = None

    def __enter__(self):
        for _ in range(self.workers):
            self._idle.put(self._started())
        return self

    def __exit__(self, *exc):
        self.close()

    def choose_isolation(self, requested):
        """Chosen and announced once: every later run uses the same level."""
        if self._level is None:
            self._level = choose_isolation(requested)
        return self._level

    def run(self, jobs):
        for job in jobs:
            yield self.grade(job)

    def report(self):
        pass

    def grade(self, job):
        """The job's :class:`Outcome`, on an idle process; :class:`HandedBack` once the runner is closed."""
        for _ in range(TRIES):
            process = self._take()
            try:
                outcome = process.grade(job)
            except _Lost:
                self._replace(process)
                continue
            self._idle.put(process)
            return outcome
        return Outcome({**error_summary(job.student, f"the grading process died {TRIES} times on this submission"),
                        "seconds": 0})

    def _take(self):
        process = self._idle.get()
        if process is None or self._closed:
            self._idle.put(None)           # wake the next waiter too
            raise HandedBack()
        return process

    def _replace(self, lost):
        with self._lock:
            self._every.discard(lost)
            if self._closed:
                raise HandedBack()
        lost.kill()
        self._idle.put(self._started())

    def _started(self):
        process = _Process(self.root)
        with self._lock:
            if not self._closed:
                self._every.add(process)
                return process
        process.kill()                     # closed while it started: it must not outlive the runner
        raise HandedBack()

    def close(self):
        """Kill every grading process (with its sandboxes) and wake every waiting ``run`` with :class:`HandedBack`."""
        with self._lock:
            self._closed = True
            processes, self._every = list(self._every), set()
        for process in processes:
            process.kill()
        self._idle.put(None)
