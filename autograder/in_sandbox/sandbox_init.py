"""First process of a sandbox: builds its private filesystem, then runs the worker.

The grader starts this file through
``unshare --net --mount --pid --ipc --uts --fork --kill-child`` (as root, or, at
the ``userns`` level, as root of a new user namespace), so it runs as process 1
of a fresh PID namespace, with a private mount namespace, a network namespace
that has no interfaces up, System V IPC of its own and the hostname ``sandbox``.
It then

1. mounts a small tmpfs as the new root and bind-mounts, read-only and at
   their usual paths, only what Python needs: the system directories, the
   Python installation and virtual environment (never the course directory:
   no ``autograder/``, ``solutions/``, ``submitted/`` or ``gradebook.db``);
2. adds ``/dev/null`` and friends (no ``/dev/shm``), a private ``/proc`` with
   ``/proc/sys`` read-only and a size-limited tmpfs at ``/tmp`` (the worker's
   scratch directory);
3. covers each folder of installed packages with a view that holds numpy and,
   for every other package, a module refusing the import
   (:func:`write_installed_view`); copies the worker's two files to ``/grader``,
   and beside them the part's view of the course package (:func:`write_package_view`: the allowed modules
   of the grader's own ``cnnbook``, a refusing module for each other one),
   which is also mounted over any other ``cnnbook`` folder in sight; makes the
   root read-only and ``chroot``s into it;
4. forks the worker, which drops to an unprivileged user (or, in a user
   namespace, drops every capability), joins a session keyring of its own with
   its user's keyrings emptied, takes the resource limits and ``no_new_privs``,
   and executes ``python -I -B /grader/worker.py``;
5. waits until the worker exits or the grader lets go of the sandbox (it closes
   its end of the control pipe, or dies, which closes it too); then kills every
   process left in the namespace and empties the keyrings of the sandbox's user
   id, so that nothing the student started or stored survives, and exits.

If ``unshare`` itself is killed (the grader's last resort), ``--kill-child`` kills
this process and the kernel everything in the namespace.  This file is trusted
code; no student code ever runs in this process.
"""
import ctypes
import json
import os
import resource
import select
import shutil
import signal
import socket
import sys

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
# keyctl(2): a new anonymous session keyring, and emptying one.
KEYCTL_JOIN_SESSION_KEYRING = 1
KEYCTL_CLEAR = 7
KEY_SPEC_USER_KEYRING = -4
KEY_SPEC_USER_SESSION_KEYRING = -5
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}
ENOSYS = 38
# Root is not special (NOROOT) and that cannot be undone (NOROOT_LOCKED).
SECBIT_NOROOT_AND_LOCKED = 0b11

_libc = ctypes.CDLL(None, use_errno=True)
WORKER_FILES = ("worker.py", "wire.py")


def prctl(option, value):
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl({option}, {value}): {os.strerror(errno)}")


def drop_capabilities():
    """In a user namespace the worker is "root" there: take away everything that makes root special.

    Emptying the bounding set and setting NOROOT means the worker's execve
    grants no capability back, so it cannot remount the read-only views or
    undo its limits.
    """
    with open("/proc/sys/kernel/cap_last_cap") as handle:
        last = int(handle.read())
    for capability in range(last + 1):
        prctl(PR_CAPBSET_DROP, capability)
    prctl(PR_SET_SECUREBITS, SECBIT_NOROOT_AND_LOCKED)


def keyctl(operation, argument):
    number = SYS_KEYCTL.get(os.uname().machine)
    if number is None:
        raise OSError(22, f"keyctl: no system call number known for {os.uname().machine}")
    if _libc.syscall(number, operation, ctypes.c_long(argument), 0, 0, 0) == -1:
        errno = ctypes.get_errno()
        raise OSError(errno, f"keyctl({operation}, {argument}): {os.strerror(errno)}")


def fresh_keyrings():
    """A session keyring of the worker's own, and this user's keyrings emptied.

    Kernel keyrings are not in any of the sandbox's namespaces: the session keyring is
    inherited from the grader (and possessed, hence readable), and a user's keyrings outlive
    its processes.  So a worker joins a new session keyring and empties the keyrings of its
    user id, which a finished sandbox may have filled under the same id.  A kernel without
    keyrings (ENOSYS) has nothing to share.
    """
    try:
        keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0)
        for keyring in (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING):
            keyctl(KEYCTL_CLEAR, keyring)
    except OSError as error:
        if error.errno != ENOSYS:
            raise


def mount(source, target, fstype, flags, data=None):
    encode = (lambda text: text.encode() if text is not None else None)
    if _libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def bind_readonly(path, target):
    mount(path, target, None, MS_BIND)
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def expose(path, root):
    """Make ``path`` visible, read-only, at the same place under ``root``."""
    target = root + path
    if os.path.islink(path):
        # Debian's /bin -> usr/bin and friends: recreate the link, not its target.
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    elif os.path.exists(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    else:
        return
    bind_readonly(path, target)


def add_device(path, root):
    target = root + path
    os.makedirs(os.path.dirname(target), exist_ok=True)
    open(target, "a").close()
    mount(path, target, None, MS_BIND)


def write_package_view(view, folder):
    """The course package as this part sees it, in ``folder``: its allowed modules, and a module
    raising the rule for each other one (``view``: a
    :class:`~autograder.isolation.course_package.PackageView` as a dict)."""
    target = os.path.join(folder, os.path.basename(view["source"]))
    os.makedirs(target)
    write_package_files(view, target)
    return target


def write_package_files(view, target):
    """The files of the view in the existing folder ``target``; the allowed modules are copied from
    ``view["source"]`` by the kernel (this process never holds their text)."""
    for name in view["modules"]:
        shutil.copyfile(os.path.join(view["source"], name + ".py"), os.path.join(target, name + ".py"))
    package = os.path.basename(view["source"])
    for name in view["hidden"]:
        with open(os.path.join(target, name + ".py"), "w") as handle:
            handle.write(f"raise ImportError({package + '.' + name + ' ' + view['refusal']!r})\n")
    for path in (target, *(os.path.join(target, name) for name in os.listdir(target))):
        os.chmod(path, 0o755 if os.path.isdir(path) else 0o644)


def write_installed_view(view, refusal, root):
    """Cover a folder of installed packages with its view: numpy's entries, and a refusing module for
    every other one (``view``: one of :func:`~autograder.isolation.installed_packages.package_views`)."""
    target = root + view["path"]
    if not os.path.isdir(target):
        return
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    for entry in view["keep"]:
        expose(os.path.join(view["path"], entry), root)
    for name in view["hide"]:
        with open(os.path.join(target, name + ".py"), "w") as handle:
            handle.write(f"raise ImportError({name + ' ' + refusal!r})\n")
    mount(None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def set_limits(limits):
    """The resource limits a worker takes at every isolation level (``limits``: :class:`Limits` as a dict)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["as_bytes"], limits["as_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["fsize_bytes"], limits["fsize_bytes"]))


def build_root(config):
    """The sandbox's whole filesystem view, its course package view included, then ``chroot`` into it."""
    root = config["root"]
    build_shared_root(config)
    # The worker imports the course package from beside itself; any other copy it could reach
    # shows the same view.
    view = write_package_view(config["package"], root + "/grader")
    for path in config["package"]["shadowed"]:
        if os.path.isdir(root + path):
            bind_readonly(view, root + path)
    seal_root(root)


def build_shared_root(config):
    """Everything of the view but the course package: what every part of every submission sees alike."""
    root = config["root"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    # nr_inodes bounds what empty files cost the host's kernel, which size= does not count.
    mount("tmpfs", root, "tmpfs", MS_NOSUID, "size=16m,nr_inodes=4096,mode=755")
    # The scratch /tmp comes first: a course that itself lives under /tmp (a CI
    # clone, say) then has its exposed paths bind-mounted inside it instead of
    # being hidden by it.
    os.makedirs(root + "/tmp")
    mount_scratch_tmp(root + "/tmp", config["limits"])
    for path in sorted(config["expose"], key=lambda p: p.count("/")):
        expose(path, root)
    for device in ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"):
        add_device(device, root)
    os.makedirs(root + "/proc")
    mount_proc(root + "/proc")
    os.makedirs(root + "/grader")
    here = os.path.dirname(os.path.abspath(__file__))
    for name in WORKER_FILES:
        shutil.copyfile(os.path.join(here, name), os.path.join(root, "grader", name))
        os.chmod(os.path.join(root, "grader", name), 0o644)
    for view in config["installed"]["views"]:
        write_installed_view(view, config["installed"]["refusal"], root)


def mount_scratch_tmp(target, limits):
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={limits['tmp_bytes']},nr_inodes={limits['tmp_inodes']},mode=1777")


def mount_proc(target):
    """A /proc of the caller's PID namespace, its kernel settings read-only (they stay the kernel's,
    even for a worker that is root of a user namespace)."""
    mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    bind_readonly(target + "/sys", target + "/sys")


def seal_root(root):
    mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID)
    os.chdir(root)
    os.chroot(".")
    os.chdir("/tmp")


def become_worker(config):
    """In the forked child: drop privileges, take the limits, become the worker."""
    drop_to_worker(config["limits"], config["uid"], config["gid"], config["userns"])
    python = config["python"]
    os.execve(python, [python, "-I", "-B", "/grader/worker.py"], config["env"])


def drop_to_worker(limits, uid, gid, userns):
    """Take the worker's limits and user (or, in a user namespace, drop every capability), a
    session keyring of its own and ``no_new_privs``; nothing undoes any of it."""
    set_limits(limits)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["nofile"], limits["nofile"]))
    # Counted per user id.  With a sandbox uid of its own (namespaces level) it limits exactly
    # this sandbox; in a user namespace the kernel may count it against all of the instructor's
    # processes, or not enforce it, so the userns level does not promise it.
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["nproc"], limits["nproc"]))
    if userns:
        drop_capabilities()
    else:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    fresh_keyrings()
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def serve(worker_pid, control_fd):
    """Reap every child until the worker exits or the grader lets go; the worker's exit status.

    The grader holds the only write end of the control pipe: it closes it to end the sandbox,
    and the kernel closes it when the grader dies, even by SIGKILL.  Either way the pipe
    reads end-of-file here, however busy the worker is.
    """
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda number, frame: None)
    while True:
        code = _reap(worker_pid)
        if code is not None:
            return code
        ready, _, _ = select.select([wake_read, control_fd], [], [])
        if control_fd in ready:
            return 0
        os.read(wake_read, 4096)


def _reap(worker_pid):
    """Collect the children that have exited (orphans of the worker come to this process too)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 1
        if pid == 0:
            return None
        if pid == worker_pid:
            return os.waitstatus_to_exitcode(status)


def end_sandbox(config):
    """Kill everything left in the namespace, then empty the keyrings of its user id.

    Keys outlive the processes that stored them (they belong to the user id, not to a
    namespace), so this runs on every way a sandbox ends, the grader's death included.
    """
    try:
        os.kill(-1, signal.SIGKILL)         # every process of this PID namespace but this one
    except ProcessLookupError:
        pass
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break
    if config["uid"] is not None:
        clear_keyrings(config["uid"], config["gid"])


def clear_keyrings(uid, gid):
    """Empty the keyrings of ``uid``, from a child that becomes that user (this process stays root)."""
    cleaner = os.fork()
    if cleaner == 0:
        code = 1
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            fresh_keyrings()
            code = 0
        finally:
            os._exit(code)
    os.waitpid(cleaner, 0)


def main():
    config = json.loads(sys.argv[1])
    control_fd = config["control_fd"]
    os.set_inheritable(control_fd, False)
    try:
        socket.sethostname("sandbox")
        build_root(config)
    except OSError as error:
        print(f"sandbox setup failed: {error}", file=sys.stderr, flush=True)
        os._exit(111)
    worker_pid = os.fork()
    if worker_pid == 0:
        try:
            become_worker(config)
        except BaseException as error:
            print(f"sandbox setup failed: {error}", file=sys.stderr, flush=True)
        os._exit(111)
    # Only the worker (and whatever it starts) may hold the grader's pipes,
    # so that the grader sees end-of-file as soon as the worker is gone.
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    code = serve(worker_pid, control_fd)
    end_sandbox(config)
    os._exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
