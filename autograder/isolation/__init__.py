"""The host side of isolation: starting, limiting, talking to and probing sandboxes.

* ``sandbox.py``: the isolation levels, resource limits and one :class:`Sandbox` process;
* ``student.py``: :class:`Student`, the one door through which hidden checks call
  student code (in a sandbox, or in a notebook kernel for plain nbgrader);
* ``probe.py``: ``python -m autograder isolation``, what a sandbox can reach;
* ``claims.py``: what one sandbox holds on the host alone (its user id, its scratch folder);
* ``course_package.py``: the grader's own ``cnnbook`` as one part's sandbox sees it;
* ``installed_packages.py``: the installed packages as a sandbox sees them (numpy alone);
* ``untrusted_text.py``: student-controlled text (messages, names) made short, one line and quoted.

Imports: ``autograder.in_sandbox`` (to start it and speak its wire format) and
the standard library; never the checks, the nbgrader side or the orchestration.
"""
