"""What runs inside the sandbox: the sandbox's first process, the worker, and their wire format.

* ``sandbox_init.py``: process 1 of the sandbox (trusted, runs before any student code):
  builds the private read-only filesystem, drops privileges, starts the worker;
* ``worker.py``: runs the student's cells and answers the grader's requests
  (untrusted: the student's code shares its process);
* ``wire.py``: the message format both sides speak (JSON and ``.npy``, never pickle).

Imports: the standard library and numpy only, and nothing of the rest of
``autograder``: these files are copied into the sandbox and run there as
plain scripts, so this folder is the whole attack surface a submission
touches directly.  ``tests/test_autograder_layout.py`` enforces it.
"""
