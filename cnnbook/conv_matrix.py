"""A convolution layer written out as the matrix it secretly is.

A convolution is a linear map, so for a fixed input size it equals a matrix
product ``y = M @ x`` on the flattened image.  Building ``M`` explicitly makes
two of the book's claims visible: most entries of ``M`` are structural zeros
(sparse interactions) and the non-zero entries are copies of the same few
kernel weights (parameter sharing).

Conventions are PyTorch's ``conv2d``: cross-correlation (the kernel is not
flipped), zero padding, images flattened in C-order (channel, row, column) and
weights of shape ``(C_out, C_in, kh, kw)``.  No bias: a bias is added after
the product and does not belong to the matrix.
"""
import numpy as np

from cnnbook.fast_layers import conv_output_size

#: Entry value of :func:`kernel_index_matrix` where ``M`` is zero by construction.
STRUCTURAL_ZERO = -1


def _as_weight_array(weight):
    """``weight`` as a 4-D numpy array; a 2-D kernel means one input and one output channel."""
    if hasattr(weight, "detach"):  # a torch tensor
        weight = weight.detach().cpu().numpy()
    weight = np.asarray(weight)
    if weight.ndim == 2:
        weight = weight[None, None]
    if weight.ndim != 4:
        raise ValueError("conv_matrix: weight must have shape (kh, kw) or "
                         f"(C_out, C_in, kh, kw), got shape {weight.shape}")
    return weight


def _check_geometry(weight_shape, input_hw, stride, padding):
    if len(weight_shape) != 4 or min(weight_shape) < 1:
        raise ValueError("kernel_index_matrix: weight_shape must be four positive sizes "
                         f"(C_out, C_in, kh, kw), got {tuple(weight_shape)}")
    if len(input_hw) != 2 or min(input_hw) < 1:
        raise ValueError(f"input_hw must be two positive sizes (H, W), got {tuple(input_hw)}")
    if int(stride) != stride or stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride!r}")
    if int(padding) != padding or padding < 0:
        raise ValueError(f"padding must be a non-negative integer, got {padding!r}")


def output_hw(weight_shape, input_hw, stride=1, padding=0):
    """Spatial size ``(H_out, W_out)`` of the convolution's output."""
    _check_geometry(weight_shape, input_hw, stride, padding)
    kh, kw = weight_shape[2:]
    return (conv_output_size(input_hw[0], kh, stride, padding),
            conv_output_size(input_hw[1], kw, stride, padding))


def kernel_index_matrix(weight_shape, input_hw, stride=1, padding=0):
    """Which kernel weight sits in each entry of the convolution's matrix.

    Returns an integer array of shape ``(C_out*H_out*W_out, C_in*H*W)``: the
    entry in row ``(o, i, j)`` and column ``(c, y, x)`` is the flat index into
    the weight array of the kernel tap that connects input pixel ``(c, y, x)``
    to output unit ``(o, i, j)``, or :data:`STRUCTURAL_ZERO` where the two are
    not connected.  The pattern depends only on the geometry, not on the
    values of the weights, which is exactly what parameter sharing means.
    """
    c_out, c_in, kh, kw = weight_shape
    h, w = input_hw
    h_out, w_out = output_hw(weight_shape, input_hw, stride, padding)
    o, i, j, c, dy, dx = np.meshgrid(np.arange(c_out), np.arange(h_out), np.arange(w_out),
                                     np.arange(c_in), np.arange(kh), np.arange(kw),
                                     indexing="ij")
    # The tap (dy, dx) of output (i, j) reads input pixel (y, x) of the unpadded
    # image; taps that land in the zero padding connect to nothing.
    y = i * stride - padding + dy
    x = j * stride - padding + dx
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    tap = np.ravel_multi_index((o, c, dy, dx), (c_out, c_in, kh, kw))
    index = np.full((c_out, h_out, w_out, c_in, h, w), STRUCTURAL_ZERO, dtype=np.int64)
    index[o[inside], i[inside], j[inside], c[inside], y[inside], x[inside]] = tap[inside]
    return index.reshape(c_out * h_out * w_out, c_in * h * w)


def conv_matrix(weight, input_hw, stride=1, padding=0):
    """The dense matrix ``M`` with ``M @ x.ravel() == conv2d(x, weight).ravel()``.

    ``weight`` is a numpy array or torch tensor of shape ``(C_out, C_in, kh, kw)``
    (or ``(kh, kw)`` for a single channel); ``x`` is one image ``(C_in, H, W)``
    with ``(H, W) = input_hw``.  The result has the dtype of ``weight``.
    """
    weight = _as_weight_array(weight)
    index = kernel_index_matrix(weight.shape, input_hw, stride, padding)
    values = weight.ravel()[np.where(index == STRUCTURAL_ZERO, 0, index)]
    return np.where(index == STRUCTURAL_ZERO, np.zeros((), weight.dtype), values)


def toeplitz_blocks(matrix, out_hw, in_hw):
    """View a single-channel convolution matrix as a grid of blocks.

    Returns an array of shape ``(H_out, H, W_out, W)`` whose ``[a, b]`` slice is
    the ``W_out x W`` block that maps input row ``b`` to output row ``a``.
    """
    (h_out, w_out), (h, w) = out_hw, in_hw
    matrix = np.asarray(matrix)
    if matrix.shape != (h_out * w_out, h * w):
        raise ValueError(f"toeplitz_blocks: expected a single-channel matrix of shape "
                         f"({h_out * w_out}, {h * w}) for output {tuple(out_hw)} and input "
                         f"{tuple(in_hw)}, got {matrix.shape}")
    return matrix.reshape(h_out, w_out, h, w).transpose(0, 2, 1, 3)


def is_doubly_block_toeplitz(matrix, out_hw, in_hw):
    """True if the blocks are constant along diagonals and each block is Toeplitz.

    A matrix is Toeplitz when every entry equals its lower-right neighbour.
    "Doubly block-Toeplitz" applies that rule twice: to the grid of blocks
    (block ``[a, b]`` depends only on ``b - a``) and inside every block.  A
    stride-1 convolution has this structure; a strided one does not.
    """
    blocks = toeplitz_blocks(matrix, out_hw, in_hw)
    outer = np.array_equal(blocks[:-1, :-1], blocks[1:, 1:])
    inner = np.array_equal(blocks[:, :, :-1, :-1], blocks[:, :, 1:, 1:])
    return bool(outer and inner)
