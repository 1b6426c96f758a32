"""Ask a sandbox what it can reach: the instructor's check that isolation works.

``python -m autograder isolation`` runs this probe as if it were student code
and prints one line per question.  The test suite asserts the answers.
"""
import hashlib
from pathlib import Path

from .course_package import PackageError, trusted_package_dir
from .sandbox import SandboxError
from .student import Program, SandboxStudent

PROBE = r'''
import hashlib, os, socket

def probe(course_root, course_checks_digest):
    answers = {}
    try:
        import cnnbook.exercise_checks as checks
        with open(checks.__file__, "rb") as handle:
            same = hashlib.sha256(handle.read()).hexdigest() == course_checks_digest
        answers["cnnbook"] = ("imports the grader's own" if same else "imports a DIFFERENT one") + \
            f" ({os.path.dirname(checks.__file__)})"
        cnnbook_dir = os.path.dirname(checks.__file__)
    except Exception as error:
        answers["cnnbook"] = f"DOES NOT IMPORT ({type(error).__name__}: {error})"
        cnnbook_dir = "/nonexistent"
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
    answers["hostname"] = socket.gethostname()
    answers["/dev/shm"] = "present" if os.path.isdir("/dev/shm") else "absent"
    answers["processes visible"] = str(sum(name.isdigit() for name in os.listdir("/proc")))
    return answers
'''


def probe_answers(level, course_root):
    """``{question: answer}`` from a fresh sandbox of ``level``, asked the way the checks call student code.

    A sandbox that cannot start (a course package it cannot get, say) is an answer too.
    """
    try:
        checks = trusted_package_dir() / "exercise_checks.py"
        digest = hashlib.sha256(checks.read_bytes()).hexdigest()
    except (PackageError, OSError) as error:
        return {"cnnbook": f"DOES NOT IMPORT in the grader ({error})"}
    student = SandboxStudent(Program([], [("probe", PROBE)], cnnbook_modules=("exercise_checks",)), level,
                             str(course_root))
    try:
        return student.call("probe", str(Path(course_root).resolve()), digest)
    except SandboxError as error:
        return {"sandbox": f"DOES NOT START ({error})"}
    finally:
        student.close()


def probe_sandbox(level, course_root):
    return [f"{question}: {answer}" for question, answer in probe_answers(level, course_root).items()]
