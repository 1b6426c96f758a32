"""The convolution explorer works in the built book with the keyboard alone, and what it shows
agrees with PyTorch.

A reader tabs to each control and sets it with the arrow keys (Home, then ArrowRight; ArrowDown
in a list). The expected values are computed here with PyTorch, independently of
cnnbook.conv_explorer: the output length from ``conv1d``, the window from ``unfold`` of the
positions themselves, an entry of M from ``conv1d`` of a one-hot input, the coverage counts from
``conv_transpose1d`` of ones.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from playwright.sync_api import expect

from reader import MODES, open_page

pytestmark = pytest.mark.slow

PAGE = "book/chapters/conv_explorer.html"
CHANNELS = 2
# A setting with every knob away from its default (length 7, kernel 3, stride 2, padding 1,
# dilation 1, groups 1), and a window away from the first.
LENGTH, KERNEL, STRIDE, PADDING, DILATION, GROUPS, WINDOW = 8, 3, 2, 1, 2, 2, 2
CONV = dict(stride=STRIDE, padding=PADDING, dilation=DILATION, groups=GROUPS)


def numbered_weight():
    """The explorer's convention, stated on the page: weights numbered 1..n in PyTorch's order."""
    shape = (CHANNELS, CHANNELS // GROUPS, KERNEL)
    return torch.arange(1, CHANNELS * shape[1] * KERNEL + 1, dtype=torch.float64).reshape(shape)


def torch_output_length():
    return F.conv1d(torch.zeros(1, CHANNELS, LENGTH, dtype=torch.float64), numbered_weight(),
                    **CONV).shape[-1]


def torch_window(j):
    """Input positions read by output j: unfold the padded row of positions -P .. L+P-1."""
    positions = torch.arange(-PADDING, LENGTH + PADDING, dtype=torch.float64).reshape(1, 1, 1, -1)
    columns = F.unfold(positions, (1, KERNEL), dilation=(1, DILATION), stride=(1, STRIDE))
    return columns[0, :, j].long().tolist()


def torch_matrix_entry(row, col):
    """M[row, col]: output ``row`` (flattened channel first) of conv1d on the one-hot input ``col``."""
    one_hot = torch.zeros(CHANNELS * LENGTH, dtype=torch.float64)
    one_hot[col] = 1
    out = F.conv1d(one_hot.reshape(1, CHANNELS, LENGTH), numbered_weight(), **CONV)
    return int(out.ravel()[row])


def torch_coverage():
    out_length = torch_output_length()
    output_padding = (LENGTH + 2 * PADDING - DILATION * (KERNEL - 1) - 1) % STRIDE
    ones = F.conv_transpose1d(torch.ones(1, CHANNELS, out_length, dtype=torch.float64),
                              torch.ones_like(numbered_weight()), output_padding=output_padding,
                              **CONV)
    return ones[0].long().tolist()


def set_slider(page, label, value):
    slider = page.get_by_label(label)
    slider.focus()
    page.keyboard.press("Home")
    for _ in range(value - int(slider.get_attribute("min"))):
        page.keyboard.press("ArrowRight")
    expect(slider).to_have_value(str(value))


def choose_next(page, label, expected_value):
    choice = page.get_by_label(label)
    choice.focus()
    page.keyboard.press("ArrowDown")
    expect(choice).to_have_value(expected_value)


def cell_texts(row):
    return [text.strip() for text in row.locator("td").all_inner_texts()]


@pytest.fixture
def explorer(browser, site_url):
    with open_page(browser, site_url + PAGE, site_url.rstrip("/"), MODES["light"]) as (page,
                                                                                     problems):
        live = page.locator("[aria-live=polite]")
        expect(live).to_contain_text("Output length")
        yield page, live
        assert not problems.report(), problems.report()


def set_the_layer_with_the_keyboard(page, live):
    before = live.inner_text()
    set_slider(page, "Input length L", LENGTH)
    set_slider(page, "Kernel size K", KERNEL)
    set_slider(page, "Stride S", STRIDE)
    set_slider(page, "Padding P", PADDING)
    set_slider(page, "Dilation D", DILATION)
    choose_next(page, "Groups G", str(GROUPS))
    set_slider(page, "Window shown (output position)", WINDOW)
    return before


def test_the_output_length_and_the_window_match_pytorch_and_are_announced(explorer):
    page, live = explorer
    before = set_the_layer_with_the_keyboard(page, live)
    window = torch_window(WINDOW)
    named = ", ".join(f"{x} (pad)" if not 0 <= x < LENGTH else str(x) for x in window)
    announced = (f"Output length {torch_output_length()} in each of {CHANNELS} channels. "
                 f"Window {WINDOW} reads input positions {named}.")
    expect(live).to_have_text(announced)
    assert announced != before
    taps = page.locator("table[data-part=windows] tbody tr").nth(1)
    texts = cell_texts(taps)
    shown = {position - (-PADDING): f"tap {k}" for k, position in enumerate(window)}
    assert texts == [shown.get(i, "") for i in range(LENGTH + 2 * PADDING)]


def test_an_entry_of_m_and_of_its_transpose_match_pytorch(explorer):
    page, live = explorer
    set_the_layer_with_the_keyboard(page, live)
    out_length = torch_output_length()
    # output channel 1 at the window's position, reading input channel 1 where tap 1 falls
    row, col = out_length + WINDOW, LENGTH + torch_window(WINDOW)[1]
    expected = torch_matrix_entry(row, col)
    assert expected != 0
    matrix = page.locator("table[data-part=matrix]")
    marked = matrix.locator("tbody tr").nth(row)
    expect(marked.locator("th")).to_have_text(f"y1[{WINDOW}]")
    expect(marked).to_have_attribute("class", "cx-mark")
    expect(marked.locator(f"td[data-col='{col}']")).to_have_text(str(expected))
    # groups=2: output channel 1 reads nothing of input channel 0
    expect(marked.locator(f"td[data-col='{col - LENGTH}']")).to_have_text(
        str(torch_matrix_entry(row, col - LENGTH)))
    choose_next(page, "Matrix shown", "MT")
    transposed = matrix.locator("tbody tr").nth(col)
    expect(transposed.locator("th")).to_have_text(f"x1[{col - LENGTH}]")
    expect(transposed.locator(f"td[data-col='{row}']")).to_have_text(str(expected))


def test_the_coverage_counts_match_pytorchs_transposed_convolution_of_ones(explorer):
    page, live = explorer
    set_the_layer_with_the_keyboard(page, live)
    rows = page.locator("table[data-part=coverage] tbody tr")
    expect(rows).to_have_count(CHANNELS)
    shown = [[int(text) for text in cell_texts(rows.nth(c))] for c in range(CHANNELS)]
    assert shown == torch_coverage()


def test_a_setting_where_no_window_fits_says_so_and_shows_no_table(explorer):
    page, live = explorer
    set_slider(page, "Input length L", 4)
    set_slider(page, "Padding P", 0)
    set_slider(page, "Kernel size K", 5)
    set_slider(page, "Dilation D", 3)
    span = 3 * (5 - 1) + 1  # dilation * (kernel - 1) + 1
    expect(live).to_contain_text(f"No output: the dilated kernel spans {span} positions but the "
                                 "padded input has only 4")
    expect(page.locator("table[data-part=matrix]")).to_have_count(0)
    expect(page.get_by_label("Window shown (output position)")).to_be_disabled()
