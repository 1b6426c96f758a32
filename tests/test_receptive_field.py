"""The receptive-field recurrence agrees with what autograd measures."""
import numpy as np
import pytest
import torch
from torch import nn

from cnnbook.receptive_field import (Window, input_gradient_map, measure_receptive_field,
                                     pixels_read, receptive_field, receptive_field_table,
                                     windows_of)


def test_recurrence_on_textbook_stacks():
    assert receptive_field([]) == 1
    assert receptive_field([(3, 1)]) == 3
    assert receptive_field([(3, 1)] * 3) == 7            # three 3x3 convs see 7x7
    assert receptive_field([(3, 1), (2, 2), (3, 1)]) == 8  # pooling doubles later growth
    assert receptive_field([Window(3, dilation=2)]) == 5
    jumps = [row["jump"] for row in receptive_field_table([(3, 2), (3, 2), (3, 1)])]
    assert jumps == [2, 4, 4]


STACKS = [
    [nn.Conv2d(1, 2, 3)],
    [nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1), nn.ReLU(),
     nn.Conv2d(2, 1, 3, padding=1)],
    [nn.Conv2d(1, 3, 5, stride=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 2, 3)],
    [nn.Conv2d(2, 2, 3, dilation=2), nn.Conv2d(2, 2, 3, stride=2), nn.AvgPool2d(3, stride=1),
     nn.Conv2d(2, 1, 1)],
    [nn.Conv2d(1, 4, 7, stride=2, padding=3), nn.BatchNorm2d(4), nn.ReLU(),
     nn.MaxPool2d(3, stride=2, padding=1), nn.Conv2d(4, 4, 3, padding=1)],
]


@pytest.mark.parametrize("layers", STACKS)
def test_formula_matches_autograd_measurement(layers):
    torch.manual_seed(0)
    model = nn.Sequential(*layers)
    predicted = receptive_field(windows_of(model))
    in_channels = layers[0].in_channels
    size = 2 * predicted + 9
    assert measure_receptive_field(model, (in_channels, size, size), trials=6) == (predicted, predicted)


def test_gradient_map_is_centre_weighted_and_leaves_model_untouched():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))
    before = [p.clone() for p in model.parameters()]
    grad = input_gradient_map(model, (1, 9, 9))
    assert grad.shape == (9, 9)
    assert grad[4, 4] > 0 and grad[0, 0] == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert next(model.parameters()).dtype == torch.float32


def test_too_small_input_is_reported():
    model = nn.Sequential(nn.Conv2d(1, 1, 5, padding=2))
    with pytest.raises(ValueError, match="larger input_shape"):
        measure_receptive_field(model, (1, 5, 5))


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="positive integer"):
        Window(0)
    with pytest.raises(ValueError, match="positive integer"):
        Window(3, stride=1.5)
    with pytest.raises(ValueError, match="non-square"):
        windows_of(nn.Conv2d(1, 1, (3, 5)))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        input_gradient_map(nn.Conv2d(1, 1, 3), (9, 9))


def dilated_stack(dilations):
    return torch.nn.Sequential(*[torch.nn.Conv2d(2, 2, 3, padding=d, dilation=d) for d in dilations])


def test_dilations_sharing_a_factor_leave_gaps_in_a_unit_field_but_not_in_the_input():
    net = dilated_stack((2, 2, 2))
    centre = pixels_read(net, (2, 33, 33), unit=(16, 16))
    rows, cols = np.nonzero(centre)
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (13, 13)
    assert centre.sum() == 49                          # 7 x 7 taps at even offsets
    assert centre[16, 17] == 0 and centre[16, 18] == 1
    assert pixels_read(net, (2, 33, 33)).all()          # every pixel is read by some unit


def test_doubling_dilations_read_every_pixel_of_the_field():
    centre = pixels_read(dilated_stack((1, 2, 4)), (2, 33, 33), unit=(16, 16))
    assert centre.sum() == 15 * 15
