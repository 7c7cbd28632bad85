"""Backend-agnostic alias-free resampling on ``keras.ops``.

Functions:

* :func:`upsample_2d` -- zero insertion + low-pass, gain ``factor**2`` (a constant stays constant);
* :func:`downsample_2d` -- low-pass + keep every ``factor``-th sample;
* :func:`filtered_activation` -- upsample, nonlinearity at the higher rate, low-pass, downsample.

How it is computed. A 2-D kernel ``K`` is factored by SVD into a few separable terms
``K ~= sum_k outer(c_k, r_k)`` (:func:`keras_aliasfree.filters.low_rank_factors`, relative error
<= 1e-7; a jinc kernel needs 2-6 terms, a separable one 1). Each 1-D resampling along H or W is a
small ``(n_out, n_in)`` matrix whose entries are the filter taps that meet a *real* input sample
(polyphase form), so the inserted zeros are never multiplied and no discarded output is
computed. The op is then ``y = sum_k A_k x B_k^T``, computed as two plain 2-D matrix products
(all terms along one axis at once, then the other axis and the term index contracted together;
see :func:`_two_products`), which run fast on every backend (depthwise convolution is slow on
XLA's CPU backend). The products are ordered so that no tensor of the upsampled size is ever
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


@functools.lru_cache(maxsize=256)
def _cached_matrices(kernel_bytes: bytes, kshape: tuple, h: int, w: int, factor: int, mode: str):
    kernel = np.frombuffer(kernel_bytes, dtype=np.float64).reshape(kshape)
    cols, rows = _filters.low_rank_factors(kernel)
    a = np.stack([resampling_matrix(c, h, factor, mode) for c in cols])
    b = np.stack([resampling_matrix(r, w, factor, mode) for r in rows])
    return a.astype(np.float32), b.astype(np.float32)


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


@dataclasses.dataclass(frozen=True, eq=False)
class GemmOperands:
    """The constant operands of one resampling (numpy, see :func:`gemm_operands`).

    ``h_first (h, r*p)`` / ``w_first (w, r*q)``: the ``r`` separable terms' matrices of that axis
    side by side, for the first product (along the last axis); ``h_second (r*h, p)`` /
    ``w_second (r*w, q)``: stacked, for the second product, which also sums the terms.
    """

    h_first: np.ndarray
    h_second: np.ndarray
    w_first: np.ndarray
    w_second: np.ndarray
    r: int
    mode: str


def _first_form(m):   # (r, n_out, n_in) -> (n_in, r*n_out)
    return np.ascontiguousarray(np.concatenate(list(m), axis=0).T)


def _second_form(m):  # (r, n_out, n_in) -> (r*n_in, n_out)
    r, n_out, n_in = m.shape
    return np.ascontiguousarray(np.transpose(m, (0, 2, 1)).reshape(r * n_in, n_out))


@functools.lru_cache(maxsize=256)
def _cached_gemm_operands(kernel_bytes: bytes, kshape: tuple, h: int, w: int, factor: int, mode: str):
    a, b = _cached_matrices(kernel_bytes, kshape, h, w, factor, mode)
    return GemmOperands(_first_form(a), _second_form(a), _first_form(b), _second_form(b),
                        a.shape[0], mode)


def gemm_operands(kernel, h: int, w: int, factor: int, mode: str):
    """The constant operands of one resampling of an ``h x w`` image (numpy, cached).

    Returns a :class:`GemmOperands`: each axis's 1-D resampling matrices of the ``r`` separable
    terms, in the two arrangements the two matrix products need. Layers compute these once in
    ``build`` so their ``call`` holds tensor ops only (nothing for a tracer to stumble on).

    Example:
        >>> g = gemm_operands(np.outer([0.5, 0.5], [0.5, 0.5]), 4, 4, 2, "up")
        >>> g.w_first.shape, g.h_second.shape, g.r
        ((4, 8), (4, 8), 1)
    """
    kernel = np.ascontiguousarray(kernel, dtype=np.float64)
    return _cached_gemm_operands(kernel.tobytes(), kernel.shape, int(h), int(w), int(factor), mode)


def _two_products(x, first, second, r):
    """Resample the last two axes of ``x (..., n2, n1)``; returns them *swapped*: ``(..., m1, m2)``.

    1. along the last axis, all ``r`` separable terms at once: ``(.. n2, n1) @ (n1, r*m1)``;
    2. along the other axis, contracting it and the term index together (which sums the
       terms): ``(.. m1, r*n2) @ (r*n2, m2)``.
    Two plain 2-D GEMMs: they run at full speed on every backend's CPU kernels (XLA's batched
    dot does not). The result comes out transposed; the callers arrange their inputs so that
    the large tensors (the upsampled ones) are never transposed.
    """
    lead = (-1,) + tuple(x.shape[1:-2])  # the batch may be unknown (None) when traced
    n2, n1 = x.shape[-2], x.shape[-1]
    m1, m2 = first.shape[1] // r, second.shape[1]
    first = ops.convert_to_tensor(first, dtype=x.dtype)
    second = ops.convert_to_tensor(second, dtype=x.dtype)
    y = ops.matmul(ops.reshape(x, (-1, n1)), first)                     # (.. n2, r m1)
    y = ops.transpose(ops.reshape(y, (-1, n2, r, m1)), (0, 3, 2, 1))    # (.., m1, r, n2)
    z = ops.matmul(ops.reshape(y, (-1, r * n2)), second)                # (.. m1, m2)
    return ops.reshape(z, lead + (m1, m2))


def _swap_cf(x, data_format):
    """The layout <-> ``(b, c, w, h)``, with one transpose (it is its own inverse)."""
    return ops.transpose(x, (0, 3, 2, 1) if data_format == "channels_last" else (0, 1, 3, 2))


def _resample(x, g, data_format):
    if g.mode == "up":
        # transpose the small input, not the upsampled output: (b,c,w,h) -> products -> (b,c,P,Q)
        y = _two_products(_swap_cf(x, data_format), g.h_first, g.w_second, g.r)
        return _from_cf(y, data_format)
    # down: products on (b,c,h,w) give (b,c,Q,P); the swap back is on the small output
    y = _two_products(_to_cf(x, data_format), g.w_first, g.h_second, g.r)
    return _swap_cf(y, data_format)


def _to_cf(x, data_format):
    return ops.transpose(x, (0, 3, 1, 2)) if data_format == "channels_last" else x


def _from_cf(x, data_format):
    return ops.transpose(x, (0, 2, 3, 1)) if data_format == "channels_last" else x


def upsample_2d(x, kernel=None, factor: int = 2, data_format=None):
    """Alias-free upsampling: zero insertion, low-pass ``kernel``, gain ``factor**2``.

    Args:
        x: rank-4 tensor.
        kernel: 2-D low-pass kernel (numpy); default ``filters.design_filter(factor)``.
        factor: integer >= 2.
        data_format: ``"channels_last"`` (default from Keras config) or ``"channels_first"``.

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
    return resample_with(x, gemm_operands(kernel, h, w, factor, "up"), data_format)


def downsample_2d(x, kernel=None, factor: int = 2, data_format=None):
    """Alias-free downsampling: low-pass ``kernel``, then keep every ``factor``-th sample.

    Height and width must be divisible by ``factor``.

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
    return resample_with(x, gemm_operands(kernel, h, w, factor, "down"), data_format)


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
                        down_kernel=None, data_format=None):
    """Alias-free nonlinearity: upsample by ``up_factor``, apply ``activation``, downsample back.

    The kernels run on the upsampled grid; by default both are
    ``filters.design_filter(up_factor)`` (cutoff ``pi/up_factor``).

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
    up = gemm_operands(up_kernel, h, w, up_factor, "up")
    down = gemm_operands(down_kernel, h * up_factor, w * up_factor, up_factor, "down")
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
    fine_t = _two_products(_to_cf(x, data_format), u.w_first, u.h_second, u.r)   # (b,c,W,H)
    y = _two_products(fn(fine_t), d.h_first, d.w_second, d.r)                     # (b,c,h,w)
    return _from_cf(y, data_format)
