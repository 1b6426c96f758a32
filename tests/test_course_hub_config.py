"""The course hub's configuration, read without starting it: loopback, the course, the accounts, the pins.

hub/jupyterhub_config.py is loaded as JupyterHub loads it (traitlets, with the variables
``python -m hub`` sets); tests/test_course_hub.py starts the hub itself.
"""
import json
import time
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

from hub import accounts, course_hub

REPO = Path(__file__).resolve().parents[1]
HUB = REPO / "hub"
RUN = {"COURSE_HUB_COURSE": "/srv/course", "COURSE_HUB_EXCHANGE": "/srv/exchange", "COURSE_HUB_STATE": "/srv/hub",
       "COURSE_HUB_STUDENTS": "ann,ben", "COURSE_HUB_INSTRUCTORS": "prof", "COURSE_HUB_PORTS": "9000,9001,9002,9003",
       "COURSE_HUB_PYTHON": "/srv/python/bin/python", "COURSE_HUB_SERVE": "numpy_cnn"}


@pytest.fixture
def hub_config(monkeypatch):
    for name, value in RUN.items():
        monkeypatch.setenv(name, value)
    return PyFileConfigLoader("jupyterhub_config.py", path=str(HUB)).load_config()


def course_id_in(path):
    return re.search(r'^c\.CourseDirectory\.course_id = "([^"]+)"', path.read_text(), re.M).group(1)


def test_the_hub_serves_the_course_that_nbgrader_config_names(hub_config):
    course_id = course_id_in(REPO / "nbgrader_config.py")
    assert course_id_in(HUB / "jupyter" / "common" / "nbgrader_config.py") == course_id
    assert course_hub.COURSE_ID == course_id
    assert [service["name"] for service in hub_config.JupyterHub.services] == [course_id, "grading"]
    assert [service["cwd"] for service in hub_config.JupyterHub.services] == ["/srv/course"] * 2


def test_the_grading_service_serves_the_assignment_python_m_hub_names_and_no_pages(hub_config, monkeypatch):
    grading = hub_config.JupyterHub.services[1]
    assert grading["command"][1:] == ["-m", "autograder", "serve", "numpy_cnn"] and "url" not in grading
    assert grading["environment"]["COURSE_HUB_EXCHANGE"] == "/srv/exchange"
    monkeypatch.setenv("COURSE_HUB_SERVE", "")                  # python -m hub --serve none
    plain = PyFileConfigLoader("jupyterhub_config.py", path=str(HUB)).load_config()
    assert [service["name"] for service in plain.JupyterHub.services] == ["cnn-properties"]


def test_the_hub_serves_the_releases_only_assignment_unless_told_otherwise(tmp_path):
    release = tmp_path / "release"
    (release / "numpy_cnn").mkdir(parents=True)
    (release / "numpy_cnn" / "convolution.ipynb").write_text("{}")
    course = course_hub.Course(tmp_path, "cnn-properties", release, None)
    assert course_hub.graded_on_submit(course, None) == "numpy_cnn"
    assert course_hub.graded_on_submit(course, "none") == ""
    with pytest.raises(ValueError, match=r"--serve other: no such assignment in .*\(there: numpy_cnn; or --serve none\)"):
        course_hub.graded_on_submit(course, "other")
    (release / "second").mkdir()
    (release / "second" / "a.ipynb").write_text("{}")
    assert course_hub.graded_on_submit(course, None) == "", "with several, the instructor names one"


def test_every_address_the_hub_and_its_servers_use_is_loopback(hub_config):
    assert (hub_config.JupyterHub.ip, hub_config.JupyterHub.hub_ip, hub_config.Spawner.ip) == ("127.0.0.1",) * 3
    assert (hub_config.JupyterHub.port, hub_config.JupyterHub.hub_port) == (9000, 9001)
    assert hub_config.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:9002"
    assert hub_config.JupyterHub.services[0]["url"] == "http://127.0.0.1:9003"


def test_only_the_runs_accounts_log_in_and_only_the_instructor_may_open_formgrader(hub_config):
    assert hub_config.Authenticator.allowed_users == {"ann", "ben", "prof"}
    assert hub_config.JupyterHub.load_groups == {"formgrade-cnn-properties": {"users": ["prof"]}}
    (role,) = hub_config.JupyterHub.load_roles
    assert role["groups"] == ["formgrade-cnn-properties"]
    assert role["scopes"] == ["access:services!service=cnn-properties"]


def test_students_and_the_instructor_get_their_own_jupyter_configuration_first(hub_config):
    class Spawner:
        def __init__(self, name):
            self.user = type("User", (), {"name": name})
    config_path = hub_config.Spawner.environment["JUPYTER_CONFIG_PATH"]
    assert config_path(Spawner("ann")).split(":")[:2] == [str(HUB / "jupyter" / "student"), str(HUB / "jupyter" / "common")]
    assert config_path(Spawner("prof")).split(":")[0] == str(HUB / "jupyter" / "instructor")
    assert hub_config.Spawner.cmd == ["/srv/python/bin/python", "-m", "jupyterhub.singleuser"]
    assert hub_config.Spawner.environment["COURSE_HUB_EXCHANGE"] == "/srv/exchange"


@pytest.mark.parametrize("role, on, off", [
    ("student", {"assignment_list", "validate_assignment"}, {"formgrader", "course_list"}),
    ("instructor", {"course_list"}, {"formgrader", "assignment_list", "validate_assignment"}),
    ("course", {"formgrader", "validate_assignment", "course_list"}, {"assignment_list"}),
])
def test_each_kind_of_server_switches_nbgrader_extensions_on_and_off_in_its_server_and_its_lab(role, on, off):
    server = json.loads((HUB / "jupyter" / role / "jupyter_server_config.json").read_text())
    switches = {name.rsplit(".", 1)[1]: value for name, value in server["ServerApp"]["jpserver_extensions"].items()}
    assert switches == {**{name: True for name in on}, **{name: False for name in off}}
    lab = json.loads((HUB / "jupyter" / role / "labconfig" / "page_config.json").read_text())
    plugins = {"formgrader": "formgrader", "course_list": "course-list", "assignment_list": "assignment-list",
               "validate_assignment": "validate-assignment"}
    assert {f"@jupyter/nbgrader:{plugins[name]}" for name in off} <= set(lab["disabledExtensions"])
    assert not {f"@jupyter/nbgrader:{plugins[name]}" for name in on} & set(lab["disabledExtensions"])


def test_the_pins_are_what_is_installed():
    import jupyterhub
    pinned = re.search(r"^jupyterhub==(\S+)$", (REPO / "requirements-hub.txt").read_text(), re.M).group(1)
    assert jupyterhub.__version__ == pinned
    wanted = json.loads((HUB / "package.json").read_text())["dependencies"]["configurable-http-proxy"]
    locked = json.loads((HUB / "package-lock.json").read_text())["packages"]["node_modules/configurable-http-proxy"]
    assert locked["version"] == wanted
    if not course_hub.PROXY.exists():
        pytest.fail("hub/node_modules is missing: `make test` (scripts/setup.sh test) installs it", pytrace=False)
    done = subprocess.run([str(course_hub.PROXY), "--version"], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == wanted


@pytest.mark.parametrize("name, why", [("root", "a Unix user of that name exists"),
                                       ("Ann", "use lowercase letters"), ("a b", "use lowercase letters"),
                                       ("../x", "use lowercase letters"), ("x" * 33, "at most 32")])
def test_an_account_name_that_exists_or_is_no_user_name_is_refused_with_the_reason(name, why):
    with pytest.raises(ValueError, match=why):
        accounts.check_new_name(name)


def test_the_run_marker_finds_only_the_processes_started_with_it(tmp_path):
    marked = subprocess.Popen(["sleep", "60"], env={"COURSE_HUB_STATE": str(tmp_path)})
    other = subprocess.Popen(["sleep", "60"], env={"COURSE_HUB_STATE": str(tmp_path) + "-other"})
    try:
        assert course_hub.processes_of_run(tmp_path) == [marked.pid]
        accounts.end_processes(lambda: course_hub.processes_of_run(tmp_path), grace=5)
        assert marked.wait(timeout=5) == -15 and other.poll() is None
    finally:
        for process in (marked, other):
            process.kill()
            process.wait()


def guide_hub_section():
    text = (REPO / "book" / "instructors" / "release_and_collect.md").read_text(encoding="utf-8")
    start = text.index("### The course on a JupyterHub")
    return text[start:text.index("\n### ", start + 1)]


def fenced(section, language):
    (body,) = re.findall(rf"^( *)```{language}\n(.*?)^\1```", section, re.S | re.M)
    return "\n".join(line.removeprefix(body[0]) for line in body[1].splitlines())


def test_the_guides_sample_is_what_python_m_hub_prints():
    state = Path("/tmp/course-hub-x1y2z3")
    made = [accounts.Account(name, password, state / "homes" / name) for name, password in
            (("alice", "0kG3..."), ("bob", "9xWq..."), ("carol", "Hs2L..."), ("instructor", "p7Zc..."))]
    run = course_hub.Run(state, state / "exchange", {"public": 41523}, made[:3], made[3:], graded_on_submit="numpy_cnn")
    course = course_hub.Course(Path("/srv/courses/cnn-properties"), "cnn-properties", REPO / "exercises", None)
    printed = course_hub.summary(course, run, ["numpy_cnn"], time.monotonic() - 35).splitlines()
    sample = [line for line in fenced(guide_hub_section(), "text").splitlines() if line.strip() != "..."]
    assert sample == printed[:len(sample)]


def test_the_guides_hub_configuration_is_the_hubs(hub_config):
    from traitlets.config import Config
    section = guide_hub_section()
    assert "`python -m hub`" in section
    guide = Config()
    exec(fenced(section, "python"), {"c": guide})
    assert [(service["name"], service["command"][1:], service.get("oauth_no_confirm"), "url" in service)
            for service in guide.JupyterHub.services] == \
        [(service["name"], service["command"][1:], service.get("oauth_no_confirm"), "url" in service)
         for service in hub_config.JupyterHub.services]
    assert [{key: role[key] for key in ("name", "groups", "scopes")} for role in hub_config.JupyterHub.load_roles] == \
        guide.JupyterHub.load_roles
    assert guide.Spawner.server_token_scopes == hub_config.Spawner.server_token_scopes
    assert set(guide.JupyterHub.load_groups) == set(hub_config.JupyterHub.load_groups)


def test_the_hub_warns_while_every_user_can_read_the_courses_grades_or_collected_work():
    with tempfile.TemporaryDirectory(dir="/tmp") as base:    # pytest's tmp_path lies in a 0700 folder
        in_reach_as_modes_change(Path(base))


def in_reach_as_modes_change(base):
    root = base / "course"
    (root / "submitted" / "ann").mkdir(parents=True)
    (root / "gradebook.db").write_text("")
    for folder in (base, root):
        folder.chmod(0o755)
    (root / "gradebook.db").chmod(0o644)
    (root / "submitted").chmod(0o755)
    course = course_hub.Course(root, "cnn-properties", root / "exercises", None)
    assert course_hub.student_data_in_reach(course) == ["gradebook.db", "submitted"]
    (root / "submitted").chmod(0o750)
    assert course_hub.student_data_in_reach(course) == ["gradebook.db"]
    root.chmod(0o700)
    assert course_hub.student_data_in_reach(course) == []
