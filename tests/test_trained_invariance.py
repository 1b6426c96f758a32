"""cnnbook.trained_invariance: score and prediction changes of a classifier
under shifts, rotations and brightness changes."""
import torch
from torch import nn

from cnnbook.trained_invariance import (Normalized, brighten, output_changes, rotate,
                                        shift_right)


def digits_in_the_middle(n=8):
    images = torch.zeros(n, 1, 16, 16, dtype=torch.uint8)
    images[:, :, 5:11, 5:11] = torch.randint(1, 255, (n, 1, 6, 6),
                                             generator=torch.Generator().manual_seed(0),
                                             dtype=torch.uint8)
    return images


class PooledScores(nn.Module):
    """Ten class scores from the mean and max of each image: blind to position."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 10)

    def forward(self, x):
        return self.linear(torch.stack([x.mean(dim=(1, 2, 3)), x.amax(dim=(1, 2, 3))], 1))


def test_normalized_standardises_before_the_model():
    net = Normalized(nn.Identity(), mean=[0.5], std=[0.25])
    assert torch.allclose(net(torch.full((1, 1, 2, 2), 1.0)), torch.full((1, 1, 2, 2), 2.0))


def test_a_position_blind_model_ignores_shifts_but_not_brightness():
    torch.manual_seed(0)
    changes = output_changes(PooledScores(), digits_in_the_middle(), [0.1], [0.3],
                             {"shift 3": shift_right(3), "brighter": brighten(0.3)})
    score_change, prediction_change = changes["shift 3"]
    assert score_change < 1e-6 and prediction_change == 0.0    # float32 round-off at most
    assert changes["brighter"][0] > 0.01


def test_a_dense_model_changes_under_shift_and_rotation():
    torch.manual_seed(0)
    dense = nn.Sequential(nn.Flatten(), nn.Linear(256, 10))
    changes = output_changes(dense, digits_in_the_middle(64), [0.1], [0.3],
                             {"shift 3": shift_right(3), "turn 90": rotate(90)})
    for score_change, prediction_change in changes.values():
        assert score_change > 0.1 and 0.1 < prediction_change <= 1.0


def test_the_model_is_left_in_training_mode_if_it_was():
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(256, 10))
    output_changes(model, digits_in_the_middle(), [0.1], [0.3], {"shift": shift_right(1)})
    assert model.training
