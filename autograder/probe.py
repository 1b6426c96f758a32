"""Ask a sandbox what it can reach: the instructor's check that isolation works.

``python -m autograder isolation`` runs this probe as if it were student code
and prints one line per question.  The test suite asserts the answers.
"""
from pathlib import Path

from . import wire
from .sandbox import Sandbox

PROBE = r'''
import os, socket

def probe(course_root, cnnbook_dir):
    answers = {}
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=2).close()
        answers["network"] = "reachable"
    except OSError as error:
        answers["network"] = f"unreachable ({error.strerror or error})"
    try:
        answers["course directory"] = "visible: " + ", ".join(sorted(os.listdir(course_root)))
    except OSError as error:
        answers["course directory"] = f"hidden ({error.strerror})"
    for name in ("autograder", "solutions", "submitted", "gradebook.db"):
        answers[name] = "VISIBLE" if os.path.exists(os.path.join(course_root, name)) else "hidden"
    target = os.path.join(cnnbook_dir, "__sandbox_probe__")
    try:
        with open(target, "w") as handle:
            handle.write("x")
        os.remove(target)
        answers["write to cnnbook/"] = "POSSIBLE"
    except OSError as error:
        answers["write to cnnbook/"] = f"refused ({error.strerror})"
    answers["user id"] = str(os.getuid())
    answers["processes visible"] = str(sum(name.isdigit() for name in os.listdir("/proc")))
    return answers
'''


def probe_answers(level, course_root):
    """``{question: answer}`` from a fresh sandbox of ``level``."""
    import cnnbook
    sandbox = Sandbox(level, str(course_root))
    sandbox.start()
    try:
        reply, _ = sandbox.request({"op": "exec", "source": PROBE, "filename": "<answer cell probe>"})
        arrays = []
        args = wire.encode([str(Path(course_root).resolve()), str(Path(cnnbook.__file__).parent)],
                           arrays, None)
        reply, arrays = sandbox.request({"op": "call", "target": {"name": "probe"}, "args": args,
                                         "kwargs": {"d": []}}, arrays)
        return wire.decode(reply["value"], arrays, None)
    finally:
        sandbox.close()


def probe_sandbox(level, course_root):
    return [f"{question}: {answer}" for question, answer in probe_answers(level, course_root).items()]
