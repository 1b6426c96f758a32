"""The sandbox template of a grading process: a sandbox's start paid once, not once per part.

At the ``namespaces`` level each part of each submission runs in a fresh sandbox.  Building
one from nothing (``unshare``, the filesystem view, a new Python importing numpy) took about
190 ms, seven times per submission.  A :class:`SandboxTemplate` is started once per grading
process and course package (:func:`template_for`); each part's sandbox is then forked from it
(:mod:`autograder.in_sandbox.template` says how, and why no part can touch another's state) in
a few milliseconds, and looks to the grader exactly like a sandbox started on its own: a
process with the worker's three pipes (:class:`PartProcess`) and a control pipe whose closing
ends it.
"""
import array
import atexit
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

from .claims import claim_scratch
from .installed_packages import package_views

IN_SANDBOX = Path(__file__).resolve().parents[1] / "in_sandbox"
START_S = 60          # a template's first start imports numpy in a fresh Python: seconds at most
SPAWN_S = 30
MAX_REPLY = 4096
_UCRED = struct.Struct("3i")      # struct ucred: pid, uid, gid


class TemplateError(Exception):
    """The template could not start or fork a part (a problem of the grading machine)."""


class PartProcess:
    """One part forked from a template, seen from the grader: what a sandbox's ``subprocess.Popen`` offers.

    ``pid`` is the part's first process (process 1 of its PID namespace) as the grader sees
    it; a pidfd names it, so no other process that later takes the number is ever signalled.
    """

    def __init__(self, pid, stdin, stdout, stderr):
        self.pid = pid
        self._pidfd = os.pidfd_open(pid)
        self.stdin = os.fdopen(stdin, "wb", buffering=0)
        self.stdout = os.fdopen(stdout, "rb", buffering=0)
        self.stderr = os.fdopen(stderr, "rb")
        self.returncode = None

    def poll(self):
        if self.returncode is None and select.select([self._pidfd], [], [], 0)[0]:
            self._ended()
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None:
            if not select.select([self._pidfd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"sandbox part {self.pid}", timeout)
            self._ended()
        return self.returncode

    def kill(self):
        if self.returncode is None:
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _ended(self):
        # Not our child: its exit status went to the template, which reaps it.
        self.returncode = 0
        os.close(self._pidfd)
        self._pidfd = -1

    def __del__(self):
        if getattr(self, "_pidfd", -1) >= 0:
            os.close(self._pidfd)


class SandboxTemplate:
    """The template process of one course package (see the module docstring)."""

    def __init__(self, package_source, exposed, unshare):
        """``exposed``: the paths a sandbox sees (:func:`~autograder.isolation.sandbox.exposed_paths`);
        ``unshare``: the command that makes the template's namespaces, up to its ``--``."""
        self.package_source = package_source
        self.exposed = exposed
        self.unshare = unshare
        self.process = None
        self._requests = None
        self._control = None
        self._scratch = None
        self._lock = threading.Lock()
        self._spawned = 0

    def start(self, env, limits):
        """Start the template process; :class:`TemplateError` with its output if it does not come up."""
        self._scratch = claim_scratch()
        os.chmod(self._scratch.path, 0o700)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        control_read, self._control = os.pipe()
        self._requests = ours
        package = os.path.basename(self.package_source)
        config = {"root": self._scratch.path, "expose": self.exposed, "python": sys.executable, "env": env,
                  "limits": asdict(limits), "installed": package_views(self.exposed),
                  "package_source": self.package_source, "package_name": package,
                  "control_fd": control_read, "request_fd": theirs.fileno()}
        command = [*self.unshare, sys.executable, "-I", "-B", str(IN_SANDBOX / "template.py"),
                   json.dumps(config)]
        errors = tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=errors, stderr=errors,
                                            env=env, cwd=self._scratch.path, start_new_session=True,
                                            pass_fds=(control_read, theirs.fileno()))
        finally:
            os.close(control_read)
            theirs.close()
        try:
            reply, _pid = self._reply(START_S)
        except TemplateError as error:
            errors.seek(0)
            self.close()
            raise TemplateError(f"{error}: {errors.read()[-2000:].decode('utf-8', 'replace')}") from None
        finally:
            errors.close()
        if reply != "ready":
            self.close()
            raise TemplateError(f"the sandbox template did not start: {reply}")

    @property
    def alive(self):
        return self.process is not None and self.process.poll() is None

    def spawn(self, uid, limits, view, env):
        """Fork a part for user id ``uid``: ``(PartProcess, control fd)``; closing the fd ends the part."""
        pipes = [os.pipe() for _ in range(3)]        # stdin, stdout, stderr of the worker
        control_read, control_write = os.pipe()
        theirs = [pipes[0][0], pipes[1][1], pipes[2][1], control_read]
        ours = [pipes[0][1], pipes[1][0], pipes[2][0]]
        package = {"modules": list(view["modules"]), "hidden": list(view["hidden"]),
                   "refusal": view["refusal"], "shadowed": list(view["shadowed"])}
        try:
            with self._lock:
                # A part's reply names its request: one that comes too late for its own spawn is
                # never taken for the next one's.
                self._spawned += 1
                number = self._spawned
                request = json.dumps({"number": number, "uid": uid, "limits": asdict(limits), "env": env,
                                      "package": package}).encode()
                self._requests.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", theirs))])
                reply, pid = self._reply(SPAWN_S, f" {number}")
        except (OSError, TemplateError) as error:
            for fd in (*ours, control_write):
                os.close(fd)
            raise TemplateError(f"the sandbox template could not start a part: {error}") from None
        finally:
            for fd in theirs:
                os.close(fd)
        if reply != "ready":
            for fd in (*ours, control_write):
                os.close(fd)
            raise TemplateError(f"the sandbox template could not start a part: {reply}")
        return PartProcess(pid, *ours), control_write

    def _reply(self, timeout, suffix=""):
        """``(text, sender's pid)`` of the next message from the template that ends with ``suffix``
        (which is cut off); earlier ones are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._requests], [], [], remaining)[0]:
                raise TemplateError(f"no answer from the sandbox template within {timeout} s")
            data, ancillary, _flags, _address = self._requests.recvmsg(MAX_REPLY, socket.CMSG_SPACE(_UCRED.size))
            if not data:
                raise TemplateError("the sandbox template exited")
            text = data.decode("utf-8", "replace")
            if not text.endswith(suffix):
                continue
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    return text[:len(text) - len(suffix)], _UCRED.unpack(payload[:_UCRED.size])[0]
            raise TemplateError("a message from the sandbox template came without its sender's credentials")

    def close(self):
        """End the template and every part forked from it; safe to call twice."""
        process, self.process = self.process, None
        if self._control is not None:
            os.close(self._control)
            self._control = None
        if self._requests is not None:
            self._requests.close()
            self._requests = None
        if process is not None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._scratch is not None:
            shutil.rmtree(self._scratch.path, ignore_errors=True)
            self._scratch.release()
            self._scratch = None


_templates = {}
_templates_lock = threading.Lock()


def template_for(course_root, package_source, exposed, unshare, env, limits):
    """This process's running template for ``course_root`` and the course package at
    ``package_source``, started if need be (arguments as for :class:`SandboxTemplate`)."""
    # The process id is part of the key: a child forked from this process shares its socket to the
    # template, and two processes talking on one socket would take each other's replies.
    key = (os.getpid(), os.path.realpath(course_root), package_source, tuple(exposed))
    with _templates_lock:
        template = _templates.get(key)
        if template is None or not template.alive:
            if template is not None:
                template.close()
            template = SandboxTemplate(package_source, exposed, unshare)
            template.start(env, limits)
            _templates[key] = template
        return template


@atexit.register
def close_templates():
    """End this process's templates (not those of a parent it was forked from: they are the parent's)."""
    with _templates_lock:
        for key, template in list(_templates.items()):
            if key[0] == os.getpid():
                template.close()
            del _templates[key]
