"""Equivariance and invariance measurements: exact where theory says so, not elsewhere;
and the shifted-MNIST lab that uses them."""
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

from cnnbook.equivariance import (FrameClassifier, SeedMapCNN, SeedMapMLP, equivariance_error,
                                  frame_offsets, images_losing_ink, interior_mask,
                                  invariance_error, maps_by_position, place_at, place_in_frames,
                                  position_errors, position_viewer_html, predictions_by_position,
                                  relative_error, rotate90, transform_error, translate, upscale,
                                  with_padding_mode)

EXACT = 1e-12  # float64 round-off


@pytest.fixture
def image():
    return torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def conv(padding_mode="zeros", stride=1, seed=0):
    torch.manual_seed(seed)
    return nn.Conv2d(1, 3, 3, stride=stride, padding=1, padding_mode=padding_mode).double()


def test_translate_moves_content_and_fills_or_wraps():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    zero = translate(x, 1, -2)
    assert zero[0, 0, 1, 0] == x[0, 0, 0, 2] and zero[0, 0, 0].abs().sum() == 0
    assert zero[..., :, 2:].abs().sum() == 0
    assert torch.equal(translate(x, 1, -2, "circular"), torch.roll(x, (1, -2), (-2, -1)))
    assert torch.equal(translate(x, 0, 0), x)
    assert translate(x, 5, 0).abs().sum() == 0
    with pytest.raises(ValueError, match="mode"):
        translate(x, 1, 1, mode="reflect")


def test_circular_stride_one_conv_is_exactly_equivariant(image):
    f = conv("circular")
    for dy, dx in [(1, 0), (3, -5), (-7, 7)]:
        assert equivariance_error(f, image, dy, dx, mode="circular") < EXACT


def test_zero_padding_breaks_equivariance_only_near_the_border(image):
    f = conv("zeros")
    assert equivariance_error(f, image, 2, 3) > 0.05
    assert equivariance_error(f, image, 2, 3, margin=1) < EXACT
    assert equivariance_error(f, image, 2, 3, margin=0) > 0.01  # the padding row still differs


def test_stride_two_is_equivariant_to_even_shifts_only(image):
    f = conv("circular", stride=2)
    assert equivariance_error(f, image, 2, 4, mode="circular", stride=2) < EXACT
    assert equivariance_error(f, image, 1, 0, mode="circular", stride=2) > 0.1


def test_max_pooling_aliases_odd_shifts(image):
    f = nn.Sequential(conv("circular"), nn.MaxPool2d(2))
    assert equivariance_error(f, image, 2, -2, mode="circular", stride=2) < EXACT
    assert equivariance_error(f, image, 1, 1, mode="circular", stride=2) > 0.1


def test_rotation_and_scaling_are_not_equivariant_unless_the_kernel_is_symmetric(image):
    f = conv("zeros")
    assert transform_error(f, image, rotate90, rotate90) > 0.1
    assert transform_error(f, image, upscale, upscale) > 0.1
    symmetric = nn.Conv2d(1, 1, 3, padding=1, bias=False).double()
    with torch.no_grad():
        symmetric.weight.copy_(torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]))
    assert transform_error(symmetric, image, rotate90, rotate90) < EXACT


def test_global_average_pooling_is_invariant_flattening_is_not(image):
    gap = nn.Sequential(conv("circular"), nn.AdaptiveAvgPool2d(1))
    flat = nn.Sequential(conv("circular"), nn.Flatten())
    assert invariance_error(gap, image, 3, -4, mode="circular") < EXACT
    assert invariance_error(flat, image, 3, -4, mode="circular") > 0.5


def test_images_losing_ink_counts_the_images_cut_by_the_frame():
    frames = torch.zeros(3, 1, 8, 8)
    frames[0, 0, 2, 1] = 1.0      # 6 pixels from the right border
    frames[1, 0, 2, 5] = 1.0      # 2 pixels from it
    frames[2, 0, 2, 7] = -1.0     # on it: negative values count as content too
    assert [images_losing_ink(frames, 0, s) for s in (0, 1, 3, 7)] == [0, 1, 2, 3]
    assert images_losing_ink(frames, 0, -1) == 0 and images_losing_ink(frames, 0, -2) == 1


def test_interior_mask():
    mask = interior_mask((6, 6), 1, 0, margin=1)
    assert mask.shape == (6, 6)
    assert mask[2:5, 1:5].all() and mask.sum() == 3 * 4


def test_relative_error_checks_shapes():
    assert relative_error(torch.zeros(3), torch.zeros(3)) == 0
    assert relative_error(torch.ones(3), 2 * torch.ones(3)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(torch.ones(3), torch.ones(4))


def test_margin_that_leaves_nothing_is_reported(image):
    with pytest.raises(ValueError, match="leaves no pixel"):
        equivariance_error(conv(), image, 0, 0, margin=8)


def test_place_in_frames_puts_each_copy_at_its_offset():
    digits = torch.rand(3, 1, 28, 28)
    frames = place_in_frames(digits)
    offsets = frame_offsets()
    assert frames.shape == (3, 49, 1, 56, 56) and len(offsets) == 49
    assert offsets[0] == (0, 0) and offsets[-1] == (24, 24) and offsets[8] == (4, 4)
    dy, dx = offsets[17]
    assert torch.equal(frames[:, 17, :, dy:dy + 28, dx:dx + 28], digits)
    assert frames[:, 17].sum() == pytest.approx(digits.sum().item(), rel=1e-6)
    assert torch.equal(frames[:, 17], translate(frames[:, 0], dy, dx))
    with pytest.raises(ValueError, match="do not fit"):
        place_in_frames(digits, frame=40)
    with pytest.raises(ValueError, match=r"\(N, C, h, w\)"):
        place_in_frames(digits[0])


def test_seed_map_cnn_moves_with_the_digit_and_the_mlp_does_not():
    torch.manual_seed(0)
    digits = torch.zeros(2, 1, 28, 28)
    digits[:, :, 6:22, 10:18] = torch.rand(2, 1, 16, 8)
    base = place_in_frames(digits)[:, 0]
    cnn, mlp = SeedMapCNN(), SeedMapMLP()
    assert equivariance_error(cnn, base, 8, 12, margin=3) < 1e-5
    assert equivariance_error(mlp, base, 8, 12, margin=3) > 0.3


def test_frame_classifier_heads():
    torch.manual_seed(0)
    frames = place_in_frames(torch.rand(4, 1, 28, 28) * (torch.rand(1, 1, 28, 28) > 0.5))
    gap, flat = FrameClassifier("gap").eval(), FrameClassifier("flatten").eval()
    x = frames[:, 0]
    assert gap(x).shape == flat(x).shape == FrameClassifier("gmp")(x).shape == (4, 10)
    assert gap.features(x).shape == (4, 32, 14, 14)
    # shifts by a multiple of the stride: the feature maps move by one pixel per 4
    # (margin 3 output pixels = 12 input pixels, more than the trunk's 18-pixel field reaches)
    assert equivariance_error(gap.features, x, 8, 4, stride=4, margin=3) < 1e-5
    assert equivariance_error(gap.features, x, 2, 0, stride=4, margin=3) > 0.05
    preds = predictions_by_position(gap, frames[:, :5])
    assert preds.shape == (4, 5)
    assert torch.equal(preds[:, 0], gap(x).argmax(dim=1))
    with pytest.raises(ValueError, match="head"):
        FrameClassifier("max")
    gmp = FrameClassifier("gmp")
    with torch.no_grad():  # the pooled features are the maxima of the maps
        expected = gmp.classifier(gmp.features(x).amax(dim=(-2, -1)))
    assert torch.allclose(gmp(x), expected)
    with pytest.raises(ValueError, match="multiple of 4"):
        FrameClassifier(frame=30)


def test_with_padding_mode_changes_only_the_border(image):
    zero = nn.Sequential(conv("zeros"), nn.ReLU(), nn.Conv2d(3, 2, 3, padding=1).double())
    circular = with_padding_mode(zero, "circular")
    assert all(torch.equal(a, b) for a, b in zip(zero.parameters(), circular.parameters()))
    assert zero[0].padding_mode == "zeros" and circular[0].padding_mode == "circular"
    with torch.no_grad():
        diff = (zero(image) - circular(image)).abs()
    assert diff[..., 2:-2, 2:-2].max() == 0 and diff.max() > 0
    assert equivariance_error(circular, image, 3, 5, mode="circular") < EXACT
    with pytest.raises(ValueError, match="mode"):
        with_padding_mode(zero, "reflect")


def test_place_at_pastes_one_copy_and_keeps_the_dtype():
    digits = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    framed = place_at(digits, 56, 12, 20)
    assert framed.dtype == torch.uint8 and framed.shape == (2, 1, 56, 56)
    assert torch.equal(framed[..., 12:40, 20:48], digits)
    assert framed.sum() == digits.sum()
    with pytest.raises(ValueError, match="do not fit"):
        place_at(digits, 56, 30, 0)


def test_position_errors_match_equivariance_error_at_half_the_cost():
    torch.manual_seed(0)
    digits = torch.zeros(2, 1, 28, 28)
    digits[:, :, 5:23, 8:20] = torch.rand(2, 1, 18, 12)
    frames = place_in_frames(digits, positions=3, step=8)
    offsets = frame_offsets(positions=3, step=8)
    cnn = SeedMapCNN(channels=(4, 4))
    maps = maps_by_position(cnn, frames)
    assert maps.shape == (2, 9, 1, 56, 56)
    errors = position_errors(maps, offsets, margin=3)
    direct = [equivariance_error(cnn, frames[:, 0], dy, dx, margin=3) for dy, dx in offsets]
    assert errors == pytest.approx(direct, abs=1e-7)
    assert max(errors) < 1e-5
    mlp_errors = position_errors(maps_by_position(SeedMapMLP(), frames), offsets, margin=3)
    assert min(mlp_errors[1:]) > 0.3
    with pytest.raises(ValueError, match="positions"):
        position_errors(maps, offsets[:4])


def test_maps_by_position_uses_eval_mode_and_needs_a_module():
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.9), nn.Linear(4, 3))
    frames = torch.ones(2, 5, 1, 2, 2)
    maps = maps_by_position(model, frames)
    with torch.no_grad():
        assert torch.equal(maps[0, 0], model.eval()(frames[0, :1])[0])  # dropout was off
    assert model.train().training  # the caller's mode is restored
    maps_by_position(model, frames)
    assert model.training
    with pytest.raises(ValueError, match="nn.Module"):
        maps_by_position(lambda t: t, frames)


def test_position_viewer_html_embeds_every_frame_and_checks_shapes():
    panels = [torch.rand(5, 8, 8), torch.rand(5, 2, 2)]
    page = position_viewer_html(panels, ["input <x>", "map"], [f"position {k}" for k in range(5)])
    assert page.count("data:image/png;base64,") == 2 + 2 * 5  # the first frames, then all frames
    assert "input &lt;x&gt;" in page and 'type="range"' in page and 'max="4"' in page
    other = position_viewer_html(panels, ["a", "b"], [str(k) for k in range(5)])
    assert page.split('id="')[1][:20] != other.split('id="')[1][:20]  # unique element ids
    with pytest.raises(ValueError, match="shape"):
        position_viewer_html([torch.rand(4, 8, 8)], ["a"], ["0", "1", "2", "3", "4"])
    with pytest.raises(ValueError, match="titles"):
        position_viewer_html(panels, ["a"], [str(k) for k in range(5)])


def test_position_viewer_images_carry_their_descriptions_as_alt_text():
    panels = [torch.rand(5, 8, 8), torch.rand(5, 2, 2)]
    captions = [str(k) for k in range(5)]
    described = position_viewer_html(panels, ["input", "map"], captions,
                                     alts=["A digit that moves", "Its map, \"moving\" too"])
    assert 'alt="A digit that moves"' in described and 'alt="input"' not in described
    assert 'alt="Its map, &quot;moving&quot; too"' in described
    assert '<figcaption style="font-size:0.85em">input</figcaption>' in described
    assert 'alt="input"' in position_viewer_html(panels, ["input", "map"], captions)
    with pytest.raises(ValueError, match="2 panels but 1 alts"):
        position_viewer_html(panels, ["input", "map"], captions, alts=["one"])


# --- the shifted-MNIST lab notebook --------------------------------------------

LAB = Path(__file__).resolve().parent.parent / "book" / "labs" / "shifted_mnist_equivariance.ipynb"


def test_lab_is_committed_without_outputs_and_starts_with_its_parameters():
    nb = nbformat.read(LAB, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])
    assigned = {line.split("=")[0].strip() for line in code[0].source.splitlines()
                if "=" in line and not line.startswith((" ", "#"))}
    assert {"quick", "seeds", "epochs", "batch_size", "frame", "positions", "step"} <= assigned


@pytest.mark.slow
def test_lab_executes_in_quick_mode_offline(run_lab_offline):
    outputs = run_lab_offline(LAB)
    assert not any(o.output_type == "stream" and o.name == "stderr" for o in outputs)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    markdown = "".join(o["data"].get("text/markdown", "") for o in outputs if "data" in o)
    html_out = "".join(o["data"].get("text/html", "") for o in outputs if "data" in o)
    assert text.count("Data: ") == 1 and "**Quick mode**" in markdown
    assert html_out.count('type="range"') == 1                # the kernel-free viewer
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4
    assert "nan" not in markdown.lower()
