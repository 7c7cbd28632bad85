"""The matrix products that apply a precomputed resampling plan (``keras.ops`` only).

See :mod:`keras_aliasfree.ops` for the algorithm; :func:`resample` and
:func:`filtered_activation_products` are what the public ops and the layers call.
"""

from __future__ import annotations

from keras import ops

def _axis_slice(rank, axis, start, stop):
    idx = [slice(None)] * rank
    idx[axis] = slice(start, stop)
    return tuple(idx)


def _windows(x, axis, p):
    """``x``'s ``axis`` (length ``p.n_in``) -> two axes ``(p.blocks, p.length)``: the plan's
    overlapping, zero-padded windows (a plain reshape for the dense plan)."""
    parts = _window_parts(x, axis, p)
    return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=axis + 1)


def _window_parts(x, axis, p):
    """The pieces that :func:`_windows` concatenates along ``axis + 1``: ``(.., blocks, <= step, ..)``."""
    shape = tuple(x.shape)
    rank = len(shape)
    before, after = (-1,) + shape[1:axis], shape[axis + 1:]
    if p.dense:
        return [ops.reshape(x, before + (1, p.n_in) + after)]
    right = p.length - p.step - p.left
    if 0 <= p.left and 0 <= right and p.left + right <= p.step:
        return _halo_parts(ops.reshape(x, before + (p.blocks, p.step) + after), axis, p.left,
                           right)
    pieces = -(-p.length // p.step)
    pad = [(0, 0)] * rank
    pad[axis] = (p.left, (p.blocks + pieces - 1) * p.step - p.left - p.n_in)
    xp = ops.pad(x, pad)
    parts = []
    for j in range(pieces):
        part = ops.reshape(xp[_axis_slice(rank, axis, j * p.step, (j + p.blocks) * p.step)],
                           before + (p.blocks, p.step) + after)
        keep = min(p.step, p.length - j * p.step)
        if keep < p.step:
            part = part[_axis_slice(rank + 1, axis + 1, 0, keep)]
        parts.append(part)
    return parts


def _two_products(x, p1, p2, r):
    """Resample the last two axes of ``x (..., n2, n1)``; returns them *swapped*: ``(..., m1, m2)``.

    ``p1`` is the plan of the last axis, ``p2`` of the other. Both axes are cut into the plans'
    windows (free for a dense plan), then
    1. along the last axis, all ``r`` separable terms at once:
       ``(.. nb2, L2, nb1, L1) @ (L1, r*o1)``;
    2. along the other axis, contracting its window and the term index together (which sums the
       terms): ``(.. nb1, o1, nb2, r*L2) @ (r*L2, o2)``.
    Two plain 2-D GEMMs: they run at full speed on every backend's CPU kernels (XLA's batched
    dot does not). The result comes out transposed; the callers arrange their inputs so that
    the large tensors (the upsampled ones) are never transposed.
    """
    lead = (-1,) + tuple(x.shape[1:-2])  # the batch may be unknown (None) when traced
    n2, n1 = x.shape[-2], x.shape[-1]
    x = ops.reshape(x, (-1, n2, n1))
    x = _windows(_windows(x, 1, p2), 3, p1)                            # (N, nb2, L2, nb1, L1)
    first = ops.convert_to_tensor(p1.first, dtype=x.dtype)
    second = ops.convert_to_tensor(p2.second, dtype=x.dtype)
    y = ops.matmul(ops.reshape(x, (-1, p1.length)), first)
    y = ops.reshape(y, (-1, p2.blocks, p2.length, p1.blocks, r, p1.out_block))
    y = ops.transpose(y, (0, 3, 5, 1, 4, 2))                           # (N, nb1, o1, nb2, r, L2)
    z = ops.matmul(ops.reshape(y, (-1, r * p2.length)), second)        # (.. nb2, o2)
    return ops.reshape(z, lead + (p1.n_out, p2.n_out))


def _halo_parts(blocks, axis, left, right):
    """``[previous block's last left rows, the block, next block's first right rows]`` along
    ``axis + 1`` of ``blocks (.., nb, step, ..)``, zeros past the ends.

    Built from splits and pads only: their gradients are concatenations and slices, where a
    sliced copy's gradient would fill a zero tensor of the whole input per slice (what made
    the banded path slow on PyTorch).
    """
    step = blocks.shape[axis + 1]
    nb = blocks.shape[axis]
    head, _, tail = ops.split(blocks, [right, step - left], axis=axis + 1)
    parts = []
    if left:
        pad = [(0, 0)] * len(blocks.shape)
        pad[axis] = (1, 0)
        parts.append(ops.split(ops.pad(tail, pad), [nb], axis=axis)[0])
    parts.append(blocks)
    if right:
        pad = [(0, 0)] * len(blocks.shape)
        pad[axis] = (0, 1)
        parts.append(ops.split(ops.pad(head, pad), [1], axis=axis)[1])
    return parts


def _banded_products(x, p1, p2, r):
    """Resample the last two axes of ``x (..., n2, n1)`` in place order: ``(..., m2, m1)``.

    The form for banded plans (a dense plan is one window). With ``N`` the leading axes:
    1. along the last axis, one GEMM per separable term: ``(N, n2, nb1, L1) @ (L1, o1)`` gives
       ``y_k (N, n2, m1)``;
    2. the other axis is cut into windows of every ``y_k`` at once (pieces that keep whole rows
       of ``m1``, so the copies are long contiguous runs), ``(N, nb2, r*L2, m1)``, and one GEMM with
       the shared block on the left, ``(o2, r*L2) @ (N*nb2, r*L2, m1)``, contracts the window and
       sums the terms.
    No tensor is transposed (the small-stride six-axis transpose the dense form would need per
    window is what made a first banded version slow).
    """
    lead = (-1,) + tuple(x.shape[1:-2])
    n2, n1 = x.shape[-2], x.shape[-1]
    x = ops.reshape(x, (-1, n2, n1))
    xw = ops.reshape(_windows(x, 2, p1), (-1, p1.length))                 # (N n2 nb1, L1)
    parts = []
    for w1 in p1.first_terms:  # constants of the cached plan: nothing is rebuilt per call
        y = ops.matmul(xw, ops.convert_to_tensor(w1, dtype=x.dtype))
        parts += _window_parts(ops.reshape(y, (-1, n2, p1.n_out)), 1, p2)  # (N, nb2, <=s2, m1)
    y = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=2)  # (N, nb2, r L2, m1)
    second_t = ops.convert_to_tensor(p2.second_left, dtype=x.dtype)
    z = ops.matmul(second_t, ops.reshape(y, (-1, r * p2.length, p1.n_out)))  # (N nb2, o2, m1)
    return ops.reshape(z, lead + (p2.n_out, p1.n_out))


def _swap_cf(x, data_format):
    """The layout <-> ``(b, c, w, h)``, with one transpose (it is its own inverse)."""
    return ops.transpose(x, (0, 3, 2, 1) if data_format == "channels_last" else (0, 1, 3, 2))


def _kron_product(x_cf, g):
    """``(b, c, h, w)`` -> ``(b, c, H, W)`` through the plan's one ``(h*w, H*W)`` matrix."""
    lead = (-1,) + tuple(x_cf.shape[1:-2])
    y = ops.matmul(ops.reshape(x_cf, (-1, g.h.n_in * g.w.n_in)),
                   ops.convert_to_tensor(g.kron, dtype=x_cf.dtype))
    return ops.reshape(y, lead + (g.h.n_out, g.w.n_out))


def resample(x, g, data_format):
    """Apply the precomputed resampling ``g`` (:class:`GemmOperands`) to a rank-4 tensor.

    The one-matrix plan is one GEMM; a banded plan runs :func:`_banded_products`; a dense plan
    :func:`_two_products`, ordered so that only the small side is transposed.

    Example:
        >>> import numpy as np
        >>> from keras_aliasfree.ops._plans import gemm_operands
        >>> g = gemm_operands(np.full((2, 2), 0.25), 4, 4, 2, "up", "dense")
        >>> tuple(resample(np.ones((1, 4, 4, 1), "float32"), g, "channels_last").shape)
        (1, 8, 8, 1)
    """
    if g.impl == "kron":
        return _from_cf(_kron_product(_to_cf(x, data_format), g), data_format)
    if g.impl == "banded":
        return _from_cf(_banded_products(_to_cf(x, data_format), g.w, g.h, g.r), data_format)
    if g.mode == "up":
        # transpose the small input, not the upsampled output: (b,c,w,h) -> products -> (b,c,P,Q)
        y = _two_products(_swap_cf(x, data_format), g.h, g.w, g.r)
        return _from_cf(y, data_format)
    # down: products on (b,c,h,w) give (b,c,Q,P); the swap back is on the small output
    y = _two_products(_to_cf(x, data_format), g.w, g.h, g.r)
    return _swap_cf(y, data_format)


def _to_cf(x, data_format):
    return ops.transpose(x, (0, 3, 1, 2)) if data_format == "channels_last" else x


def _from_cf(x, data_format):
    return ops.transpose(x, (0, 2, 3, 1)) if data_format == "channels_last" else x



def filtered_activation_products(x, fn, up, down, data_format):
    """``downsample(fn(upsample(x)))`` with the precomputed plans ``up`` and ``down``.

    The upsampled tensor stays in the order the first product leaves it in (``fn`` is
    pointwise), so no tensor of the upsampled size is ever transposed.

    Example:
        >>> import numpy as np
        >>> from keras_aliasfree.ops._plans import gemm_operands
        >>> k = np.full((2, 2), 0.25)
        >>> u, d = gemm_operands(k, 4, 4, 2, "up"), gemm_operands(k, 8, 8, 2, "down")
        >>> y = filtered_activation_products(np.ones((1, 4, 4, 1), "float32"), ops.relu, u, d,
        ...                                  "channels_last")
        >>> tuple(y.shape)
        (1, 4, 4, 1)
    """
    if up.impl == "kron" and down.impl == "kron":
        fine = fn(_kron_product(_to_cf(x, data_format), up))
        return _from_cf(_kron_product(fine, down), data_format)
    if "kron" in (up.impl, down.impl):  # a mix built by hand: each pass in the data format
        return resample(fn(resample(x, up, data_format)), down, data_format)
    x = _to_cf(x, data_format)
    swap = (0, 1, 3, 2)
    if up.impl != "banded":
        fine_t = fn(_two_products(x, up.w, up.h, up.r))                  # (b,c,W,H)
        if down.impl != "banded":
            y = _two_products(fine_t, down.h, down.w, down.r)
        else:
            y = ops.transpose(_banded_products(fine_t, down.h, down.w, down.r), swap)
    else:
        fine = fn(_banded_products(x, up.w, up.h, up.r))                 # (b,c,H,W)
        if down.impl == "banded":
            y = _banded_products(fine, down.w, down.h, down.r)
        else:
            y = ops.transpose(_two_products(fine, down.w, down.h, down.r), swap)
    return _from_cf(y, data_format)                                      # from (b,c,h,w)
