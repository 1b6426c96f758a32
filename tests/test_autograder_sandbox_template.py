"""Attacks on the sandbox template (namespaces level): parts forked from one process share nothing.

Every part of every submission a grading process grades is forked from one template
(:mod:`autograder.in_sandbox.template`).  These tests try, from inside a part, what that
could open: the template's or another part's processes, files, sockets and random state,
and the course package's source, which the template must never hold.
"""
import re
from pathlib import Path

import pytest

from autograder.checks.parts import NAIVE_MODULES, NETWORK_MODULES
from autograder.isolation import template as template_module
from autograder.isolation.sandbox import Sandbox, available_isolation
from test_autograder_sandbox import call, run

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(available_isolation()[0] != "namespaces",
                                reason="the template serves the namespaces level only")


@pytest.fixture
def part():
    sandboxes = []

    def start(modules=NAIVE_MODULES):
        sandbox = Sandbox("namespaces", str(REPO), cnnbook_modules=modules)
        sandbox.start()
        sandboxes.append(sandbox)
        return sandbox

    yield start
    for sandbox in sandboxes:
        sandbox.close()


def returned(sandbox, source, name="probe", *args):
    header = run(sandbox, source)
    assert header["ok"], header
    reply, value = call(sandbox, name, *args)
    assert reply["ok"], reply
    return value


def test_a_part_sees_only_its_own_processes_and_cannot_signal_its_first(part):
    value = returned(part(), "import os, signal\ndef probe():\n"
                             "    pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
                             "    try:\n        os.kill(1, signal.SIGKILL)\n        killed = 'killed'\n"
                             "    except PermissionError:\n        killed = 'refused'\n"
                             "    return pids, killed, os.getpid()\n")
    pids, killed, own = value
    assert pids == [1, own] and killed == "refused"


def test_two_live_parts_share_no_files_sockets_or_ipc(part):
    first, second = part(), part()
    returned(first, "import socket\nlistener = socket.socket(socket.AF_UNIX)\n"
             "def probe():\n    open('/tmp/alice-answers.txt', 'w').write('42')\n"
             "    listener.bind('\\0template-abstract-7781')\n    listener.listen(1)\n    return True\n")
    found = returned(second, "import os, socket\ndef probe():\n"
                             "    seen = os.path.exists('/tmp/alice-answers.txt')\n"
                             "    client = socket.socket(socket.AF_UNIX)\n"
                             "    try:\n        client.connect('\\0template-abstract-7781')\n        reached = True\n"
                             "    except OSError:\n        reached = False\n"
                             "    return seen, reached\n")
    assert list(found) == [False, False]


def test_each_part_draws_its_own_random_numbers(part):
    source = "import numpy as np, random\ndef probe():\n    return float(np.random.random()), random.random()\n"
    first, second = returned(part(), source), returned(part(), source)
    assert first[0] != second[0] and first[1] != second[1]


def test_the_package_source_is_out_of_reach_of_a_part(part):
    value = returned(part(), "import os\ndef probe():\n    found = []\n"
                             "    for root, dirs, files in os.walk('/grader'):\n"
                             "        found += [os.path.join(root, f) for f in files]\n"
                             "    try:\n        os.listdir('/grader/.source')\n        listed = 'listed'\n"
                             "    except PermissionError:\n        listed = 'refused'\n"
                             "    return sorted(found), listed\n")
    files, listed = value
    assert listed == "refused"
    assert not any("/.source" in path for path in files)
    # The naive part's view: the allowed module whole, every other one a refusal.
    layers = Path("/grader/cnnbook/layers.py").as_posix()
    assert layers in files


def test_the_template_never_holds_the_text_of_a_course_module(part):
    # A part allowed the fast layers, then a naive part: the template process that forked both
    # (and every later part) must not have the fast layers' source in its memory.
    network = part(NETWORK_MODULES)
    assert returned(network, "import cnnbook.fast_layers\ndef probe():\n    return True\n")
    part(NAIVE_MODULES)
    template = next(iter(template_module._templates.values()))
    zygote = int(Path(f"/proc/{template.process.pid}/task/{template.process.pid}/children").read_text().split()[0])
    source = (REPO / "cnnbook" / "fast_layers.py").read_text()
    needles = [line.strip().encode() for line in source.splitlines() if len(line.strip()) > 40][:5]
    assert needles, "fast_layers.py should have long lines to look for"
    memory = read_memory(zygote)
    # The scan finds what the template does hold: the worker's docstring, which it imported.
    assert b"The untrusted side of the grader: runs a student's cells and answers calls." in memory
    assert not [needle for needle in needles if needle in memory]


def read_memory(pid):
    """Every readable private mapping of ``pid``'s memory, concatenated (files mapped from disk left out)."""
    chunks = []
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5].startswith("/")):
                continue
            start, end = (int(value, 16) for value in re.split("-", fields[0]))
            try:
                mem.seek(start)
                chunks.append(mem.read(end - start))
            except OSError:
                continue
    return b"".join(chunks)
