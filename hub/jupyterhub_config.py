"""JupyterHub configuration of the course hub: who logs in, what runs as whom, and where.

`python -m hub` starts JupyterHub with this file and the COURSE_HUB_* variables below; a hub of
your own can read it as a worked example (book/instructors/release_and_collect.md, "The course on a JupyterHub").

    browser --> configurable-http-proxy (127.0.0.1:PORT, the only public port)
                  |-- /hub/                      JupyterHub: PAM login, spawns the servers below
                  |-- /user/<student>/           jupyterhub-singleuser as the student's Unix account,
                  |                              in its home: Assignments tab (fetch, submit, feedback)
                  |-- /user/<instructor>/        the same as the instructor's account: Courses tab
                  `-- /services/cnn-properties/  formgrader in the course root, as the course's owner
    and, serving no pages, the service "grading": `python -m autograder serve ASSIGNMENT` in the
    course root, which grades each submission as it lands in the exchange and releases its feedback

Accounts are real Unix users (PAM, the hub's default authenticator): nbgrader's exchange tells
students apart by the owner of what they write, and the course's collect refuses a submission
whose folder another user owns (autograder/nbgrader_io/exchange_collect.py).  That needs each
student's server to run as that student, so the hub runs as root and spawns with
LocalProcessSpawner, which switches to the user before it starts the server.  SudoSpawner would
let the hub itself run unprivileged; a local course hub on loopback keeps the simpler set-up, and
root is needed anyway to grade at the sandbox's strongest level and to read the exchange's inbound
folder (mode 2733: students write, only its owner lists).

Each kind of server reads its own Jupyter configuration folder (hub/jupyter/, put first on
JUPYTER_CONFIG_PATH) after `common/`, which names the course and the exchange as
/etc/jupyter/nbgrader_config.py would on a hub of one course:

    folder        nbgrader extensions on (lab and server)          off
    student/      assignment list, validate                        formgrader, courses, create
    instructor/   course list (links to the course's formgrader)   the rest
    course/       formgrader, validate, course list; no terminals  assignment list

Switching an extension off only tidies a student's screen: a student who turns formgrader on in
~/.jupyter sees a formgrader of their own home, never the course, which no student can read.
"""
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 -- provided by traitlets when it loads this file

HUB_DIR = Path(__file__).resolve().parent
JUPYTER_CONFIGS = HUB_DIR / "jupyter"
# JupyterLab, nbgrader and cnnbook come from the environment the hub runs in, the course's .venv.
ENV_PREFIX = Path(sys.prefix)
ENV_BIN = Path(sys.executable).parent
COURSE_ID = "cnn-properties"   # as in the course's nbgrader_config.py (tests/test_course_hub.py holds them equal)

# Set by `python -m hub` (hub/course_hub.py), which chooses free ports and makes the accounts.
COURSE_ROOT = Path(os.environ.get("COURSE_HUB_COURSE", HUB_DIR.parent))
EXCHANGE = os.environ.get("COURSE_HUB_EXCHANGE", "/srv/nbgrader/exchange")
STATE = Path(os.environ.get("COURSE_HUB_STATE", "/srv/jupyterhub"))
STUDENTS = [name for name in os.environ.get("COURSE_HUB_STUDENTS", "").split(",") if name]
INSTRUCTORS = [name for name in os.environ.get("COURSE_HUB_INSTRUCTORS", "").split(",") if name]
# The python the students' servers run: this one, or a bridge to it that they may run (hub/servers_python.py).
SERVERS_PYTHON = os.environ.get("COURSE_HUB_PYTHON", sys.executable)
# The assignment graded on submit (`python -m hub --serve`), or none: then the instructor grades by hand.
GRADE_ON_SUBMIT = os.environ.get("COURSE_HUB_SERVE", "")
GRADING_SERVICE = "grading"
PORTS = dict(zip(("public", "hub", "proxy_api", "formgrader"),
                 map(int, os.environ.get("COURSE_HUB_PORTS", "8000,8081,8001,8082").split(","))))

# --- Network: loopback only ---------------------------------------------------------------------
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = PORTS["public"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = PORTS["hub"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PORTS['proxy_api']}"
c.ConfigurableHTTPProxy.command = [str(HUB_DIR / "node_modules" / ".bin" / "configurable-http-proxy")]
c.Spawner.ip = "127.0.0.1"

# --- The hub's own state: its database, cookie secret and the proxy's pid, in one folder ---------
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")

# --- Who logs in: the course's Unix accounts, by password (PAM) ---------------------------------
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(STUDENTS + INSTRUCTORS)
# No PAM session per spawn: a course hub needs no login records, and containers often lack them.
c.PAMAuthenticator.open_sessions = False
c.JupyterHub.load_groups = {f"formgrade-{COURSE_ID}": {"users": INSTRUCTORS}}

# --- What each of them gets: a server as their own Unix account, in their home ------------------
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [SERVERS_PYTHON, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# A loaded machine (two cores, a grading run beside it) starts a JupyterLab server in 10 to 40 s.
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180


def config_path(role):
    """A server's JUPYTER_CONFIG_PATH: its role's folder first (it wins), the course's, the environment's."""
    return os.pathsep.join([str(JUPYTER_CONFIGS / role), str(JUPYTER_CONFIGS / "common"),
                            str(ENV_PREFIX / "etc" / "jupyter")])


def servers_environment(role):
    return {
        "JUPYTER_CONFIG_PATH": config_path(role),
        # The environment's lab extensions, kernels and JupyterLab's assets, whichever python runs the server.
        "JUPYTER_PATH": str(ENV_PREFIX / "share" / "jupyter"),
        "JUPYTERLAB_DIR": str(ENV_PREFIX / "share" / "jupyter" / "lab"),
        "PATH": os.pathsep.join([str(Path(SERVERS_PYTHON).parent), str(ENV_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        "COURSE_HUB_EXCHANGE": EXCHANGE,
        "COURSE_HUB_STATE": str(STATE),    # marks the run's processes, for `python -m hub` to end them all
    }


c.Spawner.environment = {
    **servers_environment("student"),
    "JUPYTER_CONFIG_PATH": lambda spawner: config_path("instructor" if spawner.user.name in INSTRUCTORS else "student"),
}
# The instructor's Courses tab asks the course's formgrader whether it answers, with the server's
# own token: let that token open the service (only users who may open it get the scope).
c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server",
                                 f"access:services!service={COURSE_ID}"]

# --- The course: formgrader as a hub service, in the course root ---------------------------------
# nbgrader's course list finds a course's formgrader at /services/<course id>/ (its "no
# authentication plugin" case: one course, every student in it).  It runs as the hub's user, root,
# which owns the course here and grades at the sandbox's strongest level; on a hub where a course
# account owns the course, add "user": that account.  Only the formgrade group may open it.
# Instructors open /services/<course id>/formgrader in a tab of its own: JupyterHub forbids framing
# its servers (Content-Security-Policy frame-ancestors 'none'), which leaves formgrader's lab panel
# empty.  That stays: every server here shares one origin, and a page a student wrote must not be
# able to frame the course's formgrader (nbgrader issue 1870; JupyterHub's "web security" page).
c.JupyterHub.services = [
    {
        "name": COURSE_ID,
        "url": f"http://127.0.0.1:{PORTS['formgrader']}",
        "command": [sys.executable, "-m", "jupyterhub.singleuser", "--allow-root"],
        "cwd": str(COURSE_ROOT),
        "environment": {**servers_environment("course"), "JUPYTERHUB_DEFAULT_URL": "/lab",
                        "PATH": os.pathsep.join([str(ENV_BIN), "/usr/local/bin", "/usr/bin", "/bin"])},
        "oauth_no_confirm": True,
    },
]
# --- Grading on submit: `python -m autograder serve ASSIGNMENT`, a second managed service ----------
# It serves no pages (no "url"); it watches the exchange's inbound folder, grades each submission
# and releases its feedback, logging one line per submission into the hub's log.  It runs as root
# like formgrader, in the course root, with the course's environment (the exchange of
# hub/jupyter/common/nbgrader_config.py).  The hub starts it again whenever it exits, and stops it
# as it stops every server: SIGINT (which the service treats as SIGTERM), SIGTERM 30 s later,
# SIGKILL 30 s after that.  A service that cannot start (another one holds the course's lock, a
# wrong setting) says why once and waits to be stopped rather than being started again in a loop.
if GRADE_ON_SUBMIT:
    c.JupyterHub.services.append({
        "name": GRADING_SERVICE,
        "command": [sys.executable, "-m", "autograder", "serve", GRADE_ON_SUBMIT],
        "cwd": str(COURSE_ROOT),
        "environment": {**servers_environment("course"), "PYTHONUNBUFFERED": "1",   # its lines reach the log as they come
                        "PATH": os.pathsep.join([str(ENV_BIN), "/usr/local/bin", "/usr/bin", "/bin"])},
    })
c.JupyterHub.load_roles = [
    {
        "name": f"formgrade-{COURSE_ID}",
        "description": "open the course's formgrader",
        "groups": [f"formgrade-{COURSE_ID}"],
        "scopes": [f"access:services!service={COURSE_ID}"],
    },
]

# --- Stopping: the hub stops every server, the services and the proxy when it exits ------------
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
