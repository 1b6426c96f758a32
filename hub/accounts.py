"""Unix accounts for a local course hub: made for one run, removed with everything they left.

A hub's students are real Unix users (hub/jupyterhub_config.py says why), so trying the hub needs
a few.  ``make_account`` refuses a name that already exists (an account it did not make is never
touched, let alone removed), gives the new one a home in a folder of the caller's choosing and a
random password; ``remove_account`` ends the account's processes (each by its pid, after SIGTERM
and a grace period), then deletes the account and its home.  Root only, like useradd.
"""
from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# useradd's own rule (NAME_REGEX of Debian's adduser), kept to names that are also nbgrader student ids.
UNIX_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}", re.ASCII)
GRACE_SECONDS = 5    # for a server to write its files and exit after SIGTERM, before SIGKILL


@dataclass(frozen=True)
class Account:
    name: str
    password: str
    home: Path


def check_new_name(name: str) -> None:
    """Raise ValueError, saying what to change, unless ``name`` is free and a valid Unix user name."""
    if not UNIX_NAME.fullmatch(name):
        raise ValueError(f"account name {name!r}: use lowercase letters, digits, '-' or '_' (at most 32)")
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    raise ValueError(f"account name {name!r}: a Unix user of that name exists; choose another name")


def make_account(name: str, homes: Path) -> Account:
    """A new Unix user ``name`` with its own group, a home in ``homes`` and a random password."""
    check_new_name(name)
    home = homes / name
    # A home only its owner reads: a student's work is nobody else's before it is submitted.
    subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--key", "HOME_MODE=0700",
                    "--user-group", "--shell", "/bin/bash", name], check=True, capture_output=True, text=True)
    password = secrets.token_urlsafe(12)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", check=True, capture_output=True, text=True)
    return Account(name, password, home)


def processes_of(uid: int) -> list[int]:
    """The pids of the processes whose real user is ``uid`` (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
            except FileNotFoundError:     # it ended while we looked
                continue
    return pids


def end_processes(find, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM every process ``find()`` lists; SIGKILL those it still lists after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in find():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while find() and time.monotonic() < deadline:
            time.sleep(0.1)


def remove_account(name: str) -> None:
    """End ``name``'s processes, then delete the account, its group and its home."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        return
    end_processes(lambda: processes_of(account.pw_uid))
    subprocess.run(["userdel", name], check=True, capture_output=True, text=True)
    shutil.rmtree(account.pw_dir, ignore_errors=True)
