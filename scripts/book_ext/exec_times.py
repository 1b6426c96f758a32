"""Print how long each notebook page took to execute, at the end of a build.

The budget (a clean build of the whole book in 5 minutes on two cores) is shared out as
at most 12 s per chapter and 30 s per lab in quick mode. myst-nb records each page's
execution time, also for pages taken from the cache (their time when they last ran), so
this list is the whole book's execution cost even on a rebuild. Information only: a
slow page does not fail the build.
"""

from sphinx.util import logging

logger = logging.getLogger(__name__)


def execution_times(env) -> list[tuple[str, float, str]]:
    """(docname, seconds, method) of every notebook page that was executed."""
    from myst_nb.sphinx_ import NbMetadataCollector

    times = []
    for docname in sorted(env.found_docs):
        data = NbMetadataCollector.get_exec_data(env, docname) if docname in env.all_docs else None
        if data and data.get("runtime") is not None:
            times.append((docname, float(data["runtime"]), data.get("method", "")))
    return times


def report_execution_times(app, exception):
    if exception is not None:
        return
    times = execution_times(app.env)
    if not times:
        return
    logger.info("execution time per notebook page (seconds; 'cache' = when it last ran):")
    for docname, seconds, method in sorted(times, key=lambda item: -item[1]):
        logger.info(f"  {seconds:6.1f}  {docname}  [{method}]")
    logger.info(f"  {sum(seconds for _, seconds, _ in times):6.1f}  total, {len(times)} pages")


def setup(app):
    app.connect("build-finished", report_execution_times)
