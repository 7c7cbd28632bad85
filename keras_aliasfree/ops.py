"""Backend-agnostic alias-free resampling on ``keras.ops``.

Functions:

* :func:`upsample_2d` -- zero insertion + low-pass, gain ``factor**2`` (a constant stays constant);
* :func:`downsample_2d` -- low-pass + keep every ``factor``-th sample;
* :func:`filtered_activation` -- upsample, nonlinearity at the higher rate, low-pass, downsample.

How it is computed. A 2-D kernel ``K`` is factored by SVD into a few separable terms
``K ~= sum_k outer(c_k, r_k)`` (:func:`keras_aliasfree.filters.low_rank_factors`, relative error
<= 1e-7; a jinc kernel needs 2-6 terms, a separable one 1). Each 1-D resampling along H or W is a
``(n_out, n_in)`` matrix whose entries are the filter taps that meet a *real* input sample
(polyphase form), so the inserted zeros are never multiplied and no discarded output is
computed. The op is then ``y = sum_k A_k x B_k^T``, computed as two plain 2-D matrix products
(all terms along one axis at once, then the other axis and the term index contracted together;
see :func:`_two_products`), which run fast on every backend (depthwise convolution is slow on
XLA's CPU backend). The matrix is a band: on a small axis it is used whole (``impl="dense"``,
the reference); on a tiny image (8x8 and below; ``impl="kron"``, chosen by ``"auto"``) both axes
and all terms are folded into one matrix, one GEMM per resampling; on a large one
(``impl="banded"``, chosen by ``"auto"``) the axis is cut into overlapping zero-padded windows that all share one small block of the band, so the work per
output sample is fixed by the kernel and the cost grows linearly with the pixels
(:func:`axis_plan`). Both give the same result up to float rounding. The products are ordered so that no tensor of the upsampled size is ever
transposed: upsampling transposes its small input, downsampling its small output, and a filtered
activation keeps the upsampled tensor in the order the first product leaves it. The matrices
depend only on the kernel and the static spatial size and are cached.

Phase convention (no op translates the signal). Input sample ``i`` sits at fine-grid index
``factor*i + s`` with ``s = (factor-1)/2`` -- pixel centres line up exactly -- whenever
``kernel_size + factor`` is even (even kernels for x2 and x4: the default). For odd kernels with an
even factor an exact half-sample offset is impossible with a symmetric kernel; those use
``s = (factor-2)/2`` (``s = 0`` for x2: input sample ``i`` at fine sample ``2i``). Upsampling and
downsampling use the same ``s``, so ``downsample(f(upsample(x)))`` never shifts the signal for any
pointwise ``f``, odd or even kernel. This matches StyleGAN3's upfirdn2d padding for even kernels.
Borders are zero-padded.

Spatial sizes must be static (known when the op is traced).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import keras
import numpy as np
from keras import ops

from keras_aliasfree import filters as _filters


def _norm_data_format(data_format):
    data_format = keras.config.image_data_format() if data_format is None else data_format
    data_format = str(data_format).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("data_format must be 'channels_last' or 'channels_first', "
                         f"got {data_format!r}")
    return data_format


def phase_offset(kernel_size: int, factor: int) -> float:
    """Fine-grid offset ``s`` of input sample 0 (see the module docstring).

    Example:
        >>> phase_offset(8, 2), phase_offset(3, 2), phase_offset(8, 4)
        (0.5, 0.0, 1.5)
    """
    if (kernel_size + factor) % 2 == 0:
        return (factor - 1) / 2.0
    return (factor - 2) / 2.0


def resampling_matrix(taps, n_in: int, factor: int, mode: str) -> np.ndarray:
    """Dense 1-D resampling matrix (float64) for ``taps``.

    ``mode="up"``: shape ``(factor*n_in, n_in)``, includes the gain ``factor``.
    ``mode="down"``: shape ``(n_in // factor, n_in)``.

    Example:
        >>> m = resampling_matrix(np.full(2, 0.5), 4, 2, "up")
        >>> m.shape, m.sum(axis=1).tolist()
        ((8, 4), [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    """
    taps = np.asarray(taps, dtype=np.float64)
    n = len(taps)
    s = phase_offset(n, factor)
    if mode == "up":
        p0 = int(round((n - 1) / 2.0 + s))
        j = np.arange(factor * n_in)[:, None]
        i = np.arange(n_in)[None, :]
        k = factor * i + p0 - j  # tap index that carries input i to output j
        gain = factor
    elif mode == "down":
        p0 = int(round((n - 1) / 2.0 - s))
        j = np.arange(n_in // factor)[:, None]
        i = np.arange(n_in)[None, :]
        k = i - factor * j + p0
        gain = 1
    else:
        raise ValueError(f"mode must be 'up' or 'down', got {mode!r}")
    valid = (k >= 0) & (k < n)
    return np.where(valid, taps[np.clip(k, 0, n - 1)], 0.0) * gain


@functools.lru_cache(maxsize=8)
def _default_kernel(factor: int) -> np.ndarray:
    kernel = _filters.design_filter(factor)
    kernel.setflags(write=False)  # one design shared by every call: read-only
    return kernel


def _check_kernel(kernel, factor):
    if kernel is None:
        return _default_kernel(factor)
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] < 1 or kernel.shape[1] < 1:
        raise ValueError(f"kernel must be a 2-D array, got shape {kernel.shape}")
    if not np.all(np.isfinite(kernel)):
        raise ValueError("kernel contains NaN or inf")
    return kernel


def _spatial_dims(x, data_format, what):
    shape = tuple(x.shape)
    if len(shape) != 4:
        layout = "(batch, height, width, channels)" if data_format == "channels_last" \
            else "(batch, channels, height, width)"
        raise ValueError(f"{what} expects a rank-4 tensor {layout}, got shape {shape}")
    h, w = (shape[1], shape[2]) if data_format == "channels_last" else (shape[2], shape[3])
    if h is None or w is None:
        raise ValueError(f"{what} needs static height and width (the resampling matrices are built "
                         f"for a fixed size), got shape {shape}")
    return int(h), int(w)


#: ``impl`` values of :func:`gemm_operands`.
IMPLS = ("auto", "banded", "dense", "kron")
#: ``impl="auto"`` takes the ``"kron"`` plan (one matrix for both axes) where the low-resolution
#: side of the resampling has at most this many pixels (8x8). See :func:`gemm_operands`.
KRON_AUTO_PIXELS = 64
#: ... and, per backend, also where the one matrix needs at most this many times the
#: multiply-adds of the axis-wise dense plan: on PyTorch, whose eager per-op cost makes one larger
#: GEMM pay sooner, this takes 16x16 for kernels of rank 4 (D-1N's) but not of rank 2
#: (``benchmarks/resample_scaling.py``, "Small images").
KRON_AUTO_MAC_RATIO = {"torch": 3.0}
#: ``impl="kron"`` is refused above this many low-resolution pixels (its matrix has
#: ``factor**2 * pixels**2`` entries: 16 MiB of float32 at 32x32 and x2).
KRON_MAX_PIXELS = 1024
#: Output samples per block of the banded path (see :func:`axis_plan`).
BLOCK_OUT = 32
#: ``impl="auto"`` takes the banded plan of an axis where ``AUTO_RATIO * window <= axis length``.
AUTO_RATIO = 3
#: How banded plans are multiplied: ``"left"`` (:func:`_banded_products`) or ``"transpose"``
#: (:func:`_two_products`, the dense path's form applied per window).
BANDED_FORM = "left"


@dataclasses.dataclass(frozen=True, eq=False)
class AxisPlan:
    """How one axis is resampled: ``blocks`` windows of ``length`` input samples, ``step`` apart.

    Window ``b`` starts at input sample ``b*step - left`` (zero-padded outside the signal) and
    gives output samples ``b*out_block .. (b+1)*out_block - 1``. Every window uses the same small
    matrix, because away from the borders the resampling is shift-invariant and the zero padding
    reproduces the borders exactly: ``first (length, r*out_block)`` holds the ``r`` separable terms
    side by side (for the first product), ``second (r*length, out_block)`` stacked (for the second
    product, which also sums the terms). The dense plan (``blocks == 1``, one window of the whole
    axis, no padding) is the reference: a full ``(n_in, n_out)`` matrix per term.
    """

    first: np.ndarray
    second: np.ndarray
    n_in: int
    n_out: int
    blocks: int
    step: int
    left: int
    length: int

    @property
    def out_block(self) -> int:
        return self.n_out // self.blocks

    @property
    def dense(self) -> bool:
        return self.blocks == 1 and self.left == 0 and self.length == self.n_in

    @functools.cached_property
    def first_terms(self) -> np.ndarray:
        """``(r, length, out_block)``: ``first`` split per term (the left form's first GEMMs)."""
        r = self.first.shape[1] // self.out_block
        return np.ascontiguousarray(
            self.first.reshape(self.length, r, self.out_block).transpose(1, 0, 2))

    @functools.cached_property
    def second_left(self) -> np.ndarray:
        """``(out_block, r*length)``: ``second`` transposed, the left form's shared left block."""
        return np.ascontiguousarray(self.second.T)


@dataclasses.dataclass(frozen=True, eq=False)
class GemmOperands:
    """The constant operands of one 2-D resampling (numpy, see :func:`gemm_operands`).

    ``h`` / ``w``: the :class:`AxisPlan` of each axis; ``r``: the kernel's separable terms.
    """

    h: AxisPlan
    w: AxisPlan
    r: int
    mode: str
    kron: np.ndarray | None = None

    @property
    def impl(self) -> str:
        if self.kron is not None:
            return "kron"
        return "dense" if self.h.dense and self.w.dense else "banded"


def _first_form(m):   # (r, n_out, n_in) -> (n_in, r*n_out)
    return np.ascontiguousarray(np.concatenate(list(m), axis=0).T).astype(np.float32)


def _second_form(m):  # (r, n_out, n_in) -> (r*n_in, n_out)
    r, n_out, n_in = m.shape
    return np.ascontiguousarray(
        np.transpose(m, (0, 2, 1)).reshape(r * n_in, n_out)).astype(np.float32)


def _block_sizes(n_in, factor, mode, block_out):
    """``(step, out_block)`` of a banded plan, or None where the axis cannot be split evenly."""
    n_out = n_in * factor if mode == "up" else n_in // factor
    out_block = block_out
    while n_out % out_block:
        out_block //= 2
    if out_block < 4 or n_out // out_block < 2:
        return None
    if mode == "up":
        if out_block % factor or out_block // factor < 2:
            return None
        return out_block // factor, out_block
    return out_block * factor, out_block


def axis_plan(taps_terms, n_in: int, factor: int, mode: str, impl: str = "auto",
              block_out: int = BLOCK_OUT) -> AxisPlan:
    """The :class:`AxisPlan` of one axis for the ``r`` 1-D filters ``taps_terms`` (``(r, n)``).

    ``impl="dense"``: one full matrix per term (the reference; work per output sample grows with
    ``n_in``). ``impl="banded"``: windows of ``out_block`` outputs (``block_out``, halved until
    it divides the output length) and the input samples their taps reach, so the work per output
    sample is fixed by the kernel, not the image. ``"auto"`` takes the banded plan where its
    window is at most ``1/AUTO_RATIO`` of the axis, else the dense one (the banded path
    spends extra copies on its overlapping windows; ``benchmarks/resample_scaling.py`` measures
    where it starts to win). Both give the same result up to float
    rounding (tested at every size).

    Example:
        >>> t = np.ones((1, 8)) / 8
        >>> d, b = axis_plan(t, 64, 2, "up", "dense"), axis_plan(t, 64, 2, "up", "banded")
        >>> d.first.shape, (b.blocks, b.step, b.left, b.length), b.first.shape
        ((64, 128), (4, 16, 2, 20), (20, 32))
    """
    if impl not in ("auto", "banded", "dense"):
        raise ValueError(f"axis_plan: impl must be 'auto', 'banded' or 'dense', got {impl!r}")
    taps_terms = np.asarray(taps_terms, dtype=np.float64)
    r, n = taps_terms.shape
    n_out = n_in * factor if mode == "up" else n_in // factor
    sizes = None if impl == "dense" else _block_sizes(n_in, factor, mode, block_out)
    if sizes is not None:
        step, out_block = sizes
        # the input span of one block's outputs, read off a signal long enough that a middle
        # block meets no border
        nb_ref = 2 * (n // max(step, 1) + 2) + 1
        c = nb_ref // 2
        support = resampling_matrix(np.ones(n), nb_ref * step, factor, mode) != 0
        rows = support[c * out_block:(c + 1) * out_block]
        cols = np.nonzero(rows.any(axis=0))[0]
        left = c * step - int(cols[0])
        length = int(cols[-1]) + 1 - (c * step - left)
        if impl == "auto" and AUTO_RATIO * length > n_in:
            sizes = None
    if sizes is None:
        m = np.stack([resampling_matrix(t, n_in, factor, mode) for t in taps_terms])
        return AxisPlan(_first_form(m), _second_form(m), n_in, n_out, 1, n_in, 0, n_in)
    lo = c * step - left
    m = np.stack([resampling_matrix(t, nb_ref * step, factor, mode)
                  [c * out_block:(c + 1) * out_block, lo:lo + length] for t in taps_terms])
    return AxisPlan(_first_form(m), _second_form(m), n_in, n_out, n_in // step, step, left,
                    length)


def _out_size(h, w, factor, mode):
    return (h * factor, w * factor) if mode == "up" else (h // factor, w // factor)


def _kron_auto(h, w, factor, mode, rank, backend):
    """Whether ``impl="auto"`` takes the one-matrix plan (see :data:`KRON_AUTO_PIXELS`)."""
    hh, ww = _out_size(h, w, factor, mode)
    low = min(h * w, hh * ww)
    if low <= KRON_AUTO_PIXELS:
        return True
    cap = KRON_AUTO_MAC_RATIO.get(backend)
    if cap is None or low > KRON_MAX_PIXELS:
        return False
    axis_macs = rank * (h * w * ww + ww * h * hh)  # along W, then along H (both summing terms)
    return h * w * hh * ww <= cap * axis_macs


@functools.lru_cache(maxsize=256)
def _cached_gemm_operands(kernel_bytes: bytes, kshape: tuple, h: int, w: int, factor: int,
                          mode: str, impl: str, block_out: int, backend: str):
    kernel = np.frombuffer(kernel_bytes, dtype=np.float64).reshape(kshape)
    cols, rows = _filters.low_rank_factors(kernel)
    if impl == "auto" and _kron_auto(h, w, factor, mode, cols.shape[0], backend):
        impl = "kron"
    axis_impl = "dense" if impl == "kron" else impl
    hp = axis_plan(cols, h, factor, mode, axis_impl, block_out)
    wp = axis_plan(rows, w, factor, mode, axis_impl, block_out)
    kron = None
    if impl == "kron":
        # y = sum_k A_k x B_k^T, flattened row-major: vec(y) = (sum_k A_k (x) B_k) vec(x); stored
        # transposed, (h*w, H*W), for ``x_flat @ kron``
        m = sum(np.kron(resampling_matrix(c, h, factor, mode), resampling_matrix(r_, w, factor, mode))
                for c, r_ in zip(cols, rows))
        kron = np.ascontiguousarray(m.T).astype(np.float32)
    return GemmOperands(hp, wp, cols.shape[0], mode, kron)


def gemm_operands(kernel, h: int, w: int, factor: int, mode: str, impl: str = "auto",
                  block_out: int = BLOCK_OUT):
    """The constant operands of one resampling of an ``h x w`` image (numpy, cached).

    Returns a :class:`GemmOperands`: one :class:`AxisPlan` per axis (the ``r`` separable terms'
    1-D resampling matrices, dense or banded, see :func:`axis_plan`). Layers compute these once
    in ``build`` so their ``call`` holds tensor ops only (nothing for a tracer to stumble on).

    ``impl="kron"`` also builds the whole 2-D resampling as one ``(h*w, H*W)`` matrix (``H, W``
    the output size), the Kronecker product of the axes' matrices summed over the terms: one GEMM
    per resampling whatever the kernel's rank, at ``O(pixels**2)`` work, which wins on small images
    (per-op overheads and transposes dominate there). ``"auto"`` takes it where the
    low-resolution side has at most :data:`KRON_AUTO_PIXELS` pixels (the 4x4 and 8x8 levels of a
    32-px UNet), and on PyTorch also at 16x16 for rank-4 kernels (:data:`KRON_AUTO_MAC_RATIO`);
    above :data:`KRON_MAX_PIXELS` it is refused.

    Example:
        >>> g = gemm_operands(np.outer([0.5, 0.5], [0.5, 0.5]), 4, 4, 2, "up", "dense")
        >>> g.w.first.shape, g.h.second.shape, g.r, g.impl
        ((4, 8), (4, 8), 1, 'dense')
        >>> k = gemm_operands(np.outer([0.5, 0.5], [0.5, 0.5]), 4, 4, 2, "up")
        >>> k.impl, k.kron.shape
        ('kron', (16, 64))
        >>> gemm_operands(np.outer([0.5, 0.5], [0.5, 0.5]), 256, 256, 2, "up").impl
        'banded'
    """
    if mode not in ("up", "down"):
        raise ValueError(f"mode must be 'up' or 'down', got {mode!r}")
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    low = min(int(h) * int(w), math.prod(_out_size(int(h), int(w), int(factor), mode)))
    if impl == "kron" and low > KRON_MAX_PIXELS:
        raise ValueError(f"impl='kron' builds a (pixels x factor**2 * pixels) matrix and is limited "
                         f"to {KRON_MAX_PIXELS} low-resolution pixels; got {low} "
                         f"({h}x{w}, mode {mode!r}); use 'auto', 'dense' or 'banded'")
    kernel = np.ascontiguousarray(kernel, dtype=np.float64)
    return _cached_gemm_operands(kernel.tobytes(), kernel.shape, int(h), int(w), int(factor),
                                 mode, impl, int(block_out),
                                 keras.backend.backend() if impl == "auto" else "")


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


def _left_form(g):
    return g.impl == "banded" and BANDED_FORM == "left"


def _kron_product(x_cf, g):
    """``(b, c, h, w)`` -> ``(b, c, H, W)`` through the plan's one ``(h*w, H*W)`` matrix."""
    lead = (-1,) + tuple(x_cf.shape[1:-2])
    y = ops.matmul(ops.reshape(x_cf, (-1, g.h.n_in * g.w.n_in)),
                   ops.convert_to_tensor(g.kron, dtype=x_cf.dtype))
    return ops.reshape(y, lead + (g.h.n_out, g.w.n_out))


def _resample(x, g, data_format):
    if g.impl == "kron":
        return _from_cf(_kron_product(_to_cf(x, data_format), g), data_format)
    if _left_form(g):
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


def upsample_2d(x, kernel=None, factor: int = 2, data_format=None, impl: str = "auto"):
    """Alias-free upsampling: zero insertion, low-pass ``kernel``, gain ``factor**2``.

    Args:
        x: rank-4 tensor.
        kernel: 2-D low-pass kernel (numpy); default ``filters.design_filter(factor)``.
        factor: integer >= 2.
        data_format: ``"channels_last"`` (default from Keras config) or ``"channels_first"``.
        impl: ``"auto"`` (default), ``"banded"`` (work per pixel fixed by the kernel),
            ``"dense"`` (the reference: one full matrix per axis) or ``"kron"`` (one matrix for
            both axes, small images); see :func:`gemm_operands`.

    Returns:
        Tensor with height and width multiplied by ``factor``, same dtype as ``x``.

    Example:
        >>> import numpy as np
        >>> y = upsample_2d(np.ones((1, 8, 8, 1), "float32"))
        >>> tuple(y.shape), round(float(y[0, 8, 8, 0]), 4)
        ((1, 16, 16, 1), 1.0)
    """
    factor = _filters.check_factor(factor)
    data_format = _norm_data_format(data_format)
    kernel = _check_kernel(kernel, factor)
    x = ops.convert_to_tensor(x)
    h, w = _spatial_dims(x, data_format, "upsample_2d")
    return resample_with(x, gemm_operands(kernel, h, w, factor, "up", impl), data_format)


def downsample_2d(x, kernel=None, factor: int = 2, data_format=None, impl: str = "auto"):
    """Alias-free downsampling: low-pass ``kernel``, then keep every ``factor``-th sample.

    Height and width must be divisible by ``factor``. Arguments as :func:`upsample_2d`.

    Example:
        >>> import numpy as np
        >>> y = downsample_2d(np.ones((1, 16, 16, 1), "float32"))
        >>> tuple(y.shape), round(float(y[0, 4, 4, 0]), 4)
        ((1, 8, 8, 1), 1.0)
    """
    factor = _filters.check_factor(factor)
    data_format = _norm_data_format(data_format)
    kernel = _check_kernel(kernel, factor)
    x = ops.convert_to_tensor(x)
    h, w = _spatial_dims(x, data_format, "downsample_2d")
    if h % factor or w % factor:
        raise ValueError(f"downsample_2d: height and width must be divisible by factor={factor}, "
                         f"got {h}x{w}")
    return resample_with(x, gemm_operands(kernel, h, w, factor, "down", impl), data_format)


def get_activation(activation):
    """Resolve an activation name or callable; unknown names raise a ``ValueError``.

    Example:
        >>> get_activation("gelu").__name__
        'gelu'
    """
    if callable(activation):
        return activation
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a name or a callable, got {activation!r}")
    try:
        fn = keras.activations.get(activation)
    except (ValueError, TypeError):
        fn = None
    if fn is None or activation in ("linear", "softmax", "log_softmax"):
        raise ValueError(f"unknown activation {activation!r}; expected a pointwise activation name "
                         "such as 'gelu', 'relu', 'silu', 'leaky_relu', 'tanh', 'sigmoid', or a "
                         "callable")
    return fn


def filtered_activation(x, activation="gelu", up_factor: int = 2, up_kernel=None,
                        down_kernel=None, data_format=None, impl: str = "auto"):
    """Alias-free nonlinearity: upsample by ``up_factor``, apply ``activation``, downsample back.

    The kernels run on the upsampled grid; by default both are
    ``filters.design_filter(up_factor)`` (cutoff ``pi/up_factor``). ``impl`` as
    :func:`upsample_2d`, for both resamplings.

    Example:
        >>> import numpy as np
        >>> y = filtered_activation(np.zeros((2, 8, 8, 3), "float32"), "gelu")
        >>> tuple(y.shape)
        (2, 8, 8, 3)
    """
    fn = get_activation(activation)
    data_format = _norm_data_format(data_format)
    up_factor = _filters.check_factor(up_factor)
    up_kernel = _check_kernel(up_kernel, up_factor)
    down_kernel = _check_kernel(down_kernel, up_factor)
    x = ops.convert_to_tensor(x)
    h, w = _spatial_dims(x, data_format, "filtered_activation")
    up = gemm_operands(up_kernel, h, w, up_factor, "up", impl)
    down = gemm_operands(down_kernel, h * up_factor, w * up_factor, up_factor, "down", impl)
    return filtered_activation_with(x, fn, up, down, data_format)


def resample_with(x, operands, data_format):
    """Apply a resampling given its precomputed :func:`gemm_operands` (used by the layers)."""
    return _resample(x, operands, data_format)


def filtered_activation_with(x, fn, up_operands, down_operands, data_format):
    """Filtered activation given precomputed operands (used by the layers).

    The upsampled tensor stays in the swapped ``(b, c, W, H)`` order that the first product
    leaves it in (the nonlinearity is pointwise), so no tensor of the upsampled size is ever
    transposed.
    """
    u, d = up_operands, down_operands
    if u.impl == "kron" and d.impl == "kron":
        return _from_cf(_kron_product(fn(_kron_product(_to_cf(x, data_format), u)), d),
                        data_format)
    if "kron" in (u.impl, d.impl):  # a mix built by hand: each pass in the data format
        return _resample(fn(_resample(x, u, data_format)), d, data_format)
    x = _to_cf(x, data_format)
    swap = (0, 1, 3, 2)
    if not _left_form(u):
        fine_t = fn(_two_products(x, u.w, u.h, u.r))                 # (b,c,W,H)
        y = _two_products(fine_t, d.h, d.w, d.r) if not _left_form(d) else \
            ops.transpose(_banded_products(fine_t, d.h, d.w, d.r), swap)
    else:
        fine = fn(_banded_products(x, u.w, u.h, u.r))                # (b,c,H,W)
        y = _banded_products(fine, d.w, d.h, d.r) if _left_form(d) else \
            ops.transpose(_two_products(fine, d.w, d.h, d.r), swap)
    return _from_cf(y, data_format)                                  # from (b,c,h,w)
