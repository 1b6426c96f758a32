"""The untrusted side of the grader: runs a student's cells and answers calls.

It is started inside the sandbox as ``python -I -B worker.py`` with
``wire.py`` next to it.  Requests arrive on stdin and replies leave on the
original stdout; before any student code runs, file descriptor 1 is pointed at
stderr, so whatever the student prints goes to the grader's log, never into
the reply stream.

Nothing here is trusted: the student's code runs in this very process and may
rewrite any of it.  That is fine, because the grader only ever receives
arrays and plain values from here and compares them with its own oracle.
Inside a notebook kernel (plain nbgrader, untrusted as well),
:class:`~autograder.isolation.student.DirectStudent` answers with this same handler.
"""
import builtins
import os
import sys

try:
    from . import wire
except ImportError:  # run as a script inside the sandbox, with wire.py next to it
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import wire

# Filenames given to compiled student code; error reports point into these only.
STUDENT_FILE_PREFIXES = ("<answer cell", "<setup")
MAX_MESSAGE = 500


class Worker:
    def __init__(self, rpc_in, rpc_out):
        self.rpc_in = rpc_in
        self.rpc_out = rpc_out
        self.namespace = {"__name__": "__main__", "__builtins__": builtins}
        self.refs = {}

    def serve(self):
        while True:
            try:
                header, arrays = wire.read_message(self.read_exact)
            except EOFError:
                return
            reply, reply_arrays = self.handle(header, arrays)
            _flush_student_output()
            wire.write_message(self.rpc_out, reply, reply_arrays)

    def read_exact(self, size):
        chunks, missing = [], size
        while missing:
            chunk = self.rpc_in.read(missing)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def handle(self, header, arrays):
        handlers = {"exec": self.run_source, "call": self.call, "get": self.get,
                    "setitem": self.setitem, "defined": self.defined, "ping": lambda h, a: {}}
        handler = handlers.get(header.get("op"))
        if handler is None:
            return {"ok": False, "error": {"type": "ProtocolError", "message": "unknown op"}}, []
        reply_arrays = []
        try:
            reply = handler(header, arrays)
        except BaseException as error:  # the student's code may raise anything, SystemExit included
            return {"ok": False, "error": self.describe(error)}, []
        if "value" in reply:
            reply["value"] = self.encode(reply["value"], reply_arrays)
        for key in ("again", "args_after"):
            if key in reply:
                reply[key] = self.encode(reply[key], reply_arrays)
        return dict(reply, ok=True), reply_arrays

    # -- operations ---------------------------------------------------------

    def run_source(self, header, _arrays):
        source, filename = header["source"], header["filename"]
        exec(compile(source, filename, "exec"), self.namespace)
        return {}

    def call(self, header, arrays):
        target = header["target"]
        if "name" in target:
            function = self.namespace.get(target["name"])
            if function is None:
                raise NameError(f"name '{target['name']}' is not defined")
        else:
            function = getattr(self.resolve(target["ref"], None), target["method"])
        args = self.decode(header["args"], arrays)
        kwargs = self.decode(header["kwargs"], arrays)
        keep = header.get("keep") or ()
        reply = {"value": _keep_items(function(*args, **kwargs), keep)}
        if header.get("again"):
            # The same objects once more: a call that modified them shows it in this result.
            reply["again"] = _keep_items(function(*args, **kwargs), keep)
        if header.get("return_args"):
            reply["args_after"] = (args, kwargs)
        return reply

    def get(self, header, _arrays):
        return {"value": getattr(self.resolve(header["ref"], None), header["attr"])}

    def setitem(self, header, arrays):
        container = getattr(self.resolve(header["ref"], None), header["attr"])
        container[header["key"]] = self.decode(header["value"], arrays)
        return {}

    def defined(self, header, _arrays):
        return {"kinds": {name: type(self.namespace[name]).__name__
                          for name in header["names"] if name in self.namespace}}

    # -- values -------------------------------------------------------------

    def decode(self, node, arrays):
        return wire.decode(node, arrays, self.resolve)

    def resolve(self, ref_id, _type_name):
        if ref_id not in self.refs:
            raise LookupError("this object no longer exists in the worker")
        return self.refs[ref_id]

    def make_ref(self, obj):
        if isinstance(obj, _Kept):
            obj = obj.obj
        ref_id = len(self.refs) + 1
        self.refs[ref_id] = obj
        return {"r": ref_id, "type": type(obj).__name__}

    def encode(self, value, reply_arrays):
        start = len(reply_arrays)
        try:
            return wire.encode(value, reply_arrays, self.make_ref)
        except Exception:
            # Exotic objects (a list subclass with a broken __iter__...) travel by reference.
            del reply_arrays[start:]
            return self.make_ref(value)

    # -- errors -------------------------------------------------------------

    def describe(self, error):
        return describe_error(error, lambda name: name.startswith(STUDENT_FILE_PREFIXES))


def describe_error(error, is_student_file):
    """Type, message and the student's innermost place (file and line) for an exception.

    Only frames for which ``is_student_file(filename)`` holds are ever
    mentioned: the grader's own code never shows up in feedback.  The grader
    shows the line's text from its own copy of the student's source.
    """
    description = {"type": type(error).__name__[:100], "message": _safe_str(error)[:MAX_MESSAGE]}
    place = None
    if isinstance(error, SyntaxError) and is_student_file(str(error.filename)):
        place = (error.filename, error.lineno)
    tb = error.__traceback__
    while tb is not None:
        if is_student_file(tb.tb_frame.f_code.co_filename):
            place = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    if place:
        filename, lineno = place
        description.update(file=filename.strip("<>")[:200], line=lineno)
    return description


def _keep_items(value, keep):
    """Items the grader only hands back later (a layer's cache) stay here, as references."""
    if keep and type(value) in (tuple, list):
        return type(value)(_Kept(item) if index in keep else item for index, item in enumerate(value))
    return value


class _Kept:
    """Marks a returned item that must travel by reference, whatever its type."""

    def __init__(self, obj):
        self.obj = obj


def _flush_student_output():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def _safe_str(error):
    try:
        return str(error)
    except BaseException:
        return "(the exception's message could not be printed)"


def main():
    rpc_in = os.fdopen(os.dup(0), "rb", buffering=0)
    rpc_out = os.fdopen(os.dup(1), "wb")
    # From here on the student's prints, and input(), never touch the reply stream.
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    import numpy  # noqa: F401  (imported before student code, like in a notebook)
    Worker(rpc_in, rpc_out).serve()


if __name__ == "__main__":
    main()
