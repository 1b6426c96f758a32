"""The explicit convolution matrix reproduces torch's conv2d and has the promised structure."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnbook.conv_matrix import (STRUCTURAL_ZERO, conv_matrix, is_doubly_block_toeplitz,
                                 kernel_index_matrix, output_hw, toeplitz_blocks)

GEOMETRIES = [  # (C_out, C_in, kh, kw, H, W, stride, padding)
    (1, 1, 3, 3, 5, 5, 1, 0),
    (1, 1, 3, 3, 5, 5, 1, 1),
    (2, 3, 3, 2, 6, 7, 2, 1),
    (4, 2, 5, 5, 9, 8, 3, 2),
    (3, 1, 1, 1, 4, 4, 1, 0),
    (1, 2, 4, 3, 7, 5, 2, 0),
]


@pytest.mark.parametrize("c_out, c_in, kh, kw, h, w, stride, padding", GEOMETRIES)
def test_matrix_product_equals_conv2d(c_out, c_in, kh, kw, h, w, stride, padding):
    gen = torch.Generator().manual_seed(c_out * 100 + kh * 10 + stride)
    weight = torch.randn(c_out, c_in, kh, kw, generator=gen, dtype=torch.float64)
    x = torch.randn(c_in, h, w, generator=gen, dtype=torch.float64)
    m = conv_matrix(weight, (h, w), stride, padding)
    expected = F.conv2d(x[None], weight, stride=stride, padding=padding)[0]
    assert m.shape == (expected.numel(), x.numel())
    np.testing.assert_allclose(m @ x.numpy().ravel(), expected.numpy().ravel(), rtol=1e-12, atol=1e-12)


def test_every_nonzero_entry_is_a_kernel_weight_and_each_weight_is_reused():
    index = kernel_index_matrix((1, 1, 3, 3), (6, 6))
    used = index[index != STRUCTURAL_ZERO]
    assert set(used.tolist()) == set(range(9))
    # 4 x 4 outputs, each using all 9 taps exactly once
    assert np.all(np.bincount(used) == 16)
    assert np.all((index != STRUCTURAL_ZERO).sum(axis=1) == 9)


def test_zero_padding_drops_taps_at_the_border():
    index = kernel_index_matrix((1, 1, 3, 3), (4, 4), padding=1)
    taps_per_output = (index != STRUCTURAL_ZERO).sum(axis=1).reshape(4, 4)
    assert taps_per_output[0, 0] == 4 and taps_per_output[0, 1] == 6 and taps_per_output[1, 1] == 9


def test_two_dimensional_kernel_means_one_channel():
    kernel = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(conv_matrix(kernel, (4, 4)), conv_matrix(kernel[None, None], (4, 4)))


def test_doubly_block_toeplitz_for_stride_one_only():
    kernel = np.random.default_rng(0).normal(size=(3, 3))
    for padding in (0, 1):
        out = output_hw((1, 1, 3, 3), (6, 6), 1, padding)
        assert is_doubly_block_toeplitz(conv_matrix(kernel, (6, 6), 1, padding), out, (6, 6))
    out = output_hw((1, 1, 3, 3), (7, 7), 2, 0)
    assert not is_doubly_block_toeplitz(conv_matrix(kernel, (7, 7), 2, 0), out, (7, 7))
    assert not is_doubly_block_toeplitz(np.random.default_rng(1).normal(size=(16, 36)), (4, 4), (6, 6))


def test_toeplitz_blocks_are_the_row_to_row_maps():
    kernel = np.arange(1.0, 10.0).reshape(3, 3)
    blocks = toeplitz_blocks(conv_matrix(kernel, (5, 5)), (3, 3), (5, 5))
    assert blocks.shape == (3, 5, 3, 5)
    # output row 0 reads input rows 0..2 with kernel rows 0..2; input row 3 is not read
    np.testing.assert_array_equal(blocks[0, 1, 0, :3], kernel[1])
    assert not blocks[0, 3].any()


@pytest.mark.parametrize("bad, message", [
    (dict(weight=np.ones((2, 3, 3))), "weight must have shape"),
    (dict(input_hw=(0, 5)), "input_hw"),
    (dict(stride=0), "stride"),
    (dict(padding=-1), "padding"),
    (dict(input_hw=(2, 2)), None),  # kernel larger than the padded image
])
def test_bad_arguments_are_reported_clearly(bad, message):
    args = dict(weight=np.ones((1, 1, 3, 3)), input_hw=(5, 5), stride=1, padding=0) | bad
    with pytest.raises(ValueError, match=message):
        conv_matrix(args["weight"], args["input_hw"], args["stride"], args["padding"])


def test_toeplitz_blocks_rejects_a_matrix_of_the_wrong_shape():
    with pytest.raises(ValueError, match="single-channel"):
        toeplitz_blocks(np.ones((8, 25)), (3, 3), (5, 5))
