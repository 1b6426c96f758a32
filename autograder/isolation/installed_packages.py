"""The installed Python packages as a sandbox sees them: numpy, and nothing else.

Graded answers are numpy code.  The sandbox runs the grader's own interpreter,
whose environment also holds torch, scipy, matplotlib and the rest of the
course's tools; at the namespaces and userns levels each folder of installed
packages that the sandbox could reach (this interpreter's ``site-packages``,
its base installation's, the system's ``dist-packages``) is covered with a
view holding

* numpy's own entries (``numpy``, ``numpy.libs``, ``numpy-*.dist-info``),
  bind-mounted read-only from the real folder;
* for every other top-level module there, a module of the same name that raises
  ``ImportError`` with the rule, so that a layer that calls torch or scipy (however
  imported) fails with a message that says why.

A view keeps the ``.pth`` files that only name folders (each such folder on the
path gets a view of its own) and leaves out those with code, so nothing runs at
interpreter start-up.  The
standard library stays whole.  At the process level nothing is hidden: the rule
holds there for honest code only.
"""
import functools
import glob
import keyword
import os
import sys
import sysconfig

# What graded code may import besides the standard library (and the part's view of cnnbook).
ALLOWED = ("numpy",)
# How a hidden module says it is hidden (it reaches the feedback in the first words of a message).
NOT_ALLOWED = "is not allowed in this part"
REFUSAL = f"{NOT_ALLOWED}: graded answers may use numpy and the Python standard library only"
COURSE_PACKAGE = "cnnbook"      # covered by its own view (autograder.isolation.course_package)
SYSTEM_PREFIXES = ("/usr", "/usr/local")
SUFFIXES = (".py", ".pyc", ".so", ".pyd")


def allowed_module(name):
    """Whether graded code may import the top-level module ``name`` (cnnbook has rules of its own)."""
    return name in sys.stdlib_module_names or name in ALLOWED or name == COURSE_PACKAGE


def package_views(exposed):
    """What the sandbox's first process builds: ``{"refusal", "views": [{"path", "keep", "hide"}]}``,
    for each folder of installed packages the sandbox sees (``exposed``: the paths it exposes) the
    entries its view keeps and the modules it hides."""
    return {"refusal": REFUSAL, "views": _views(tuple(exposed))}


@functools.lru_cache(maxsize=8)
def _views(exposed):
    return [_view(folder) for folder in _package_folders() if _seen_alone(folder, exposed)]


def _seen_alone(folder, exposed):
    """Whether the sandbox sees ``folder`` (it lies inside an exposed path) and covering it hides
    nothing else it must see (no exposed path lies inside it)."""
    return (any(folder == path or folder.startswith(path + "/") for path in exposed)
            and not any(path.startswith(folder + "/") for path in exposed))


def _package_folders():
    """This interpreter's and the system's folders of installed packages, and every folder on this
    process's path outside the standard library (a ``.pth`` file or PYTHONPATH may add one)."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *SYSTEM_PREFIXES}
    paths = sysconfig.get_paths()
    found = {paths["purelib"], paths["platlib"], *sys.path}
    for prefix in prefixes:
        for pattern in ("lib/python3*/site-packages", "lib/python3*/dist-packages", "lib/python3/dist-packages"):
            found.update(glob.glob(os.path.join(prefix, pattern)))
    standard = {os.path.realpath(paths[key]) for key in ("stdlib", "platstdlib")}
    standard |= {os.path.join(folder, "lib-dynload") for folder in standard}
    folders = {os.path.realpath(path) for path in found if path and os.path.isdir(path)}
    return sorted(folders - standard)


def _view(folder):
    keep, hide = [], set()
    for entry in sorted(os.listdir(folder)):
        if entry.split(".")[0].split("-")[0] in ALLOWED or _plain_path_file(os.path.join(folder, entry)):
            keep.append(entry)
            continue
        name = _module_name(entry)
        if name and name != COURSE_PACKAGE and not allowed_module(name):
            hide.add(name)
    return {"path": folder, "keep": keep, "hide": sorted(hide)}


def _plain_path_file(path):
    """A ``.pth`` file that only names folders (numpy may be found through one); one with an
    ``import`` line would run code at start-up, so it is left out."""
    if not path.endswith(".pth"):
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle.read(1 << 16).splitlines()]
    except (OSError, UnicodeDecodeError):
        return False
    return not any(line.startswith(("import ", "import\t")) for line in lines)


def _module_name(entry):
    """The top-level module an entry of a site folder provides (``torch``, ``six.py``, ``_cffi.cpython-311.so``)."""
    if entry.endswith((".dist-info", ".egg-info", ".pth", ".egg-link")) or entry == "__pycache__":
        return ""
    name = entry.split(".")[0] if entry.endswith(SUFFIXES) else entry
    return name if name.isidentifier() and not keyword.iskeyword(name) else ""

