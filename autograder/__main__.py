"""Command line of the trusted grader.

    python -m autograder grade ASSIGNMENT [--workers N] [--student ID ...] [--isolation LEVEL] [--preflight always]
    python -m autograder grade ASSIGNMENT --cluster local:N | --scheduler ADDRESS [--tls FOLDER]
    python -m autograder serve ASSIGNMENT [--workers N | --cluster local:N | --scheduler ADDRESS]
    python -m autograder worker SCHEDULER_ADDRESS [--nworkers N] [--tls FOLDER]
    python -m autograder generate ASSIGNMENT
    python -m autograder grades ASSIGNMENT
    python -m autograder intake ASSIGNMENT DOWNLOAD --lms canvas|blackboard|moodle --timezone ZONE [--update] [--roster FILE]
    python -m autograder export ASSIGNMENT --lms canvas|moodle|blackboard --roster FILE [--out FILE] [--allow-ungraded]
    python -m autograder similarity ASSIGNMENT [--threshold T] [--out DIR]
    python -m autograder isolation
    python -m autograder check

Run from the course root (where nbgrader_config.py is).  ``grade`` grades
every ``submitted/*/ASSIGNMENT/`` (or only the named students) and writes:

* the trusted scores into ``gradebook.db`` (formgrader, ``nbgrader export``,
  ``nbgrader generate_feedback`` show them);
* ``autograded/<student>/ASSIGNMENT/``: the autograded notebooks and
  ``autograder_feedback.txt`` (copied into the feedback by
  ``nbgrader generate_feedback``);
* ``grades.csv``: one row per student, from the gradebook: one column per
  graded part, then the autograded points, manual adjustments, late penalty,
  final total, whether manual grading is pending, the run's status and the
  tampering flags (``grades`` writes it again, e.g. after manual grading);
* ``autograded/.autograder/ASSIGNMENT/<student>.json`` and ``.log``: the
  instructor's record (flags, the student's printed output, grader errors).

``submitted/`` is only read.  Re-running gives the same gradebook.  Before any student, ``grade``
grades the instructor solutions (the pre-flight); a pass is remembered in
``autograded/.autograder/.preflight/`` and the next run skips it while nothing that decides
it changed (:mod:`autograder.preflight_record`); ``--preflight always`` runs it anyway.
``generate`` regenerates the release from ``solutions/`` with nbgrader, keeping the
old release when that fails (:mod:`autograder.nbgrader_io.regenerate`).
``intake`` collects an LMS's bulk download into ``submitted/``
(:mod:`autograder.nbgrader_io.lms_intake`), one line per student, under nbgrader ids with ``--roster``
(:mod:`autograder.nbgrader_io.roster`).  ``export`` writes the gradebook's totals in an LMS's own
grade import format (:mod:`autograder.nbgrader_io.lms_export`).
``check`` says, one line per check, whether this machine is ready to grade.
``isolation`` starts one sandbox and reports what it can and cannot reach.
``serve`` grades each submission as it lands in nbgrader's exchange and releases its feedback, under
the course's policy (:mod:`autograder.service`, :mod:`autograder.submit_policy`) until SIGTERM.
``--cluster``/``--scheduler`` grade on Dask workers started by ``worker``
(:mod:`autograder.cluster`, :mod:`autograder.grading_worker`); the guide's
page "Large courses" (book/instructors/large_courses.md) says how to deploy them.
"""
import argparse
import os
import sys
from pathlib import Path

from .cluster import TLS_FILES, ClusterError, ClusterSpec, TlsFiles, parse_cluster
from .course_locks import ServiceRunning, gradebook_lock
from .grading_worker import WorkerRefused
from .isolation.sandbox import ISOLATION_LEVELS
from .isolation.student import TimeLimits
from .nbgrader_io.gradebook import CourseError, assignment_dir, course_directory
from .nbgrader_io.regenerate import regenerate_release
from .nbgrader_io.lms_intake import LAYOUTS, IntakeError, intake, report_line
from .nbgrader_io.lms_export import LMS_NAMES, MOODLE_KEYS, ExportError, ExportRequest, export_grades
from .nbgrader_io.roster import RosterError, read_roster
from .nbgrader_io.release import ReleaseError
from .runners import choose_isolation
from .similarity.command import add_similarity_command, similarity_command
from .whole_class import PREFLIGHT_POLICIES, PreflightFailed, grade_class, write_class_grades


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade every submission of an assignment")
    grade.add_argument("assignment")
    grade.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="submissions graded at the same time (default: every core)")
    grade.add_argument("--student", action="append", default=None,
                       help="grade only this student (repeatable)")
    grade.add_argument("--isolation", choices=("auto",) + ISOLATION_LEVELS, default="auto",
                       help="sandbox level (default: the strongest this machine supports)")
    grade.add_argument("--call-timeout", type=_positive_seconds, default=TimeLimits.call_s,
                       help=f"seconds one call of a student function may take (default {TimeLimits.call_s:g})")
    grade.add_argument("--submission-timeout", type=_positive_seconds, default=TimeLimits.submission_s,
                       help="seconds the whole of one submission may take, all its parts together "
                            f"(default {TimeLimits.submission_s:g})")
    grade.add_argument("--preflight", choices=PREFLIGHT_POLICIES, default="auto",
                       help="auto (default): skip grading the instructor solutions first while a pass is "
                            "remembered and nothing that decides it changed; always: grade them first anyway")
    _add_cluster_options(grade)
    _add_serve_command(commands)
    generate = commands.add_parser("generate", help="nbgrader generate_assignment --force, keeping the old "
                                   "release if it fails")
    generate.add_argument("assignment")
    grades = commands.add_parser("grades", help="write grades.csv again from the gradebook (after manual grading)")
    grades.add_argument("assignment")
    _add_intake_command(commands)
    add_similarity_command(commands)
    _add_export_command(commands)
    commands.add_parser("isolation", help="start one sandbox and report what it can reach")
    commands.add_parser("check", help="is this machine ready to grade? one line per check")
    worker = commands.add_parser("worker", help="serve grading workers to a Dask scheduler (run from a course root)")
    worker.add_argument("scheduler", help="the scheduler's address: tcp://127.0.0.1:PORT, or tls://HOST:PORT")
    worker.add_argument("--nworkers", type=int, default=os.cpu_count() or 1,
                        help="single-threaded grading workers to start (default: every core)")
    _add_tls_options(worker)
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (CourseError, ReleaseError, KeyError, ValueError, ClusterError, WorkerRefused, PreflightFailed,
            IntakeError, ServiceRunning) as error:
        print(f"error: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2
    except (RosterError, ExportError) as error:
        for line in error.problems:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the submissions reported above are graded and recorded, the others are not; "
              "run the same command again to grade them", file=sys.stderr)
        return 130


def _positive_seconds(text):
    seconds = float(text)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"a number of seconds above 0, not {text!r}")
    return seconds


def _run(args):
    if args.command == "grade":
        return grade_class(Path.cwd(), args.assignment, args.student, args.isolation,
                           TimeLimits(call_s=args.call_timeout, submission_s=args.submission_timeout),
                           args.workers, _cluster_spec(args), args.preflight)
    if args.command == "serve":
        from .service import serve
        return serve(Path.cwd(), args.assignment, args.isolation,
                     TimeLimits(call_s=args.call_timeout, submission_s=args.submission_timeout),
                     args.workers, _cluster_spec(args))
    if args.command == "generate":
        print(f"wrote {regenerate_release(course_directory(Path.cwd())[0], args.assignment)}")
        return 0
    if args.command == "grades":
        print(f"wrote {write_class_grades(Path.cwd(), args.assignment)}")
        return 0
    if args.command == "check":
        return check_command()
    if args.command == "intake":
        return intake_command(args)
    if args.command == "similarity":
        return similarity_command(args)
    if args.command == "export":
        return export_command(args)
    if args.command == "worker":
        from .grading_worker import worker_command
        tls = _tls_files(args)
        ClusterSpec(scheduler=args.scheduler, tls=tls).check()
        return worker_command(args.scheduler, args.nworkers, tls.security() if tls else None, Path.cwd())
    return isolation_command()


def _add_serve_command(commands):
    serve = commands.add_parser("serve", help="grade each submission as it lands in the exchange and release its "
                                "feedback (until SIGTERM)")
    serve.add_argument("assignment")
    serve.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="submissions graded at the same time, by processes kept between them (default: every core)")
    serve.add_argument("--isolation", choices=("auto",) + ISOLATION_LEVELS, default="auto",
                       help="sandbox level (default: the strongest this machine supports)")
    serve.add_argument("--call-timeout", type=_positive_seconds, default=TimeLimits.call_s,
                       help=f"seconds one call of a student function may take (default {TimeLimits.call_s:g})")
    serve.add_argument("--submission-timeout", type=_positive_seconds, default=TimeLimits.submission_s,
                       help=f"seconds one submission may take, all its parts (default {TimeLimits.submission_s:g})")
    _add_cluster_options(serve)


def _add_cluster_options(grade):
    where = grade.add_mutually_exclusive_group()
    where.add_argument("--cluster", metavar="local:N",
                       help="grade on a Dask cluster of N single-threaded worker processes started here")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="grade on the Dask cluster of this scheduler (tcp://127.0.0.1:PORT or tls://HOST:PORT) "
                            "whose workers run `python -m autograder worker`")
    grade.add_argument("--task-timeout", type=float, default=0.0,
                       help="seconds the cluster may take for one submission (default: from the time limits)")
    _add_tls_options(grade)


def _add_tls_options(parser):
    parser.add_argument("--tls", metavar="FOLDER", help=f"a folder with {', '.join(TLS_FILES)}")
    parser.add_argument("--tls-ca", help="the certificate authority's certificate (PEM)")
    parser.add_argument("--tls-cert", help="this machine's certificate (PEM), signed by that authority")
    parser.add_argument("--tls-key", help="this machine's private key (PEM)")


def _tls_files(args):
    given = [args.tls_ca, args.tls_cert, args.tls_key]
    if args.tls and any(given):
        raise ClusterError("give either --tls FOLDER or --tls-ca/--tls-cert/--tls-key, not both")
    if args.tls:
        return TlsFiles.from_folder(args.tls)
    if any(given) and not all(given):
        raise ClusterError("--tls-ca, --tls-cert and --tls-key go together")
    return TlsFiles(*given) if all(given) else None


def _cluster_spec(args):
    tls = _tls_files(args)
    if not args.cluster and not args.scheduler:
        if tls or args.task_timeout:
            raise ClusterError("--tls* and --task-timeout apply to --cluster or --scheduler runs")
        return None
    local = parse_cluster(args.cluster) if args.cluster else 0
    spec = ClusterSpec(scheduler=args.scheduler or "", local_workers=local, tls=tls,
                       task_timeout_s=args.task_timeout)
    spec.check()
    return spec


def _add_intake_command(commands):
    intake = commands.add_parser("intake", help="collect an LMS bulk download into submitted/")
    intake.add_argument("assignment")
    intake.add_argument("download", help="the bulk download: the zip the LMS gives, or its unpacked folder")
    intake.add_argument("--lms", required=True, choices=sorted(LAYOUTS), help="which system named the files")
    intake.add_argument("--timezone", required=True, help="the LMS's time zone, e.g. Europe/Berlin")
    intake.add_argument("--update", action="store_true",
                        help="replace a student already collected when this download is newer")
    intake.add_argument("--roster", help="a roster CSV mapping the LMS's ids to nbgrader ids "
                        "(book/instructors/lms_round_trip.md); without it, folders take the LMS's ids")


def _add_export_command(commands):
    export = commands.add_parser("export", help="write the gradebook's totals in an LMS's grade import format")
    export.add_argument("assignment")
    export.add_argument("--lms", required=True, choices=LMS_NAMES, help="whose import format to write")
    export.add_argument("--roster", required=True, help="the roster CSV: each nbgrader id's ids in the LMS")
    export.add_argument("--out", help="the file to write (default: grades-ASSIGNMENT-LMS.csv here)")
    export.add_argument("--column-name", default="", help="the LMS's name of the assignment (default: ASSIGNMENT)")
    export.add_argument("--column-id", default="", help="Canvas's assignment id or Blackboard's column id "
                        "(without it, the import makes a new column)")
    export.add_argument("--moodle-key", choices=sorted(MOODLE_KEYS), default="idnumber",
                        help="the identifier Moodle's import maps users by (default: idnumber)")
    export.add_argument("--allow-ungraded", action="store_true",
                        help="export the autograded score of a submission still waiting for manual grading")


def export_command(args):
    """Write the LMS's import file, or refuse with one line per problem (nothing written)."""
    coursedir, _config = course_directory(Path.cwd())
    request = ExportRequest(args.assignment, args.lms, args.column_name, args.column_id, args.moodle_key,
                            args.allow_ungraded)
    roster = read_roster(args.roster)
    with gradebook_lock(Path.cwd()):    # the grading service records under it: no half-recorded student is read
        done = export_grades(coursedir, roster, request, args.out or f"grades-{args.assignment}-{args.lms}.csv")
    print(f"wrote {done.path}: {done.scored} score(s) out of {done.max_score:g}, {done.empty} student(s) with "
          f"no submission left empty" + (f", {done.ungraded} still waiting for manual grading" if done.ungraded else ""))
    return 0


def intake_command(args):
    """One line per student; exit status 1 when a notebook is missing or an upload was left out."""
    coursedir, _config = course_directory(Path.cwd())
    release = sorted(p.stem for p in assignment_dir(coursedir, "release", args.assignment).glob("*.ipynb"))
    if not release:
        raise IntakeError(f"no release notebooks of {args.assignment}: generate the assignment first")
    roster = read_roster(args.roster) if args.roster else None
    results = intake(assignment_dir(coursedir, "submitted", "."), args.assignment, args.download, args.lms,
                     args.timezone, release, args.update, roster)
    for result in results:
        print(report_line(result))
    incomplete = [r.student for r in results if not r.complete or r.left_out]
    print(f"collected {sum(bool(r.found) for r in results)} student(s) into submitted/*/{args.assignment}/; "
          + (f"look at: {', '.join(incomplete)}" if incomplete else "every upload complete"))
    return 1 if incomplete else 0


def check_command():
    from .setup_check import run_checks
    checks = run_checks(Path.cwd())
    for check in checks:
        print(check.line(), flush=True)
    return 1 if any(check.status == "FAIL" for check in checks) else 0


def isolation_command():
    from .isolation.probe import probe_sandbox
    level = choose_isolation("auto")
    for line in probe_sandbox(level, Path.cwd()):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
