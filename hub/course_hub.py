"""`python -m hub`: a local course hub, to use the course the way its students do.

Run as root from the course root (root makes the accounts and starts each server as its user):

    python -m hub [--students alice,bob,carol] [--instructor instructor] [--port 8000] [--serve ASSIGNMENT|none]

and in order it

1. reads the course's nbgrader configuration (course id, release folder, exchange) and checks
   what the hub needs: root, useradd, the proxy (`scripts/setup.sh test` installs it);
2. makes a state folder, /tmp/course-hub-XXXXXXXX (mode 0711), with ``hub/`` (0700: the hub's
   database, cookie secret and log) and ``homes/`` (each account's home, 0700);
3. prepares the exchange: the one the course names (``c.Exchange.root``), else one in the state
   folder, world-writable with the sticky bit (mode 1777, as /tmp: everyone may create, nobody may
   rename or delete what another made, so no student can swap the course's folder for their own),
   and releases each assignment of the release folder that is not released there yet;
4. makes the accounts, new Unix users with random passwords, and finds a Python they can run
   (hub/servers_python.py);
5. starts JupyterHub with hub/jupyterhub_config.py on free loopback ports, with the grading
   service (``python -m autograder serve``) for the assignment ``--serve`` names (by default the
   release's only assignment; ``none``: the instructor grades by hand), and waits until the hub
   and the course's formgrader answer;
6. prints the URL, the accounts and the instructor's commands, and waits for Ctrl-C (or SIGTERM);
7. stops: the hub (it stops every server, the formgrader and the proxy), then any process left of
   this run, the accounts with their homes, and the state folder (the exchange with it, when it is
   there; collect before you stop).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hub import accounts
from hub.servers_python import servers_python

HUB_DIR = Path(__file__).resolve().parent
HUB_CONFIG = HUB_DIR / "jupyterhub_config.py"
PROXY = HUB_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
ENV_BIN = Path(sys.executable).parent
COURSE_ID = "cnn-properties"            # the hub's course (hub/jupyter/common/nbgrader_config.py)
EXCHANGE_MODE = 0o1777
STATE_MODE = 0o711                      # students pass through it to the exchange, and list nothing
START_SECONDS = 300                     # JupyterHub, the proxy and formgrader, on a loaded two-core machine
STOP_SECONDS = 90                       # the hub gives each server and service 30 s after SIGINT, 30 after SIGTERM
# In the course root: every grade, the collected work, and the secret the hidden inputs come from.
COURSE_PRIVATE = ("gradebook.db", "submitted", "autograded", "feedback", "autograder/.secret")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Asked of nbgrader itself, in the course root: what the course's configuration says.
COURSE_SETTINGS = """
import json
from nbgrader.apps.baseapp import NbGrader
from nbgrader.coursedir import CourseDirectory
app = NbGrader()
app.load_config_file()
course = CourseDirectory(config=app.config)
print(json.dumps({"course_id": course.course_id, "release": course.release_directory,
                  "exchange": app.config.Exchange.get("root")}))
"""


@dataclass(frozen=True)
class Course:
    root: Path
    course_id: str
    release: Path
    exchange: str | None     # as the course's configuration names it, or None

    def assignments(self) -> list[str]:
        return sorted(folder.name for folder in self.release.iterdir() if any(folder.glob("*.ipynb")))


@dataclass
class Run:
    """What one run of the hub made, so that stopping removes exactly that."""
    state: Path
    exchange: Path
    ports: dict[str, int]
    students: list[accounts.Account]
    instructors: list[accounts.Account]
    servers_python: str = sys.executable
    graded_on_submit: str = ""    # the assignment the grading service serves, or "" for none
    hub: subprocess.Popen | None = None

    @property
    def hub_state(self) -> Path:
        """The hub's own files, root's alone; COURSE_HUB_STATE names it, which marks this run's processes."""
        return self.state / "hub"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['public']}/"


def plain_environment(**extra) -> dict[str, str]:
    """A clean environment: this Python's scripts first, no PYTHONPATH or secret of the caller's."""
    env = {"PATH": f"{ENV_BIN}:{SYSTEM_PATH}", "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    env.update(extra)
    return env


def read_course(root: Path) -> Course:
    """The course's id, release folder and exchange, as nbgrader reads its configuration in ``root``."""
    done = subprocess.run([sys.executable, "-c", COURSE_SETTINGS], cwd=root, env=plain_environment(),
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"hub: nbgrader cannot read the course's configuration in {root}:\n{done.stderr[-2000:]}")
    settings = json.loads(done.stdout.strip().splitlines()[-1])
    return Course(root, settings["course_id"], root / settings["release"], settings["exchange"])


def machine_problems() -> list[str]:
    """What stops the hub on this machine, each with what to do."""
    found = []
    if os.geteuid() != 0:
        found.append("run as root: the hub makes Unix accounts and starts each server as its user")
    if shutil.which("useradd") is None:
        found.append("useradd is missing: install Debian's passwd package")
    if not os.access(PROXY, os.X_OK):
        found.append(f"{PROXY.relative_to(HUB_DIR.parent)} is missing: run scripts/setup.sh test")
    return found


def course_problems(course: Course) -> list[str]:
    """What stops the hub from serving ``course``, each with what to do."""
    found = []
    if course.course_id != COURSE_ID:
        found.append(f"the course's id is {course.course_id!r}; this hub serves {COURSE_ID!r} "
                     "(hub/jupyter/common/nbgrader_config.py)")
    if not course.release.is_dir() or not course.assignments():
        found.append(f"{course.release} holds no assignment: python -m autograder generate numpy_cnn")
    return found


def readable_by_everyone(path: Path) -> bool:
    """Whether a user with no group in common can reach ``path`` (o+x down to it) and read it (o+r)."""
    folders = [folder for folder in path.parents if folder != Path("/")]
    return path.exists() and all(folder.stat().st_mode & 0o001 for folder in folders) \
        and bool(path.stat().st_mode & 0o004)


def student_data_in_reach(course: Course) -> list[str]:
    """What of the course's grades, collected work and secret every user of the machine can read."""
    return [name for name in COURSE_PRIVATE if readable_by_everyone(course.root / name)]


def free_ports(names) -> dict[str, int]:
    """A distinct free loopback port for each name (all held open until every one is chosen)."""
    probes = []
    try:
        for _ in names:
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            probes.append(probe)
        return {name: probe.getsockname()[1] for name, probe in zip(names, probes)}
    finally:
        for probe in probes:
            probe.close()


def prepare_exchange(course: Course, exchange: Path) -> list[str]:
    """Make ``exchange`` 1777 and release there what is not released yet; the names released."""
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(EXCHANGE_MODE)
    released = []
    for assignment in course.assignments():
        if (exchange / course.course_id / "outbound" / assignment).is_dir():
            continue
        done = subprocess.run([sys.executable, "-m", "nbgrader", "release_assignment", assignment,
                               f"--Exchange.root={exchange}"], cwd=course.root, env=plain_environment(),
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise SystemExit(f"hub: nbgrader release_assignment {assignment} failed:\n{done.stderr[-2000:]}")
        released.append(assignment)
    return released


def hub_environment(course: Course, run: Run) -> dict[str, str]:
    """What hub/jupyterhub_config.py reads; COURSE_HUB_STATE also marks every process of this run."""
    return plain_environment(
        COURSE_HUB_COURSE=str(course.root), COURSE_HUB_EXCHANGE=str(run.exchange), COURSE_HUB_STATE=str(run.hub_state), COURSE_HUB_PYTHON=run.servers_python,
        COURSE_HUB_STUDENTS=",".join(a.name for a in run.students),
        COURSE_HUB_INSTRUCTORS=",".join(a.name for a in run.instructors), COURSE_HUB_SERVE=run.graded_on_submit,
        COURSE_HUB_PORTS=",".join(str(run.ports[name]) for name in ("public", "hub", "proxy_api", "formgrader")))


def start_hub(course: Course, run: Run) -> None:
    log = open(run.hub_state / "jupyterhub.log", "ab")
    run.hub = subprocess.Popen([str(ENV_BIN / "jupyterhub"), "-f", str(HUB_CONFIG)], cwd=run.hub_state,
                               env=hub_environment(course, run), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)     # Ctrl-C reaches this process, which stops the hub
    log.close()


def wait_until_answering(url: str, run: Run, seconds: float = START_SECONDS) -> None:
    """Until ``url`` answers with a version (JupyterHub's /hub/api, Jupyter Server's /api)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if run.hub.poll() is not None:
            raise SystemExit(f"hub: JupyterHub exited ({run.hub.returncode}); its log:\n{log_tail(run)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if "version" in json.load(response):
                    return
        except (OSError, ValueError):     # not listening yet, or the proxy's error page before its routes
            pass
        time.sleep(0.5)
    raise SystemExit(f"hub: {url} did not answer within {seconds:.0f} s; the hub's log:\n{log_tail(run)}")


def log_tail(run: Run, chars: int = 4000) -> str:
    path = run.hub_state / "jupyterhub.log"
    return path.read_text(errors="replace")[-chars:] if path.is_file() else "(no log)"


def summary(course: Course, run: Run, released: list[str], started: float) -> str:
    """What the person at the terminal needs: where, who, and the instructor's commands."""
    exchange_flag = "" if course.exchange else f" --Exchange.root={run.exchange}"
    lines = [f"course hub for {course.course_id}: {run.url}  (loopback only; started in "
             f"{time.monotonic() - started:.0f} s; Ctrl-C stops it and removes these accounts)"]
    lines += [f"  student     {a.name:<12} password {a.password}" for a in run.students]
    lines += [f"  instructor  {a.name:<12} password {a.password}" for a in run.instructors]
    lines.append(f"formgrader (instructors): {run.url}services/{course.course_id}/formgrader")
    lines.append(f"exchange: {run.exchange}  (released now: {', '.join(released) or 'nothing new'})")
    if run.graded_on_submit:
        lines.append(f"grading on submit: {run.graded_on_submit} (the hub's service 'grading'; one line per "
                     "submission in the hub's log)")
    in_reach = student_data_in_reach(course)
    if in_reach:
        lines.append(f"WARN: every user here, students too, can read {', '.join(in_reach)} in {course.root}: "
                     f"chmod -R o-rwx them before real students log in")
    lines.append(f"instructor's commands, as root from {course.root} with .venv active:")
    for assignment in course.assignments():
        lines += [f"  nbgrader collect {assignment}{exchange_flag}",
                  f"  python -m autograder grade {assignment}",
                  f"  nbgrader generate_feedback {assignment}",
                  f"  nbgrader release_feedback {assignment}{exchange_flag}"]
    lines.append(f"hub log: {run.hub_state / 'jupyterhub.log'}")
    return "\n".join(lines)


def processes_of_run(state: Path) -> list[int]:
    """The pids of processes started for this run: their environment names its state folder."""
    marker = f"COURSE_HUB_STATE={state}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def stop(run: Run) -> None:
    """Stop the hub, then remove every process, account and folder this run made."""
    if run.hub is not None and run.hub.poll() is None:
        run.hub.send_signal(signal.SIGTERM)     # JupyterHub stops its servers, services and proxy
        try:
            run.hub.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            run.hub.kill()
            run.hub.wait()
    accounts.end_processes(lambda: processes_of_run(run.hub_state))   # left by a hub that did not stop
    for account in run.students + run.instructors:
        accounts.remove_account(account.name)
    shutil.rmtree(run.state, ignore_errors=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m hub", description=__doc__.split("\n")[0])
    parser.add_argument("--students", default="alice,bob,carol", help="student accounts to make (comma-separated)")
    parser.add_argument("--instructor", default="instructor", help="the instructor's account to make")
    parser.add_argument("--port", type=int, default=0, help="the hub's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="the course root (default: here)")
    parser.add_argument("--serve", default=None, metavar="ASSIGNMENT",
                        help="the assignment graded on submit (default: the release's only one; none: grade by hand)")
    return parser.parse_args(argv)


def graded_on_submit(course: Course, requested: str | None) -> str:
    """The assignment the grading service serves ("" for none); ValueError says what to choose."""
    if requested == "none":
        return ""
    if requested is None:
        return course.assignments()[0] if len(course.assignments()) == 1 else ""
    if requested not in course.assignments():
        raise ValueError(f"--serve {requested}: no such assignment in {course.release} "
                         f"(there: {', '.join(course.assignments())}; or --serve none)")
    return requested


def stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt       # the same clean stop as Ctrl-C


def account_names(args) -> list[str]:
    """The students' names, then the instructor's; ValueError names the first that cannot be made."""
    names = [name for name in args.students.split(",") if name] + [args.instructor]
    for name in names:
        accounts.check_new_name(name)
    return names


def serve(course: Course, run: Run, names: list[str], started: float) -> int:
    """Steps 3 to 6 of the module's list; returns when JupyterHub exits by itself (an error)."""
    released = prepare_exchange(course, run.exchange)
    run.hub_state.mkdir(mode=0o700)
    (run.state / "homes").mkdir(mode=STATE_MODE)
    for name in names[:-1]:
        run.students.append(accounts.make_account(name, run.state / "homes"))
    run.instructors.append(accounts.make_account(names[-1], run.state / "homes"))
    run.servers_python = servers_python(run.state / "servers-python")
    start_hub(course, run)
    wait_until_answering(f"{run.url}hub/api", run)
    wait_until_answering(f"http://127.0.0.1:{run.ports['formgrader']}/services/{course.course_id}/api", run)
    print(summary(course, run, released, started), flush=True)
    run.hub.wait()
    print(f"hub: JupyterHub exited ({run.hub.returncode}); its log:\n{log_tail(run)}", file=sys.stderr)
    return 1


def main(argv=None) -> int:
    args, started = parse_args(argv), time.monotonic()
    found = machine_problems()
    course = read_course(args.course.resolve()) if not found else None
    found = found or course_problems(course)
    try:
        names = account_names(args)
        serving = graded_on_submit(course, args.serve) if course else ""
    except ValueError as error:
        found.append(str(error))
    if found:
        print("hub: cannot start:\n  " + "\n  ".join(found), file=sys.stderr)
        return 2
    state = Path(tempfile.mkdtemp(prefix="course-hub-"))
    state.chmod(STATE_MODE)
    ports = free_ports(("public", "hub", "proxy_api", "formgrader"))
    ports["public"] = args.port or ports["public"]
    run = Run(state, Path(course.exchange or state / "exchange"), ports, [], [], graded_on_submit=serving)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        return serve(course, run, names, started)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # a second Ctrl-C must not interrupt the clean-up
        stop(run)
        made = [account.name for account in run.students + run.instructors]
        print(f"hub: stopped; removed the accounts {', '.join(made) or '(none made)'} and {state}", flush=True)
