"""The small files the grader writes for itself and reads back: the pre-flight's record, the
service's state.

They sit in the course directory, where whoever can write the course can also replace them, so
reading one back is bounded like any untrusted read: a regular file only, never through a link,
never waiting on a FIFO, at most ``limit`` bytes.  Anything else is a :class:`ValueError` (or an
:class:`OSError` from the open), which their readers take as "no usable file".
"""
import os
import stat


def read_bounded(path, limit):
    """The bytes of the regular file ``path``, at most ``limit`` of them."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"over {limit} bytes")
    return data
