"""A class with known answers for the similarity report: who wrote alone, and who copied whom.

The four numpy functions of ``convolution.ipynb`` and ``max_pooling.ipynb``, each written six
independent ways (:data:`INDEPENDENT`), then copied six ways (:data:`COPIES`):

* ``instructor``: the instructor solution (``solutions/``);
* ``second``: the course's second implementation (``tests/corpus.py``; whole functions, no docstring);
* ``einsum``: ``sliding_window_view`` and ``np.einsum``, ``np.add.at`` for pooling's gradient;
* ``im2col``: a patch matrix built by helper functions, then matrix products;
* ``scalar``: every sum and every maximum written out, seven loops deep;
* ``shifts``: one loop over the kernel's offsets, each adding a strided shifted image.

Written for this test, each in the scaffold the release gives (the student types into the answer
cell), except ``second``, whose cells are whole functions.  The copies, each of one source:

* ``renamed`` (of instructor): every local name changed;
* ``reordered`` (of second): independent statements in another order;
* ``recommented`` (of scalar): comments and blank lines, spacing, wrapping and quotes changed;
* ``split`` (of instructor): pieces moved into helper functions;
* ``merged`` (of im2col): the helper functions inlined;
* ``disguised`` (of shifts): all of the above at once.

Students of the same source are a copied pair; every other pair is independent.  The other parts of
the assignment are left as released, so that their scaffolding (taken out before comparing) is all
that the students share there.
"""
from pathlib import Path

import corpus
from autograder.nbgrader_io import cells

FOUR = ("conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive")
RELEASE = corpus.REPO / "exercises" / "numpy_cnn"
PLACEHOLDER = "    # YOUR CODE HERE\n    raise NotImplementedError()\n"


def release_cells():
    """``{part: source}`` of the release's answer cells."""
    found = {}
    for path in sorted(RELEASE.glob("*.ipynb")):
        found.update({gid: cells.cell_source(cell) for gid, cell in cells.answer_cells(cells.read_notebook(path)).items()})
    return found


def filled(part, body, before=""):
    """The release's answer cell of ``part`` with the placeholder replaced by ``body`` (indented
    already), and ``before`` (helpers, imports) above the function."""
    cell = release_cells()[part]
    assert PLACEHOLDER in cell, part
    return before + cell.replace(PLACEHOLDER, body)


# --- einsum and window views ----------------------------------------------------------------------
EINSUM = {
    "conv_forward_naive": filled("conv_forward_naive", '''\
    s, p = conv_param['stride'], conv_param['pad']
    kh, kw = w.shape[2:]
    padded = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], mode='constant')
    # every kh x kw window of every channel, then only every s-th one
    views = sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::s, ::s]
    out = np.einsum('nchwij,fcij->nfhw', views, w, optimize=True)
    out = (out + b[None, :, None, None]).astype(x.dtype)
''', "from numpy.lib.stride_tricks import sliding_window_view\n\n\n"),
    "conv_backward_naive": filled("conv_backward_naive", '''\
    s, p = conv_param['stride'], conv_param['pad']
    kh, kw = w.shape[2:]
    padded = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], mode='constant')
    views = sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::s, ::s]
    oh, ow = dout.shape[2:]
    db = dout.sum(axis=(0, 2, 3)).astype(b.dtype)
    dw = np.einsum('nfhw,nchwij->fcij', dout, views, optimize=True).astype(w.dtype)
    spread = np.einsum('nfhw,fcij->ncijhw', dout, w, optimize=True)
    dpadded = np.zeros_like(padded)
    for i in range(kh):
        for j in range(kw):
            dpadded[:, :, i:i + s * oh:s, j:j + s * ow:s] += spread[:, :, i, j]
    dx = dpadded[:, :, p:padded.shape[2] - p, p:padded.shape[3] - p]
'''),
    "max_pool_forward_naive": filled("max_pool_forward_naive", '''\
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    tiles = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s]
    out = tiles.max(axis=(-2, -1))
''', "from numpy.lib.stride_tricks import sliding_window_view\n\n\n"),
    "max_pool_backward_naive": filled("max_pool_backward_naive", '''\
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    tiles = sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s]
    n_, c_, oh, ow = tiles.shape[:4]
    best = tiles.reshape(n_, c_, oh, ow, ph * pw).argmax(axis=-1)
    rows = np.arange(oh)[:, None] * s + best // pw
    cols = np.arange(ow)[None, :] * s + best % pw
    dx = np.zeros_like(x)
    nn, cc = np.meshgrid(np.arange(n_), np.arange(c_), indexing='ij')
    np.add.at(dx, (nn[:, :, None, None], cc[:, :, None, None], rows, cols), dout)
'''),
}

# --- im2col: helpers build a patch matrix -------------------------------------------------------------
IM2COL_HELPER = '''\
def _im2col(images, fh, fw, stride):
    """Rows of the (N * OH * OW, C * fh * fw) patch matrix, one per window."""
    n_img, n_ch, height, width = images.shape
    oh = (height - fh) // stride + 1
    ow = (width - fw) // stride + 1
    cols = np.empty((n_img, oh, ow, n_ch * fh * fw), dtype=images.dtype)
    for r in range(oh):
        for c in range(ow):
            patch = images[:, :, r * stride:r * stride + fh, c * stride:c * stride + fw]
            cols[:, r, c, :] = patch.reshape(n_img, -1)
    return cols.reshape(n_img * oh * ow, -1), oh, ow


'''
COL2IM_HELPER = '''\
def _col2im(dcols, shape, fh, fw, stride, oh, ow):
    """Adds each row of dcols back onto the window it came from."""
    n_img, n_ch = shape[:2]
    grads = np.zeros(shape, dtype=dcols.dtype)
    dcols = dcols.reshape(n_img, oh, ow, n_ch, fh, fw)
    for r in range(oh):
        for c in range(ow):
            grads[:, :, r * stride:r * stride + fh, c * stride:c * stride + fw] += dcols[:, r, c]
    return grads


'''
POOL_COLS_HELPER = '''\
def _pool_cols(planes, ph, pw, stride):
    """Each pooling window of each plane as one row of a matrix."""
    count, height, width = planes.shape
    oh, ow = (height - ph) // stride + 1, (width - pw) // stride + 1
    rows = []
    for r in range(oh):
        for c in range(ow):
            rows.append(planes[:, r * stride:r * stride + ph, c * stride:c * stride + pw].reshape(count, -1))
    return np.stack(rows, axis=1), oh, ow      # (count, oh * ow, ph * pw)


'''
IM2COL = {
    "conv_forward_naive": filled("conv_forward_naive", '''\
    stride, pad = conv_param['stride'], conv_param['pad']
    n_filt, _, fh, fw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols, oh, ow = _im2col(xp, fh, fw, stride)
    res = cols @ w.reshape(n_filt, -1).T + b
    out = res.reshape(x.shape[0], oh, ow, n_filt).transpose(0, 3, 1, 2).astype(x.dtype)
''', IM2COL_HELPER),
    "conv_backward_naive": filled("conv_backward_naive", '''\
    stride, pad = conv_param['stride'], conv_param['pad']
    n_filt, _, fh, fw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols, oh, ow = _im2col(xp, fh, fw, stride)
    dres = dout.transpose(0, 2, 3, 1).reshape(-1, n_filt)      # rows in the order of cols
    db = dres.sum(axis=0)
    dw = (dres.T @ cols).reshape(w.shape)
    dxp = _col2im(dres @ w.reshape(n_filt, -1), xp.shape, fh, fw, stride, oh, ow)
    dx = dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
''', COL2IM_HELPER),
    "max_pool_forward_naive": filled("max_pool_forward_naive", '''\
    ph, pw = pool_param['pool_height'], pool_param['pool_width']
    stride = pool_param['stride']
    n_img, n_ch, height, width = x.shape
    cols, oh, ow = _pool_cols(x.reshape(-1, height, width), ph, pw, stride)
    out = cols.max(axis=2).reshape(n_img, n_ch, oh, ow)
''', POOL_COLS_HELPER),
    "max_pool_backward_naive": filled("max_pool_backward_naive", '''\
    ph, pw = pool_param['pool_height'], pool_param['pool_width']
    stride = pool_param['stride']
    n_img, n_ch, height, width = x.shape
    cols, oh, ow = _pool_cols(x.reshape(-1, height, width), ph, pw, stride)
    winners = cols.argmax(axis=2)                          # (count, oh * ow)
    grads = dout.reshape(n_img * n_ch, oh * ow)
    dplanes = np.zeros((n_img * n_ch, height, width), dtype=x.dtype)
    for k in range(oh * ow):
        r, c = divmod(k, ow)
        dr, dc = np.divmod(winners[:, k], pw)
        dplanes[np.arange(n_img * n_ch), r * stride + dr, c * stride + dc] += grads[:, k]
    dx = dplanes.reshape(x.shape)
'''),
}

# --- scalar: every product and comparison written out -------------------------------------------------
SCALAR = {
    "conv_forward_naive": filled("conv_forward_naive", '''\
    S = conv_param['stride']
    P = conv_param['pad']
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    Hp, Wp = H + 2 * P, W + 2 * P
    padded = np.zeros((N, C, Hp, Wp), dtype=x.dtype)
    padded[:, :, P:P + H, P:P + W] = x
    OH = (Hp - KH) // S + 1
    OW = (Wp - KW) // S + 1
    out = np.zeros((N, F, OH, OW), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for oy in range(OH):
                for ox in range(OW):
                    total = b[f]
                    for c in range(C):
                        for ky in range(KH):
                            for kx in range(KW):
                                total += padded[n, c, oy * S + ky, ox * S + kx] * w[f, c, ky, kx]
                    out[n, f, oy, ox] = total
'''),
    "conv_backward_naive": filled("conv_backward_naive", '''\
    S = conv_param['stride']
    P = conv_param['pad']
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = dout.shape[2], dout.shape[3]
    padded = np.zeros((N, C, H + 2 * P, W + 2 * P), dtype=x.dtype)
    padded[:, :, P:P + H, P:P + W] = x
    dpadded = np.zeros_like(padded)
    dw = np.zeros_like(w)
    db = np.zeros_like(b)
    for n in range(N):
        for f in range(F):
            for oy in range(OH):
                for ox in range(OW):
                    g = dout[n, f, oy, ox]
                    db[f] += g
                    for c in range(C):
                        for ky in range(KH):
                            for kx in range(KW):
                                dw[f, c, ky, kx] += g * padded[n, c, oy * S + ky, ox * S + kx]
                                dpadded[n, c, oy * S + ky, ox * S + kx] += g * w[f, c, ky, kx]
    dx = dpadded[:, :, P:P + H, P:P + W]
'''),
    "max_pool_forward_naive": filled("max_pool_forward_naive", '''\
    PH = pool_param['pool_height']
    PW = pool_param['pool_width']
    S = pool_param['stride']
    N, C, H, W = x.shape
    OH = (H - PH) // S + 1
    OW = (W - PW) // S + 1
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    best = -np.inf
                    for ky in range(PH):
                        for kx in range(PW):
                            v = x[n, c, oy * S + ky, ox * S + kx]
                            if v > best:
                                best = v
                    out[n, c, oy, ox] = best
'''),
    "max_pool_backward_naive": filled("max_pool_backward_naive", '''\
    PH = pool_param['pool_height']
    PW = pool_param['pool_width']
    S = pool_param['stride']
    N, C, OH, OW = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    best, by, bx = -np.inf, 0, 0
                    for ky in range(PH):
                        for kx in range(PW):
                            v = x[n, c, oy * S + ky, ox * S + kx]
                            if v > best:
                                best, by, bx = v, ky, kx
                    dx[n, c, oy * S + by, ox * S + bx] += dout[n, c, oy, ox]
'''),
}

# --- shifts: one loop over the kernel's offsets ----------------------------------------------------------
SHIFTS = {
    "conv_forward_naive": filled("conv_forward_naive", '''\
    stride, pad = conv_param['stride'], conv_param['pad']
    n_filters, _, k_h, k_w = w.shape
    x_padded = np.pad(x, pad_width=[(0, 0), (0, 0), (pad, pad), (pad, pad)], mode='constant', constant_values=0)
    out_h = (x_padded.shape[2] - k_h) // stride + 1
    out_w = (x_padded.shape[3] - k_w) // stride + 1
    acc = np.zeros((x.shape[0], n_filters, out_h, out_w))
    for u in range(k_h):
        for v in range(k_w):
            shifted = x_padded[:, :, u:u + stride * out_h:stride, v:v + stride * out_w:stride]
            acc += np.moveaxis(np.tensordot(shifted, w[:, :, u, v], axes=([1], [1])), -1, 1)
    out = (acc + b.reshape(1, -1, 1, 1)).astype(x.dtype)
'''),
    "conv_backward_naive": filled("conv_backward_naive", '''\
    stride, pad = conv_param['stride'], conv_param['pad']
    n_filters, _, k_h, k_w = w.shape
    x_padded = np.pad(x, pad_width=[(0, 0), (0, 0), (pad, pad), (pad, pad)], mode='constant', constant_values=0)
    out_h, out_w = dout.shape[2], dout.shape[3]
    db = dout.sum(axis=(0, 2, 3))
    dw = np.zeros_like(w)
    dx_padded = np.zeros_like(x_padded)
    for u in range(k_h):
        for v in range(k_w):
            rows = slice(u, u + stride * out_h, stride)
            cols = slice(v, v + stride * out_w, stride)
            dw[:, :, u, v] = np.tensordot(dout, x_padded[:, :, rows, cols], axes=([0, 2, 3], [0, 2, 3]))
            dx_padded[:, :, rows, cols] += np.moveaxis(np.tensordot(dout, w[:, :, u, v], axes=([1], [0])), -1, 1)
    dx = dx_padded[:, :, pad:x_padded.shape[2] - pad, pad:x_padded.shape[3] - pad]
'''),
    "max_pool_forward_naive": filled("max_pool_forward_naive", '''\
    ph, pw, stride = (pool_param[key] for key in ('pool_height', 'pool_width', 'stride'))
    out_h = (x.shape[2] - ph) // stride + 1
    out_w = (x.shape[3] - pw) // stride + 1
    out = np.full((*x.shape[:2], out_h, out_w), -np.inf, dtype=x.dtype)
    for u in range(ph):
        for v in range(pw):
            np.maximum(out, x[:, :, u:u + stride * out_h:stride, v:v + stride * out_w:stride], out=out)
'''),
    "max_pool_backward_naive": filled("max_pool_backward_naive", '''\
    ph, pw, stride = (pool_param[key] for key in ('pool_height', 'pool_width', 'stride'))
    out_h, out_w = dout.shape[2], dout.shape[3]
    best = max_pool_forward_naive(x, pool_param)[0]
    dx = np.zeros_like(x)
    unclaimed = np.ones(dout.shape, dtype=bool)     # the first maximum of a window takes the gradient
    for u in range(ph):
        for v in range(pw):
            rows = slice(u, u + stride * out_h, stride)
            cols = slice(v, v + stride * out_w, stride)
            hit = unclaimed & (x[:, :, rows, cols] == best)
            dx[:, :, rows, cols] += np.where(hit, dout, 0)
            unclaimed &= ~hit
'''),
}


# --- the copies ----------------------------------------------------------------------------------------
SOLUTIONS = corpus.solution_answers(corpus.REPO / "solutions" / "numpy_cnn")


def rename_own_lines(part, source, names):
    """``source`` with the identifiers in ``names`` renamed on the lines the student wrote (the
    release's lines keep their names, as they do in a student's copy)."""
    import re
    provided = {line.strip() for line in release_cells()[part].splitlines() if line.strip()}
    # A name between quotes is a dictionary key (conv_param['stride']), one after a dot an attribute
    # (np.pad): the copier keeps those.
    pattern = re.compile(r"(?<!['\".])\b(" + "|".join(map(re.escape, names)) + r")\b(?!['\"])")
    return "\n".join(line if line.strip() in provided else pattern.sub(lambda m: names[m.group(1)], line)
                     for line in source.splitlines()) + "\n"


RENAMES = {"stride": "step", "pad": "margin", "N": "n_img", "C": "n_ch", "H": "rows", "W": "cols",
           "F": "n_filt", "HH": "k_rows", "WW": "k_cols", "H_out": "out_rows", "W_out": "out_cols",
           "x_pad": "framed", "dx_pad": "dframed", "n": "img", "f": "filt", "i": "r", "j": "s",
           "top": "y0", "left": "x0", "window": "region", "grad": "upstream", "PH": "tile_h",
           "PW": "tile_w", "c": "ch", "p": "dy", "q": "dx_"}
RENAMED = {part: rename_own_lines(part, SOLUTIONS[part], RENAMES) for part in FOUR}

REORDERED = {
    "conv_forward_naive": '''
import numpy as np

def conv_forward_naive(x, w, b, conv_param):
    F, _, HH, WW = w.shape
    N, C, H, W = x.shape
    stride, pad = conv_param['stride'], conv_param['pad']
    W_out = 1 + (W + 2 * pad - WW) // stride
    H_out = 1 + (H + 2 * pad - HH) // stride
    out = np.zeros((N, F, H_out, W_out), dtype=x.dtype)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    for i in range(H_out):
        for j in range(W_out):
            window = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)
''',
    "conv_backward_naive": '''
import numpy as np

def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    _, _, H_out, W_out = dout.shape
    F, _, HH, WW = w.shape
    N, C, H, W = x.shape
    stride, pad = conv_param['stride'], conv_param['pad']
    db = dout.sum(axis=(0, 2, 3))
    dw = np.zeros_like(w)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    for i in range(H_out):
        for j in range(W_out):
            cols = slice(j * stride, j * stride + WW)
            rows = slice(i * stride, i * stride + HH)
            dxp[:, :, rows, cols] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
            dw += np.tensordot(dout[:, :, i, j], xp[:, :, rows, cols], axes=([0], [0]))
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db
''',
    "max_pool_forward_naive": '''
import numpy as np

def max_pool_forward_naive(x, pool_param):
    N, C, H, W = x.shape
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    W_out = 1 + (W - pw) // s
    H_out = 1 + (H - ph) // s
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)
''',
    "max_pool_backward_naive": '''
import numpy as np

def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
                    r, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * s + r, j * s + q] += dout[n, c, i, j]
    return dx
''',
}

RECOMMENTED = {
    "conv_forward_naive": filled("conv_forward_naive", '''\

    # read the hyper-parameters
    S = conv_param["stride"];  P = conv_param["pad"]
    N, C, H, W = x.shape     # input dims
    F, _, KH, KW = w.shape   # filter dims

    Hp, Wp = H+2*P, W+2*P
    padded = np.zeros((N, C, Hp, Wp),
                      dtype=x.dtype)
    padded[:, :, P:P+H, P:P+W] = x   # zero border around x
    OH = (Hp-KH)//S + 1
    OW = (Wp-KW)//S + 1

    out = np.zeros((N, F, OH, OW), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for oy in range(OH):
                for ox in range(OW):
                    # dot product of filter f with the window at (oy, ox)
                    total = b[f]
                    for c in range(C):
                        for ky in range(KH):
                            for kx in range(KW):
                                total += (padded[n, c, oy*S+ky, ox*S+kx]
                                          * w[f, c, ky, kx])
                    out[n, f, oy, ox] = total

'''),
    "conv_backward_naive": filled("conv_backward_naive", '''\
    S = conv_param["stride"];  P = conv_param["pad"]
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = dout.shape[2], dout.shape[3]

    # padded copy of the input, as in the forward pass
    padded = np.zeros((N, C, H+2*P, W+2*P), dtype=x.dtype)
    padded[:, :, P:P+H, P:P+W] = x
    dpadded = np.zeros_like(padded)
    dw = np.zeros_like(w); db = np.zeros_like(b)

    for n in range(N):
        for f in range(F):
            for oy in range(OH):
                for ox in range(OW):
                    g = dout[n, f, oy, ox]   # upstream gradient of this output
                    db[f] += g
                    for c in range(C):
                        for ky in range(KH):
                            for kx in range(KW):
                                dw[f, c, ky, kx] += g*padded[n, c, oy*S+ky, ox*S+kx]
                                dpadded[n, c, oy*S+ky, ox*S+kx] += g*w[f, c, ky, kx]
    dx = dpadded[:, :, P:P+H, P:P+W]   # drop the border
'''),
    "max_pool_forward_naive": filled("max_pool_forward_naive", '''\
    PH = pool_param["pool_height"]
    PW = pool_param["pool_width"]
    S = pool_param["stride"]

    N, C, H, W = x.shape
    OH = (H-PH)//S + 1;  OW = (W-PW)//S + 1
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    best = -np.inf   # running maximum
                    for ky in range(PH):
                        for kx in range(PW):
                            v = x[n, c, oy*S+ky, ox*S+kx]
                            if v > best: best = v
                    out[n, c, oy, ox] = best
'''),
    "max_pool_backward_naive": filled("max_pool_backward_naive", '''\
    PH = pool_param["pool_height"]
    PW = pool_param["pool_width"]
    S = pool_param["stride"]
    N, C, OH, OW = dout.shape

    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    # find where the maximum was
                    best, by, bx = -np.inf, 0, 0
                    for ky in range(PH):
                        for kx in range(PW):
                            v = x[n, c, oy*S+ky, ox*S+kx]
                            if v > best:
                                best, by, bx = v, ky, kx
                    # only that input gets the gradient
                    dx[n, c, oy*S+by, ox*S+bx] += dout[n, c, oy, ox]
'''),
}

SPLIT_HELPERS = {
    "conv_forward_naive": '''\
def out_size(size, kernel, pad, stride):
    return 1 + (size + 2 * pad - kernel) // stride


def conv_window(x_pad, n, i, j, stride, HH, WW):
    top, left = i * stride, j * stride
    return x_pad[n, :, top:top + HH, left:left + WW]


''',
    "conv_backward_naive": '''\
def window_slices(i, j, stride, HH, WW):
    top, left = i * stride, j * stride
    return slice(top, top + HH), slice(left, left + WW)


''',
    "max_pool_forward_naive": '''\
def pool_window(x, n, c, i, j, stride, PH, PW):
    top, left = i * stride, j * stride
    return x[n, c, top:top + PH, left:left + PW]


''',
    "max_pool_backward_naive": "",
}
SPLIT = {
    "conv_forward_naive": filled("conv_forward_naive", '''\
    stride, pad = conv_param['stride'], conv_param['pad']
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = out_size(H, HH, pad, stride)
    W_out = out_size(W, WW, pad, stride)
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = conv_window(x_pad, n, i, j, stride, HH, WW)
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
''', SPLIT_HELPERS["conv_forward_naive"]),
    "conv_backward_naive": filled("conv_backward_naive", '''\
    stride, pad = conv_param['stride'], conv_param['pad']
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = np.zeros_like(b)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    rows, cols = window_slices(i, j, stride, HH, WW)
                    grad = dout[n, f, i, j]
                    dw[f] += grad * x_pad[n, :, rows, cols]
                    dx_pad[n, :, rows, cols] += grad * w[f]
                    db[f] += grad
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
''', SPLIT_HELPERS["conv_backward_naive"]),
    "max_pool_forward_naive": filled("max_pool_forward_naive", '''\
    PH, PW = pool_param['pool_height'], pool_param['pool_width']
    stride = pool_param['stride']
    N, C, H, W = x.shape
    H_out = 1 + (H - PH) // stride
    W_out = 1 + (W - PW) // stride
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, c, i, j] = np.max(pool_window(x, n, c, i, j, stride, PH, PW))
''', SPLIT_HELPERS["max_pool_forward_naive"]),
    "max_pool_backward_naive": filled("max_pool_backward_naive", '''\
    PH, PW = pool_param['pool_height'], pool_param['pool_width']
    stride = pool_param['stride']
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = pool_window(x, n, c, i, j, stride, PH, PW)
                    # np.argmax picks the first maximum in row-major
                    # order, as PyTorch does on ties.
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    # += because overlapping windows can share their maximum.
                    dx[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
'''),
}

MERGED = {
    "conv_forward_naive": filled("conv_forward_naive", '''\
    stride, pad = conv_param['stride'], conv_param['pad']
    n_filt, _, fh, fw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n_img, n_ch, height, width = xp.shape
    oh = (height - fh) // stride + 1
    ow = (width - fw) // stride + 1
    cols = np.empty((n_img, oh, ow, n_ch * fh * fw), dtype=xp.dtype)
    for r in range(oh):
        for c in range(ow):
            patch = xp[:, :, r * stride:r * stride + fh, c * stride:c * stride + fw]
            cols[:, r, c, :] = patch.reshape(n_img, -1)
    cols = cols.reshape(n_img * oh * ow, -1)
    res = cols @ w.reshape(n_filt, -1).T + b
    out = res.reshape(x.shape[0], oh, ow, n_filt).transpose(0, 3, 1, 2).astype(x.dtype)
'''),
    "conv_backward_naive": filled("conv_backward_naive", '''\
    stride, pad = conv_param['stride'], conv_param['pad']
    n_filt, _, fh, fw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n_img, n_ch, height, width = xp.shape
    oh = (height - fh) // stride + 1
    ow = (width - fw) // stride + 1
    cols = np.empty((n_img, oh, ow, n_ch * fh * fw), dtype=xp.dtype)
    for r in range(oh):
        for c in range(ow):
            patch = xp[:, :, r * stride:r * stride + fh, c * stride:c * stride + fw]
            cols[:, r, c, :] = patch.reshape(n_img, -1)
    cols = cols.reshape(n_img * oh * ow, -1)
    dres = dout.transpose(0, 2, 3, 1).reshape(-1, n_filt)      # rows in the order of cols
    db = dres.sum(axis=0)
    dw = (dres.T @ cols).reshape(w.shape)
    dcols = (dres @ w.reshape(n_filt, -1)).reshape(n_img, oh, ow, n_ch, fh, fw)
    dxp = np.zeros(xp.shape, dtype=dcols.dtype)
    for r in range(oh):
        for c in range(ow):
            dxp[:, :, r * stride:r * stride + fh, c * stride:c * stride + fw] += dcols[:, r, c]
    dx = dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
'''),
    "max_pool_forward_naive": filled("max_pool_forward_naive", '''\
    ph, pw = pool_param['pool_height'], pool_param['pool_width']
    stride = pool_param['stride']
    n_img, n_ch, height, width = x.shape
    planes = x.reshape(-1, height, width)
    count = planes.shape[0]
    oh, ow = (height - ph) // stride + 1, (width - pw) // stride + 1
    rows = []
    for r in range(oh):
        for c in range(ow):
            rows.append(planes[:, r * stride:r * stride + ph, c * stride:c * stride + pw].reshape(count, -1))
    cols = np.stack(rows, axis=1)      # (count, oh * ow, ph * pw)
    out = cols.max(axis=2).reshape(n_img, n_ch, oh, ow)
'''),
    "max_pool_backward_naive": filled("max_pool_backward_naive", '''\
    ph, pw = pool_param['pool_height'], pool_param['pool_width']
    stride = pool_param['stride']
    n_img, n_ch, height, width = x.shape
    planes = x.reshape(-1, height, width)
    count = planes.shape[0]
    oh, ow = (height - ph) // stride + 1, (width - pw) // stride + 1
    rows = []
    for r in range(oh):
        for c in range(ow):
            rows.append(planes[:, r * stride:r * stride + ph, c * stride:c * stride + pw].reshape(count, -1))
    cols = np.stack(rows, axis=1)
    winners = cols.argmax(axis=2)                          # (count, oh * ow)
    grads = dout.reshape(n_img * n_ch, oh * ow)
    dplanes = np.zeros((n_img * n_ch, height, width), dtype=x.dtype)
    for k in range(oh * ow):
        r, c = divmod(k, ow)
        dr, dc = np.divmod(winners[:, k], pw)
        dplanes[np.arange(n_img * n_ch), r * stride + dr, c * stride + dc] += grads[:, k]
    dx = dplanes.reshape(x.shape)
'''),
}

DISGUISED = {
    "conv_forward_naive": filled("conv_forward_naive", '''\
    n_out, _, fy, fx = w.shape
    step, border = conv_param["stride"], conv_param["pad"]
    # zero frame around the images
    framed = np.pad(x, pad_width=[(0, 0), (0, 0), (border, border), (border, border)],
                    mode="constant", constant_values=0)
    ow = (framed.shape[3] - fx) // step + 1
    oh = (framed.shape[2] - fy) // step + 1
    total = np.zeros((x.shape[0], n_out, oh, ow))
    for dy in range(fy):
        for dx_ in range(fx):
            total += shifted_product(framed, w, dy, dx_, step, oh, ow)
    out = (total + b.reshape(1, -1, 1, 1)).astype(x.dtype)
''', '''\
def shifted_product(framed, w, dy, dx_, step, oh, ow):
    """The filters' (dy, dx_) tap applied to the shifted image."""
    moved = framed[:, :, dy:dy + step * oh:step, dx_:dx_ + step * ow:step]
    return np.moveaxis(np.tensordot(moved, w[:, :, dy, dx_], axes=([1], [1])), -1, 1)


'''),
    "conv_backward_naive": filled("conv_backward_naive", '''\
    n_out, _, fy, fx = w.shape
    step, border = conv_param["stride"], conv_param["pad"]
    oh, ow = dout.shape[2], dout.shape[3]
    framed = np.pad(x, pad_width=[(0, 0), (0, 0), (border, border), (border, border)],
                    mode="constant", constant_values=0)
    dw = np.zeros_like(w)
    dframed = np.zeros_like(framed)
    db = dout.sum(axis=(0, 2, 3))     # bias: sum over everything but the filter
    for dy in range(fy):
        for dx_ in range(fx):
            ys = slice(dy, dy + step * oh, step)
            xs = slice(dx_, dx_ + step * ow, step)
            dframed[:, :, ys, xs] += np.moveaxis(np.tensordot(dout, w[:, :, dy, dx_], axes=([1], [0])), -1, 1)
            dw[:, :, dy, dx_] = np.tensordot(dout, framed[:, :, ys, xs], axes=([0, 2, 3], [0, 2, 3]))
    dx = dframed[:, :, border:framed.shape[2] - border, border:framed.shape[3] - border]
'''),
    "max_pool_forward_naive": filled("max_pool_forward_naive", '''\
    fy, fx, step = (pool_param[name] for name in ("pool_height", "pool_width", "stride"))
    ow = (x.shape[3] - fx) // step + 1
    oh = (x.shape[2] - fy) // step + 1
    out = np.full((*x.shape[:2], oh, ow), -np.inf, dtype=x.dtype)
    # running maximum over the window's taps
    for dy in range(fy):
        for dx_ in range(fx):
            np.maximum(out, x[:, :, dy:dy + step * oh:step, dx_:dx_ + step * ow:step], out=out)
'''),
    "max_pool_backward_naive": filled("max_pool_backward_naive", '''\
    fy, fx, step = (pool_param[name] for name in ("pool_height", "pool_width", "stride"))
    oh, ow = dout.shape[2], dout.shape[3]
    dx = np.zeros_like(x)
    top = max_pool_forward_naive(x, pool_param)[0]
    free = np.ones(dout.shape, dtype=bool)
    for dy in range(fy):
        for dx_ in range(fx):
            ys = slice(dy, dy + step * oh, step)
            xs = slice(dx_, dx_ + step * ow, step)
            won = free & (x[:, :, ys, xs] == top)
            dx[:, :, ys, xs] += np.where(won, dout, 0)
            free &= ~won
'''),
}

INDEPENDENT = {
    "instructor": {part: SOLUTIONS[part] for part in FOUR},
    "second": {part: corpus.SECOND_IMPLEMENTATIONS[part] for part in FOUR},
    "einsum": EINSUM,
    "im2col": IM2COL,
    "scalar": SCALAR,
    "shifts": SHIFTS,
}
COPIES = {
    "renamed": ("instructor", RENAMED),
    "reordered": ("second", REORDERED),
    "recommented": ("scalar", RECOMMENTED),
    "split": ("instructor", SPLIT),
    "merged": ("im2col", MERGED),
    "disguised": ("shifts", DISGUISED),
}


def students():
    """``{student: {part: source}}`` of the whole class."""
    return {**INDEPENDENT, **{name: answers for name, (_, answers) in COPIES.items()}}


def source_of(student):
    """Whose work ``student``'s is: itself, or the student it copied."""
    return COPIES[student][0] if student in COPIES else student


def is_copied_pair(a, b):
    return source_of(a) == source_of(b)


def write_class(course, assignment="numpy_cnn"):
    """Write every student of :func:`students` into ``course``'s ``submitted/``; their names."""
    for student, answers in students().items():
        corpus.write_submission(course, student, assignment, answers)
    return sorted(students())


def make_class_course(base):
    """A throw-away course (``corpus.make_course``) holding the class of :func:`students`."""
    course = corpus.make_course(Path(base) / "course", corpus.REPO)
    write_class(course)
    return course


def run_similarity(course, *arguments):
    """``python -m autograder.similarity numpy_cnn *arguments`` in ``course``, in this process: its exit
    status, and the report folder's path."""
    import os
    from autograder.similarity import command
    here = os.getcwd()
    os.chdir(course)
    try:
        status = command.main(["numpy_cnn", *arguments])
    finally:
        os.chdir(here)
    return status, Path(course) / "autograded" / ".autograder" / "numpy_cnn" / "similarity"


def read_pairs(folder):
    """The rows of ``pairs.csv`` as dicts."""
    import csv
    with open(Path(folder) / "pairs.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
