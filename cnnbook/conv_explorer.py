"""The convolution explorer of ``book/chapters/conv_explorer.md``: every setting, precomputed.

A one-dimensional convolution layer is fixed by six numbers: the input length ``L``, the
kernel size ``K``, the stride ``S``, the padding ``P``, the dilation ``D`` and the number of
groups ``G`` (here with two input and two output channels).  For each setting the
explorer shows

* the **output length**, PyTorch's floor rule on the *span* of the dilated kernel,
  ``D*(K-1) + 1``: ``L_out = (L + 2P - span) // S + 1``;
* **where each window falls**: output ``j`` reads the padded positions
  ``j*S - P + k*D`` for the taps ``k = 0 .. K-1`` (negative positions and positions from
  ``L`` on are padding, which holds zeros);
* the layer's **matrix** ``M`` (shape ``(2*L_out, 2*L)``), with ``M @ x == conv1d(x, w)``
  for the flattened input, and its transpose, which carries an output gradient back to the
  input (the transposed convolution);
* the **coverage counts**: how many outputs read each input element.  That is the number of
  non-zeros in the element's column of ``M``, which is also the transposed convolution of
  an all-ones gradient through an all-ones kernel.  Uneven counts in the middle of the input
  are the checkerboard of a transposed convolution (Odena et al., 2016).

To make ``M`` readable, the weights are *numbered*: ``w.ravel() == 1, 2, ..., n`` in the
order of PyTorch's weight tensor ``(C_out, C_in / G, K)``, so each entry of ``M`` names the
weight it holds and the repeats show parameter sharing.

The web book has no Python kernel, so :func:`explorer_table` computes every setting of the
small ranges in :data:`RANGES` ahead of time, and :func:`check_against_torch` compares each
one with PyTorch (``conv1d``, ``unfold``, ``conv_transpose1d``): a mismatch raises
:class:`ExplorerMismatch`, which fails the book's build.  :func:`explorer_html` embeds the
results as compact JSON (every small integer array becomes a string of base-36 digits,
one character per number, see :func:`encode_digits`) with controls and a few lines of
JavaScript that only look values up and lay them out; nothing shown is computed in the
browser.
"""
from __future__ import annotations

import html
import itertools
import json
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cnnbook.fast_layers import conv_output_size

CHANNELS = 2  # input and output channels: the fewest that make groups=2 differ from groups=1

#: The values each control offers; every combination is precomputed (1,620 in all).
RANGES = {
    "length": tuple(range(4, 10)),
    "kernel": tuple(range(1, 6)),
    "stride": tuple(range(1, 4)),
    "padding": tuple(range(0, 3)),
    "dilation": tuple(range(1, 4)),
    "groups": (1, 2),
}

# What the coverage counts look like away from both ends of the input (coverage_pattern).
EVEN, UNEVEN, TOO_SHORT = "even", "uneven", "too short to tell"
PATTERNS = (EVEN, UNEVEN, TOO_SHORT)


class ExplorerMismatch(AssertionError):
    """A precomputed value of the explorer disagrees with PyTorch (fails the build)."""


@dataclass(frozen=True)
class Setting:
    """One combination of the explorer's controls (two channels, one spatial axis)."""

    length: int
    kernel: int
    stride: int
    padding: int
    dilation: int
    groups: int

    @property
    def span(self) -> int:
        """How many input positions one window stretches over: ``D*(K-1) + 1``."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def padded_length(self) -> int:
        return self.length + 2 * self.padding

    @property
    def fits(self) -> bool:
        """True when at least one window fits in the padded input."""
        return self.span <= self.padded_length

    @property
    def output_length(self) -> int:
        return conv_output_size(self.length, self.span, self.stride, self.padding)

    def conv_kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups)


def all_settings() -> list[Setting]:
    """Every combination of :data:`RANGES`, in the order the page's data lists them."""
    return [Setting(*values) for values in itertools.product(*RANGES.values())]


# --- the values shown --------------------------------------------------------------

def weight_numbers(setting: Setting) -> np.ndarray:
    """The layer's weights, numbered 1..n: shape ``(C_out, C_in / G, K)``."""
    shape = (CHANNELS, CHANNELS // setting.groups, setting.kernel)
    return np.arange(1, np.prod(shape) + 1).reshape(shape)


def window_positions(setting: Setting) -> np.ndarray:
    """Input position read by tap ``k`` of output ``j``: shape ``(L_out, K)``.

    Positions below 0 or from ``L`` on fall in the zero padding.
    """
    starts = np.arange(setting.output_length) * setting.stride - setting.padding
    return starts[:, None] + np.arange(setting.kernel)[None, :] * setting.dilation


def layer_matrix(setting: Setting) -> np.ndarray:
    """``M`` with ``M @ x.ravel() == conv1d(x, w).ravel()`` for the numbered weights ``w``.

    Rows are outputs ``(o, j)``, columns inputs ``(c, i)``, both flattened channel first.
    Output channel ``o`` reads only the input channels of its group; a tap that falls in
    the padding connects to nothing.
    """
    weights, windows = weight_numbers(setting), window_positions(setting)
    length, per_group = setting.length, CHANNELS // setting.groups
    matrix = np.zeros((CHANNELS, setting.output_length, CHANNELS, length), dtype=np.int64)
    for o, c_in_group, k in itertools.product(range(CHANNELS), range(per_group),
                                              range(setting.kernel)):
        c = (o // per_group) * per_group + c_in_group  # group o // per_group, its channels
        inside = (windows[:, k] >= 0) & (windows[:, k] < length)
        rows = np.flatnonzero(inside)
        matrix[o, rows, c, windows[rows, k]] = weights[o, c_in_group, k]
    return matrix.reshape(CHANNELS * setting.output_length, CHANNELS * length)


def coverage_counts(matrix: np.ndarray, setting: Setting) -> np.ndarray:
    """How many outputs read each input element: non-zeros per column of ``M``, ``(C, L)``."""
    return (matrix != 0).sum(axis=0).reshape(CHANNELS, setting.length)


def interior(setting: Setting) -> range:
    """The input positions every window that could reach them exists for.

    A position ``x`` is away from both ends when the first window starts at or before
    ``x - span + 1`` and the last one at or after ``x``: there its count is the
    repeating pattern of the stride, not an edge effect.
    """
    last_start = (setting.output_length - 1) * setting.stride - setting.padding
    first = max(0, setting.span - 1 - setting.padding)
    return range(first, min(setting.length - 1, last_start) + 1)


def coverage_pattern(coverage: np.ndarray, setting: Setting) -> str:
    """:data:`EVEN`, :data:`UNEVEN` (a checkerboard) or :data:`TOO_SHORT` in the middle.

    Counts repeat with the stride, so a stretch of at least ``S`` positions shows them all;
    a shorter one can prove the counts uneven but not even.
    """
    middle = coverage[0, list(interior(setting))]
    if len(set(middle.tolist())) > 1:
        return UNEVEN
    return EVEN if len(middle) >= setting.stride else TOO_SHORT


@dataclass(frozen=True)
class Entry:
    """What the explorer shows for one valid setting."""

    setting: Setting
    windows: np.ndarray   # (L_out, K) input positions, padding outside 0..L-1
    matrix: np.ndarray    # (C*L_out, C*L) numbered weights, 0 where not connected
    coverage: np.ndarray  # (C, L)
    pattern: str          # one of PATTERNS

    @property
    def output_length(self) -> int:
        return self.windows.shape[0]


def compute_entry(setting: Setting) -> Entry:
    matrix = layer_matrix(setting)
    coverage = coverage_counts(matrix, setting)
    return Entry(setting, window_positions(setting), matrix, coverage,
                 coverage_pattern(coverage, setting))


# --- the check against PyTorch ------------------------------------------------------

def _mismatch(setting: Setting, what: str, ours, torch_says):
    return ExplorerMismatch(f"check_against_torch: {what} differs for {setting}: the explorer "
                            f"has {ours}, PyTorch gives {torch_says}")


def _torch_output_padding(setting: Setting) -> int:
    """The output_padding that makes conv_transpose1d return all ``L`` input positions
    (the floor in the output length drops ``(L + 2P - span) % S`` of them)."""
    return (setting.padded_length - setting.span) % setting.stride


def check_against_torch(entry: Entry, seed: int = 0) -> None:
    """Raise :class:`ExplorerMismatch` unless PyTorch agrees with every value of ``entry``.

    Checks the output length (``conv1d``), the windows (``unfold`` of the positions
    themselves), ``M @ x`` (``conv1d`` of a random ``x``), ``M.T @ g`` (``conv_transpose1d``
    of a random ``g``) and the coverage counts (``conv_transpose1d`` of ones through ones).
    """
    s = entry.setting
    generator = torch.Generator().manual_seed(seed)
    weight = torch.from_numpy(weight_numbers(s)).double()
    x = torch.randn(1, CHANNELS, s.length, generator=generator, dtype=torch.float64)
    y = F.conv1d(x, weight, **s.conv_kwargs())
    if y.shape[-1] != entry.output_length:
        raise _mismatch(s, "the output length", entry.output_length, y.shape[-1])
    _check_windows(entry)
    matrix = torch.from_numpy(entry.matrix).double()
    if not torch.allclose(matrix @ x.ravel(), y.ravel(), rtol=1e-12, atol=1e-12):
        raise _mismatch(s, "M @ x", (matrix @ x.ravel()).tolist(), y.ravel().tolist())
    g = torch.randn_like(y, dtype=torch.float64)
    back = F.conv_transpose1d(g, weight, output_padding=_torch_output_padding(s), **s.conv_kwargs())
    if not torch.allclose(matrix.T @ g.ravel(), back.ravel(), rtol=1e-12, atol=1e-12):
        raise _mismatch(s, "M.T @ g", (matrix.T @ g.ravel()).tolist(), back.ravel().tolist())
    ones = F.conv_transpose1d(torch.ones_like(y), torch.ones_like(weight),
                              output_padding=_torch_output_padding(s), **s.conv_kwargs())
    if not torch.equal(ones[0].long(), torch.from_numpy(entry.coverage)):
        raise _mismatch(s, "the coverage counts", entry.coverage.tolist(), ones[0].tolist())


def _check_windows(entry: Entry) -> None:
    """``unfold`` (PyTorch's im2col) of the positions 1..L, zero padded, gives each window's
    position + 1, or 0 for a tap in the padding."""
    s = entry.setting
    positions = torch.arange(1, s.length + 1, dtype=torch.float64).reshape(1, 1, 1, s.length)
    columns = F.unfold(positions, (1, s.kernel), dilation=(1, s.dilation),
                       padding=(0, s.padding), stride=(1, s.stride))[0].T.long()  # (L_out, K)
    ours = torch.from_numpy(entry.windows)
    inside = (ours >= 0) & (ours < s.length)
    expected = torch.where(inside, ours + 1, torch.zeros_like(ours))
    if not torch.equal(columns, expected):
        raise _mismatch(s, "the windows", entry.windows.tolist(), (columns - 1).tolist())


@dataclass(frozen=True)
class ExplorerTable:
    """Every setting of :data:`RANGES`: the checked entries, and the settings with no output."""

    entries: dict  # Setting -> Entry
    no_fit: tuple  # settings whose kernel span exceeds the padded input

    def entry(self, **values) -> Entry:
        return self.entries[Setting(**values)]


def explorer_table() -> ExplorerTable:
    """Compute every setting and check each one against PyTorch (raises on a mismatch)."""
    entries, no_fit = {}, []
    threads = torch.get_num_threads()
    # Thousands of tiny convolutions: a second thread only adds hand-over costs (on a
    # busy two-core machine the table took 53 s with two threads, 6 s with one).
    torch.set_num_threads(1)
    try:
        for setting in all_settings():
            if not setting.fits:
                no_fit.append(setting)
                continue
            entry = compute_entry(setting)
            check_against_torch(entry)
            entries[setting] = entry
    finally:
        torch.set_num_threads(threads)
    return ExplorerTable(entries, tuple(no_fit))


# --- the guided questions: answers read off the table -----------------------------

def checkerboard_settings(table: ExplorerTable, dilation: int = 1) -> dict:
    """``{(K, S): pattern}`` over the settings at ``dilation`` whose pattern is decided.

    A pair that is even for one input length and padding and uneven for another would
    make the question ill posed, so that raises.
    """
    found: dict = {}
    for setting, entry in table.entries.items():
        if setting.dilation != dilation or entry.pattern == TOO_SHORT:
            continue
        pair = (setting.kernel, setting.stride)
        if found.setdefault(pair, entry.pattern) != entry.pattern:
            raise ValueError(f"checkerboard_settings: kernel {pair[0]}, stride {pair[1]} is "
                             f"both even and uneven at dilation {dilation}")
    return found


def same_paddings(table: ExplorerTable) -> dict:
    """``{(K, D): P}``: at stride 1, the padding whose output is as long as every input."""
    found = {}
    for (kernel, dilation) in itertools.product(RANGES["kernel"], RANGES["dilation"]):
        for padding in RANGES["padding"]:
            entries = [table.entries.get(Setting(length, kernel, 1, padding, dilation, 1))
                       for length in RANGES["length"]]
            if all(e is not None and e.output_length == e.setting.length for e in entries):
                found[(kernel, dilation)] = padding
    return found


def lengths_losing_their_end(table: ExplorerTable, **values) -> list[int]:
    """Input lengths whose last element no output reads, for the other values given."""
    return [length for length in RANGES["length"]
            if (entry := table.entries.get(Setting(length=length, **values))) is not None
            and entry.coverage[0, -1] == 0]


# --- the page's data and HTML ---------------------------------------------------------

def encode_digits(values) -> str:
    """Small non-negative integers as one base-36 digit each: ``[3, 10, 0] -> "3a0"``."""
    values = np.asarray(values).ravel()
    if values.size and (values.min() < 0 or values.max() >= 36):
        raise ValueError(f"encode_digits: values must lie in 0..35, got {values.min()}..{values.max()}")
    return "".join(np.base_repr(int(v), 36).lower() for v in values)


def _record(table: ExplorerTable, setting: Setting) -> list:
    """One setting's data: ``[L_out, windows, M, coverage, pattern]`` (windows shifted by
    ``P`` to padded positions), or ``[span, padded length]`` when no window fits."""
    entry = table.entries.get(setting)
    if entry is None:
        return [setting.span, setting.padded_length]
    return [entry.output_length, encode_digits(entry.windows + setting.padding),
            encode_digits(entry.matrix), encode_digits(entry.coverage),
            PATTERNS.index(entry.pattern)]


def explorer_data(table: ExplorerTable) -> dict:
    """Everything the page's script reads: the ranges, the weights, one record per setting."""
    weights = {f"{k},{g}": encode_digits(weight_numbers(Setting(4, k, 1, 0, 1, g)))
               for k in RANGES["kernel"] for g in RANGES["groups"]}
    return {"channels": CHANNELS, "ranges": {name: list(v) for name, v in RANGES.items()},
            "patterns": list(PATTERNS), "weights": weights,
            "settings": [_record(table, s) for s in all_settings()]}


CONTROLS = (  # (name in RANGES, label, starting value)
    ("length", "Input length L", 7),
    ("kernel", "Kernel size K", 3),
    ("stride", "Stride S", 2),
    ("padding", "Padding P", 1),
    ("dilation", "Dilation D", 1),
)


def _range_control(uid: str, name: str, label: str, start: int) -> str:
    values = RANGES[name]
    return (f'<div class="cx-control"><label for="{uid}-{name}">{html.escape(label)}: '
            f'<span data-value="{name}">{start}</span></label>'
            f'<input type="range" id="{uid}-{name}" data-control="{name}" min="{values[0]}" '
            f'max="{values[-1]}" step="1" value="{start}"></div>')


def _select_control(uid: str, name: str, label: str, options) -> str:
    choices = "".join(f'<option value="{html.escape(str(v))}">{html.escape(text)}</option>'
                      for v, text in options)
    return (f'<div class="cx-control"><label for="{uid}-{name}">{html.escape(label)}</label>'
            f'<select id="{uid}-{name}" data-control="{name}">{choices}</select></div>')


def explorer_html(table: ExplorerTable, element_id: str = "conv-explorer") -> str:
    """Self-contained HTML: labelled controls, a live summary, and the tables of a setting.

    Works in a static page with no kernel and no network, as well as in Jupyter.
    """
    uid = html.escape(element_id)
    controls = "".join(_range_control(uid, *control) for control in CONTROLS)
    controls += _select_control(uid, "groups", "Groups G",
                                [(g, f"{g} ({CHANNELS // g} input channel"
                                     f"{'s' if CHANNELS // g > 1 else ''} per output)")
                                 for g in RANGES["groups"]])
    window = (f'<div class="cx-control"><label for="{uid}-window">Window shown (output '
              f'position): <span data-value="window">0</span></label>'
              f'<input type="range" id="{uid}-window" data-control="window" min="0" max="0" '
              f'step="1" value="0"></div>')
    view = _select_control(uid, "view", "Matrix shown",
                           [("M", "M: rows are outputs"), ("MT", "M transposed: rows are inputs")])
    data = json.dumps(explorer_data(table), separators=(",", ":"))
    return f"""<div class="cx" id="{uid}">
<style>{EXPLORER_CSS}</style>
<div class="cx-controls">{controls}{window}{view}</div>
<p class="cx-live" aria-live="polite" data-part="live"></p>
<div data-part="tables"></div>
<script type="application/json" data-part="data">{data}</script>
<script>{EXPLORER_JS.replace("__ROOT_ID__", json.dumps(element_id))}</script>
</div>"""


# Colours: the widget sets its own text and background in both of the book's themes, so the
# theme's rules for notebook output (a light box in dark mode) cannot leave low contrast.
# tests/test_conv_explorer.py checks every text/background pair for WCAG AA (4.5:1).
PALETTES = {
    "light": {"fg": "#1b1f24", "bg": "#ffffff", "muted": "#57606a", "mark": "#fff0b3",
              "line": "#8c959f"},
    "dark": {"fg": "#e6edf3", "bg": "#0d1117", "muted": "#a5afba", "mark": "#3d3000",
             "line": "#6e7681"},
}


def _palette_css(name: str) -> str:
    return ";".join(f"--cx-{key}:{value}" for key, value in PALETTES[name].items())


EXPLORER_CSS = (
    f".cx{{{_palette_css('light')};color:var(--cx-fg);background:var(--cx-bg);"
    "padding:.5rem;border-radius:.25rem;max-width:100%}"
    f"html[data-theme=dark] .cx{{{_palette_css('dark')}}}"
    ".cx label,.cx p,.cx th,.cx td,.cx caption,.cx select{color:var(--cx-fg)}"
    ".cx select{background:var(--cx-bg);border:1px solid var(--cx-line)}"
    ".cx-controls{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem}"
    ".cx-control{display:flex;flex-direction:column;min-width:11em}"
    ".cx-control input{accent-color:var(--cx-fg)}"
    ".cx-live{font-weight:600;margin:.6rem 0}"
    ".cx-scroll{overflow-x:auto;max-width:100%;margin:.3rem 0 .8rem}"
    ".cx table{border-collapse:collapse;font-size:.8rem;margin:0}"
    ".cx caption{caption-side:top;text-align:left;font-weight:600;padding:.2rem 0}"
    ".cx th,.cx td{border:1px solid var(--cx-line);padding:.1rem .3rem;text-align:center;"
    "background:var(--cx-bg)}"
    ".cx td.cx-zero{color:var(--cx-muted)}"
    ".cx td.cx-w{font-weight:700}"
    ".cx .cx-mark,.cx .cx-mark td,.cx .cx-mark th,.cx td.cx-mark,.cx th.cx-mark"
    "{background:var(--cx-mark)}"
    ".cx .cx-mark td.cx-zero{color:var(--cx-fg)}"
)

# The script only reads the embedded records and lays them out; it computes no value shown.
# (A plain string, not an f-string: the braces are JavaScript's.)
EXPLORER_JS = r"""
(function () {
  var root = document.getElementById(__ROOT_ID__);
  var data = JSON.parse(root.querySelector('[data-part="data"]').textContent);
  var live = root.querySelector('[data-part="live"]');
  var tablesBox = root.querySelector('[data-part="tables"]');
  var C = data.channels, R = data.ranges, NAMES = ["length", "kernel", "stride", "padding", "dilation", "groups"];
  function control(name) { return root.querySelector('[data-control="' + name + '"]'); }
  function digits(text) { var out = []; for (var i = 0; i < text.length; i++) out.push(parseInt(text[i], 36)); return out; }
  function current() {
    var s = {};
    NAMES.forEach(function (n) { s[n] = +control(n).value; });
    s.window = +control("window").value; s.view = control("view").value;
    return s;
  }
  function record(s) {
    var index = 0;
    NAMES.forEach(function (n) { index = index * R[n].length + R[n].indexOf(s[n]); });
    return data.settings[index];
  }
  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    for (var key in attrs || {}) node.setAttribute(key, attrs[key]);
    return node;
  }
  function scroller(label, table) {
    var box = el("div", null, {"class": "cx-scroll", role: "region", "aria-label": label, tabindex: "0"});
    box.appendChild(table); return box;
  }
  function headerRow(corner, labels, marked) {
    var tr = el("tr");
    tr.appendChild(el("td", corner));
    labels.forEach(function (text, i) {
      var th = el("th", text, {scope: "col"});
      if (marked && marked(i)) th.className = "cx-mark";
      tr.appendChild(th);
    });
    return tr;
  }
  function table(caption, part, corner, colLabels, rows, markCol) {
    var t = el("table", null, {"data-part": part});
    t.appendChild(el("caption", caption));
    var head = el("thead"); head.appendChild(headerRow(corner, colLabels, markCol)); t.appendChild(head);
    var body = el("tbody");
    rows.forEach(function (row) {
      var tr = el("tr", null, row.mark ? {"class": "cx-mark"} : {});
      var th = el("th", row.label, {scope: "row"});
      if (row.mark) th.setAttribute("aria-current", "true");
      tr.appendChild(th);
      row.cells.forEach(function (cell, j) {
        var td = el("td", cell.text, {"data-col": String(j)});
        if (cell.cls) td.className = cell.cls;
        if (markCol && markCol(j)) td.classList.add("cx-mark");
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    t.appendChild(body);
    return t;
  }
  function positionLabel(p, s) {
    var x = p - s.padding;
    return (x < 0 || x >= s.length) ? x + " (pad)" : String(x);
  }
  function windowTable(s, rec) {
    var K = s.kernel, taps = digits(rec[1]).slice(s.window * K, s.window * K + K);
    var padded = s.length + 2 * s.padding, labels = [], input = [], reads = [], read = {};
    taps.forEach(function (p, k) { read[p] = k; });
    for (var p = 0; p < padded; p++) {
      var x = p - s.padding, pad = x < 0 || x >= s.length;
      labels.push(String(x));
      input.push({text: pad ? "0 (pad)" : "x" + x, cls: pad ? "cx-zero" : ""});
      reads.push(p in read ? {text: "tap " + read[p], cls: "cx-w cx-mark"} : {text: ""});
    }
    return {taps: taps, node: table("Where window " + s.window + " falls on the padded input", "windows",
      "position", labels, [{label: "input", cells: input}, {label: "window " + s.window, cells: reads}])};
  }
  function matrixTable(s, rec) {
    var L = s.length, Lo = rec[0], M = digits(rec[2]), rows = [], outLabels = [], inLabels = [];
    for (var o = 0; o < C; o++) for (var j = 0; j < Lo; j++) outLabels.push("y" + o + "[" + j + "]");
    for (var c = 0; c < C; c++) for (var i = 0; i < L; i++) inLabels.push("x" + c + "[" + i + "]");
    var transposed = s.view === "MT", nRows = transposed ? C * L : C * Lo, nCols = transposed ? C * Lo : C * L;
    function isWindow(outIndex) { return outIndex % Lo === s.window; }
    for (var r = 0; r < nRows; r++) {
      var cells = [];
      for (var q = 0; q < nCols; q++) {
        var v = transposed ? M[q * C * L + r] : M[r * C * L + q];
        cells.push({text: String(v), cls: v ? "cx-w" : "cx-zero"});
      }
      rows.push({label: transposed ? inLabels[r] : outLabels[r], cells: cells, mark: !transposed && isWindow(r)});
    }
    var caption = transposed ? "M transposed: row x[i] lists the outputs that read x[i]"
                             : "M: row y[j] holds the weights output y[j] applies to each input";
    return scroller(transposed ? "Matrix M transposed" : "Matrix M",
      table(caption, "matrix", transposed ? "input \\ output" : "output \\ input",
            transposed ? outLabels : inLabels, rows, transposed ? isWindow : null));
  }
  function coverageTable(s, rec) {
    var L = s.length, cov = digits(rec[3]), labels = [], rows = [];
    for (var i = 0; i < L; i++) labels.push(String(i));
    for (var c = 0; c < C; c++) {
      var cells = [];
      for (var i2 = 0; i2 < L; i2++) { var v = cov[c * L + i2]; cells.push({text: String(v), cls: v ? "" : "cx-zero"}); }
      rows.push({label: "channel " + c, cells: cells});
    }
    var box = el("div");
    box.appendChild(scroller("Coverage counts", table("Coverage: how many outputs read each input element",
      "coverage", "position", labels, rows)));
    box.appendChild(el("p", "These counts are the transposed convolution of ones through a kernel of ones. " +
      "In the middle of the input, away from both ends, they are " + data.patterns[rec[4]] +
      (rec[4] === 1 ? " (a checkerboard)." : ".") , {"data-part": "pattern"}));
    return box;
  }
  function weightsText(s) {
    var w = digits(data.weights[s.kernel + "," + s.groups]), K = s.kernel, per = C / s.groups, parts = [];
    for (var o = 0; o < C; o++) for (var c = 0; c < per; c++)
      parts.push("w[" + o + "," + c + ",:] = " + w.slice((o * per + c) * K, (o * per + c + 1) * K).join(" "));
    return "Weights, numbered in PyTorch's order (output channel, input channel in its group, tap): " + parts.join("; ") + ".";
  }
  function show() {
    NAMES.forEach(function (n) { var v = root.querySelector('[data-value="' + n + '"]'); if (v) v.textContent = control(n).value; });
    var s = current(), rec = record(s), slider = control("window");
    tablesBox.textContent = "";
    if (rec.length === 2) {
      slider.disabled = true;
      live.textContent = "No output: the dilated kernel spans " + rec[0] + " positions but the padded input has only " +
        rec[1] + ". Lower the kernel size or the dilation, or raise the input length or the padding.";
      return;
    }
    slider.disabled = false;
    slider.max = String(rec[0] - 1);
    if (+slider.value > rec[0] - 1) slider.value = String(rec[0] - 1);
    s.window = +slider.value;
    root.querySelector('[data-value="window"]').textContent = String(s.window);
    var win = windowTable(s, rec);
    live.textContent = "Output length " + rec[0] + " in each of " + C + " channels. Window " + s.window +
      " reads input positions " + win.taps.map(function (p) { return positionLabel(p, s); }).join(", ") + ".";
    tablesBox.appendChild(scroller("Window position", win.node));
    tablesBox.appendChild(el("p", weightsText(s)));
    tablesBox.appendChild(matrixTable(s, rec));
    tablesBox.appendChild(coverageTable(s, rec));
  }
  root.querySelectorAll("[data-control]").forEach(function (node) {
    node.addEventListener("input", show); node.addEventListener("change", show);
  });
  show();
})();
"""
