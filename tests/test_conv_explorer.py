"""The convolution explorer's precomputed values agree with PyTorch, and its page data decodes
back to them."""
import dataclasses
import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnbook import conv_explorer as cx


@pytest.fixture(scope="module")
def table():
    return cx.explorer_table()  # raises ExplorerMismatch if PyTorch disagrees anywhere


def numbered_conv(setting):
    """conv1d with the explorer's numbered weights, as a function of the flat input."""
    weight = torch.arange(1, 2 * (2 // setting.groups) * setting.kernel + 1, dtype=torch.float64)
    weight = weight.reshape(2, 2 // setting.groups, setting.kernel)
    return lambda x: F.conv1d(x.reshape(1, 2, setting.length), weight,
                              **setting.conv_kwargs()).ravel()


SETTINGS = [cx.Setting(7, 3, 2, 1, 1, 1), cx.Setting(9, 5, 3, 2, 2, 2), cx.Setting(4, 1, 1, 0, 1, 2),
            cx.Setting(8, 2, 2, 0, 3, 1), cx.Setting(5, 4, 1, 2, 1, 2)]


@pytest.mark.parametrize("setting", SETTINGS, ids=str)
def test_the_matrix_is_the_jacobian_of_pytorchs_convolution(setting):
    jacobian = torch.autograd.functional.jacobian(numbered_conv(setting),
                                                  torch.zeros(2 * setting.length, dtype=torch.float64))
    np.testing.assert_array_equal(cx.layer_matrix(setting), jacobian.numpy())


def test_every_setting_is_computed_or_listed_as_one_where_no_window_fits(table):
    assert len(table.entries) + len(table.no_fit) == len(cx.all_settings()) == 6 * 5 * 3 * 3 * 3 * 2
    assert all(s.span > s.padded_length for s in table.no_fit)
    assert all(s.span <= s.padded_length for s in table.entries)


def test_a_known_setting_shows_the_values_worked_out_by_hand(table):
    entry = table.entry(length=7, kernel=3, stride=2, padding=0, dilation=1, groups=1)
    assert entry.output_length == 3
    np.testing.assert_array_equal(entry.windows, [[0, 1, 2], [2, 3, 4], [4, 5, 6]])
    np.testing.assert_array_equal(entry.coverage, [[2, 2, 4, 2, 4, 2, 2]] * 2)  # two outputs each
    assert entry.pattern == cx.UNEVEN
    grouped = table.entry(length=7, kernel=3, stride=2, padding=0, dilation=1, groups=2)
    np.testing.assert_array_equal(grouped.coverage, [[1, 1, 2, 1, 2, 1, 1]] * 2)


def test_padding_taps_fall_outside_the_input_and_connect_to_nothing(table):
    entry = table.entry(length=4, kernel=3, stride=1, padding=2, dilation=1, groups=2)
    assert entry.windows[0].tolist() == [-2, -1, 0] and entry.windows[-1].tolist() == [3, 4, 5]
    assert (entry.matrix[0] != 0).sum() == 1  # only the tap on x[0]


@pytest.mark.parametrize("field, change", [
    ("matrix", lambda m: m + (m == 1)),
    ("coverage", lambda c: c + np.eye(*c.shape, dtype=c.dtype)),
    ("windows", lambda w: w + 1),
    ("windows", lambda w: w[:-1]),
])
def test_the_build_check_fails_on_any_wrong_value(table, field, change):
    entry = table.entry(length=8, kernel=3, stride=2, padding=1, dilation=2, groups=1)
    cx.check_against_torch(entry)
    broken = dataclasses.replace(entry, **{field: change(getattr(entry, field))})
    with pytest.raises(cx.ExplorerMismatch, match="differs for Setting"):
        cx.check_against_torch(broken)


def test_the_middle_pattern_is_uneven_exactly_when_the_kernel_is_not_a_multiple_of_the_stride(table):
    found = cx.checkerboard_settings(table, dilation=1)
    assert len(found) == 15  # every kernel/stride pair is decided somewhere
    assert all((pattern == cx.UNEVEN) == (k % s != 0) for (k, s), pattern in found.items())


def test_a_middle_shorter_than_the_stride_cannot_show_an_even_pattern():
    setting = cx.Setting(4, 3, 3, 1, 1, 1)  # windows start at -1 and 2: a middle of 2 positions
    assert list(cx.interior(setting)) == [1, 2] and setting.stride == 3
    assert cx.compute_entry(setting).pattern == cx.TOO_SHORT


def test_same_padding_exists_only_for_an_odd_span(table):
    same = cx.same_paddings(table)
    assert same[(3, 1)] == 1 and same[(5, 1)] == 2 and same[(3, 2)] == 2
    assert all((d * (k - 1)) % 2 == 0 for k, d in same)
    assert (2, 1) not in same and (4, 1) not in same


def test_stride_two_without_padding_drops_the_end_of_even_lengths(table):
    lost = cx.lengths_losing_their_end(table, kernel=3, stride=2, padding=0, dilation=1, groups=1)
    assert lost == [4, 6, 8]


def test_digits_round_trip_and_refuse_what_one_character_cannot_hold():
    values = [0, 9, 10, 35]
    assert cx.encode_digits(values) == "09az"
    assert [int(ch, 36) for ch in cx.encode_digits(values)] == values
    with pytest.raises(ValueError, match="encode_digits: values must lie in 0..35"):
        cx.encode_digits([36])
    with pytest.raises(ValueError, match="encode_digits"):
        cx.encode_digits([-1])


def record_index(setting):
    """The index the page's script computes: mixed radix over RANGES, groups fastest."""
    index = 0
    for name, values in cx.RANGES.items():
        index = index * len(values) + values.index(getattr(setting, name))
    return index


def test_the_page_data_decodes_back_to_every_entry(table):
    data = json.loads(json.dumps(cx.explorer_data(table)))
    records = data["settings"]
    for setting, entry in table.entries.items():
        out, windows, matrix, coverage, pattern = records[record_index(setting)]
        assert out == entry.output_length
        assert [int(ch, 36) - setting.padding for ch in windows] == entry.windows.ravel().tolist()
        assert [int(ch, 36) for ch in matrix] == entry.matrix.ravel().tolist()
        assert [int(ch, 36) for ch in coverage] == entry.coverage.ravel().tolist()
        assert data["patterns"][pattern] == entry.pattern
    for setting in table.no_fit:
        assert records[record_index(setting)] == [setting.span, setting.padded_length]


def test_the_embedded_data_stays_small(table):
    # The page's budget is 2 MB with the theme's scripts and fonts (about 1 to 1.7 MB).
    assert len(cx.explorer_html(table).encode()) < 250_000


def relative_luminance(colour):
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a, b):
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("theme", list(cx.PALETTES))
def test_every_text_colour_reaches_wcag_aa_on_every_background_it_is_shown_on(theme):
    p = cx.PALETTES[theme]
    # zeros in a marked row take the text colour (EXPLORER_CSS), so muted text meets bg only
    pairs = [("fg", "bg"), ("muted", "bg"), ("fg", "mark")]
    assert ".cx-mark td.cx-zero{color:var(--cx-fg)}" in cx.EXPLORER_CSS
    for text, background in pairs:
        assert contrast(p[text], p[background]) >= 4.5, (theme, text, background)


def test_every_control_is_a_labelled_native_input_and_nothing_uses_inline_handlers(table):
    page = cx.explorer_html(table, element_id="explorer")
    controls = re.findall(r'<(input|select) [^>]*id="([^"]+)"', page)
    assert {kind for kind, _ in controls} == {"input", "select"} and len(controls) == 8
    for _, control_id in controls:
        assert f'<label for="{control_id}">' in page
    assert 'aria-live="polite"' in page
    assert not re.search(r"\son[a-z]+=", page)
