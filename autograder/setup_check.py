"""``python -m autograder check``: is this machine ready to grade?  One line per check.

Run by ``scripts/setup_grader.sh`` after it installs ``requirements-grader.txt``, and
any time before a grading session.  Each line starts with ``ok``, ``WARN`` (grading
works, with the caveat it names) or ``FAIL`` (grading would be wrong or stop; the line
says what to do).  The exit status is 1 when any check fails.
"""
import importlib.metadata
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

NBGRADER_PIN = "0.9.6"


@dataclass(frozen=True)
class Check:
    status: str          # "ok", "WARN" or "FAIL"
    what: str

    def line(self):
        return f"{self.status:<4} {self.what}"


def run_checks(root):
    """Every check, in the order a set-up fails: interpreter, packages, course, sandbox."""
    checks = [_python(), _nbgrader(), _imports("torch", "the oracle"), _cnnbook(root), _alembic()]
    course = _course(root)
    checks.append(course)
    if course.status == "ok":
        checks += [_releases(root), _sandbox(root)]
    return checks + [_secret(root), _solutions_privacy(root)]


def _python():
    version = ".".join(map(str, sys.version_info[:3]))
    good = sys.version_info[:2] == (3, 11)
    return Check("ok" if good else "WARN", f"python {version}" + ("" if good else " (the course is tested on 3.11)"))


def _nbgrader():
    try:
        version = importlib.metadata.version("nbgrader")
    except importlib.metadata.PackageNotFoundError:
        return Check("FAIL", "nbgrader is not installed: pip install -r requirements-grader.txt")
    if version != NBGRADER_PIN:
        return Check("FAIL", f"nbgrader {version}, the grader is written for {NBGRADER_PIN}: "
                             "pip install -r requirements-grader.txt")
    return Check("ok", f"nbgrader {version}")


def _imports(module, role):
    try:
        imported = __import__(module)
    except Exception as error:   # a broken install raises anything; the line says what
        return Check("FAIL", f"{module} ({role}) does not import: {type(error).__name__}: {error}")
    return Check("ok", f"{module} {getattr(imported, '__version__', '')} imports ({role})")


def _cnnbook(root):
    try:
        import cnnbook
    except Exception as error:
        return Check("FAIL", f"cnnbook does not import ({error}): pip install --no-deps -e . in the course root")
    where = Path(cnnbook.__file__).resolve().parent
    if where != (Path(root) / "cnnbook").resolve():
        return Check("FAIL", f"cnnbook imports from {where}, not from this course ({Path(root) / 'cnnbook'}): "
                             "pip install --no-deps -e . in the course root")
    return Check("ok", "cnnbook imports from this course")


def _alembic():
    found = shutil.which("alembic") or (Path(sys.executable).parent / "alembic").is_file()
    return Check("ok" if found else "FAIL",
                 "alembic (nbgrader creates gradebook.db with it) is installed" if found
                 else "no alembic next to this python: pip install -r requirements-grader.txt")


def _course(root):
    from .nbgrader_io.gradebook import CourseError, course_directory
    try:
        coursedir, _config = course_directory(root)
    except CourseError as error:
        return Check("FAIL", str(error))
    return Check("ok", f"nbgrader_config.py loads: course {coursedir.course_id}, release in "
                       f"{coursedir.release_directory}/, source in {coursedir.source_directory}/")


def _releases(root):
    from .checks.parts import assignment_parts
    from .nbgrader_io.gradebook import assignment_dir, course_directory
    from .nbgrader_io.release import ReleaseError, load_release
    coursedir, _config = course_directory(root)
    found = sorted(p.name for p in assignment_dir(coursedir, "release", ".").glob("*") if p.is_dir())
    if not found:
        return Check("FAIL", "no released assignment: nbgrader generate_assignment ASSIGNMENT --force")
    try:
        counts = {name: len(load_release(assignment_dir(coursedir, "release", name), assignment_parts(name)).points)
                  for name in found}
    except (ReleaseError, KeyError) as error:
        return Check("FAIL", f"the release does not fit the hidden checks: {error.args[0] if error.args else error}")
    return Check("ok", "release fits the hidden checks: " + ", ".join(f"{n} ({c} parts)" for n, c in counts.items()))


def _sandbox(root):
    from .isolation.probe import probe_sandbox
    from .isolation.sandbox import available_isolation
    level, reason = available_isolation()
    lines = probe_sandbox(level, Path(root))
    cnnbook = next((line for line in lines if line.startswith("cnnbook:")), "cnnbook: not reported")
    if "imports the grader's own" not in cnnbook:
        return Check("FAIL", f"inside a {level} sandbox, {cnnbook}: python -m autograder isolation says more")
    status = "ok" if level == "namespaces" else "WARN"
    note = "" if status == "ok" else f" ({reason}; run the grader as root for full isolation)"
    return Check(status, f"sandbox at the {level} level, {cnnbook}{note}")


def _secret(root):
    if os.environ.get("AUTOGRADER_SECRET"):
        return Check("ok", "the term secret comes from AUTOGRADER_SECRET")
    if (Path(root) / "autograder" / ".secret").is_file():
        return Check("ok", "the term secret is autograder/.secret: back it up, keep it out of git")
    return Check("WARN", "no term secret yet: the first grading creates autograder/.secret; back it up then")


def _solutions_privacy(root):
    remotes = subprocess.run(["git", "remote", "-v"], cwd=root, capture_output=True, text=True).stdout
    public = [line.split()[1] for line in remotes.splitlines() if "github.com/cnn-properties/" in line]
    if public:
        return Check("WARN", f"this clone pushes to the public book repository ({public[0]}): keep your course, "
                             "with solutions/ and any changed hidden checks, in a private repository")
    return Check("ok", "solutions/ is not pushed to the public book repository")
