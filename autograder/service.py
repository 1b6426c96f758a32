"""Grading on submit: ``python -m autograder serve ASSIGNMENT``, feedback within seconds of ``nbgrader submit``.

A long-running command in the course root (standalone, or a JupyterHub-managed service): it
logs to stdout, one line per submission, and exits 0 on SIGTERM or SIGINT.  Every second it:

1. scans the exchange's inbound folder for students with a new, settled submission
   (:mod:`autograder.nbgrader_io.inbound_watch`: names and ``lstat`` only, owners checked);
2. asks the policy (:mod:`autograder.submit_policy`) when each may be graded; a student over the
   attempt limit waits (said once), everything of theirs stays in the exchange;
3. for a student due now: collects this student's latest submission
   (:mod:`autograder.nbgrader_io.one_student`: nbgrader's collect, owner-checked), checks the
   pre-flight (remembered, as for ``grade``), and hands the job to the runner, which keeps its
   grading processes between submissions (:mod:`autograder.lasting_runner`; or a Dask cluster);
   a thread waits for each job, so a slow submission holds one worker, never the service;
4. for each outcome, in this thread: places and records it under the gradebook's lock
   (:func:`~autograder.whole_class.record_outcome`, as ``grade`` does), generates this student's
   feedback at the policy's detail level with the policy's statement on it, releases it, logs
   the line, and remembers the submission as handled (:mod:`autograder.service_state`);
5. when idle: writes ``grades.csv`` again, and after the due date makes the pages made before it
   again at the level that follows it.

A fault of the grader or the machine (a failing pre-flight, a crashed grading process, an
internal error, nbgrader failing) records no grade: it is logged as an ``ERROR`` line, and the
student fetches a short "received, not graded" page (:mod:`autograder.nbgrader_io.received_page`).
Nothing a submission does stops the service: every step of one student is caught, said, and
answered for that student alone.

Stopping: the step in hand (a record, a page, a release: seconds) is finished; grading in flight
is handed back (the local grading processes are killed with their sandboxes; on a Dask cluster
the client's tasks are released), nothing of it recorded, and graded at the next start, as is
everything that arrived meanwhile.
"""
import contextlib
import os
import signal
import time
from pathlib import Path

from .checks.parts import assignment_parts
from .cluster import ClusterError, DaskRunner
from .course_locks import ServiceRunning, gradebook_lock, service_lock
from .lasting_runner import LastingLocalRunner
from .nbgrader_io import gradebook
from .nbgrader_io.one_student import quiet_nbgrader_logger
from .nbgrader_io.release import ReleaseError, load_release
from .service_loop import Service
from .submit_policy import policy_from_config
from .whole_class import preflight_record_path


class StopRequest:
    """Set by SIGTERM or SIGINT (JupyterHub stops a managed service with SIGINT, then SIGTERM)."""

    def __init__(self):
        self.signal = None
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self._set)

    def _set(self, number, _frame):
        self.signal = signal.Signals(number).name

    def __call__(self):
        return self.signal is not None


def serve(root, assignment, requested_isolation, time_limits, workers, cluster=None):
    """Run the service until SIGTERM or SIGINT; the exit status (0, or 2 for a hub's service that could not start)."""
    quiet_nbgrader_logger()
    stop = StopRequest()
    with contextlib.ExitStack() as stack:
        try:
            service = _started(stack, root, assignment, requested_isolation, time_limits, workers, cluster)
        except STARTUP_REFUSALS as error:
            if not os.environ.get("JUPYTERHUB_SERVICE_NAME"):
                raise
            return _wait_to_be_stopped(error, stop)
        service.serve(stop)
    return 0


# What stops the service before it serves: the course, the release, the policy, another service.
STARTUP_REFUSALS = (gradebook.CourseError, ReleaseError, ServiceRunning, ClusterError, ValueError)


def _started(stack, root, assignment, requested_isolation, time_limits, workers, cluster):
    """Check the course, take its lock and start the runner (all undone by ``stack``); the started service."""
    coursedir, config = gradebook.course_directory(root)
    policy_from_config(config)                             # a wrong setting stops the service here
    load_release(gradebook.assignment_dir(coursedir, "release", assignment), assignment_parts(assignment))
    inbound = inbound_folder(config, coursedir)
    stack.enter_context(service_lock(root, assignment))
    runner = stack.enter_context(LastingLocalRunner(root, workers) if cluster is None else DaskRunner(cluster, root))
    isolation = runner.choose_isolation(requested_isolation)
    with gradebook_lock(root):
        gradebook.ensure_assignment(coursedir, assignment)
    slots = workers if cluster is None else max(1, cluster.local_workers or len(runner.matching_workers()))
    service = Service(root, assignment, runner, isolation, time_limits, slots, inbound,
                      preflight_record_path(root, assignment, cluster))
    service.start_up()
    return service


def _wait_to_be_stopped(error, stop):
    """A hub starts a managed service again the moment it exits: say why once, then wait for the hub's stop."""
    print(f"error: {error.args[0] if error.args else error}", flush=True)
    print("error: this grading service cannot start and waits for the hub to stop it (exiting would only make "
          "the hub start it again): fix the cause above, then restart the hub", flush=True)
    while not stop():
        time.sleep(0.5)
    return 2


def inbound_folder(config, coursedir):
    """``<exchange root>/<course id>/inbound``, which must exist (nbgrader makes it on the first release)."""
    from nbgrader.exchange.default.exchange import Exchange
    folder = Path(Exchange(config=config).root) / coursedir.course_id / "inbound"
    if not folder.is_dir():
        raise gradebook.CourseError(f"no inbound folder at {folder}: create the exchange and release the "
                                    "assignment first (nbgrader release_assignment ASSIGNMENT)")
    return folder
