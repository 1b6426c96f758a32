"""The repository's entry points: README's two commands, set-up, CI script, deploy workflow."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import yaml

SETUP_FILES = ("scripts/setup.sh", "requirements.txt", "requirements-test.txt", "pyproject.toml",
               "requirements-hub.txt", "hub/package.json", "hub/package-lock.json")


def shell_commands_in_readme(repo_root: Path) -> list[str]:
    readme = (repo_root / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_gives_the_two_commands_and_how_to_open_the_book(repo_root):
    commands = shell_commands_in_readme(repo_root)
    assert commands[:2] == ["make book", "make test"]
    readme = (repo_root / "README.md").read_text()
    assert "_build/html/index.html" in readme
    assert "book/instructors/grading_guide.md" in readme


def test_makefile_targets_run_setup_then_build_or_tests(repo_root):
    # Run as a top-level make even when the suite itself runs under `make test`.
    env = {key: value for key, value in os.environ.items()
           if key not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    make = subprocess.run(["make", "--no-print-directory", "-n", "book", "test"],
                          cwd=repo_root, env=env, text=True, capture_output=True,
                          check=True).stdout.splitlines()
    # make test: the set-up, then every test in two steps (side by side, then those that run alone),
    # both always run, the status a failed step's.
    assert make == ["scripts/setup.sh book", ".venv/bin/python scripts/build_book.py",
                    "scripts/setup.sh test", "status=0; \\",
                    '.venv/bin/python -m pytest -m "(slow or not slow) and not alone" -n 2 --dist loadfile '
                    '--durations=10 || status=$?; \\',
                    '.venv/bin/python -m pytest -m "(slow or not slow) and alone" --durations=10 || status=$?; \\',
                    "exit $status"]


def test_ci_script_runs_exactly_make_test(repo_root):
    script = repo_root / ".ci" / "run"
    assert script.stat().st_mode & stat.S_IXUSR, ".ci/run must be executable"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    commands = [line.strip() for line in text.splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert commands[-1] == "make test"
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_deploy_workflow_builds_with_make_book_and_publishes_the_html(repo_root):
    workflow = yaml.safe_load((repo_root / ".github/workflows/deploy-book.yml").read_text())
    build_steps = workflow["jobs"]["build"]["steps"]
    uses = [step.get("uses", "").split("@")[0] for step in build_steps]
    assert uses[:2] == ["actions/checkout", "actions/setup-python"]
    assert build_steps[1]["with"]["python-version"] == "3.11"
    assert build_steps[1]["with"]["cache"] == "pip"
    assert any(step.get("run", "").startswith("make book") for step in build_steps)
    upload = build_steps[uses.index("actions/upload-pages-artifact")]
    assert upload["with"]["path"] == "_build/html"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["steps"][-1]["uses"].startswith("actions/deploy-pages@")
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}


def fake_clone(tmp_path: Path, repo_root: Path) -> tuple[Path, Path]:
    """A copy of the set-up inputs whose .venv/bin/python only logs how it was called."""
    for name in SETUP_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo_root / name, tmp_path / name)
    log = tmp_path / "pip-calls.log"
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n')
    python.chmod(0o755)
    # npm too only logs (no network in a test), and leaves the proxy where setup.sh looks for it.
    npm = tmp_path / "fake-bin" / "npm"
    npm.parent.mkdir()
    proxy = tmp_path / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
    npm.write_text(f'#!/bin/sh\necho "npm $*" >> "{log}"\nmkdir -p "{proxy.parent}"\n'
                   f'printf "#!/bin/sh\\n" > "{proxy}"\nchmod +x "{proxy}"\n')
    npm.chmod(0o755)
    return tmp_path, log


def run_setup(clone: Path, mode: str) -> str:
    env = dict(os.environ, PYTHON=sys.executable,
               PATH=os.pathsep.join([str(clone / "fake-bin"), os.environ.get("PATH", "")]))
    result = subprocess.run(["bash", "scripts/setup.sh", mode], cwd=clone, env=env, text=True,
                            capture_output=True, check=True)
    return result.stdout


# setup.sh test stages the browser tests' pinned axe-core on every run (cheap once staged)
STAGE_TEST_ASSETS = "scripts/js_assets.py --tests"


HUB_INSTALL = ["-m pip install --quiet -r requirements-hub.txt", "npm ci --prefix hub --no-audit --no-fund --loglevel=error"]


def pip_calls(log: Path) -> list[str]:
    return [call for call in log.read_text().splitlines() if call != STAGE_TEST_ASSETS]


def test_setup_installs_once_and_again_only_when_requirements_change(tmp_path, repo_root):
    clone, log = fake_clone(tmp_path, repo_root)
    run_setup(clone, "test")
    assert pip_calls(log) == HUB_INSTALL + [
        "-m pip install --quiet -r requirements.txt",
        "-m pip install --quiet -e .",
        "-m pip install --quiet -r requirements-test.txt"]
    assert "up to date" in run_setup(clone, "test")
    assert len(pip_calls(log)) == 5  # nothing installed the second time
    with (clone / "requirements.txt").open("a") as requirements:
        requirements.write("# a changed pin\n")
    run_setup(clone, "test")
    assert len(pip_calls(log)) == 8   # the three again; the hub's pins did not change
    assert log.read_text().splitlines().count(STAGE_TEST_ASSETS) == 3


def test_setup_for_the_book_alone_stages_no_test_assets(tmp_path, repo_root):
    clone, log = fake_clone(tmp_path, repo_root)
    run_setup(clone, "book")
    assert pip_calls(log) == log.read_text().splitlines() == [
        "-m pip install --quiet -r requirements.txt", "-m pip install --quiet -e ."]


def test_setup_rejects_an_unknown_mode(tmp_path, repo_root):
    clone, _ = fake_clone(tmp_path, repo_root)
    result = subprocess.run(["bash", "scripts/setup.sh", "everything"], cwd=clone, text=True,
                            capture_output=True, check=False)
    assert result.returncode == 2 and "usage: scripts/setup.sh book|test" in result.stderr
