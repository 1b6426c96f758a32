"""The Python the students' and the instructor's servers run, which their Unix accounts must be able to run.

The hub runs from the course's environment (.venv), and so should every server: the same
JupyterLab, nbgrader and cnnbook.  But a virtual environment is links to its base interpreter,
and that may lie where other users cannot go (pyenv under /root, mode 0700, on the machine this
was written on).  ``servers_python`` asks the question for real: it runs this environment's Python
as ``nobody`` and imports the server.  When that fails it makes a *bridge*: a virtual environment
on a system interpreter of the same version (say /usr/bin/python3.11) whose only content is a
``.pth`` line adding the course environment's site-packages, with their own ``.pth`` files (the
editable cnnbook).  Compiled packages are built for the ABI of a Python minor version (cp311), so
any 3.11 runs them.  hub/jupyterhub_config.py points the servers' Jupyter data, lab assets and
configuration at the course environment, whichever interpreter runs them.
"""
from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

PROBE = "import jupyterhub.singleuser, nbgrader, cnnbook"
PROBE_SECONDS = 120           # imports on a loaded machine
UNPRIVILEGED = "nobody"


def runs_unprivileged(python: str) -> bool:
    """Whether ``python`` starts and imports the single-user server, nbgrader and cnnbook as ``nobody``."""
    try:
        done = subprocess.run([python, "-c", PROBE], user=UNPRIVILEGED, group="nogroup", extra_groups=[],
                              cwd="/", env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
                              capture_output=True, timeout=PROBE_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def system_interpreters() -> list[Path]:
    """System interpreters of this Python's minor version, the ABI of the environment's compiled packages."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return [Path(folder) / version for folder in ("/usr/bin", "/usr/local/bin") if (Path(folder) / version).is_file()]


def make_bridge(interpreter: Path, folder: Path) -> str:
    """A virtual environment on ``interpreter`` that sees this environment's packages; its python."""
    subprocess.run([str(interpreter), "-m", "venv", "--without-pip", str(folder)], check=True,
                   capture_output=True, text=True)
    bridge_site = next(folder.glob("lib/python3*/site-packages"))
    # addsitedir, not a bare path: it also reads that folder's own .pth files (the editable cnnbook).
    lines = [f"import site; site.addsitedir({path!r})" for path in site.getsitepackages()]
    (bridge_site / "course_environment.pth").write_text("\n".join(lines) + "\n")
    folder.chmod(0o755)
    return str(folder / "bin" / "python")


def servers_python(folder: Path) -> str:
    """This environment's python if every user can run it, else a bridge made in ``folder``."""
    if runs_unprivileged(sys.executable):
        return sys.executable
    for interpreter in system_interpreters():
        python = make_bridge(interpreter, folder)
        if runs_unprivileged(python):
            return python
    raise SystemExit(f"hub: other users cannot run {os.path.realpath(sys.executable)} (its folders are "
                     f"private) and no system python{sys.version_info.major}.{sys.version_info.minor} can "
                     "stand in: build .venv from an interpreter every user may run")
