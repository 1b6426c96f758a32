"""The per-course secret from which the hidden test cases are drawn.

The checks in this package are public, but their inputs are random arrays
drawn from seeds derived from a secret that only the course staff has:
the ``AUTOGRADER_SECRET`` environment variable, or else the git-ignored file
``autograder/.secret``, created with a random value on first use.  Keep that
file (or the variable) for the whole term: the same secret gives the same
cases, which makes grading reproducible.

The secret itself never leaves the grading client: each submission's cases
are drawn from :func:`submission_key` (the secret, the assignment and the
student), the only key a grading job carries.  The same secret and the same
student give the same cases; one student's cases, even if they leaked, say
nothing about another's, and a leaked key reveals nothing of the secret.
"""
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

# autograder/.secret (git-ignored), at the top of the package where instructors look for it.
SECRET_FILE = Path(__file__).resolve().parents[1] / ".secret"
ENV_VAR = "AUTOGRADER_SECRET"


def course_secret():
    """The secret as bytes (from the environment, or the secret file, created if missing)."""
    value = os.environ.get(ENV_VAR)
    if value:
        return value.encode("utf-8")
    try:
        return SECRET_FILE.read_text(encoding="utf-8").strip().encode("utf-8")
    except FileNotFoundError:
        pass
    token = secrets.token_hex(32)
    # O_EXCL: if two graders create it at once, the second one reads the first one's.
    try:
        fd = os.open(SECRET_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_when_written()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token.encode("utf-8")


def _read_when_written():
    for _ in range(50):
        value = SECRET_FILE.read_text(encoding="utf-8").strip()
        if value:
            return value.encode("utf-8")
        time.sleep(0.1)
    raise RuntimeError(f"{SECRET_FILE} is empty; delete it or set {ENV_VAR}")


def submission_key(secret, assignment, student):
    """The key (hex text) one student's hidden cases of ``assignment`` are drawn from."""
    return hmac.new(secret, f"cases/{assignment}/{student}".encode("utf-8"), hashlib.sha256).hexdigest()


def case_seed(case_key, part, check):
    """A 64-bit seed for one check of one part; unguessable without the key (bytes)."""
    digest = hmac.new(case_key, f"{part}/{check}".encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")
