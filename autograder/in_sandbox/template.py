"""First process of a sandbox template: the filesystem view and numpy made once, a fresh child per part.

Starting a sandbox from nothing costs a new Python and numpy's import, about 150 ms of the
190 ms a part took to start.  At the ``namespaces`` level the grader instead starts this file
once per grading process, like ``sandbox_init.py`` (``unshare --net --mount --pid --ipc
--uts --fork --kill-child``, as root), and it

1. builds the same read-only root as a sandbox (:func:`sandbox_init.build_shared_root`),
   except the course package: its folder is bound, read-only and reachable by root alone,
   at ``/grader/.source/<package>``, and ``/grader/<package>`` is left empty for each
   part's view;
2. imports the worker, and numpy with it, as root from that view; no student code ever runs
   in this process, or in any it forks before the worker drops its privileges;
3. answers each request on its socket (a claimed user id, the limits, the part's view of the
   course package, and the worker's pipes as file descriptors) with a child that makes new
   mount, IPC, network and PID namespaces.  Its first process (process 1 there) mounts a fresh
   ``/tmp``, a ``/proc`` of its own and the part's package view, covers the package's source,
   reports ready on the socket (the kernel adds its process id, as the grader sees it), and
   forks the worker: that drops to the user id, takes the limits and serves the grader with
   numpy already imported, a copy-on-write copy of this process in which nothing of an earlier
   part or student exists.  When its worker exits or the grader closes the part's control
   pipe, the part's process 1 kills everything in its namespace and empties the user id's
   keyrings, as a sandbox's first process does (:func:`sandbox_init.end_sandbox`);
4. when the grader lets go of the template (its control pipe reads end-of-file, also when the
   grader dies), kills everything in it and empties the keyrings of every user id it served.

This file is trusted code, like ``sandbox_init.py``.
"""
import array
import json
import os
import select
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script's folder off the path

import sandbox_init as sandbox  # noqa: E402

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x08000000, 0x20000000, 0x40000000
PART_NAMESPACES = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET
SOURCE = "/grader/.source"
MAX_REQUEST = 64 * 1024
# The worker's stdin, stdout and stderr, and the read end of the part's control pipe.
PART_FDS = 4


def unshare(flags):
    if sandbox._libc.unshare(flags) != 0:
        errno = sandbox.ctypes.get_errno()
        raise OSError(errno, f"unshare({flags:#x}): {os.strerror(errno)}")


def build_template_root(config):
    root, package = config["root"], config["package_name"]
    sandbox.build_shared_root(config)
    os.makedirs(root + SOURCE, mode=0o700)
    os.chmod(root + SOURCE, 0o700)
    os.makedirs(root + f"{SOURCE}/{package}")
    sandbox.bind_readonly(config["package_source"], root + f"{SOURCE}/{package}")
    os.makedirs(root + f"/grader/{package}")
    sandbox.seal_root(root)


def main():
    config = json.loads(sys.argv[1])
    control_fd, requests = config["control_fd"], socket.socket(fileno=config["request_fd"])
    os.set_inheritable(control_fd, False)
    try:
        socket.sethostname("sandbox")
        build_template_root(config)
        sys.path.insert(0, "/grader")
        import numpy  # noqa: F401
        import worker
    except Exception as error:
        print(f"sandbox template setup failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        os._exit(111)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    requests.send(b"ready")
    served = serve_requests(requests, control_fd, config, worker)
    try:
        os.kill(-1, signal.SIGKILL)        # every process of the template, every part's included
    except ProcessLookupError:
        pass
    _reap_all()
    for uid in served:
        sandbox.clear_keyrings(uid, uid)
    os._exit(0)


def serve_requests(requests, control_fd, config, worker):
    """Fork a part for each request until the grader lets go; the user ids served."""
    served = set()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda number, frame: None)
    while True:
        _reap_exited()
        ready, _, _ = select.select([requests, control_fd, wake_read], [], [])
        if control_fd in ready:
            return served
        if wake_read in ready:
            os.read(wake_read, 4096)
        if requests not in ready:
            continue
        request, fds = _receive(requests)
        if request is None:
            return served
        served.add(request["uid"])
        child = os.fork()
        if child == 0:
            for fd in (control_fd, wake_read, wake_write):
                os.close(fd)
            start_part(request, fds, requests, config, worker)
        for fd in fds:
            os.close(fd)


def _receive(requests):
    """``(request, fds)`` of one message from the grader, or ``(None, [])`` once it closed the socket."""
    fds = array.array("i")
    data, ancillary, _flags, _address = requests.recvmsg(MAX_REQUEST, socket.CMSG_SPACE(PART_FDS * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    if not data:
        return None, []
    return json.loads(data), list(fds)


def start_part(request, fds, requests, config, worker):
    """In the forked child: new namespaces, then the part's process 1.  Never returns."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        if len(fds) != PART_FDS:
            raise OSError(f"a part needs {PART_FDS} file descriptors, the request carried {len(fds)}")
        unshare(PART_NAMESPACES)
        first = os.fork()               # process 1 of the part's PID namespace
    except Exception as error:
        _report(requests, f"failed: {type(error).__name__}: {error}", request)
        os._exit(111)
    if first == 0:
        part_first_process(request, fds, requests, config, worker)
    requests.close()
    for fd in fds:
        os.close(fd)
    os.waitpid(first, 0)
    os._exit(0)


def part_first_process(request, fds, requests, config, worker):
    """Process 1 of a part: its own /tmp, /proc and package view, then the worker.  Never returns."""
    stdin, stdout, stderr, control = fds
    try:
        os.setsid()
        build_part_root(request, config)
        worker_pid = os.fork()
    except Exception as error:
        _report(requests, f"failed: {type(error).__name__}: {error}", request)
        os._exit(111)
    if worker_pid == 0:
        become_forked_worker(request, stdin, stdout, stderr, worker)
    _report(requests, "ready", request)
    requests.close()
    for fd in (stdin, stdout, stderr):
        os.close(fd)
    code = sandbox.serve(worker_pid, control)
    sandbox.end_sandbox({"uid": request["uid"], "gid": request["uid"]})
    os._exit(code if code >= 0 else 128 - code)


def build_part_root(request, config):
    """What one part alone sees, in its new mount namespace: a fresh /tmp, its processes in /proc,
    its view of the course package (also over every other copy in sight), and not the package's source."""
    sandbox.mount(None, "/", None, sandbox.MS_REC | sandbox.MS_PRIVATE)
    fresh_tmp(config["expose"], request["limits"])
    sandbox.mount_proc("/proc")
    package = config["package_name"]
    view = f"/grader/{package}"
    sandbox.mount("tmpfs", view, "tmpfs", sandbox.MS_NOSUID | sandbox.MS_NODEV, "size=4m,mode=755")
    sandbox.write_package_files({**request["package"], "source": f"{SOURCE}/{package}"}, view)
    sandbox.mount(None, view, None, sandbox.MS_REMOUNT | sandbox.MS_RDONLY | sandbox.MS_NOSUID | sandbox.MS_NODEV)
    for path in request["package"]["shadowed"]:
        if os.path.isdir(path):
            sandbox.bind_readonly(view, path)
    sandbox.mount("tmpfs", SOURCE, "tmpfs", sandbox.MS_RDONLY | sandbox.MS_NOSUID | sandbox.MS_NODEV,
                  "size=4k,mode=700")
    os.chdir("/tmp")


def fresh_tmp(exposed, limits):
    """A new, empty /tmp; what the template exposed beneath it (a course cloned under /tmp, say) is
    bound again on top, as the template has it (read-only)."""
    kept = []
    for path in sorted((p for p in exposed if p.startswith("/tmp/")), key=lambda p: p.count("/")):
        if os.path.islink(path):
            kept.append((path, "link", os.readlink(path)))
        elif os.path.exists(path):
            kept.append((path, "dir" if os.path.isdir(path) else "file", os.open(path, os.O_PATH)))
    sandbox.mount_scratch_tmp("/tmp", limits)
    for path, kind, held in kept:
        os.makedirs(path if kind == "dir" else os.path.dirname(path), exist_ok=True)
        if kind == "link":
            if not os.path.lexists(path):
                os.symlink(held, path)
            continue
        if kind == "file":
            open(path, "a").close()
        # Recursively: the template's own mounts beneath it come along (the installed packages' view
        # over a virtual environment under /tmp, say); each of them is read-only already.
        sandbox.mount(f"/proc/self/fd/{held}", path, None, sandbox.MS_BIND | sandbox.MS_REC)
        sandbox.mount(None, path, None, sandbox.MS_REMOUNT | sandbox.MS_BIND | sandbox.MS_RDONLY
                      | sandbox.MS_NOSUID | sandbox.MS_NODEV)
        os.close(held)


def become_forked_worker(request, stdin, stdout, stderr, worker):
    """In the part's second process: the worker, as ``python -I -B /grader/worker.py`` would start.  Never returns."""
    try:
        for target, fd in enumerate((stdin, stdout, stderr)):
            os.dup2(fd, target)
        os.closerange(3, _highest_fd() + 1)
        for number, handler in ((signal.SIGINT, signal.default_int_handler), (signal.SIGPIPE, signal.SIG_IGN),
                                (signal.SIGXFSZ, signal.SIG_IGN), (signal.SIGCHLD, signal.SIG_DFL)):
            signal.signal(number, handler)
        sandbox.drop_to_worker(request["limits"], request["uid"], request["uid"], False)
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["/grader/worker.py"]
        sys.path[:] = ["/grader", *sys.path[2:]]     # the template's own folder and /grader, as python -I would
        sys.path_importer_cache.clear()
        sys.modules["__main__"] = worker
        import numpy
        numpy.random.seed()           # not the template's draws: each worker its own, as a fresh Python
    except BaseException as error:
        print(f"sandbox setup failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        os._exit(111)
    try:
        worker.main()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os._exit(0)


def _highest_fd():
    return max(int(name) for name in os.listdir("/proc/self/fd"))


def _report(requests, text, request):
    """Tell the grader how its request went; the reply ends with the request's number."""
    try:
        requests.send(f"{text[:2000]} {request.get('number')}".encode())
    except OSError:
        pass


def _reap_exited():
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _reap_all():
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


if __name__ == "__main__":
    main()
