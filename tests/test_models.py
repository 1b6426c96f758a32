"""cnnbook.models: output shapes, parameter counts and the named initialisations."""
import math

import pytest
import torch
from torch import nn

from cnnbook.costs import count_parameters
from cnnbook.models import (AffineReluBlock, ConvBlock, ConvBlockNet, ResidualBlock,
                            ThreeLayerConvNet, ThreeLayerMLP, activation_stds, init_std,
                            init_weights_, mlp_hidden_for)


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
def test_seed_pair_output_shapes(shape):
    c, h, _ = shape
    x = torch.zeros(5, *shape)
    assert ThreeLayerConvNet(c, 8, 4, 10, image_size=h)(x).shape == (5, 10)
    assert ThreeLayerMLP(c * h * h, 20, 10)(x).shape == (5, 10)


def test_conv_block_net_counts_for_cifar_match_hand_computation():
    net = ConvBlockNet()
    convs = [(3, 32), (32, 64), (64, 128), (128, 64)]
    conv_params = sum(9 * a * b + b for a, b in convs)
    # 32 -> 32 -> 16 -> 8 -> 4: the seed's 1024 = 64 * 4 * 4 inputs to the first fc layer
    fc_params = (1024 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10)
    assert count_parameters(net) == conv_params + fc_params == 463626
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_conv_block_net_adapts_to_the_input_size_and_width():
    net = ConvBlockNet(in_channels=1, image_size=28, width=0.25)
    # 28 -> 28 -> 14 -> 7 -> 3 with 16 channels at the end
    assert net.fc_layers[0].block[0].in_features == 16 * 3 * 3
    assert net(torch.zeros(4, 1, 28, 28)).shape == (4, 10)
    assert net.classifier.out_features == 10


def test_batchnorm_replaces_conv_bias_and_dropout_is_inserted():
    plain, bn = ConvBlockNet(), ConvBlockNet(batchnorm=True)
    assert count_parameters(bn) - count_parameters(plain) == 32 + 64 + 128 + 64
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules()) == 4
    assert any(isinstance(m, nn.Dropout) for m in ConvBlockNet(dropout=0.5).modules())
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())


def test_too_small_images_and_mismatched_lists_are_clear_errors():
    with pytest.raises(ValueError, match="shrink to nothing"):
        ConvBlockNet(image_size=6)
    with pytest.raises(ValueError, match="4 channel counts but 3 pooling factors"):
        ConvBlockNet(pools=(2, 2, 2))


def test_conv_block_output_size():
    block = ConvBlock(3, 8, kernel_size=5, stride=2, padding=1, pool=2)
    x = torch.zeros(1, 3, 31, 31)
    assert block(x).shape[-1] == block.output_size(31)


def test_initialisation_formulas_are_named_correctly():
    # KNOWN_ISSUES 3: sqrt(1 / fan_in) is LeCun's, not Glorot's (Xavier's)
    assert init_std("lecun", 100, 50) == math.sqrt(1 / 100)
    assert init_std("glorot", 100, 50) == math.sqrt(2 / 150)
    assert init_std("he", 100, 50) == math.sqrt(2 / 100)
    with pytest.raises(ValueError, match="unknown initialisation 'xavier'"):
        init_std("xavier", 1, 1)


@pytest.mark.parametrize("scheme", ["he", "glorot", "lecun"])
def test_init_weights_draws_with_the_scheme_std(scheme):
    torch.manual_seed(0)
    layer = init_weights_(nn.Linear(400, 300), scheme)
    assert layer.weight.std().item() == pytest.approx(init_std(scheme, 400, 300), rel=0.02)
    assert torch.count_nonzero(layer.bias) == 0
    conv = init_weights_(nn.Conv2d(16, 32, 3), scheme)
    assert conv.weight.std().item() == pytest.approx(init_std(scheme, 144, 288), rel=0.05)


def test_pytorch_default_init_is_left_alone():
    torch.manual_seed(0)
    layer = nn.Linear(10, 10)
    before = layer.weight.clone()
    init_weights_(layer, "pytorch")
    assert torch.equal(layer.weight, before)
    assert AffineReluBlock(10, 5, "lecun")(torch.zeros(2, 10)).shape == (2, 5)


def test_he_keeps_activation_scale_where_lecun_shrinks_it():
    x = torch.randn(256, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    he = activation_stds(ConvBlockNet(init="he"), x)
    torch.manual_seed(0)
    lecun = activation_stds(ConvBlockNet(init="lecun"), x)
    assert len(he) == 6 and len(lecun) == 6  # four conv blocks, two fc blocks
    assert lecun[-1] < he[-1] / 2
    assert all(a > b for a, b in zip(he, lecun))


def test_parameter_matched_mlp():
    target = count_parameters(ThreeLayerConvNet(3, 32, 16, 10))
    h = mlp_hidden_for(target, 3072, 10)
    best = count_parameters(ThreeLayerMLP(3072, h, 10))
    for other in (h - 1, h + 1):
        assert abs(best - target) <= abs(count_parameters(ThreeLayerMLP(3072, other, 10)) - target)


def test_a_residual_block_whose_body_outputs_zero_is_the_identity():
    block = ResidualBlock(4)
    last_conv = block.body[-1].block[0]
    with torch.no_grad():
        last_conv.weight.zero_()
        last_conv.bias.zero_()
    x = torch.randn(2, 4, 6, 6)
    assert torch.equal(block(x), x)


def test_under_pytorch_default_init_the_shortcut_keeps_the_gradient_a_plain_stack_loses():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    ratios = {}
    for name, make in {"plain": lambda: nn.Sequential(ConvBlock(4, 4), ConvBlock(4, 4)),
                       "residual": lambda: ResidualBlock(4)}.items():
        net = nn.Sequential(*[make() for _ in range(16)])
        (grad,) = torch.autograd.grad(net(x).sum(), x)
        ratios[name] = float(grad.norm())
    assert ratios["plain"] < 1e-3 * ratios["residual"]
