"""Start isolated worker processes and talk to them.

Three isolation levels; the strongest the machine supports is chosen
automatically (``--isolation`` overrides):

``namespaces`` (the grader runs as root and ``unshare`` exists):
    a new network namespace (no network), PID namespace (killing the sandbox
    kills everything the submission started), IPC namespace (System V objects
    die with it), UTS namespace (its own hostname) and mount namespace with a
    minimal read-only filesystem view (see :mod:`autograder.in_sandbox.sandbox_init`),
    an unprivileged user id claimed for this sandbox alone
    (:mod:`autograder.isolation.claims`), keyrings of its own, ``no_new_privs``,
    and resource limits.

``userns`` (not root, but the kernel allows unprivileged user namespaces):
    the same namespaces and filesystem view, created inside a new user
    namespace; the worker keeps the instructor's user id (root inside the
    namespace, with every capability dropped), so the limit on processes,
    counted per user, is not dependable.  Refused to a grader running as root
    (see ``USERNS_AS_ROOT``).

``process`` (anything else, e.g. macOS):
    a plain ``python -I`` child in a scratch directory with a minimal
    environment, resource limits and its own process group.  It can still read
    the instructor's files, reach the network and leave processes behind that
    call ``setsid``; the grader says so loudly whenever it uses this level.

At every level the sandbox runs in a session of its own (a ``kill(0, ...)`` inside
never reaches the grader) and dies with the grader: at the namespace levels its
first process ends it when the grader's end of a control pipe closes (the grader
closing it, or dying), at the process level a parent-death signal kills the
worker.  The grader enforces a wall-clock limit on every request and kills the
sandbox when it is exceeded.
"""
import ctypes
import io
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, asdict
from pathlib import Path

from ..in_sandbox import wire
from ..in_sandbox.sandbox_init import PR_SET_PDEATHSIG, WORKER_FILES, set_limits, write_package_view
from .claims import ClaimError, claim_scratch, claim_uid
from .course_package import PackageError, package_view
from .installed_packages import package_views
from .template import TemplateError, template_for

# The files that run inside the sandbox (they import nothing of the trusted side).
IN_SANDBOX = Path(__file__).resolve().parents[1] / "in_sandbox"
SYSTEM_PATHS = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc")
# Sandboxed workers (namespaces level) run as a uid/gid claimed for that sandbox alone
# (autograder.isolation.claims): distinct from every real account and from every other live
# sandbox, so that RLIMIT_NPROC (counted per user) limits exactly one sandbox and nothing kept
# per user (keyrings, processes) is shared.
LOG_LIMIT = 64 * 1024
# How long a sandbox's first process may take to clean up after the grader lets go of it.
END_S = 10


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox (documented in the instructor guide)."""
    cpu_s: int = 120                  # CPU seconds for the whole sandbox life
    as_bytes: int = 2 << 30           # address space of each process
    fsize_bytes: int = 16 << 20       # largest file it may write
    nofile: int = 256                 # open files
    nproc: int = 8                    # processes and threads
    tmp_bytes: int = 64 << 20         # its scratch /tmp (namespaces and userns levels)
    # Files and folders in that /tmp: each costs the host kernel memory that tmp_bytes does not count
    # (millions of empty files would take gigabytes); a layer needs none.
    tmp_inodes: int = 4096


class SandboxError(Exception):
    """The sandbox could not be started (a problem of the grading machine, not the student)."""


class SandboxDied(Exception):
    """The worker went away (exit, crash, or a reply that broke the protocol)."""


class SandboxBrokeProtocol(SandboxDied):
    """The worker's reply could not be read (it has been killed): bytes that are no message."""


class SandboxTimeout(Exception):
    """The worker did not answer within the wall-clock limit; it has been killed."""


# ---------------------------------------------------------------------------
# Choosing the isolation level
# ---------------------------------------------------------------------------

ISOLATION_LEVELS = ("namespaces", "userns", "process")
_DESCRIPTIONS = {
    "namespaces": ("namespaces: no network, private read-only filesystem view "
                   "(no course directory, gradebook or other submissions; of cnnbook only what the part "
                   "may use, of the installed packages numpy alone), own PID, IPC and UTS namespaces and "
                   "keyrings (nothing it starts or stores survives), a user id of its own, limits on CPU, "
                   "memory, file size, processes and wall time"),
    "userns": ("userns (PARTLY DEGRADED, no root): no network, private read-only filesystem view "
               "(no course directory, gradebook or other submissions; of cnnbook only what the part may "
               "use, of the installed packages numpy alone), own PID, IPC and UTS namespaces and keyrings "
               "(nothing it starts or stores survives), no capabilities, limits on CPU, memory, file size "
               "and wall time, but no dependable limit on the number of processes"),
    "process": ("process (DEGRADED): the worker can read files your user can read, "
                "reach the network, import any module of cnnbook or any installed package (the rule that a "
                "naive part may use only numpy and cnnbook.exercise_checks holds for honest code only), and "
                "processes that call setsid may outlive it; limits on CPU, memory, file size and wall time "
                "still apply. "
                "Run the grader as root on Linux with util-linux's unshare for full isolation"),
}
# --ipc: System V shared memory, semaphores and message queues die with the sandbox;
# --uts: a hostname of its own.
# Root of a user namespace made by root is root outside too (files owned by root, /etc/shadow
# included, stay readable however many capabilities are dropped), and util-linux's unshare can
# map no other id without newuidmap: so root gets the stronger namespaces level instead.
USERNS_AS_ROOT = ("the userns level is for graders without root: as root its worker would still own "
                  "root's files; use the namespaces level (the default for root)")
NAMESPACE_FLAGS = ["--net", "--mount", "--pid", "--ipc", "--uts", "--fork", "--kill-child"]


def describe_isolation(level):
    return _DESCRIPTIONS[level]


def available_isolation():
    """The strongest level this machine supports, with the reason for anything weaker."""
    if not sys.platform.startswith("linux"):
        return "process", "not Linux"
    if shutil.which("unshare") is None:
        return "process", "the unshare command (util-linux) is missing"
    if os.geteuid() == 0:
        return "namespaces", ""
    if _user_namespaces_work():
        return "userns", "not running as root"
    return "process", "not running as root, and unprivileged user namespaces are disabled"


def _user_namespaces_work():
    probe = ["unshare", "--user", "--map-root-user", *NAMESPACE_FLAGS, "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def exposed_paths(course_root):
    """What the namespaces sandbox may see: system dirs, Python and numpy (cnnbook comes as a view).

    Raises :class:`SandboxError` when one of them would reveal the course directory.
    """
    import numpy
    candidates = [p for p in SYSTEM_PATHS if os.path.lexists(p)]
    candidates += [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                   os.path.dirname(os.path.realpath(sys.executable)),
                   str(Path(numpy.__file__).resolve().parent.parent)]
    paths = []
    for path in sorted({os.path.abspath(p) for p in candidates}, key=len):
        if not any(path == kept or path.startswith(kept + "/") for kept in paths):
            paths.append(path)
    course_root = os.path.realpath(course_root)
    for path in paths:
        if not os.path.islink(path) and (course_root == path or course_root.startswith(path + "/")):
            raise SandboxError(f"the course directory {course_root} lies inside {path}, which the "
                               "sandbox must expose; move the course out of it for full isolation")
    return paths


_libc = ctypes.CDLL(None, use_errno=True)


def die_with_grader(parent_pid):
    """Process level, in the worker between fork and exec: SIGKILL it when the grader dies.

    The signal follows the grader's thread that forked, hence the rule in
    :meth:`Sandbox.start`.  A grader that died before the ``prctl`` is caught by ``getppid``.
    """
    if _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent_pid:
        os._exit(1)


def minimal_env(tmp="/tmp"):
    """The worker's whole environment; ``tmp`` is its scratch folder (its private /tmp, or at the
    process level the sandbox's scratch folder, removed with it)."""
    return {"PATH": "/usr/bin:/bin", "HOME": tmp, "LANG": "C.UTF-8", "TMPDIR": tmp,
            "MPLCONFIGDIR": tmp, "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# ---------------------------------------------------------------------------
# One sandbox
# ---------------------------------------------------------------------------

class Sandbox:
    """A running worker process behind an isolation layer; talk with :meth:`request`."""

    def __init__(self, isolation, course_root, limits=Limits(), cnnbook_modules=()):
        """``cnnbook_modules``: the modules of the course package this sandbox provides
        (:mod:`autograder.isolation.course_package`)."""
        if isolation not in ISOLATION_LEVELS:
            raise ValueError(f"unknown isolation level {isolation!r}; use one of {ISOLATION_LEVELS}")
        self.isolation = isolation
        self.course_root = course_root
        self.limits = limits
        self.cnnbook_modules = tuple(cnnbook_modules)
        self.process = None
        self._scratch = None
        self._uid = None              # the claimed user id (namespaces level)
        self._control = None          # our end of the control pipe (namespace levels): closing it ends the sandbox
        self._claims = []
        self._log = bytearray()
        self._log_thread = None

    # -- life cycle ---------------------------------------------------------

    def start(self, timeout=30):
        """Start the worker.  At the process level, call :meth:`close` from the thread that started
        it: the worker is killed when that thread ends (``PR_SET_PDEATHSIG`` follows the forking
        thread)."""
        if self.isolation == "userns" and os.geteuid() == 0:
            raise SandboxError(USERNS_AS_ROOT)
        if self.isolation == "namespaces":
            self._fork_from_template()
        else:
            self._start_alone()
        self._log_thread = threading.Thread(target=self._drain_log, daemon=True)
        self._log_thread.start()
        try:
            self.request({"op": "ping"}, timeout=timeout)
        except (SandboxDied, SandboxTimeout):
            self.close()
            raise SandboxError("the sandbox did not start: " + self.log_text()[-2000:]) from None

    def _fork_from_template(self):
        """The namespaces level: a part forked from this process's template (started on first use)."""
        try:
            claim = claim_uid()
            self._claims.append(claim)
            self._uid = claim.uid
            view = self._package()
            template = template_for(self.course_root, view["source"], exposed_paths(self.course_root),
                                    ["unshare", *NAMESPACE_FLAGS, "--"], minimal_env(), self.limits)
            self.process, self._control = template.spawn(self._uid, self.limits, view, minimal_env())
        except SandboxError:
            self.close()
            raise
        except (ClaimError, PackageError, TemplateError, OSError) as error:
            self.close()
            raise SandboxError(f"could not start the sandbox: {error}") from None

    def _start_alone(self):
        """The userns and process levels: a sandbox started from nothing."""
        try:
            self._claim()
            command, options = (self._process_command() if self.isolation == "process"
                                else self._namespace_command())
        except (ClaimError, PackageError, OSError) as error:
            self.close()
            raise SandboxError(f"could not prepare the sandbox: {error}") from None
        try:
            # Its own session: a kill(0, ...) or killpg inside never reaches the grader.
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE,
                                            env=minimal_env(self._scratch if self.isolation == "process" else "/tmp"),
                                            start_new_session=True, **options)
        except (OSError, subprocess.SubprocessError) as error:
            self.close()
            raise SandboxError(f"could not start the sandbox: {error}") from None
        finally:
            for fd in options.get("pass_fds", ()):
                os.close(fd)

    def _claim(self):
        scratch = claim_scratch()
        self._claims.append(scratch)
        self._scratch = scratch.path

    def _namespace_command(self):
        os.chmod(self._scratch, 0o700)
        userns = self.isolation == "userns"
        expose, package = exposed_paths(self.course_root), self._package()
        # Our end is inherited by nothing else the grader starts: the sandbox's first process
        # ends the sandbox when the pipe reads end-of-file.
        control_read, self._control = os.pipe()
        config = {"root": self._scratch, "expose": expose, "python": sys.executable,
                  "uid": self._uid, "gid": self._uid, "userns": userns, "env": minimal_env(),
                  "tmp_bytes": self.limits.tmp_bytes, "limits": asdict(self.limits),
                  "package": package, "installed": package_views(expose), "control_fd": control_read}
        command = ["unshare", *(["--user", "--map-root-user"] if userns else []), *NAMESPACE_FLAGS, "--",
                   sys.executable, "-I", "-B", str(IN_SANDBOX / "sandbox_init.py"), json.dumps(config)]
        # No preexec_fn: the grader, numpy and torch loaded, starts it without copying its memory.
        return command, {"cwd": self._scratch, "pass_fds": (control_read,)}

    def _process_command(self):
        for name in WORKER_FILES:
            shutil.copyfile(IN_SANDBOX / name, Path(self._scratch) / name)
        write_package_view(self._package(), self._scratch)
        limits = asdict(self.limits)
        command = [sys.executable, "-I", "-B", str(Path(self._scratch) / "worker.py")]
        parent = os.getpid()
        return command, {"cwd": self._scratch,
                         "preexec_fn": lambda: (die_with_grader(parent), set_limits(limits))}

    def _package(self):
        return asdict(package_view(self.cnnbook_modules))

    def close(self):
        """End the sandbox and everything in it; safe to call twice."""
        process, self.process = self.process, None
        if self._control is not None:
            os.close(self._control)
            self._control = None
        if process is not None:
            self._end(process)
            for stream in (process.stdin, process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        if self._log_thread is not None:
            self._log_thread.join(timeout=5)
            self._log_thread = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        for claim in self._claims:
            claim.release()
        self._claims = []
        self._uid = None

    def _end(self, process):
        if self.isolation != "process" and self._log_thread is not None:
            # The control pipe is closed: the first process kills everything inside, empties the
            # user id's keyrings and exits, and so does unshare.  The log thread sees the end of
            # the sandbox's stderr the moment the last of them is gone (no polling).  Killing
            # unshare is the last resort (no keyring cleanup then).
            self._log_thread.join(timeout=END_S)
            if not self._log_thread.is_alive():
                process.wait()
                return
        if self.isolation == "process":
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        process.kill()
        process.wait()

    @property
    def alive(self):
        return self.process is not None and self.process.poll() is None

    # -- the student's output (for the instructor's log, never for feedback) --

    def _drain_log(self):
        stream = self.process.stderr
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                break
            room = LOG_LIMIT - len(self._log)
            if room > 0:
                self._log += chunk[:room]
        stream.close()

    def log_text(self):
        return self._log.decode("utf-8", "replace")

    # -- requests -------------------------------------------------------------

    def request(self, header, arrays=(), timeout=10.0):
        """Send one request and return ``(reply_header, reply_arrays)``.

        Raises :class:`SandboxTimeout` (after killing the sandbox) when no full
        reply arrives within ``timeout`` seconds, :class:`SandboxDied` when the
        worker is gone, :class:`SandboxBrokeProtocol` (after killing it) when its reply is
        malformed.
        """
        if not self.alive:
            raise SandboxDied("the worker is not running")
        deadline = time.monotonic() + timeout
        try:
            self._send(header, arrays, deadline)
            return wire.read_message(lambda size: self._read_exact(size, deadline))
        except SandboxTimeout:
            self.close()
            raise
        except wire.ProtocolError as error:
            self.close()
            raise SandboxBrokeProtocol(str(error)) from None
        except (OSError, EOFError) as error:
            self.close()
            raise SandboxDied(str(error) or type(error).__name__) from None

    def _send(self, header, arrays, deadline):
        buffer = io.BytesIO()
        wire.write_message(buffer, header, list(arrays))
        data = memoryview(buffer.getvalue())
        fd = self.process.stdin.fileno()
        os.set_blocking(fd, False)
        while data:
            self._wait(fd, deadline, for_write=True)
            try:
                written = os.write(fd, data)
            except BlockingIOError:
                continue
            except BrokenPipeError:
                raise EOFError("the worker closed its input") from None
            data = data[written:]

    def _read_exact(self, size, deadline):
        fd = self.process.stdout.fileno()
        chunks, missing = [], size
        while missing:
            self._wait(fd, deadline, for_write=False)
            chunk = os.read(fd, min(missing, 1 << 20))
            if not chunk:
                raise EOFError("the worker exited")
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def _wait(self, fd, deadline, for_write):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SandboxTimeout
        ready = select.select([], [fd], [], remaining) if for_write else select.select([fd], [], [], remaining)
        if not any(ready):
            raise SandboxTimeout
