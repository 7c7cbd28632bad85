"""The precomputed operands of a resampling: 1-D polyphase matrices per axis, dense or banded,
or one matrix for both axes (numpy only; cached per kernel and size).

Example:
    >>> import numpy as np
    >>> g = gemm_operands(np.outer([0.5, 0.5], [0.5, 0.5]), 64, 64, 2, "up", "axes")
    >>> g.impl, g.h.n_out
    ('banded', 128)
"""

from __future__ import annotations

import dataclasses
import functools
import math

import keras
import numpy as np

from keras_aliasfree import filters as _filters
from keras_aliasfree.filter_spec import IMPLS

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


#: ``impl`` values of :func:`gemm_operands` (the precomputed matrix-product plans); the ops and
#: layers also take ``"ref"`` (:data:`keras_aliasfree.filter_spec.IMPLS`).
PLAN_IMPLS = tuple(i for i in IMPLS if i != "ref")
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
    axis_impl = {"kron": "dense", "axes": "auto"}.get(impl, impl)
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
    (per-op overheads and transposes dominate there). ``"axes"`` chooses between the per-axis
    plans as ``"auto"`` does but never takes the one matrix. ``"auto"`` takes it where the
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
    if impl not in PLAN_IMPLS:
        raise ValueError(f"gemm_operands: impl must be one of {PLAN_IMPLS}, got {impl!r} "
                         "('ref' has no precomputed operands)")
    low = min(int(h) * int(w), math.prod(_out_size(int(h), int(w), int(factor), mode)))
    if impl == "kron" and low > KRON_MAX_PIXELS:
        raise ValueError(f"impl='kron' builds a (pixels x factor**2 * pixels) matrix and is limited "
                         f"to {KRON_MAX_PIXELS} low-resolution pixels; got {low} "
                         f"({h}x{w}, mode {mode!r}); use 'auto', 'dense' or 'banded'")
    kernel = np.ascontiguousarray(kernel, dtype=np.float64)
    return _cached_gemm_operands(kernel.tobytes(), kernel.shape, int(h), int(w), int(factor),
                                 mode, impl, int(block_out),
                                 keras.backend.backend() if impl == "auto" else "")

