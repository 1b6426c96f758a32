"""The course's own ``cnnbook``, as one part's sandbox sees it: only the modules that part may use.

A sandbox never imports a ``cnnbook`` its own interpreter would find (an editable install of
another checkout, a copy in site-packages, nothing at all): it gets a view of exactly the
package this grading process imports, made of

* ``__init__.py`` and the modules the part declares (``Part.cnnbook_modules`` in
  ``autograder/checks/parts.py``), copied from that package;
* for every other module of the package, a module of the same name that raises
  ``ImportError`` with the rule, so that a naive layer built on the course's own
  implementations (``fast_layers``, ``conv_math``, the sandwich layers, however imported)
  fails with a message that says why.

The view comes first on the worker's path (it sits beside ``worker.py``), and at the
namespaces and userns levels it is also mounted over every other ``cnnbook`` folder the
sandbox could reach.  At the process level nothing stops student code from importing the
environment's ``cnnbook`` by another path: the rule holds there only for honest code.
"""
import ast
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from .installed_packages import COURSE_PACKAGE as PACKAGE, NOT_ALLOWED, allowed_module


class PackageError(Exception):
    """The course's package cannot be found or does not hold a module a part needs."""


@dataclass(frozen=True)
class PackageView:
    source: str               # the package folder this grading process imports
    modules: tuple            # module names the sandbox gets, "__init__" first
    hidden: tuple             # the package's other modules: they raise ImportError there
    shadowed: tuple           # other folders named cnnbook a sandbox could reach; the view covers them
    refusal: str              # what importing a hidden module raises, after its name


def package_view(modules):
    """The view of the trusted ``cnnbook`` holding only ``modules`` (names inside the package)."""
    source = trusted_package_dir()
    available = sorted(path.stem for path in source.glob("*.py") if path.stem != "__init__")
    missing = sorted(set(modules) - set(available))
    if missing:
        raise PackageError(f"{source} has no module {', '.join(missing)}, which a graded part needs")
    hidden = tuple(name for name in available if name not in modules)
    return PackageView(str(source), ("__init__", *modules), hidden, _site_copies(source),
                       f"{NOT_ALLOWED}: {rule_text(modules)}")


def trusted_package_dir():
    """The folder of the ``cnnbook`` this process imports (importing it, as the checks' setup does)."""
    try:
        import cnnbook
    except Exception as error:
        raise PackageError(f"the grader cannot import {PACKAGE} ({type(error).__name__}: {error}); install "
                           "the course's package in this environment (pip install -e . in the course "
                           "repository)") from None
    return Path(cnnbook.__file__).resolve().parent


def _site_copies(source):
    candidates = {Path(sysconfig.get_paths()[key]) / PACKAGE for key in ("purelib", "platlib")}
    return tuple(sorted(str(path) for path in candidates | {source} if path.is_dir()))


def hidden_import(statement, modules):
    """What an import statement needs that the sandbox hides (``cnnbook.<module>`` outside ``modules``,
    or an installed package other than numpy), or ``""``."""
    try:
        node = ast.parse(statement).body[0]
    except (SyntaxError, IndexError):
        return ""
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        names = [node.module] if node.module != PACKAGE else [f"{PACKAGE}.{a.name}" for a in node.names]
    elif isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        return ""
    for name in names:
        parts = name.split(".")
        if parts[0] == PACKAGE and len(parts) > 1 and parts[1] not in (*modules, "*"):
            return f"{PACKAGE}.{parts[1]}"
        if not allowed_module(parts[0]):
            return parts[0]
    return ""


def rule_text(modules):
    """The rule, in the words of the feedback."""
    allowed = ", ".join(f"{PACKAGE}.{name}" for name in modules)
    return (f"this part may use only numpy, the Python standard library{' and ' + allowed if allowed else ''} "
            "(a graded layer is your own code, not one of the course's implementations or another library's)")
