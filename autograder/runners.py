"""Runners: what grades a list of jobs, and the one shape every runner has.

A runner takes :class:`~autograder.one_submission.Job` objects and gives back
:class:`~autograder.one_submission.Outcome` objects; whoever uses it (``grade``, for a class)
places and records them.  Every runner has the same shape:

* ``choose_isolation(requested)``: the isolation level its sandboxes use (``auto`` is the
  strongest it reaches), announced with :func:`announce_isolation`;
* ``where``: a few words for the first line of a run ("with 2 worker(s)");
* ``run(jobs)``: an iterator of outcomes, in the order of ``jobs`` as far as it can;
* ``report()``: anything to say after the run.

:class:`LocalRunner` (a pool of processes on this machine) lives here;
:class:`~autograder.cluster.DaskRunner` (a Dask cluster) in :mod:`autograder.cluster`;
:class:`~autograder.lasting_runner.LastingLocalRunner` (grading processes kept between runs, for the
grading service) in :mod:`autograder.lasting_runner`.  They import this module and nothing that
imports them, so there is no import cycle between the runners and what uses them.
"""
import concurrent.futures
import multiprocessing
import sys
from concurrent.futures.process import BrokenProcessPool

from .isolation.sandbox import ISOLATION_LEVELS, available_isolation, describe_isolation
from .one_submission import Outcome, error_summary, grade_submission


def choose_isolation(requested):
    """The level to use (ISOLATION_LEVELS runs strongest first); it is always announced, loudly if degraded."""
    level, reason = available_isolation()
    if requested == "auto":
        requested = level
    elif ISOLATION_LEVELS.index(requested) < ISOLATION_LEVELS.index(level):
        raise ValueError(f"{requested} isolation is not available here ({reason})")
    announce_isolation(requested, reason)
    return requested


def announce_isolation(level, reason):
    print(f"isolation: {describe_isolation(level)}", flush=True)
    if level != "namespaces":
        print(f"WARNING: student code runs with {'DEGRADED' if level == 'process' else 'PARTLY DEGRADED'} "
              f"isolation ({reason or 'as requested'}); run the grader as root for full isolation",
              file=sys.stderr, flush=True)


class LocalRunner:
    """Today's runner: :func:`local_pool` on this machine, at the level this machine supports."""

    def __init__(self, root, workers):
        self.root, self.workers = str(root), workers
        self.where = f"with {workers} worker(s)"

    def choose_isolation(self, requested):
        return choose_isolation(requested)

    def run(self, jobs):
        return local_pool(list(jobs), self.workers, self.root)

    def report(self):
        pass


def local_pool(jobs, workers, root):
    """Yield each job's :class:`Outcome` as it finishes; a broken pool is replaced once."""
    pending = list(jobs)
    for attempt in range(2):
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(grade_submission, job, root): job for job in pending}
            pending = []
            for future in concurrent.futures.as_completed(futures):
                try:
                    yield future.result()
                except BrokenProcessPool:
                    pending.append(futures[future])
        if not pending:
            return
    for job in pending:
        yield Outcome({**error_summary(job.student, "the grading process crashed twice on this submission"),
                       "seconds": 0})
