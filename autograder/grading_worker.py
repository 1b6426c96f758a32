"""A grading machine of a Dask cluster: ``python -m autograder worker SCHEDULER_ADDRESS [--nworkers N]``.

Run it from a course root (its own copy of the course: the grader code, hidden
checks included; no submissions or gradebook are needed).  Before it takes any
work it checks two things and advertises them to the scheduler as Dask worker
resources (:func:`grader_resources`):

* the **digest of its grader code** (:func:`grader_digest`: every file of
  ``autograder/`` but the secret and bytecode caches);
* the **isolation level** its sandboxes reach here (never ``process``).

A client asks for exactly one resource, ``autograder-<digest>-<level>``, so a
task runs only on a worker whose code equals the client's and whose level is
at least the one requested; any other worker gets nothing.  :func:`grade_task`
checks both once more when a task arrives (the code may have changed since).

Each worker is a Dask Nanny with one single-threaded worker process (the hidden
checks run pytest in that process, one submission at a time); it listens on
loopback only, unless the scheduler is a ``tls://`` address.

Tasks reach a worker through a plain ``dask scheduler``, which unpickles every
task but has no course code: a task is therefore built from standard-library
functions only (:data:`TASK_FUNCTION`: import this module, take
``grade_task``, call it), and carries plain data.
"""
import asyncio
import hashlib
import os
import signal
import socket
from pathlib import Path

from .isolation.sandbox import ISOLATION_LEVELS, available_isolation
from .one_submission import (Outcome, error_summary, grade_submission, job_from_wire, outcome_to_wire)

PACKAGE_DIR = Path(__file__).resolve().parent
COURSE_ROOT_VAR = "AUTOGRADER_COURSE_ROOT"      # the worker's course root, for its sandboxes to hide
RESOURCE_PREFIX = "autograder-"
# What a task calls, by name: the scheduler can unpickle it without this package.
TASK_FUNCTION = ("autograder.grading_worker", "grade_task")
# A Dask worker always serves HTTP (health, metrics); unauthenticated, so on loopback only.
HTTP_ADDRESS = "127.0.0.1:0"


def grader_digest(package_dir=PACKAGE_DIR):
    """SHA-256 of the grader's files (relative path and content), the secret and caches aside."""
    digest = hashlib.sha256()
    for path in sorted(Path(package_dir).rglob("*")):
        relative = path.relative_to(package_dir).as_posix()
        if path.is_file() and "__pycache__" not in path.parts and path.name != ".secret":
            digest.update(f"{relative}\0{path.stat().st_size}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def resource_name(digest, level):
    return f"{RESOURCE_PREFIX}{digest[:24]}-{level}"


def levels_reached(level):
    """The levels a worker at ``level`` can serve: its own and every weaker one but ``process``."""
    if level not in ISOLATION_LEVELS or level == "process":
        return []
    return [lvl for lvl in ISOLATION_LEVELS[ISOLATION_LEVELS.index(level):] if lvl != "process"]


def grader_resources(digest, level):
    """The Dask resources a worker advertises: one per level it serves, each worth its one thread."""
    return {resource_name(digest, lvl): 1 for lvl in levels_reached(level)}


def parse_resource(name):
    """``(digest prefix, level)`` of a resource this module named, else None."""
    if not name.startswith(RESOURCE_PREFIX):
        return None
    digest, _, level = name[len(RESOURCE_PREFIX):].partition("-")
    return (digest, level) if level in ISOLATION_LEVELS else None


# ---------------------------------------------------------------------------
# One task, on the worker
# ---------------------------------------------------------------------------

def grade_task(wire_job, digest):
    """Grade one job sent by a client whose grader code has ``digest``; the outcome as plain data."""
    job = job_from_wire(wire_job)
    refusal = _refusal(job.isolation, digest)
    outcome = Outcome(error_summary(job.student, refusal)) if refusal else \
        grade_submission(job, os.environ.get(COURSE_ROOT_VAR, os.getcwd()))
    return {**outcome_to_wire(outcome), "worker": _worker_name()}


def _refusal(isolation, digest):
    """Why this worker must not grade the job (its code or level changed since it started), or ""."""
    if grader_digest() != digest:
        return (f"the grader code on worker {_worker_name()} differs from the client's; "
                "copy the course's autograder/ there and restart the worker")
    level, reason = available_isolation()
    if isolation not in levels_reached(level):
        return f"worker {_worker_name()} cannot reach {isolation} isolation ({reason or level})"
    return ""


def _worker_name():
    from distributed import get_worker
    try:
        return str(get_worker().name)
    except ValueError:            # not in a Dask worker (a test calling grade_task directly)
        return socket.gethostname()


# ---------------------------------------------------------------------------
# The worker command
# ---------------------------------------------------------------------------

class WorkerRefused(Exception):
    """This machine must not take grading work; the message says what to fix."""


def worker_command(scheduler, nworkers, security, course_root):
    """Check this machine, then serve ``nworkers`` grading workers until stopped; the exit status."""
    level, reason = available_isolation()
    resources = grader_resources(grader_digest(), level)
    if not resources:
        raise WorkerRefused(f"this machine reaches only {level} isolation ({reason}); the distributed "
                            "grader needs namespaces or userns: run the worker as root, or enable "
                            "unprivileged user namespaces")
    host = listen_host(scheduler)
    print(f"grader digest {grader_digest()[:24]}, isolation {level}; {nworkers} worker(s) for {scheduler}, "
          f"listening on {host or 'the interface facing the scheduler (TLS)'}", flush=True)
    try:
        asyncio.run(_serve(scheduler, nworkers, resources, host, security, str(course_root)))
    except (OSError, TimeoutError) as error:
        raise WorkerRefused(f"cannot reach the Dask scheduler {scheduler}: {error}") from None
    return 0


def listen_host(scheduler):
    """Loopback for a ``tcp://`` scheduler on loopback; None (any, TLS only) for ``tls://``."""
    protocol, _, address = scheduler.partition("://")
    if protocol == "tls":
        return None
    if protocol != "tcp" or not is_loopback(address):
        raise WorkerRefused(f"{scheduler}: a grading worker talks to a scheduler on another machine "
                            "only over TLS (tls://HOST:PORT with --tls-ca/--tls-cert/--tls-key)")
    return "127.0.0.1"


def is_loopback(address):
    host = address.rpartition(":")[0].strip("[]") if ":" in address else address
    try:
        return all(info[4][0].startswith("127.") or info[4][0] == "::1"
                   for info in socket.getaddrinfo(host, None))
    except socket.gaierror:
        return False


async def _serve(scheduler, nworkers, resources, host, security, course_root):
    from distributed import Nanny
    name = f"{socket.gethostname()}-{os.getpid()}"
    nannies = [Nanny(scheduler, nthreads=1, resources=resources, name=f"{name}-{number}", host=host,
                     security=security, dashboard=False, dashboard_address=HTTP_ADDRESS,
                     env={COURSE_ROOT_VAR: course_root})
               for number in range(nworkers)]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await asyncio.gather(*nannies)
        finished = [asyncio.ensure_future(nanny.finished()) for nanny in nannies]
        await asyncio.wait([asyncio.ensure_future(stop.wait()), *finished],
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        await asyncio.gather(*(nanny.close(timeout=10) for nanny in nannies), return_exceptions=True)
