"""Submit to feedback with the grading service: how long a student waits, and where the time goes.

Sets up a throw-away course with an exchange, starts ``python -m autograder serve numpy_cnn``
(as the guide says, with an attempt limit too high to matter), and measures:

* **idle** (default): ``--repeat`` submissions one after another, each with ``nbgrader submit``
  (the instructor solutions, as one student), timed from the moment ``submit`` returns to the
  moment the released page exists in the exchange, where ``fetch_feedback`` finds it (its name
  is the hash of the submission's secret, read from the student's nbgrader cache);
* **burst** (``--burst N``): N students whose submissions land within ``--spread`` seconds,
  written into the inbound folder as ``nbgrader submit`` writes them (a folder with the
  notebooks, ``timestamp.txt`` and ``submission_secret.txt``; N ``nbgrader submit`` processes
  would measure their own start-up on this machine), timed from each landing to its page.

It prints the median (and for a burst the 95th percentile and the maximum), whether any
submission was lost or graded twice, and each step's median share of one submission's latency
from the service's own log lines: noticed (the scan's period and the settling second), collect,
grade, record, feedback (``generate_feedback``), release, other.  Numbers only, no assertions.

Usage:  .venv/bin/python benchmarks/grade_on_submit.py [--repeat 10] [--burst 30 --spread 60] [--workers N]
(as root, for the namespaces level, like ``grade``)
"""
import argparse
import contextlib
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))   # the course's test data: a throw-away course, the solutions

import corpus  # noqa: E402
from nbgrader.utils import notebook_hash  # noqa: E402
from test_instructor_loop import fill_answers  # noqa: E402

ASSIGNMENT = "numpy_cnn"
COURSE_ID = "cnn-properties"
STEPS = ("noticed", "collect", "grade", "record", "feedback", "release", "other")
LINE = re.compile(r"(?P<student>\S+): .* feedback released (?P<total>[0-9.]+) s after submitting \((?P<steps>.*)\)")
TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f UTC"


class Bench:
    def __init__(self, base, workers):
        self.base, self.exchange = base, base / "exchange"
        self.course = corpus.make_course(base / "course", REPO)
        self.exchange.mkdir(mode=0o777)
        with open(self.course / "nbgrader_config.py", "a", encoding="utf-8") as config:
            config.write(f'\nc.Exchange.root = "{self.exchange}"\nc.GradeOnSubmit.graded_attempts = 1000\n')
        self.env = corpus.grader_environment(self.course, "benchmark-secret")
        self.workers = workers
        self.solutions = corpus.solution_answers(self.course / "solutions" / ASSIGNMENT)
        self.log = base / "service.log"

    def run(self, *args):
        subprocess.run([sys.executable, *args], cwd=self.course, env=self.env, check=True, capture_output=True)

    def set_up(self):
        self.run("-m", "autograder", "generate", ASSIGNMENT)
        self.run("-m", "nbgrader", "release_assignment", ASSIGNMENT)

    @contextlib.contextmanager
    def service(self):
        command = [sys.executable, "-m", "autograder", "serve", ASSIGNMENT, "--workers", str(self.workers)]
        process = subprocess.Popen(command, cwd=self.course, env=self.env, stdout=open(self.log, "w"),
                                   stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: "serving" in self.log.read_text(), 600, "the service did not start")
            yield process
        finally:
            process.terminate()
            process.wait(timeout=120)

    def lines(self):
        return [match for match in map(LINE.search, self.log.read_text().splitlines()) if match]

    # -- idle: nbgrader submit, one at a time ---------------------------------------------

    def student_env(self, student):
        home = self.base / "homes" / student
        home.mkdir(parents=True, exist_ok=True)
        env = dict(self.env, HOME=str(home), JUPYTER_DATA_DIR=str(home / ".local/share/jupyter"),
                   JUPYTER_CONFIG_DIR=str(home / ".jupyter"))
        env.pop("PYTHONPATH")
        return home, env

    def as_student(self, student, *args):
        home, env = self.student_env(student)
        subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--Exchange.root={self.exchange}",
                        f"--course={COURSE_ID}", f"--student={student}"], cwd=home, env=env, check=True,
                       capture_output=True)

    def idle(self, repeat):
        student = "idle-student"
        self.as_student(student, "fetch_assignment", ASSIGNMENT)
        fill_answers(self.base / "homes" / student / ASSIGNMENT, self.solutions)
        waits = []
        for index in range(repeat):
            self.as_student(student, "submit", ASSIGNMENT)
            returned = time.time()
            page = self.exchange / COURSE_ID / "feedback" / f"{self.latest_hash(student)}.html"
            wait_until(page.exists, 600, f"no feedback for submission {index + 1}")
            waits.append(time.time() - returned)
            time.sleep(1.0)            # idle: the next one lands on a service with nothing to do
        return waits

    def latest_hash(self, student):
        cache = self.base / "homes" / student / ".local/share/jupyter/nbgrader_cache" / COURSE_ID
        latest = max(cache.glob(f"{student}+{ASSIGNMENT}+*"), key=lambda path: path.name)
        return notebook_hash(secret=(latest / "submission_secret.txt").read_text(), notebook_id="convolution")

    # -- burst: N submissions written into the inbound folder within a spread --------------

    def burst(self, count, spread):
        prepared = self.base / "prepared"
        shutil.copytree(self.course / "exercises" / ASSIGNMENT, prepared)
        fill_answers(prepared, self.solutions)
        landed, pages, done = {}, {}, {}
        started = time.time()
        deadline = started + spread + 60 * count
        while len(done) < count and time.time() < deadline:
            # Land each submission at its time, and look for the pages of those landed, every 0.1 s.
            if len(landed) < count and time.time() >= started + spread * len(landed) / max(1, count - 1):
                self.land(f"burst-{len(landed):03d}", prepared, landed, pages)
            for student, page in pages.items():
                if student not in done and page.exists():
                    done[student] = time.time() - landed[student]
            time.sleep(0.1)
        return done

    def land(self, student, prepared, landed, pages):
        """A submission as nbgrader submit leaves it in the inbound folder; where its page will be."""
        secret = secrets.token_hex(64)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S.000000 UTC", time.gmtime())
        folder = self.exchange / COURSE_ID / "inbound" / f"{student}+{ASSIGNMENT}+{stamp}+{secrets.token_urlsafe(8)}"
        shutil.copytree(prepared, folder)
        (folder / "timestamp.txt").write_text(stamp)
        (folder / "submission_secret.txt").write_text(secret)
        landed[student] = time.time()
        pages[student] = self.exchange / COURSE_ID / "feedback" / \
            f"{notebook_hash(secret=secret, notebook_id='convolution')}.html"


def wait_until(ready, seconds, failure):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    sys.exit(failure)


def step_shares(lines):
    """Median seconds of each step over the service's lines, and its share of the median total."""
    rows = [dict((name, float(seconds)) for name, seconds in re.findall(r"(\w+) ([0-9.]+) s", line["steps"]))
            for line in lines]
    total = statistics.median(float(line["total"]) for line in lines)
    return total, {step: statistics.median(row.get(step, 0.0) for row in rows) for step in STEPS}


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def report_steps(lines):
    total, steps = step_shares(lines)
    print(f"  service's own count, submission's time to released page: median {total:.1f} s; per step (median):")
    for step, seconds in steps.items():
        print(f"    {step:<9} {seconds:6.2f} s  {seconds / total:6.1%}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="idle submissions (default 10)")
    parser.add_argument("--burst", type=int, default=0, help="students in a deadline burst (default: none)")
    parser.add_argument("--spread", type=float, default=60.0, help="seconds the burst's submissions land within")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grade-on-submit-") as base:
        bench = Bench(Path(base), options.workers)
        bench.set_up()
        with bench.service():
            waits = bench.idle(options.repeat) if options.repeat else []
            idle_lines = bench.lines()
            burst = bench.burst(options.burst, options.spread) if options.burst else {}
            burst_lines = bench.lines()[len(idle_lines):]
    load = os.getloadavg()[0]
    print(f"grading on submit, {options.workers} worker(s), {os.cpu_count()} core(s), load average {load:.1f}")
    if waits:
        print(f"idle: {len(waits)} submissions, nbgrader submit returned to page fetchable: median "
              f"{statistics.median(waits):.1f} s (min {min(waits):.1f}, max {max(waits):.1f})")
        report_steps(idle_lines)
    if options.burst:
        graded = [line["student"] for line in burst_lines]
        print(f"burst: {options.burst} students within {options.spread:g} s: {len(burst)} pages, "
              f"{options.burst - len(burst)} lost, {len(graded) - len(set(graded))} graded twice")
        if burst:
            values = list(burst.values())
            print(f"  landing to page fetchable: median {statistics.median(values):.1f} s, 95th percentile "
                  f"{percentile(values, 0.95):.1f} s, max {max(values):.1f} s")
        if burst_lines:
            report_steps(burst_lines)


if __name__ == "__main__":
    main()
