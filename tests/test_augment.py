"""cnnbook.augment: each batched augmentation does what it says."""
import pytest
import torch

from cnnbook.augment import (Augment, cutout, erase_squares, random_brightness_contrast,
                             random_crop, random_flip, random_rotation, rotate_by)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def batch(n=16, c=3, h=8, w=8):
    return torch.randn(n, c, h, w, generator=gen(123))


def test_flip_with_probability_one_mirrors_every_image():
    x = batch()
    assert torch.equal(random_flip(x, gen(), p=1.0), x.flip(3))
    assert torch.equal(random_flip(x, gen(), p=0.0), x)


def test_flip_mirrors_each_image_or_leaves_it():
    x = batch(n=64)
    out = random_flip(x, gen())
    flipped = [torch.equal(o, xi.flip(2)) for o, xi in zip(out, x)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x)]
    assert all(f != k for f, k in zip(flipped, kept))  # exactly one of the two
    assert 10 < sum(flipped) < 54  # about half of 64


def test_crop_keeps_size_and_dtype_and_is_a_shift():
    x = (torch.arange(2 * 1 * 6 * 6) % 200 + 1).reshape(2, 1, 6, 6).to(torch.uint8)
    out = random_crop(x, padding=2, generator=gen(3))
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, t:t + 6, s:s + 6] for t in range(5) for s in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_crop_reaches_every_offset_and_pads_with_fill():
    x = torch.ones(400, 1, 4, 4)
    out = random_crop(x, padding=1, generator=gen(), fill=-5.0)
    assert set(out.unique().tolist()) == {-5.0, 1.0}
    # offsets 0..2 in each direction: an unmoved image keeps all 16 ones
    ones = (out == 1).sum(dim=(1, 2, 3))
    assert set(ones.tolist()) == {9, 12, 16}
    assert torch.equal(random_crop(x, 0), x)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        random_crop(x, -1)


def test_erase_squares_zeroes_exactly_the_square():
    x = torch.ones(2, 3, 10, 10)
    out = erase_squares(x, torch.tensor([2, 7]), torch.tensor([3, -1]), size=4)
    assert (out[0] == 0).sum() == 3 * 16
    assert (out[0, :, 2:6, 3:7] == 0).all()
    # the second square is cut by the bottom and left borders: rows 7..9, cols 0..2
    assert (out[1] == 0).sum() == 3 * 3 * 3
    assert (out[1, :, 7:, :3] == 0).all()


def test_cutout_erases_at_most_size_squared_and_exactly_inside():
    x = torch.ones(500, 2, 16, 16)
    out = cutout(x, size=4, generator=gen())
    erased = (out == 0).sum(dim=(2, 3))
    assert torch.equal(erased[:, 0], erased[:, 1])  # same square in every channel
    assert erased.max() == 16 and erased.min() >= 4  # a centre in the image keeps >= 2x2
    assert (erased == 16).float().mean() > 0.5


def test_augmentations_are_deterministic_under_a_generator():
    x = batch(n=32)
    pipeline = Augment(crop_padding=2, flip=True, cutout_size=3)
    assert torch.equal(pipeline(x, gen(5)), pipeline(x, gen(5)))
    assert not torch.equal(pipeline(x, gen(5)), pipeline(x, gen(6)))


def test_pipeline_switches():
    assert not Augment() and Augment(flip=True)
    x = batch()
    assert torch.equal(Augment()(x, gen()), x)
    assert "cutout_size=8" in repr(Augment(4, True, 8))


def test_a_quarter_turn_is_torch_rot90_and_no_turn_changes_nothing():
    x = batch()
    turns = torch.full((len(x),), 90.0)
    assert torch.allclose(rotate_by(x, turns), torch.rot90(x, 1, dims=(2, 3)), atol=1e-5)
    assert torch.allclose(random_rotation(x, 0, gen()), x, atol=1e-6)


def test_rotation_fills_the_corners_that_come_in_with_fill():
    x = torch.ones(4, 1, 16, 16)
    turned = rotate_by(x, torch.full((4,), 45.0), fill=-2.0)
    assert torch.allclose(turned[..., 0, 0], torch.tensor(-2.0))      # a corner came from outside
    assert torch.allclose(turned[..., 8, 8], torch.tensor(1.0))       # the centre stays inside


def test_rotation_angles_stay_within_the_limit():
    x = torch.zeros(64, 1, 9, 9)
    x[..., 4, 8] = 1.0                           # one pixel on the right of the centre
    turned = random_rotation(x, 30, gen())
    rows, cols = torch.meshgrid(torch.arange(9.0), torch.arange(9.0), indexing="ij")
    weight = turned[:, 0].clamp(min=0)
    row = (weight * rows).sum(dim=(1, 2)) / weight.sum(dim=(1, 2))
    col = (weight * cols).sum(dim=(1, 2)) / weight.sum(dim=(1, 2))
    angle = torch.rad2deg(torch.atan2(4 - row, col - 4))   # counter-clockwise, rows grow down
    assert angle.abs().max() <= 31 and angle.abs().max() > 20 and angle.min() < 0 < angle.max()


def test_brightness_contrast_changes_values_within_the_strength_not_positions():
    x = batch(n=64)
    jittered = random_brightness_contrast(x, 0.2, gen())
    mean = x.mean(dim=(1, 2, 3))
    shift = jittered.mean(dim=(1, 2, 3)) - mean
    scale = (jittered - jittered.mean(dim=(1, 2, 3), keepdim=True)).std(dim=(1, 2, 3)) / \
        (x - mean.view(-1, 1, 1, 1)).std(dim=(1, 2, 3))
    assert shift.abs().max() <= 0.2 + 1e-5 and (scale - 1).abs().max() <= 0.2 + 1e-5
    assert shift.abs().max() > 0.1 and (scale - 1).abs().max() > 0.1
    correlation = torch.corrcoef(torch.stack([x[0].flatten(), jittered[0].flatten()]))[0, 1]
    assert correlation > 0.999                  # the same picture, only brighter or dimmer


def test_pipeline_with_rotation_and_jitter_is_reproducible_and_named():
    pipeline = Augment(crop_padding=1, rotate_degrees=15, jitter=0.1)
    x = batch()
    assert torch.equal(pipeline(x, gen(3)), pipeline(x, gen(3)))
    assert "rotate_degrees=15" in repr(pipeline) and "jitter=0.1" in repr(pipeline)
    assert "rotate" not in repr(Augment(4, True, 8))


def test_wrong_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected a batch of shape \(N, C, H, W\)"):
        random_flip(torch.zeros(3, 8, 8))
