"""Synthetic courses and submissions, to test and benchmark the grader.

A synthetic submission is the release notebooks with chosen answer cells
filled in (from the instructor solutions, or any source text) and, when a
test needs it, further edits to the notebook (a deleted test cell, stripped
metadata, a fake output).  It is written where nbgrader's ``collect`` would
put it: ``submitted/<student>/<assignment>/``.
"""
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat

from autograder.nbgrader_io import cells

REPO = Path(__file__).resolve().parents[1]
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.MULTILINE)


def make_course(target, repo_root, assignment="numpy_cnn"):
    """A throw-away course at ``target``: the repository's config, solutions, release and autograder.

    The autograder package is copied too, so that grading from ``target``
    (with ``target`` on PYTHONPATH) uses and protects that copy, exactly as
    in a real course directory.
    """
    target, repo_root = Path(target), Path(repo_root)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(repo_root / "nbgrader_config.py", target / "nbgrader_config.py")
    shutil.copytree(repo_root / "autograder", target / "autograder", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".secret"))
    for folder in ("solutions", "exercises"):
        source = repo_root / folder / assignment
        if source.is_dir():
            shutil.copytree(source, target / folder / assignment, dirs_exist_ok=True)
    return target


def grader_environment(course, secret):
    """Environment for ``python -m autograder`` (or nbgrader) run in the throw-away ``course``.

    The course's own copy of autograder/ comes first on the path, the secret is
    fixed, and this interpreter's scripts are on PATH (nbgrader runs ``alembic``).
    """
    env = dict(os.environ, PYTHONPATH=str(course), AUTOGRADER_SECRET=secret)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def solution_answers(solutions_dir):
    """``{grade_id: source}`` of every answer cell of the instructor solutions, markers removed.

    That is what a student's answer cell looks like once the work is done.
    """
    answers = {}
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        for gid, cell in cells.answer_cells(cells.read_notebook(path)).items():
            answers[gid] = SOLUTION_MARKERS.sub("", cells.cell_source(cell))
    return answers


def write_submission(course, student, assignment, answers, edit=None, timestamp="2026-03-01 12:00:00"):
    """Write a submission: the release with ``answers`` (``{grade_id: source}``) filled in.

    ``edit(name, notebook)`` may change each notebook further (or return None
    to leave that notebook out of the submission).
    """
    release = Path(course) / "exercises" / assignment
    folder = Path(course) / "submitted" / student / assignment
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for path in sorted(release.glob("*.ipynb")):
        notebook = cells.read_notebook(path)
        for cell in notebook.cells:
            gid = cells.grade_id(cell)
            if gid in answers and cells.is_answer_cell(cell):
                cell.source = answers[gid]
        if edit is not None:
            notebook = edit(path.stem, notebook)
        if notebook is not None:
            nbformat.write(notebook, str(folder / path.name))
    (folder / "timestamp.txt").write_text(timestamp + "\n", encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------
# Answer cells: a second correct implementation and typical bugs
# ---------------------------------------------------------------------------
# Each entry replaces one answer cell.  The bugs are the ones students really
# make; BUGS maps a name to (part, source) with the correct REFERENCE code
# elsewhere.  The expected scores live in the tests, check by check.

CONV_FORWARD = '''
import numpy as np

def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param['stride'], conv_param['pad']
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)
'''

CONV_BACKWARD = '''
import numpy as np

def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param['stride'], conv_param['pad']
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i * stride, i * stride + HH)
            cols = slice(j * stride, j * stride + WW)
            dw += np.tensordot(dout[:, :, i, j], xp[:, :, rows, cols], axes=([0], [0]))
            dxp[:, :, rows, cols] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db
'''

POOL_FORWARD = '''
import numpy as np

def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    N, C, H, W = x.shape
    H_out = 1 + (H - ph) // s
    W_out = 1 + (W - pw) // s
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)
'''

POOL_BACKWARD = '''
import numpy as np

def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    dx = np.zeros_like(x)
    N, C, H_out, W_out = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
                    r, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * s + r, j * s + q] += dout[n, c, i, j]
    return dx
'''

BN_FORWARD = '''
import numpy as np

def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param['mode']
    eps = bn_param.get('eps', 1e-5)
    momentum = bn_param.get('momentum', 0.9)
    C = x.shape[1]
    running_mean = bn_param.get('running_mean', np.zeros(C, dtype=x.dtype))
    running_var = bn_param.get('running_var', np.zeros(C, dtype=x.dtype))
    shape = (1, C, 1, 1)
    if mode == 'train':
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))
        x_hat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
        bn_param['running_mean'] = momentum * running_mean + (1 - momentum) * mean
        bn_param['running_var'] = momentum * running_var + (1 - momentum) * var
        std = np.sqrt(var + eps)
    else:
        x_hat = (x - running_mean.reshape(shape)) / np.sqrt(running_var.reshape(shape) + eps)
        std = np.sqrt(running_var + eps)
    out = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    # The cache the release's provided line stores: (x_hat, gamma, inv_std, mode).
    return out.astype(x.dtype, copy=False), (x_hat, gamma, 1 / std, mode)
'''

BN_BACKWARD = '''
import numpy as np

def spatial_batchnorm_backward(dout, cache):
    x_hat, gamma, inv_std, mode = cache
    shape = (1, x_hat.shape[1], 1, 1)
    dbeta = dout.sum(axis=(0, 2, 3))
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3))
    dx_hat = dout * gamma.reshape(shape)
    if mode == 'test':
        return dx_hat * inv_std.reshape(shape), dgamma, dbeta
    dx = (dx_hat - dx_hat.mean(axis=(0, 2, 3), keepdims=True)
          - x_hat * (dx_hat * x_hat).mean(axis=(0, 2, 3), keepdims=True)) * inv_std.reshape(shape)
    return dx, dgamma, dbeta
'''

CONVNET = '''
import numpy as np
from cnnbook.layer_utils import (affine_relu_backward, affine_relu_forward, conv_relu_pool_backward,
                                 conv_relu_pool_forward)
from cnnbook.layers import affine_backward, affine_forward, softmax_loss


class ThreeLayerConvNet:
    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float32):
        C, H, W = input_dim
        self.reg, self.dtype = reg, dtype
        shapes = {'W1': (num_filters, C, filter_size, filter_size), 'b1': (num_filters,),
                  'W2': (num_filters * (H // 2) * (W // 2), hidden_dim), 'b2': (hidden_dim,),
                  'W3': (hidden_dim, num_classes), 'b3': (num_classes,)}
        self.params = {name: (weight_scale * np.random.randn(*shape) if name[0] == 'W'
                              else np.zeros(shape)).astype(dtype) for name, shape in shapes.items()}

    def loss(self, X, y=None):
        W1, b1, W2, b2, W3, b3 = (self.params[k] for k in ('W1', 'b1', 'W2', 'b2', 'W3', 'b3'))
        conv_param = {'stride': 1, 'pad': (W1.shape[2] - 1) // 2}
        pool_param = {'pool_height': 2, 'pool_width': 2, 'stride': 2}
        pooled, cache1 = conv_relu_pool_forward(X.astype(self.dtype), W1, b1, conv_param, pool_param)
        hidden, cache2 = affine_relu_forward(pooled, W2, b2)
        scores, cache3 = affine_forward(hidden, W3, b3)
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * sum(np.sum(W * W) for W in (W1, W2, W3))
        grads = {}
        dhidden, grads['W3'], grads['b3'] = affine_backward(dscores, cache3)
        dpooled, grads['W2'], grads['b2'] = affine_relu_backward(dhidden, cache2)
        _, grads['W1'], grads['b1'] = conv_relu_pool_backward(dpooled, cache1)
        for name, W in (('W1', W1), ('W2', W2), ('W3', W3)):
            grads[name] = grads[name] + self.reg * W
        return loss, grads
'''

SECOND_IMPLEMENTATIONS = {
    "conv_forward_naive": CONV_FORWARD,
    "conv_backward_naive": CONV_BACKWARD,
    "max_pool_forward_naive": POOL_FORWARD,
    "max_pool_backward_naive": POOL_BACKWARD,
    "spatial_batchnorm_forward": BN_FORWARD,
    "spatial_batchnorm_backward": BN_BACKWARD,
    "three_layer_convnet": CONVNET,
}
# Every part's correct answer: the second implementation where there is one, else the instructor
# solution, so that a new graded part is covered without an entry here.
REFERENCE = {**solution_answers(REPO / "solutions" / "numpy_cnn"), **SECOND_IMPLEMENTATIONS}


def _bug(part, old, new):
    source = REFERENCE[part]
    if old not in source:
        raise ValueError(f"bug template for {part} does not contain {old!r}")
    return part, source.replace(old, new)


BUGS = {
    "missing_bias": _bug("conv_forward_naive", "axes=([1, 2, 3], [1, 2, 3])) + b", "axes=([1, 2, 3], [1, 2, 3]))"),
    "square_kernel": _bug("conv_forward_naive", "F, _, HH, WW = w.shape", "F, _, HH, _ = w.shape\n    WW = HH"),
    "stride_ignored_backward": _bug("conv_backward_naive",
                                    "rows = slice(i * stride, i * stride + HH)\n"
                                    "            cols = slice(j * stride, j * stride + WW)",
                                    "rows = slice(i, i + HH)\n            cols = slice(j, j + WW)"),
    "pad_slice": _bug("conv_backward_naive", "dxp[:, :, pad:pad + H, pad:pad + W]", "dxp[:, :, pad:-pad, pad:-pad]"),
    "square_pool_window": _bug("max_pool_forward_naive", "ph, pw, s = pool_param['pool_height'], pool_param['pool_width']",
                               "ph, pw, s = pool_param['pool_height'], pool_param['pool_height']"),
    "pool_overwrite": _bug("max_pool_backward_naive", "j * s + q] += dout", "j * s + q] = dout"),
    # The mask version: every maximum of a window gets its gradient, so a tie pays it twice.
    "pool_mask_ties": _bug("max_pool_backward_naive",
                           "r, q = np.unravel_index(np.argmax(window), window.shape)\n"
                           "                    dx[n, c, i * s + r, j * s + q] += dout[n, c, i, j]",
                           "mask = window == window.max()\n"
                           "                    dx[n, c, i * s:i * s + ph, j * s:j * s + pw] += mask * dout[n, c, i, j]"),
    "per_pixel_bn": _bug("spatial_batchnorm_forward",
                         "mean = x.mean(axis=(0, 2, 3))\n        var = x.var(axis=(0, 2, 3))\n"
                         "        x_hat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)",
                         "mean = x.mean(axis=0)\n        var = x.var(axis=0)\n"
                         "        x_hat = (x - mean) / np.sqrt(var + eps)"),
    "running_not_updated": _bug("spatial_batchnorm_forward",
                                "        bn_param['running_mean'] = momentum * running_mean + (1 - momentum) * mean\n"
                                "        bn_param['running_var'] = momentum * running_var + (1 - momentum) * var\n",
                                "        running_mean = momentum * running_mean + (1 - momentum) * mean\n"
                                "        running_var = momentum * running_var + (1 - momentum) * var\n"),
    "dgamma_wrong": _bug("spatial_batchnorm_backward", "dgamma = (dout * x_hat).sum", "dgamma = dout.sum"),
    "reg_missing_in_grads": _bug("three_layer_convnet", "grads[name] + self.reg * W", "grads[name]"),
}


# ---------------------------------------------------------------------------
# Hostile answer cells
# ---------------------------------------------------------------------------
# What a student might do to game a grader that runs in the same process as
# the submission.  Each entry replaces one answer cell; `{course}`,
# `{autograder}` and `{cnnbook}` are filled with absolute paths so that the
# file attacks aim at the real targets.  The honest score of each cell is in
# the tests.  Run them only against a throw-away course (make_course with the
# autograder package copied in), never against a working tree you care about.

HOSTILE = {
    # Make every comparison pass and every assertion vanish, then return zeros.
    "monkeypatch_numpy_builtins": ("conv_forward_naive", '''
import builtins
import numpy as np
np.allclose = lambda *args, **kwargs: True
np.isclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
builtins.abs = lambda value: 0

def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param['stride'], conv_param['pad']
    shape = (x.shape[0], w.shape[0], 1 + (x.shape[2] + 2 * pad - w.shape[2]) // stride,
             1 + (x.shape[3] + 2 * pad - w.shape[3]) // stride)
    return np.zeros(shape, dtype=x.dtype), (x, w, b, conv_param)
'''),
    # Replace the grader's modules with fakes that hand out full marks.
    "fake_modules": ("conv_backward_naive", '''
import sys
import types
fake = types.ModuleType("autograder.notebook")
fake.grade_part = lambda part, namespace, max_points: max_points
sys.modules["autograder"] = types.ModuleType("autograder")
sys.modules["autograder.notebook"] = fake
sys.modules["torch"] = types.ModuleType("torch")

def conv_backward_naive(dout, cache):
    raise NotImplementedError
'''),
    # Hide every error and print what a passing grade looks like.
    "silence_and_fake_scores": ("max_pool_forward_naive", '''
import os
import sys
print("max_pool_forward_naive: 5 / 5 points")
sys.excepthook = lambda *args: None
sys.stderr = open(os.devnull, "w")

def max_pool_forward_naive(x, pool_param):
    print("All visible checks passed. 5 / 5 points")
    raise ValueError("nothing to see")
'''),
    # Exit the interpreter at load time, before anything is defined.
    "exit_at_load": ("conv_forward_naive", '''
import os
os._exit(0)

def conv_forward_naive(x, w, b, conv_param):
    raise NotImplementedError
'''),
    # sys.exit from inside the graded function.
    "sys_exit_in_call": ("max_pool_backward_naive", '''
import sys

def max_pool_backward_naive(dout, cache):
    sys.exit(0)
'''),
    # Kill the process from inside the graded function.
    "os_exit_in_call": ("spatial_batchnorm_backward", '''
import os

def spatial_batchnorm_backward(dout, cache):
    os._exit(1)
'''),
    # Never return.
    "endless_loop": ("spatial_batchnorm_backward", '''
def spatial_batchnorm_backward(dout, cache):
    while True:
        pass
'''),
    # Ask for far more memory than the sandbox allows.
    "huge_allocation": ("three_layer_convnet", '''
import numpy as np

class ThreeLayerConvNet:
    def __init__(self, *args, **kwargs):
        self.hoard = np.ones((6 << 30) // 8)
        self.params = {}

    def loss(self, X, y=None):
        raise NotImplementedError
'''),
    # Leave processes behind: a detached sleeper and a bomb of forks; the function itself is right.
    "background_processes": ("spatial_batchnorm_forward", BN_FORWARD + '''
import os
import subprocess
import time
subprocess.Popen(["sleep", "600"], start_new_session=True)
for _ in range(64):
    try:
        if os.fork() == 0:
            os.setsid()
            while True:
                time.sleep(1)
    except OSError:
        break
'''),
    # Read and overwrite files the grader depends on; the function itself is right.
    "file_attacks": ("conv_forward_naive", CONV_FORWARD + '''
import glob
import os
import shutil
stolen = {{}}
for pattern in ["{course}/submitted/*/*/*.ipynb", "{course}/solutions/*/*.ipynb", "{autograder}/*.py",
                "{autograder}/.secret"]:
    for path in glob.glob(pattern):
        try:
            stolen[path] = open(path).read()
        except OSError:
            pass
stolen["env"] = dict(os.environ)
print("stolen:", sorted(stolen))
for path in ["{course}/gradebook.db", "{autograder}/runner.py", "{cnnbook}/__attack__.py"]:
    try:
        with open(path, "w") as handle:
            handle.write("overwritten")
    except OSError:
        pass
for folder in ["{course}/submitted", "{course}/autograded", "{autograder}"]:
    shutil.rmtree(folder, ignore_errors=True)
'''),
}


def hostile_source(name, course, autograder_dir, cnnbook_dir):
    """``(part, source)`` of a hostile cell, aimed at the given paths."""
    part, template = HOSTILE[name]
    if name != "file_attacks":
        return part, template
    return part, template.format(course=course, autograder=autograder_dir, cnnbook=cnnbook_dir)


def synthetic_class(course, size, solutions_dir, assignment="numpy_cnn"):
    """``size`` students cycling through the instructor solutions, REFERENCE and each bug."""
    solutions = solution_answers(solutions_dir)
    variants = [dict(solutions), dict(REFERENCE)]
    for part, source in BUGS.values():
        variants.append({**solutions, part: source})
    students = []
    for index in range(size):
        student = f"student{index:03d}"
        write_submission(course, student, assignment, variants[index % len(variants)])
        students.append(student)
    return students


# ---------------------------------------------------------------------------
# Hostile cells that try to leave state for a later sandbox (tests/test_autograder_isolation_*.py)
# ---------------------------------------------------------------------------

# Each defines plant() (store something outside the worker's own memory) and harvest() (try to
# read what an earlier sandbox planted); harvest returns what it found, or an error text.
SHARED_STATE_ATTACKS = {
    # System V shared memory and a message queue under a fixed key every student knows.
    "sysv_ipc": '''
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
KEY, IPC_CREAT, MESSAGE = 0x5EED, 0o1000, b"answers of alice"

class Message(ctypes.Structure):
    _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 64)]

def plant():
    shm = libc.shmget(KEY, 4096, IPC_CREAT | 0o666)
    ctypes.memmove(libc.shmat(shm, None, 0), MESSAGE, len(MESSAGE))
    queue = libc.msgget(KEY, IPC_CREAT | 0o666)
    sent = libc.msgsnd(queue, ctypes.byref(Message(1, MESSAGE)), 64, 0)
    return [shm, queue, sent]

def harvest():
    found = []
    shm = libc.shmget(KEY, 0, 0)
    if shm >= 0:
        found.append(ctypes.string_at(libc.shmat(shm, None, 0), len(MESSAGE)))
    queue = libc.msgget(KEY, 0)
    message = Message()
    if queue >= 0 and libc.msgrcv(queue, ctypes.byref(message), 64, 0, 0o4000) >= 0:
        found.append(message.mtext)
    return [bytes(item).decode() for item in found]
''',
    # A kernel key in the user keyring and in the session keyring (keyctl(2) through syscall).
    "keyring": '''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
ADD_KEY, REQUEST_KEY = {"x86_64": (248, 249), "aarch64": (217, 218)}[os.uname().machine]
USER_KEYRING, SESSION_KEYRING = -4, -3

def plant():
    return [libc.syscall(ADD_KEY, b"user", b"leak", b"answers of alice", 16, ctypes.c_long(keyring))
            for keyring in (USER_KEYRING, SESSION_KEYRING)]

def harvest():
    found = libc.syscall(REQUEST_KEY, b"user", b"leak", None, ctypes.c_long(0))
    return [] if found < 0 else [f"key {found}"]
''',
    # POSIX shared memory lives in /dev/shm.
    "dev_shm": '''
import os

def plant():
    try:
        with open("/dev/shm/answers-of-alice", "w") as handle:
            handle.write("answers of alice")
        return "written"
    except OSError as error:
        return f"refused ({error.strerror})"

def harvest():
    try:
        return sorted(os.listdir("/dev/shm"))
    except OSError as error:
        return f"no /dev/shm ({error.strerror})"
''',
    # The hostname is per UTS namespace.
    "hostname": '''
import socket

def plant():
    try:
        socket.sethostname("hacked-by-alice")
        return "changed"
    except OSError as error:
        return f"refused ({error.strerror})"

def harvest():
    return socket.gethostname()
''',
}

# Signals every process of the caller's process group, which at the userns level used to hold the grader.
KILL_PROCESS_GROUP = '''
import os, signal

def strike():
    os.kill(0, signal.SIGKILL)
'''

# Naive layers built on the course's own implementations, each reached another way; every one
# is a working conv_forward_naive where cnnbook is whole, and must earn nothing for its part.
NAIVE_ON_COURSE_CODE = {
    # The release's own setup names the fast layer: just use it.
    "setup_name": '''
def conv_forward_naive(x, w, b, conv_param):
    return conv_forward_fast(x, w, b, conv_param)
''',
    "import_in_cell": '''
from cnnbook.fast_layers import conv_forward_fast

def conv_forward_naive(x, w, b, conv_param):
    return conv_forward_fast(x, w, b, conv_param)
''',
    # An assembled name, imported only when called.
    "assembled_name": '''
import importlib

def conv_forward_naive(x, w, b, conv_param):
    fast = importlib.import_module("cnnbook." + "fast_" + "layers")
    return fast.conv_forward_fast(x, w, b, conv_param)
''',
    # Another module that wraps the fast layers.
    "sandwich_layers": '''
def conv_forward_naive(x, w, b, conv_param):
    from cnnbook import layer_utils
    return layer_utils.conv_forward_fast(x, w, b, conv_param)
''',
    # The chapter's equations module, loaded straight from its file, wherever a package can be found.
    "by_file_path": '''
import importlib.util, os, sys

def conv_forward_naive(x, w, b, conv_param):
    for folder in sys.path:
        path = os.path.join(folder, "cnnbook", "fast_layers.py")
        if os.path.isfile(path):
            spec = importlib.util.spec_from_file_location("stolen_fast", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.conv_forward_fast(x, w, b, conv_param)
    raise RuntimeError("no fast layers found")
''',
}


# Naive layers that let another installed library do the work (tests/test_autograder_isolation_package.py).
NAIVE_ON_OTHER_LIBRARIES = {
    "torch_at_top": '''
import torch
import torch.nn.functional as F

def conv_forward_naive(x, w, b, conv_param):
    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                   stride=conv_param["stride"], padding=conv_param["pad"])
    return out.numpy(), (x, w, b, conv_param)
''',
    # scipy under an assembled name, imported only when called.
    "scipy_assembled_name": '''
import importlib
import numpy as np

def conv_forward_naive(x, w, b, conv_param):
    signal = importlib.import_module("sci" + "py.signal")
    pad, stride = conv_param["pad"], conv_param["stride"]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.stack([np.stack([sum(signal.correlate2d(xp[n, c], w[f, c], mode="valid") for c in range(x.shape[1]))
                              + b[f] for f in range(w.shape[0])]) for n in range(x.shape[0])])
    return out[:, :, ::stride, ::stride], (x, w, b, conv_param)
''',
    # torch's files read straight from where the environment keeps them.
    "torch_by_file_path": '''
import importlib.util, os, sys

def conv_forward_naive(x, w, b, conv_param):
    for folder in sys.path:
        path = os.path.join(folder, "torch", "__init__.py")
        if os.path.isfile(path):
            spec = importlib.util.spec_from_file_location("torch", path, submodule_search_locations=[])
            torch = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(torch)
            out = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                             stride=conv_param["stride"], padding=conv_param["pad"])
            return out.numpy(), (x, w, b, conv_param)
    raise RuntimeError("no torch found")
''',
}

# ---------------------------------------------------------------------------
# Hostile cells against the trust boundary (tests/test_autograder_boundary_*.py)
# ---------------------------------------------------------------------------
# Each replaces one answer cell with code that is right where it matters and tries to
# win points, read the hidden cases or forge feedback through what crosses the boundary.

# Student code that patches the sandbox's worker to report a call's arguments as they were before it.
FORGED_ARGUMENTS_REPORT = '''
import copy
import sys

_Worker = next(module.Worker for module in list(sys.modules.values()) if hasattr(module, "Worker"))
_original_call = _Worker.call

def _lying_call(self, header, arrays):
    before = copy.deepcopy(self.decode(header["args"], arrays))
    reply = _original_call(self, header, arrays)
    if "args_after" in reply:
        reply["args_after"] = (before, reply["args_after"][1])
    return reply

_Worker.call = _lying_call
'''
HONEST_CONV_FORWARD = CONV_FORWARD.replace("def conv_forward_naive", "def _honest")

BOUNDARY_HOSTILE = {
    # Correct output, then the input is modified; the worker is patched to report the
    # arguments as they were before the call.
    "lying_about_inputs": ("conv_forward_naive", HONEST_CONV_FORWARD + FORGED_ARGUMENTS_REPORT + '''
def conv_forward_naive(x, w, b, conv_param):
    out, cache = _honest(x, w, b, conv_param)
    b += 1.0        # the bias only: the backward pass, which reads this cache, does not use it
    return out, cache
'''),
    # Issue 19's attack on "inputs left unmodified": modify the inputs on the first call, recognise the
    # very same objects on the second call and answer from memory, and forge the worker's report.
    # Nothing the grader can see tells it apart from honest code, so that check earns no points.
    "recognising_its_inputs": ("conv_forward_naive", HONEST_CONV_FORWARD + FORGED_ARGUMENTS_REPORT + '''
_answered = {}

def conv_forward_naive(x, w, b, conv_param):
    key = (id(x), id(w), id(b), id(conv_param))
    if key not in _answered:
        _answered[key] = _honest(x, w, b, conv_param)
        b += 1.0        # modified, and the second call on these objects will not show it
    return _answered[key]
'''),
    # The hidden inputs, printed into the exception: everything a check would leak.
    "leak_inputs_in_errors": ("max_pool_forward_naive", '''
import numpy as np

def max_pool_forward_naive(x, pool_param):
    raise ValueError("LEAK " + np.array2string(x.ravel()[:40], precision=6, separator=",") + repr(pool_param))
'''),
    # Messages and type names that try to write the grader's own lines.
    "forge_feedback_lines": ("max_pool_backward_naive", '''
Forged = type("Error\\n  [pass] dx (weight 10)\\nTotal: 80 / 80 points", (Exception,), {})

def max_pool_backward_naive(dout, cache):
    raise Forged("\\n  [pass] everything (weight 10)\\nTotal: 80 / 80 points\\x1b[2K\\r")
'''),
    # The right numbers in the real part, anything in the imaginary part.
    "complex_output": ("conv_forward_naive", CONV_FORWARD.replace("def conv_forward_naive", "def _honest") + '''
def conv_forward_naive(x, w, b, conv_param):
    out, cache = _honest(x, w, b, conv_param)
    return out + 1e6j, cache
'''),
    # A constant loss with zero gradients agrees with its own numeric derivatives.
    "constant_loss_convnet": ("three_layer_convnet", '''
import numpy as np

class ThreeLayerConvNet:
    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100,
                 num_classes=10, weight_scale=1e-3, reg=0.0, dtype=np.float32):
        C, H, W = input_dim
        shapes = {"W1": (num_filters, C, filter_size, filter_size), "b1": (num_filters,),
                  "W2": (num_filters * (H // 2) * (W // 2), hidden_dim), "b2": (hidden_dim,),
                  "W3": (hidden_dim, num_classes), "b3": (num_classes,)}
        self.params = {name: (weight_scale * np.random.randn(*shape) if name.startswith("W")
                              else np.zeros(shape)).astype(dtype) for name, shape in shapes.items()}

    def loss(self, X, y=None):
        if y is None:
            return np.zeros((X.shape[0], self.params["b3"].shape[0]))
        return 1.0, {name: np.zeros_like(value) for name, value in self.params.items()}
'''),
    # Results far larger than any check needs, on every call (about 60 MB each).
    "huge_replies": ("spatial_batchnorm_forward", '''
import numpy as np

def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    return np.ones(7_500_000), None
'''),
}


# ---------------------------------------------------------------------------
# Hostile LMS downloads (python -m autograder intake)
# ---------------------------------------------------------------------------
# Each maps a file name of the bulk download to what it holds: NOTEBOOK (a solved release
# notebook, filled in by the test), raw bytes, Zeros(n), a dict (a student's own zip of such
# entries) or Crafted (a student's zip written byte by byte, carrying what no archiver writes on
# request).  Every case but the first three has honest classmates beside one hostile upload: they
# must all be collected, whatever the hostile one does.
NOTEBOOK = object()
RELEASE_NOTEBOOKS = ("convnet", "convolution", "max_pooling", "spatial_batchnorm")


class Zeros:
    """``size`` zero bytes, made when the download is built: deflate shrinks them about 1000 to 1."""
    def __init__(self, size):
        self.size = size


class Crafted:
    """A student's zip of ``entries``, deflated, then altered as ``how`` says: "deflated" (not
    altered), "encrypted" (the
    password flag a ZipCrypto archive carries), "deflate64" (method 9, which zipfile cannot read),
    "bzip2" (method 12, compressed so),
    "declares_3_gib" (each entry's expanded size in the directory), "declares_1000_bytes" (although
    each expands to more), "20000_entries" or "20000_entries_counted_as_1" (empty extra entries; the
    second's end record says there is one)."""
    def __init__(self, how, entries):
        self.how, self.entries = how, entries


# Two honest students per system, by id, with the prefix the system writes for each.
CLASSMATES = {
    "canvas": {"102": "jonesbob_102_9002_", "103": "leecarol_LATE_103_9003_"},
    "blackboard": {"bob": "numpy_cnn_bob_attempt_2026-11-30-10-00-00_",
                   "carol": "numpy_cnn_carol_attempt_2026-11-30-11-00-00_"},
    "moodle": {"502": "Bob Jones_502_assignsubmission_file_/", "503": "Carol Lee_503_assignsubmission_file_"},
}


def _one_hostile(lms, entries):
    """``entries`` beside the full uploads of ``lms``'s two honest classmates."""
    honest = {f"{prefix}{name}.ipynb": NOTEBOOK for prefix in CLASSMATES[lms].values() for name in RELEASE_NOTEBOOKS}
    return (lms, {**honest, **entries})


_FULL_ZIP = {f"numpy_cnn/{name}.ipynb": NOTEBOOK for name in RELEASE_NOTEBOOKS}
HOSTILE_LMS = {
    # A Blackboard "username" that is a path: its folder would land outside submitted/.
    "student_id_is_a_path": ("blackboard", {
        "numpy_cnn_.._attempt_2026-11-30-14-05-33_convolution.ipynb": NOTEBOOK,
        "numpy_cnn_alice_attempt_2026-11-30-14-05-33_convolution.ipynb": NOTEBOOK}),
    # Entries of a student's zip whose names climb out of any folder they were unpacked into.
    "zip_entries_climb_out": ("canvas", {
        "smithalice_101_9001_numpy_cnn.zip": {"../../../escaped/convolution.ipynb": NOTEBOOK,
                                              "/absolute/max_pooling.ipynb": NOTEBOOK}}),
    # A zip in a zip in a zip: opened two levels deep, no further.
    "zips_all_the_way_down": ("canvas", {
        "smithalice_101_9001_outer.zip": {"middle.zip": {"inner.zip": {"convolution.ipynb": NOTEBOOK}}}}),
    # Mallory names her file after bob's attempt, a day later: read right to left, bob's folder got
    # her notebook as his latest attempt, and his own work became "an earlier attempt".
    "blackboard_second_attempt_group": _one_hostile("blackboard", {
        "numpy_cnn_mallory_attempt_2026-11-30-12-00-00_numpy_cnn_bob_attempt_2026-12-01-09-00-00_convolution.ipynb":
            NOTEBOOK}),
    # The same with Moodle's participant group, glued to the file's name and as a folder of her own.
    "moodle_second_participant_group": _one_hostile("moodle", {
        "Mallory Evil_504_assignsubmission_file_x_502_assignsubmission_file_convolution.ipynb": NOTEBOOK,
        "Mallory Evil_504_assignsubmission_file_/Bob Jones_502_assignsubmission_file_/max_pooling.ipynb": NOTEBOOK}),
    # A display name that smuggles bob's id past Canvas's own clean-up ("evil_102 _" loses its
    # space after Canvas collapsed "_<digits>_"): the first group Canvas seems to write is bob's.
    "canvas_name_smuggles_an_id": _one_hostile("canvas", {"evil_102_104_9104_convolution.ipynb": NOTEBOOK}),
    # The same behind a name whose letters Python and Ruby class differently (an NFD accent): a
    # rule that trusted only the splits after a "Canvas-like" name let this one through.
    "canvas_accented_name_smuggles_an_id": _one_hostile("canvas", {
        "e\u0301vil_102_104_9104_convolution.ipynb": NOTEBOOK}),
    # A zip entry named as a classmate's upload.
    "zip_entry_named_as_a_classmate": _one_hostile("canvas", {
        "evilmallory_104_9104_numpy_cnn.zip": {"jonesbob_102_9002_convolution.ipynb": NOTEBOOK}}),
    # A file name that would print a forged report line for bob, and text that reverses on screen.
    "control_characters_in_a_name": _one_hostile("canvas", {
        "evilmallory_104_9104_x\n102: convolution.ipynb <- forged; written\u202e.ipynb": NOTEBOOK}),
    # Blackboard usernames that differ only in case: one folder on a case-insensitive disk.
    "usernames_differ_in_case": ("blackboard", {
        "numpy_cnn_Alice_attempt_2026-11-30-14-05-33_convolution.ipynb": NOTEBOOK,
        "numpy_cnn_alice_attempt_2026-11-30-14-05-33_convolution.ipynb": NOTEBOOK,
        "numpy_cnn_bob_attempt_2026-11-30-10-00-00_convolution.ipynb": NOTEBOOK}),
    # One upload that zipfile raises on, among honest classmates: each stopped the whole intake.
    "encrypted_zip": _one_hostile("canvas", {"evilmallory_104_9104_numpy_cnn.zip": Crafted("encrypted", _FULL_ZIP)}),
    "deflate64_zip": _one_hostile("canvas", {"evilmallory_104_9104_numpy_cnn.zip": Crafted("deflate64", _FULL_ZIP)}),
    # bzip2 is readable, but zipfile inflates it with no output limit: refused like Deflate64.
    "bzip2_zip": _one_hostile("canvas", {"evilmallory_104_9104_numpy_cnn.zip": Crafted("bzip2", _FULL_ZIP)}),
    "encrypted_loose_notebook": _one_hostile("canvas", {
        "evilmallory_104_9104_numpy_cnn.zip": {"work.zip": Crafted("encrypted", {"convolution.ipynb": NOTEBOOK})}}),
    # Bomb shapes: a directory that declares gigabytes, one that declares 1000 bytes of 64 MiB, ten
    # "zips" of 64 MiB of zeros each (honestly declared: 640 MiB from a 640 KiB upload), and
    # 20,000 entries, counted honestly or as one.
    "declares_gigabytes": _one_hostile("canvas", {
        "evilmallory_104_9104_numpy_cnn.zip": Crafted("declares_3_gib", {"convolution.ipynb": Zeros(2**20)})}),
    "directory_lies_small": _one_hostile("canvas", {
        "evilmallory_104_9104_numpy_cnn.zip": Crafted("declares_1000_bytes", {"convolution.ipynb": Zeros(64 * 2**20)})}),
    "expands_past_the_budget": _one_hostile("canvas", {
        "evilmallory_104_9104_numpy_cnn.zip": Crafted("deflated", {f"part{i}.zip": Zeros(64 * 2**20) for i in range(10)})}),
    "twenty_thousand_entries": _one_hostile("canvas", {
        "evilmallory_104_9104_numpy_cnn.zip": Crafted("20000_entries", _FULL_ZIP)}),
    "entry_count_lies": _one_hostile("canvas", {
        "evilmallory_104_9104_numpy_cnn.zip": Crafted("20000_entries_counted_as_1", _FULL_ZIP)}),
}
