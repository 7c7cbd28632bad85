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
XLA's CPU backend). The matrix is a band: on a small axis it is used whole (``impl="dense"``);
on a tiny image (8x8 and below; ``impl="kron"``, chosen by ``"auto"``) both axes
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

``impl`` picks the plan: ``"auto"`` (default: one matrix on small images, banded on large axes,
dense between), ``"axes"`` (as ``"auto"`` without the one matrix), ``"dense"``, ``"banded"``,
``"kron"``, or ``"ref"``: the textbook algorithm (zero insertion, a direct 2-D correlation with
the full kernel, decimation; :func:`reference_resample`), slow, which every plan is tested
against. All agree up to float rounding and the low-rank approximation of the kernel.

Spatial sizes must be static (known when the op is traced).

Modules: ``_plans`` (numpy: the matrices and plans, cached), ``_products`` (the ``keras.ops``
products that apply a plan), ``_reference`` (``impl="ref"``).
"""

from __future__ import annotations

import keras
import numpy as np  # noqa: F401  (the examples use np)
from keras import ops

from keras_aliasfree import filters as _filters
from keras_aliasfree.ops._plans import (AUTO_RATIO, BLOCK_OUT, IMPLS, KRON_AUTO_MAC_RATIO,
                                        KRON_AUTO_PIXELS, KRON_MAX_PIXELS, PLAN_IMPLS, AxisPlan,
                                        GemmOperands, _check_kernel, _norm_data_format,
                                        _spatial_dims, axis_plan, gemm_operands, phase_offset,
                                        resampling_matrix)
from keras_aliasfree.ops._products import filtered_activation_products, resample
from keras_aliasfree.ops._reference import reference_resample


def _check_impl(impl):
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    return impl


def _resample_op(x, kernel, factor, data_format, impl, mode, what):
    """Validate the arguments of :func:`upsample_2d` / :func:`downsample_2d` and resample."""
    factor = _filters.check_factor(factor)
    data_format = _norm_data_format(data_format)
    kernel = _check_kernel(kernel, factor)
    x = ops.convert_to_tensor(x)
    h, w = _spatial_dims(x, data_format, what)
    if mode == "down" and (h % factor or w % factor):
        raise ValueError(f"{what}: height and width must be divisible by factor={factor}, "
                         f"got {h}x{w}")
    if _check_impl(impl) == "ref":
        return _ref(x, kernel, factor, mode, data_format)
    return resample_with(x, gemm_operands(kernel, h, w, factor, mode, impl), data_format)


def _ref(x, kernel, factor, mode, data_format):
    """``impl="ref"`` in either data format (the reference works channels-last)."""
    if data_format == "channels_first":
        x = ops.transpose(x, (0, 2, 3, 1))
    y = reference_resample(x, kernel, factor, mode)
    return ops.transpose(y, (0, 3, 1, 2)) if data_format == "channels_first" else y


def upsample_2d(x, kernel=None, factor: int = 2, data_format=None, impl: str = "auto"):
    """Alias-free upsampling: zero insertion, low-pass ``kernel``, gain ``factor**2``.

    Args:
        x: rank-4 tensor.
        kernel: 2-D low-pass kernel (numpy); default ``filters.design_filter(factor)``.
        factor: integer >= 2.
        data_format: ``"channels_last"`` (default from Keras config) or ``"channels_first"``.
        impl: ``"auto"`` (default), ``"axes"``, ``"banded"`` (work per pixel fixed by the
            kernel), ``"dense"`` (one full matrix per axis), ``"kron"`` (one matrix for both
            axes, small images) or ``"ref"`` (the textbook algorithm); see the module docstring
            and :func:`gemm_operands`.

    Returns:
        Tensor with height and width multiplied by ``factor``, same dtype as ``x``.

    Example:
        >>> import numpy as np
        >>> y = upsample_2d(np.ones((1, 8, 8, 1), "float32"))
        >>> tuple(y.shape), round(float(y[0, 8, 8, 0]), 4)
        ((1, 16, 16, 1), 1.0)
    """
    return _resample_op(x, kernel, factor, data_format, impl, "up", "upsample_2d")


def downsample_2d(x, kernel=None, factor: int = 2, data_format=None, impl: str = "auto"):
    """Alias-free downsampling: low-pass ``kernel``, then keep every ``factor``-th sample.

    Height and width must be divisible by ``factor``. Arguments as :func:`upsample_2d`.

    Example:
        >>> import numpy as np
        >>> y = downsample_2d(np.ones((1, 16, 16, 1), "float32"))
        >>> tuple(y.shape), round(float(y[0, 4, 4, 0]), 4)
        ((1, 8, 8, 1), 1.0)
    """
    return _resample_op(x, kernel, factor, data_format, impl, "down", "downsample_2d")


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
    if _check_impl(impl) == "ref":
        fine = fn(_ref(x, up_kernel, up_factor, "up", data_format))
        return _ref(fine, down_kernel, up_factor, "down", data_format)
    up = gemm_operands(up_kernel, h, w, up_factor, "up", impl)
    down = gemm_operands(down_kernel, h * up_factor, w * up_factor, up_factor, "down", impl)
    return filtered_activation_with(x, fn, up, down, data_format)


def resample_with(x, operands, data_format):
    """Apply a resampling given its precomputed :func:`gemm_operands` (what the layers call).

    Example:
        >>> import numpy as np
        >>> g = gemm_operands(np.full((2, 2), 0.25), 4, 4, 2, "down")
        >>> tuple(resample_with(np.ones((1, 4, 4, 1), "float32"), g, "channels_last").shape)
        (1, 2, 2, 1)
    """
    return resample(x, operands, data_format)


def filtered_activation_with(x, fn, up_operands, down_operands, data_format):
    """Filtered activation given precomputed operands (what the layers call).

    Example:
        >>> import numpy as np
        >>> k = np.full((2, 2), 0.25)
        >>> u, d = gemm_operands(k, 4, 4, 2, "up"), gemm_operands(k, 8, 8, 2, "down")
        >>> y = filtered_activation_with(np.ones((1, 4, 4, 1), "float32"), ops.relu, u, d,
        ...                              "channels_last")
        >>> tuple(y.shape)
        (1, 4, 4, 1)
    """
    return filtered_activation_products(x, fn, up_operands, down_operands, data_format)


__all__ = ["AUTO_RATIO", "BLOCK_OUT", "IMPLS", "KRON_AUTO_MAC_RATIO", "KRON_AUTO_PIXELS",
           "KRON_MAX_PIXELS", "PLAN_IMPLS", "AxisPlan", "GemmOperands", "axis_plan",
           "downsample_2d", "filtered_activation", "filtered_activation_with", "gemm_operands",
           "get_activation", "phase_offset", "reference_resample", "resample_with",
           "resampling_matrix", "upsample_2d"]
