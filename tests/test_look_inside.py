"""cnnbook.look_inside: first-layer filters, feature maps, the shift check, occlusion,
gradient saliency and the centre of mass, each on a model whose answer is known by hand."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnbook.look_inside import (centre_of_mass, feature_maps, first_layer_filters,
                                 input_gradient, occlusion_map, saliency_map, shift_error)


def blobs_in_the_middle(n=4, frame=20, size=8):
    """Random ink in the middle of an empty frame: room to move by a few pixels."""
    images = torch.zeros(n, 1, frame, frame)
    start = (frame - size) // 2
    images[..., start:start + size, start:start + size] = torch.rand(
        n, 1, size, size, generator=torch.Generator().manual_seed(0))
    return images


def seeded_conv(**kwargs):
    torch.manual_seed(0)
    return nn.Conv2d(1, 3, 3, padding=1, **kwargs)


class LinearScores(nn.Module):
    """Scores ``W @ vec(x) + b``: the gradient of score c is row c of W, exactly."""

    def __init__(self, shape=(1, 6, 6), classes=3):
        super().__init__()
        torch.manual_seed(0)
        self.shape = shape
        self.linear = nn.Linear(shape[0] * shape[1] * shape[2], classes)

    def weights_of(self, target):
        return self.linear.weight[target].detach().view(self.shape)

    def forward(self, x):
        return self.linear(x.flatten(start_dim=1))


# --- filters and feature maps --------------------------------------------------

def test_first_layer_filters_are_the_weights_of_the_first_convolution():
    model = nn.Sequential(nn.ReLU(), nn.Conv2d(1, 4, 5), nn.Conv2d(4, 2, 3))
    filters = first_layer_filters(model)
    assert torch.equal(filters, model[1].weight.detach())
    filters += 1                                 # a copy: drawing it cannot change the model
    assert not torch.equal(filters, model[1].weight.detach())


def test_first_layer_filters_refuse_a_model_without_a_convolution():
    with pytest.raises(ValueError, match="has no nn.Conv2d"):
        first_layer_filters(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


def test_feature_maps_are_what_the_layer_passes_on_inside_the_whole_model():
    model = nn.Sequential(seeded_conv(), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(300, 2))
    x = blobs_in_the_middle()
    with torch.no_grad():
        expected = model[2](model[1](model[0](x)))
    assert torch.equal(feature_maps(model, model[2], x), expected)


def test_feature_maps_refuse_a_layer_of_another_model():
    with pytest.raises(ValueError, match="is not a part of"):
        feature_maps(nn.Sequential(seeded_conv()), nn.ReLU(), blobs_in_the_middle())


# --- the shift check -----------------------------------------------------------

def test_a_stride_one_convolution_passes_the_shift_check_away_from_the_border():
    conv, x = seeded_conv(), blobs_in_the_middle()
    for shift in range(0, 4):
        assert shift_error(conv, x, shift, margin=1) < 1e-6      # float32 round-off at most


def test_the_whole_map_of_a_convolution_with_a_bias_fails_the_shift_check_at_the_border():
    # the strip the shift uncovers holds the bias in f(shift(x)) and zeros in shift(f(x))
    assert shift_error(seeded_conv(), blobs_in_the_middle(), 2) > 0.01


def test_a_strided_convolution_passes_only_for_shifts_that_are_multiples_of_its_stride():
    conv, x = seeded_conv(stride=2), blobs_in_the_middle()
    assert shift_error(conv, x, 2, stride=2, margin=1) < 1e-6
    assert shift_error(conv, x, 4, stride=2, margin=1) < 1e-6
    assert shift_error(conv, x, 1, stride=2, margin=1) > 0.1
    assert shift_error(conv, x, 3, stride=2, margin=1) > 0.1


def test_the_shift_check_refuses_a_shift_that_pushes_ink_out_of_the_frame():
    with pytest.raises(ValueError, match=r"pushes ink out of the frame in 4 of 4 images"):
        shift_error(seeded_conv(), blobs_in_the_middle(frame=10, size=8), 3)


# --- occlusion -----------------------------------------------------------------

def test_occlusion_map_of_an_all_zero_model_is_flat():
    model = LinearScores()
    nn.init.zeros_(model.linear.weight)
    nn.init.zeros_(model.linear.bias)
    drop = occlusion_map(model, torch.rand(1, 6, 6), target=1, patch=3, fill=0.5)
    assert drop.shape == (6, 6) and torch.equal(drop, torch.zeros(6, 6))


@pytest.mark.parametrize("patch", [1, 3, 5])
def test_occlusion_map_of_a_linear_model_sums_weight_times_change_under_the_patch(patch):
    # covering pixels P with the fill changes score c by sum over P of W[c, p] * (fill - x_p);
    # the sum over a centred patch, clipped at the border, is a box filter with zero padding
    model, x, fill = LinearScores(), torch.rand(1, 6, 6), 0.25
    expected = F.conv2d((model.weights_of(2) * (x - fill))[None], torch.ones(1, 1, patch, patch),
                        padding=patch // 2)[0, 0]
    drop = occlusion_map(model, x, target=2, patch=patch, fill=fill, batch_size=7)
    assert torch.allclose(drop, expected, atol=1e-5)


def test_occlusion_map_refuses_a_batch_instead_of_one_image():
    with pytest.raises(ValueError, match=r"image must be \(C, H, W\)"):
        occlusion_map(LinearScores(), torch.rand(2, 1, 6, 6), target=0, patch=3)


# --- gradient saliency ---------------------------------------------------------

def test_input_gradient_of_a_linear_model_is_the_row_of_weights_of_each_target():
    model, x, targets = LinearScores(), torch.rand(3, 1, 6, 6), torch.tensor([2, 0, 2])
    gradient = input_gradient(model, x, targets)
    for n, target in enumerate(targets.tolist()):
        assert torch.allclose(gradient[n], model.weights_of(target))


def test_saliency_of_a_linear_model_is_the_size_of_its_weights():
    model = LinearScores()
    assert torch.allclose(saliency_map(model, torch.rand(1, 1, 6, 6), [1])[0],
                          model.weights_of(1)[0].abs())


def test_input_gradient_leaves_the_model_as_it_was():
    model = LinearScores().train()
    input_gradient(model, torch.rand(2, 1, 6, 6), [0, 1])
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_input_gradient_needs_one_target_per_image():
    with pytest.raises(ValueError, match="3 images but 2 targets"):
        input_gradient(LinearScores(), torch.rand(3, 1, 6, 6), [0, 1])


# --- centre of mass ------------------------------------------------------------

def test_the_centre_of_mass_of_a_one_hot_map_is_that_pixel():
    maps = torch.zeros(2, 5, 7)
    maps[0, 1, 4] = 3.0
    maps[1, 4, 0] = 0.5
    assert centre_of_mass(maps).tolist() == [[1.0, 4.0], [4.0, 0.0]]


def test_the_centre_of_mass_of_a_uniform_map_is_the_middle_of_the_frame():
    assert centre_of_mass(torch.ones(5, 8)).tolist() == [2.0, 3.5]


def test_the_centre_of_mass_moves_with_the_map():
    blob = torch.zeros(12, 12)
    blob[2:5, 3:7] = torch.rand(3, 4, generator=torch.Generator().manual_seed(1))
    moved = torch.roll(blob, shifts=(4, 3), dims=(0, 1))
    assert torch.allclose(centre_of_mass(moved) - centre_of_mass(blob),
                          torch.tensor([4.0, 3.0], dtype=torch.float64))


@pytest.mark.parametrize("bad_map, why", [(-torch.ones(3, 3), "non-negative"),
                                          (torch.zeros(3, 3), "no mass")])
def test_the_centre_of_mass_refuses_maps_without_one(bad_map, why):
    with pytest.raises(ValueError, match=why):
        centre_of_mass(bad_map)
