"""Parameter and multiply-add counts, checked against hand-computed values."""
import torch
from torch import nn

from cnnbook.costs import count_macs, count_parameters, parameter_bytes
from cnnbook.models import ThreeLayerConvNet, ThreeLayerMLP


def test_conv_net_counts_match_hand_computation():
    net = ThreeLayerConvNet(3, 32, 16, 10)
    conv1 = 32 * 3 * 5 * 5 + 32
    conv2 = 16 * 32 * 3 * 3 + 16
    fc = 16 * 32 * 32 * 10 + 10
    assert count_parameters(net) == conv1 + conv2 + fc
    macs = 32 * 32 * 32 * (3 * 25) + 16 * 32 * 32 * (32 * 9) + 10 * 16 * 32 * 32
    assert count_macs(net, (1, 3, 32, 32)) == macs


def test_macs_scale_with_batch_and_respect_stride_and_groups():
    conv = nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2)
    # output 8 x 5 x 5, each output sums over (4 / 2) * 3 * 3 inputs
    assert count_macs(conv, (1, 4, 10, 10)) == 8 * 5 * 5 * 2 * 9
    assert count_macs(conv, (3, 4, 10, 10)) == 3 * 8 * 5 * 5 * 2 * 9


def test_mlp_counts_and_memory():
    mlp = ThreeLayerMLP(3072, 100, 10)
    n = 3072 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10
    assert count_parameters(mlp) == n
    assert parameter_bytes(mlp) == 4 * n
    assert parameter_bytes(mlp.double()) == 8 * n


def test_count_macs_restores_training_mode():
    net = ThreeLayerMLP(12, 5, 2)
    net.train()
    count_macs(net, (1, 3, 2, 2))
    assert net.training
    assert torch.is_grad_enabled()
