"""The one door through which hidden checks reach a student's code.

Checks never touch student objects directly.  They call through a
:class:`Student`, and get back numpy arrays, plain Python values, or
:class:`~autograder.in_sandbox.wire.RemoteRef` handles for objects that stay with the
student (a layer's cache, a model).  Two transports implement it:

* :class:`SandboxStudent` (the trusted grader): the code runs in an isolated
  worker process (:mod:`autograder.isolation.sandbox`); values cross as JSON and ``.npy``.
* :class:`DirectStudent` (``grade_part`` inside a notebook kernel, used by
  plain ``nbgrader autograde``/``validate``): the code runs in this process,
  and the worker's own request handler (:mod:`autograder.in_sandbox.worker`) answers,
  so checks see exactly the same kinds of values from both.

Whatever the student's code does wrong surfaces as one of three exceptions,
each with a message meant for the student: :class:`StudentError` (it raised),
:class:`StudentCrash` (the worker died) and :class:`StudentTimeout`.
"""
import linecache
import time
from dataclasses import dataclass, field

from ..in_sandbox import wire
from ..in_sandbox.worker import Worker, describe_error
from .course_package import NOT_ALLOWED, hidden_import, rule_text
from .sandbox import Sandbox, SandboxBrokeProtocol, SandboxDied, SandboxError, SandboxTimeout
from .untrusted_text import excerpt, identifier, label, one_line


class StudentError(Exception):
    """The student's code raised an exception.

    ``error`` is whatever the worker sent.  Only the exception's type name, the
    answer cell and line it names, and a short quoted excerpt of its message
    (digits masked) are kept: enough to find the bug, too little to carry the
    hidden inputs out, and one line that cannot pass for the grader's own.
    ``source_line(file, line)`` gives that line's text from the grader's own
    copy of the student's source (None when it has none).
    """

    def __init__(self, error, source_line=lambda file, line: ""):
        error = error if isinstance(error, dict) else {}
        self.type_name = identifier(error.get("type")) or "Exception"
        self.message = excerpt(error.get("message"))
        self.where = _place(error.get("file"), error.get("line"), source_line)
        super().__init__(self.describe())

    def describe(self):
        text = f"raised {self.type_name}"
        if self.message:
            text += f": {self.message}"
        if self.where:
            text += f" (in {self.where})"
        return text


# The grader's copy of a student's line, shown whole up to here: it is the student's own code.
SOURCE_LINE_CHARS = 100
MAX_LINE = 99_999


def _place(file, line, source_line):
    """``answer cell x, line 3: "code"`` for a place the grader knows, else ""."""
    if type(line) is not int or not 0 < line <= MAX_LINE or not isinstance(file, str):
        return ""
    text = source_line(file, line)
    if text is None:
        return ""
    text = one_line(text, SOURCE_LINE_CHARS).replace('"', "'")
    return f"{label(file)}, line {line}" + (f': "{text}"' if text else "")


@dataclass(frozen=True)
class TrackedCall:
    """What one :meth:`Student.call_tracked` got back."""
    value: object
    again: object = None                 # the second call's result, with ``_again``
    args: tuple = ()                     # the worker's report of the arguments after the call(s)
    kwargs: dict = field(default_factory=dict)


def _arguments_after(after, args, kwargs):
    """``(args, kwargs)`` from the worker's report, if it has exactly the shape of the call; else StudentCrash."""
    fits = (type(after) is tuple and len(after) == 2 and type(after[0]) in (tuple, list)
            and len(after[0]) == len(args) and type(after[1]) is dict and set(after[1]) == set(kwargs))
    if not fits:
        raise StudentCrash("the worker's report of the arguments after the call does not fit the call")
    return tuple(after[0]), after[1]


BROKE_PROTOCOL = "sent the grader bytes that are not a reply"
BROKE_HINT = "did it write on the grader's reply stream?"


class StudentCrash(Exception):
    """The worker running the student's code exited or broke the protocol."""


class StudentTimeout(Exception):
    """The student's code did not return in time."""


def _refuse(obj):
    raise TypeError(f"cannot send a {type(obj).__name__} to the student's code")


def _encode_call(args, kwargs):
    arrays = []
    node = wire.encode((tuple(args), dict(kwargs)), arrays, _refuse)
    return node["t"][0], node["t"][1], arrays


class Student:
    """Interface of both transports (see the module docstring).

    A transport implements :meth:`_exchange` (one request to the worker's
    handler, one reply) and may implement :meth:`_ready` (called before each
    operation); everything else is shared, so both behave alike.
    """

    #: Messages about how the answer cells were found and loaded, for the feedback.
    notes = ()
    #: Incremented by a transport that restarts its worker: older references are then invalid.
    _generation = 0

    def call(self, name, *args, _keep=(), **kwargs):
        """``name(*args, **kwargs)``; items of a returned tuple listed in ``_keep`` come back as refs."""
        return self._call({"name": name}, args, kwargs, _keep).value

    def call_tracked(self, name, *args, _keep=(), _again=False, **kwargs):
        """Like :meth:`call`, as a :class:`TrackedCall` with the worker's report of the arguments after it.

        With ``_again`` the call is made a second time on the very same objects: a
        function that modified its inputs shows it in that second result, which the
        checks compare with the oracle.  The report of the arguments is only the
        worker's word, so it may cost points but never earn them.
        """
        return self._call({"name": name}, args, kwargs, _keep, track=True, again=_again)

    def call_method(self, ref, method, *args, **kwargs):
        return self._call({"ref": ref, "method": method}, args, kwargs, ()).value

    def get(self, ref, attr):
        """The attribute ``attr`` of a remote object, by value."""
        self._ready()
        reply, arrays = self._checked({"op": "get", "ref": self._ref_id(ref), "attr": attr}, [])
        return self._decode(reply.get("value"), arrays)

    def setitem(self, ref, attr, key, value):
        """``getattr(ref, attr)[key] = value`` on the student's side."""
        self._ready()
        arrays = []
        node = wire.encode(value, arrays, _refuse)
        self._checked({"op": "setitem", "ref": self._ref_id(ref), "attr": attr, "key": key,
                       "value": node}, arrays)

    def kind(self, name):
        """Type name of the global ``name`` in the student's namespace, or None if undefined."""
        self._ready()
        reply, _ = self._checked({"op": "defined", "names": [name]}, [])
        kinds = reply.get("kinds")
        value = kinds.get(name) if isinstance(kinds, dict) else None
        return (identifier(value) or "object") if isinstance(value, str) else None

    def close(self):
        pass

    # -- what a transport provides --------------------------------------------

    def _ready(self):
        pass

    def _exchange(self, header, arrays):
        """Send one request to the worker's handler; return ``(reply_header, reply_arrays)``."""
        raise NotImplementedError

    # -- requests and replies -------------------------------------------------

    def _call(self, target, args, kwargs, keep, track=False, again=False):
        self._ready()
        if "ref" in target:
            target = {"ref": self._ref_id(target["ref"]), "method": target["method"]}
        self._check_refs((args, kwargs))
        args_node, kwargs_node, arrays = _encode_call(args, kwargs)
        header = {"op": "call", "target": target, "args": args_node, "kwargs": kwargs_node,
                  "keep": list(keep), "return_args": track, "again": again}
        reply, reply_arrays = self._checked(header, arrays)
        value = self._decode(reply.get("value"), reply_arrays)
        second = self._decode(reply.get("again"), reply_arrays) if again else None
        if not track:
            return TrackedCall(value, second)
        after = self._decode(reply.get("args_after"), reply_arrays)
        return TrackedCall(value, second, *_arguments_after(after, args, kwargs))

    def _checked(self, header, arrays):
        reply, reply_arrays = self._exchange(header, arrays)
        if reply.get("ok") is not True:
            raise StudentError(reply.get("error"), self._source_line)
        return reply, reply_arrays

    def _source_line(self, file, line):
        """The text of ``line`` in the student's ``file`` as the grader has it, or None if unknown."""
        return ""

    def _decode(self, node, arrays):
        try:
            return wire.decode(node, arrays, self._new_ref)
        except wire.ProtocolError as error:
            self.close()
            raise StudentCrash(f"the Python process running your code {BROKE_PROTOCOL} ({error}; {BROKE_HINT})") from None

    def _new_ref(self, ref_id, type_name):
        ref = wire.RemoteRef(ref_id, identifier(type_name) or "object")
        ref.generation = self._generation
        return ref

    def _ref_id(self, ref):
        if getattr(ref, "generation", None) != self._generation:
            raise StudentCrash("not run: the object it needs was lost when the worker was restarted")
        return ref.ref_id

    def _check_refs(self, value):
        if isinstance(value, wire.RemoteRef):
            self._ref_id(value)
        elif isinstance(value, (tuple, list)):
            for item in value:
                self._check_refs(item)
        elif isinstance(value, dict):
            for item in value.values():
                self._check_refs(item)


# ---------------------------------------------------------------------------
# In-process transport (plain nbgrader; the notebook kernel is untrusted anyway)
# ---------------------------------------------------------------------------

class DirectStudent(Student):
    """Serves requests on a notebook's namespace with the worker's own handler, in this process.

    Arrays are copied both ways, as if they had crossed the wire.
    """

    def __init__(self, namespace):
        self._worker = _NotebookWorker(namespace)

    def _exchange(self, header, arrays):
        reply, reply_arrays = self._worker.handle(header, [array.copy() for array in arrays])
        return reply, [array.copy() for array in reply_arrays]

    def _source_line(self, file, line):
        return linecache.getline(file, line)


class _NotebookWorker(Worker):
    """The worker's request handler on a notebook kernel's namespace; errors point into notebook cells."""

    def __init__(self, namespace):
        super().__init__(None, None)
        self.namespace = namespace

    def describe(self, error):
        return describe_error(error, _is_notebook_file)


def _is_notebook_file(filename):
    # ipykernel compiles each cell to a file named like /tmp/ipykernel_123/456.py.
    return "ipykernel_" in filename or filename.startswith("<")




# ---------------------------------------------------------------------------
# Sandboxed transport (the trusted grader)
# ---------------------------------------------------------------------------

@dataclass
class Program:
    """What a sandbox loads before the checks run: trusted setup, then the student's cells."""
    setup: list                 # source statements from the release notebook
    cells: list                 # (label, source) of the student's answer cells, in order
    notes: list = field(default_factory=list)   # how the cells were found (for feedback)
    # The modules of the course package the sandbox provides (its part's Part.cnnbook_modules);
    # setup statements importing any other are not run.
    cnnbook_modules: tuple = ()


class SetupFailed(SandboxError):
    """A setup statement of the release failed before any student code ran: a fault of the grading
    machine or the course (its package, its environment), never the student's."""


@dataclass(frozen=True)
class TimeLimits:
    call_s: float = 10.0        # one call of a student function
    load_s: float = 60.0        # setup and answer cells (imports included)
    part_s: float = 120.0       # everything for one graded part
    restarts: int = 3           # fresh sandboxes after a crash or timeout, per part
    submission_s: float = 600.0  # everything for one submission, all its parts together


# Honest results of one part are a few megabytes at most; a worker may not stream more than this.
PART_REPLY_BYTES = 256 << 20


class SandboxStudent(Student):
    """Runs a :class:`Program` in a sandbox; restarts it after a crash, within limits."""

    def __init__(self, program, isolation, course_root, time_limits=TimeLimits(), log=None,
                 submission_deadline=None):
        """``submission_deadline``: the :func:`time.monotonic` time at which the whole submission's budget ends."""
        self.program = program
        self.isolation = isolation
        self.course_root = course_root
        self.time_limits = time_limits
        self.log = log if log is not None else []
        self.notes = list(program.notes)
        self._sandbox = None
        self._generation = 0
        self._starts = 0
        self._fatal = None
        self._received = 0
        part_end = time.monotonic() + time_limits.part_s
        whole = submission_deadline is not None and submission_deadline < part_end
        self._deadline = submission_deadline if whole else part_end
        self._budget = (f"this submission's time budget ({time_limits.submission_s:g} s)" if whole
                        else f"this part's time budget ({time_limits.part_s:g} s)")

    # -- sandbox life -------------------------------------------------------

    def _ensure_running(self):
        if self._fatal:
            raise StudentCrash(self._fatal)
        if self._sandbox is not None and self._sandbox.alive:
            return
        if self._starts > self.time_limits.restarts:
            raise StudentCrash("not run: the code crashed or hung too many times in this part")
        if self._deadline <= time.monotonic():
            raise StudentTimeout(f"not run: {self._budget} is used up")
        self._starts += 1
        self._retire()
        self._generation += 1
        self._sandbox = Sandbox(self.isolation, self.course_root, cnnbook_modules=self.program.cnnbook_modules)
        self._sandbox.start()
        self._load()

    def _load(self):
        first = self._generation == 1
        for statement in self.program.setup:
            hidden = hidden_import(statement, self.program.cnnbook_modules)
            if hidden:
                if first:
                    self.notes.append(f"your answer cell uses {hidden} ({statement.split(' import ')[-1]}), "
                                      f"which {NOT_ALLOWED}: {rule_text(self.program.cnnbook_modules)}")
                continue
            reply = self._request({"op": "exec", "source": statement, "filename": "<setup>"},
                                  (), self.time_limits.load_s, loading=True)
            if not reply[0].get("ok"):
                error = reply[0].get("error") if isinstance(reply[0].get("error"), dict) else {}
                raise SetupFailed(f"the release's setup statement {statement!r} failed in the sandbox, before "
                                  f"any student code ran: {error.get('type')}: {str(error.get('message'))[:300]}")
        for label, source in self.program.cells:
            header = {"op": "exec", "source": source, "filename": f"<answer cell {label}>"}
            reply = self._request(header, (), self.time_limits.load_s, loading=True)
            if not reply[0].get("ok") and first:
                error = StudentError(reply[0].get("error", {}))
                self.notes.append(f"running your answer cell {label} {error.describe()}; "
                                  "anything it defined before that line is graded")
                if NOT_ALLOWED in error.message and rule_text(self.program.cnnbook_modules) not in self.notes:
                    self.notes.append(rule_text(self.program.cnnbook_modules))

    def _request(self, header, arrays, limit, loading=False):
        budget = self._deadline - time.monotonic()
        if budget <= 0:
            raise StudentTimeout(f"not run: {self._budget} is used up")
        limit_text = f"{limit:g} s" if limit <= budget else f"the rest of {self._budget}"
        try:
            return self._counted(self._sandbox.request(header, arrays, timeout=min(limit, budget)))
        except SandboxTimeout:
            self._retire()
            if loading:
                self._fatal = (f"your answer cells did not finish loading within {limit_text} "
                               "(an endless loop at top level?)")
                raise StudentCrash(self._fatal) from None
            raise StudentTimeout(f"did not return within {limit_text} "
                                 "(an endless loop, or far too slow); the call was stopped") from None
        except SandboxDied as death:
            self._retire()
            if isinstance(death, SandboxBrokeProtocol):
                what, hint = BROKE_PROTOCOL, BROKE_HINT
            else:
                what, hint = "exited", ("sys.exit, os._exit or a crash at top level?" if loading
                                        else "sys.exit, os._exit, a crash, or the memory limit")
            if loading:
                self._fatal = f"the Python process running your code {what} while loading your answer cells ({hint})"
                raise StudentCrash(self._fatal) from None
            raise StudentCrash(f"the Python process running your code {what} during the call ({hint})") from None

    def _counted(self, reply):
        """``reply``, once its arrays are counted against :data:`PART_REPLY_BYTES`."""
        self._received += sum(array.nbytes for array in reply[1])
        if self._received > PART_REPLY_BYTES:
            self._retire()
            self._fatal = (f"not run: your code's results in this part exceeded {PART_REPLY_BYTES >> 20} MiB "
                           "in all")
            raise StudentCrash(self._fatal)
        return reply

    def _source_line(self, file, line):
        for label, source in self.program.cells:
            if file == f"answer cell {label}":
                lines = source.splitlines()
                return lines[line - 1] if line <= len(lines) else None
        return None

    def _retire(self):
        if self._sandbox is not None:
            log = self._sandbox.log_text()
            if log:
                self.log.append("student output:\n" + log)
            self._sandbox.close()
            self._sandbox = None

    def close(self):
        self._retire()

    # -- the transport ----------------------------------------------------------

    def _ready(self):
        self._ensure_running()

    def _exchange(self, header, arrays):
        return self._request(header, arrays, self.time_limits.call_s)
