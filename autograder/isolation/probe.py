"""Ask a sandbox what it can reach: the instructor's check that isolation works.

``python -m autograder isolation`` runs this probe as if it were student code
and prints one line per question.  The test suite asserts the answers.
"""
from pathlib import Path

from .student import Program, SandboxStudent

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
    """``{question: answer}`` from a fresh sandbox of ``level``, asked the way the checks call student code."""
    import cnnbook
    student = SandboxStudent(Program([], [("probe", PROBE)]), level, str(course_root))
    try:
        return student.call("probe", str(Path(course_root).resolve()), str(Path(cnnbook.__file__).parent))
    finally:
        student.close()


def probe_sandbox(level, course_root):
    return [f"{question}: {answer}" for question, answer in probe_answers(level, course_root).items()]
