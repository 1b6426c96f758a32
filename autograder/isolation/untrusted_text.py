"""Student-controlled text, made safe to show in feedback, notes and flags.

Anything a submission controls (an exception's message, a type's name, a
cell label, a file name) may try to imitate the grader's own lines
(``[pass]``, points lines, ``Total:``) with newlines or terminal control
characters, to be long enough to smuggle the hidden inputs out, or to spell
them in digits.  So every such text goes through :func:`excerpt` (a short,
quoted, one-line phrase with digit runs masked) or :func:`identifier` (a
name such as an exception type), and nothing else of it is ever shown.
"""
import re
import unicodedata

# Long enough to tell one error from another, too short to carry an array.
EXCERPT_CHARS = 60
IDENTIFIER_CHARS = 40
_DIGITS = re.compile(r"[0-9]+")
_SPACES = re.compile(r"\s+")
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_.]")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_. /-]")


def one_line(text, limit):
    """``text`` with control and format characters dropped, whitespace runs made one space, at most ``limit`` chars."""
    if not isinstance(text, str):
        return ""
    text = _SPACES.sub(" ", text[:4 * limit])
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    return kept.strip()[:limit]


def excerpt(text, limit=EXCERPT_CHARS):
    """A quoted one-line excerpt of student text, every run of digits shown as ``#``; "" for none."""
    text = one_line(_DIGITS.sub("#", text[:4 * limit]) if isinstance(text, str) else "", limit)
    text = text.replace('"', "'")
    return f'"{text}"' if text else ""


def identifier(text, limit=IDENTIFIER_CHARS):
    """A dotted Python name (an exception or class name) from student text, digit runs as ``#``; "" if none.

    A class name is chosen by the student, so its digits are masked like a message's.
    """
    if not isinstance(text, str):
        return ""
    return _DIGITS.sub("#", _NOT_IDENTIFIER.sub("", text[:4 * limit]))[:limit]


def label(text, limit=100):
    """A cell or file label (``answer cell conv_forward_naive``) from student text; "" if nothing is left."""
    return _NOT_LABEL.sub("", text[:4 * limit])[:limit].strip() if isinstance(text, str) else ""
