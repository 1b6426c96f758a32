"""The similarity report as one HTML page that runs nothing and asks for nothing.

Top to bottom: what was compared and how (the detector, its fingerprint length, the threshold),
how the scores of the class spread (a count per tenth, drawn with ``<meter>``), the students whose
notebooks could not be read, then the ranked pairs in a table, each row a link to the pair's code
side by side, part by part, with the stretches copydetect matched marked (``<mark>``).

The page shows student code, so it is written as untrusted content: every piece of text that came
from a submission or a folder name goes through :func:`html.escape` (quotes too), anchors are made
from ranks, never from names, and nothing from a student becomes a tag, an attribute or a URL.  A
Content-Security-Policy in the page forbids every script, frame, form, base URL and fetch; its one
stylesheet is allowed by its SHA-256 hash, so a style a student smuggled in would not apply either.
Nothing is loaded from the network (no font, no CDN): the page works from a file, offline.
"""
import base64
import hashlib
import html
from dataclasses import dataclass
from pathlib import Path

# The page's one stylesheet, a file of its own (as the feedback page's is), allowed by its hash.
CSS = Path(__file__).with_name("report_page.css").read_text(encoding="utf-8")
CSP = ("default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; base-uri 'none'; "
       "form-action 'none'")


@dataclass(frozen=True)
class ShownPair:
    """A pair drawn on the page: its scores, and each side's code with its matched stretches."""
    rank: int
    pair: object                 # detector.PairScore
    doc_a: object                # detector.Document
    doc_b: object
    stretches_a: list            # (start, end) in doc_a.text
    stretches_b: list
    above: bool                  # at or above the threshold


@dataclass(frozen=True)
class PageFacts:
    """What the page says about the run."""
    assignment: str
    students: int
    pairs: int
    threshold: float
    noise_chars: int
    detector: str
    seconds: float
    scores: list                 # every pair's score, for the spread
    notes: list                  # (student, note) of what could not be read
    empty: list                  # students with no code of their own


def page(facts, shown, part_names):
    """The whole page's HTML."""
    body = "\n".join([_summary(facts, shown), _ranking(shown, facts.threshold, part_names)]
                     + [_pair_section(item, part_names) for item in shown])
    digest = base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode("ascii")
    title = f"Similarity of the answer cells: {facts.assignment}"
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP.format(digest=digest)}\">\n"
            "<meta name=\"referrer\" content=\"no-referrer\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            f"<h1>{_e(title)}</h1>\n{body}\n</main>\n</body>\n</html>\n")


def _e(text):
    return html.escape(str(text), quote=True)


def _percent(value):
    return f"{100 * value:.0f}%"


def _summary(facts, shown):
    above = sum(item.above for item in shown)
    lines = [f"{facts.students} students, {facts.pairs} pairs, compared in {facts.seconds:.1f} s by "
             f"{facts.detector} (fingerprints of {facts.noise_chars} characters of code with every name "
             "replaced by one letter, comments and spaces dropped; the release's own lines left out).",
             f"Threshold {_percent(facts.threshold)}: {above} pairs at or above it are listed first"
             + (", then the next highest for comparison." if len(shown) > above else ".")]
    if facts.empty:
        lines.append(f"No code of their own to compare: {', '.join(facts.empty)}.")
    items = "\n".join(f"<li>{_e(line)}</li>" for line in lines)
    notes = "\n".join(f'<p class="note">{_e(student)}: {_e(note)}</p>' for student, note in facts.notes)
    return ("<section aria-labelledby=\"about\">\n<h2 id=\"about\">What was compared</h2>\n"
            "<p>A score is the share of two students' code that lies in stretches both have. It is a "
            "reason to look at the code, not a verdict: the same formulas, <code>np.pad</code> calls and "
            "loops over the output are expected in honest work.</p>\n"
            f"<ul>\n{items}\n</ul>\n{notes}\n{_spread(facts.scores)}\n</section>")


def _spread(scores):
    """A count of pairs per tenth of the score scale, highest first."""
    counts = [0] * 10
    for score in scores:
        counts[min(int(score * 10), 9)] += 1
    most = max(counts) or 1
    rows = "\n".join(f"<tr><td>{tenth * 10}-{tenth * 10 + 10}%</td><td>{counts[tenth]}</td>"
                     f"<td><meter min=\"0\" max=\"{most}\" value=\"{counts[tenth]}\">{counts[tenth]}</meter></td></tr>"
                     for tenth in reversed(range(10)))
    return ("<h3>How the scores of the class spread</h3>\n<table class=\"spread\">\n"
            "<thead><tr><th>Score</th><th>Pairs</th><th></th></tr></thead>\n"
            f"<tbody>\n{rows}\n</tbody>\n</table>")


def _ranking(shown, threshold, part_names):
    if not shown:
        return "<section aria-labelledby=\"ranking\">\n<h2 id=\"ranking\">Pairs</h2>\n<p>No pair to show.</p>\n</section>"
    rows = "\n".join(_ranking_row(item, part_names) for item in shown)
    return ("<section aria-labelledby=\"ranking\">\n<h2 id=\"ranking\">Pairs ranked by similarity</h2>\n"
            "<table class=\"ranking\">\n<thead><tr><th>Rank</th><th>Student A</th><th>Student B</th>"
            "<th>Score</th><th>A's code shared</th><th>B's code shared</th><th>Most alike</th></tr></thead>\n"
            f"<tbody>\n{rows}\n</tbody>\n</table>\n</section>")


def _ranking_row(item, part_names):
    pair = item.pair
    top = sorted(pair.parts.items(), key=lambda kv: -kv[1])[:2]
    alike = ", ".join(f"{part} {_percent(score)}" for part, score in top if score > 0)
    return (f"<tr class=\"{'above' if item.above else 'below'}\"><td><a href=\"#pair-{item.rank}\">{item.rank}</a></td>"
            f"<td>{_e(pair.a)}</td><td>{_e(pair.b)}</td><td>{_percent(pair.score)}</td>"
            f"<td>{_percent(pair.share_a)}</td><td>{_percent(pair.share_b)}</td><td>{_e(alike)}</td></tr>")


def _pair_section(item, part_names):
    pair = item.pair
    heading = f"{item.rank}. {pair.a} and {pair.b}: {_percent(pair.score)}"
    parts = "\n".join(_part_block(item, part) for part in part_names
                      if part in item.doc_a.spans or part in item.doc_b.spans)
    return (f"<section class=\"pair\" id=\"pair-{item.rank}\" aria-labelledby=\"pair-{item.rank}-title\">\n"
            f"<h2 id=\"pair-{item.rank}-title\">{_e(heading)}</h2>\n"
            f"<p>{_e(pair.a)}: {_percent(pair.share_a)} of the code also in {_e(pair.b)}'s; "
            f"{_e(pair.b)}: {_percent(pair.share_b)} also in {_e(pair.a)}'s. Marked: the stretches they share.</p>\n"
            f"{parts}\n<p><a href=\"#ranking\">Back to the ranking</a></p>\n</section>")


def _part_block(item, part):
    score = item.pair.parts.get(part, 0.0)
    return (f"<h3>{_e(part)}: {_percent(score)}</h3>\n<div class=\"sides\">\n"
            f"{_side(item.pair.a, item.doc_a, item.stretches_a, part)}\n"
            f"{_side(item.pair.b, item.doc_b, item.stretches_b, part)}\n</div>")


def _side(student, doc, stretches, part):
    if part not in doc.spans:
        return f"<figure><figcaption>{_e(student)}</figcaption><p>No code of their own.</p></figure>"
    start, end = doc.spans[part]
    return (f"<figure><figcaption>{_e(student)}</figcaption>"
            f"<pre tabindex=\"0\"><code>{marked(doc.text, start, end, stretches)}</code></pre></figure>")


def marked(text, start, end, stretches):
    """``text[start:end]`` escaped, with the parts inside ``stretches`` wrapped in ``<mark>``."""
    pieces, at = [], start
    for s_start, s_end in sorted(stretches):
        s_start, s_end = max(s_start, start), min(s_end, end)
        if s_end <= s_start or s_end <= at:
            continue
        s_start = max(s_start, at)
        pieces.append(_e(text[at:s_start]))
        pieces.append(f"<mark>{_e(text[s_start:s_end])}</mark>")
        at = s_end
    pieces.append(_e(text[at:end]))
    return "".join(pieces)
