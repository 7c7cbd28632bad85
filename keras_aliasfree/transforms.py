"""Geometric transforms for images: rotation and sub-pixel translation (backend-agnostic).

Everything here is written with ``keras.ops`` only, so it runs eagerly on numpy input and inside
``jit`` / ``keras.ops.fori_loop`` on TensorFlow, JAX and PyTorch. Angles and shifts may be Python
numbers, numpy values or (traced) tensors -- a scalar, or one value per image (shape ``(N,)``).
Images are rank 4, ``(N, H, W, C)`` by default; pass ``data_format="channels_first"`` for
``(N, C, H, W)``. Height and width must be static.

Conventions (shared with :mod:`keras_aliasfree.metrics` and the rotation sampler):

* Pixel-centre coordinates: pixel ``(row, col)`` sits at ``(row, col)``; rotations turn about the
  image centre ``((H-1)/2, (W-1)/2)``.
* ``rotate(x, +90)`` equals ``np.rot90(x, 1, axes=(1, 2))`` -- counter-clockwise as displayed with
  row 0 at the top (the convention of ``scipy.ndimage.rotate`` and ``np.rot90``).
* Borders are periodic (the image is one tile of an infinite periodic plane) for every method, so
  no pixel is lost or filled with a constant; measure quality in a central disc (:func:`keras_aliasfree.discs.disc_mask`).

Rotation methods and what each is exact for:

* ``"fft"`` (default) -- band-limited three-shear rotation (Paeth 1986; Unser et al. 1995): shear
  along x by ``tan(theta/2)``, along y by ``-sin(theta)``, along x by ``tan(theta/2)``; each shear
  shifts every row (column) by a sub-pixel amount with an FFT phase ramp, which is *exact* for a
  periodic signal band-limited along that axis (trigonometric interpolation). Multiples of 90
  degrees are done exactly with ``rot90`` (the angle is first reduced to ``[-45, 45]`` degrees for
  square images, ``[-90, 90]`` for non-square ones), so shears stay small. The whole rotation is
  invertible in theory; in practice what is lost is (a) the Nyquist bin of even sizes, which is
  multiplied by ``cos(pi * shift)`` so that a real image stays real (the only real-valued choice),
  and (b) rows/columns that a shear pushes across the periodic border, which makes the next shear
  see a seam. Both are small for small angles, so many successive small rotations keep most of
  the variance of white noise, where bilinear interpolation loses nearly all of it
  (``benchmarks/rotation_sampling.py``; the tests bound the error on band-limited patterns).
* ``"bilinear"`` -- interpolating rotation with wrap-around border, like the paper's reference
  (which uses ``scipy.ndimage.rotate``, cubic B-splines). Exact only for multiples of 90 degrees
  and for images that are linear inside each pixel cell; it low-passes (blurs) every time it runs.
* ``"cubic"`` -- Keys cubic convolution (a = -0.5), 4x4 taps, wrap-around border. Sharper than
  bilinear, still a low-pass (not scipy's prefiltered B-spline, which sits between the two).

Also: :func:`fractional_shift` (band-limited, periodic) and :func:`integer_shift` (exact roll).
The disc of frequencies a rotation maps onto itself, and PSNR inside a disc, are in
:mod:`keras_aliasfree.discs`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_aliasfree.constants import DEFAULT_ROTATION_METHOD, ROTATION_METHODS
from keras_aliasfree.ops import _norm_data_format  # one data_format validation for both modules

__all__ = ["rotate", "fractional_shift", "integer_shift", "ROTATION_METHODS",
           "DEFAULT_ROTATION_METHOD"]


# ----------------------------------------------------------------------------------------------
# input handling


def _to_nchw(images, data_format, what):
    """Return (x as float32 NCHW, original dtype, H, W)."""
    x = ops.convert_to_tensor(images)
    shape = tuple(x.shape)
    if len(shape) != 4:
        layout = "(N, H, W, C)" if data_format == "channels_last" else "(N, C, H, W)"
        raise ValueError(f"{what} expects a rank-4 image batch {layout} "
                         f"(data_format={data_format!r}), got an array of shape {shape}")
    h, w = (shape[1], shape[2]) if data_format == "channels_last" else (shape[2], shape[3])
    if h is None or w is None:
        raise ValueError(f"{what} needs static height and width, got shape {shape}")
    dtype = keras.backend.standardize_dtype(x.dtype)
    x = ops.cast(x, "float32")
    if data_format == "channels_last":
        x = ops.transpose(x, (0, 3, 1, 2))
    return x, dtype, int(h), int(w)


def _from_nchw(x, dtype, data_format):
    if data_format == "channels_last":
        x = ops.transpose(x, (0, 2, 3, 1))
    if dtype != "float32" and "float" in dtype:
        x = ops.cast(x, dtype)
    return x


def _per_image(value, name):
    """A scalar or per-image value as a float32 tensor of shape (M,), M = 1 or N."""
    v = ops.cast(ops.convert_to_tensor(value), "float32")
    if len(v.shape) > 1:
        raise ValueError(f"{name} must be a scalar or have shape (N,) (one value per image), "
                         f"got shape {tuple(v.shape)}")
    return ops.reshape(v, (-1,))


# ----------------------------------------------------------------------------------------------
# band-limited shifts along the last axis


def _shift_last_axis(x, shift):
    """Periodic band-limited shift along the last axis: ``y[..., j] = x[..., j - shift]``.

    ``x``: float32 (..., n). ``shift``: float32 broadcastable to ``x.shape[:-1]``. For even ``n`` the
    Nyquist bin is scaled by ``cos(pi * shift)`` (no imaginary part) so that the output is real;
    integer shifts are exact.
    """
    n = int(x.shape[-1])
    if n == 1:
        return x
    nbins = n // 2 + 1
    k = np.arange(nbins, dtype=np.float32)
    sin_mask = np.ones(nbins, dtype=np.float32)
    if n % 2 == 0:
        sin_mask[-1] = 0.0  # Nyquist: keep the real part of the phase ramp only
    phase = ops.expand_dims(shift, -1) * ops.convert_to_tensor(
        (-2.0 * np.pi / n) * k, dtype="float32")
    c = ops.cos(phase)
    s = ops.sin(phase) * ops.convert_to_tensor(sin_mask)
    xr, xi = ops.rfft(x)
    yr = xr * c - xi * s
    yi = xr * s + xi * c
    return ops.irfft((yr, yi), fft_length=n)


def _shear_rows(x, coeff, centre):
    """x: NCHW. Shift row r along W by ``coeff * (r - centre)``; coeff shape (M,)."""
    h = int(x.shape[2])
    r = ops.convert_to_tensor(np.arange(h, dtype=np.float32) - np.float32(centre))
    shift = ops.reshape(coeff, (-1, 1, 1)) * ops.reshape(r, (1, 1, h))  # (M, 1, H)
    return _shift_last_axis(x, shift)


def _shear_cols(x, coeff, centre):
    """x: NCHW. Shift column c along H by ``coeff * (c - centre)``; coeff shape (M,)."""
    xt = ops.swapaxes(x, 2, 3)
    w = int(x.shape[3])
    c = ops.convert_to_tensor(np.arange(w, dtype=np.float32) - np.float32(centre))
    shift = ops.reshape(coeff, (-1, 1, 1)) * ops.reshape(c, (1, 1, w))  # (M, 1, W)
    return ops.swapaxes(_shift_last_axis(xt, shift), 2, 3)


# ----------------------------------------------------------------------------------------------
# rotation


def _rot90_nchw(x, k):
    """Exact counter-clockwise rotation by ``k * 90`` degrees (static k) on NCHW."""
    k = k % 4
    if k == 0:
        return x
    if k == 1:
        return ops.swapaxes(ops.flip(x, 3), 2, 3)
    if k == 2:
        return ops.flip(ops.flip(x, 2), 3)
    return ops.flip(ops.swapaxes(x, 2, 3), 3)


def _quarter_turns(x, theta, square):
    """Apply the exact quarter turns and return (x, residual angle in radians, shape (M,))."""
    period = 90.0 if square else 180.0
    k = ops.round(theta / period)
    residual = theta - period * k
    kmod = ops.mod(k * (period / 90.0), 4.0)  # number of 90-degree turns, 0..3
    kb = ops.reshape(kmod, (-1, 1, 1, 1))
    out = x
    turns = (1, 2, 3) if square else (2,)
    for t in turns:
        out = ops.where(ops.equal(kb, float(t)), _rot90_nchw(x, t), out)
    return out, residual * (math.pi / 180.0)


def _rotate_fft(x, theta, h, w):
    x, rad = _quarter_turns(x, theta, square=(h == w))
    a = ops.tan(rad / 2.0)
    b = -ops.sin(rad)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    # output(p) = input(M p), M = R(-theta) = Sx(a) Sy(b) Sx(a) in (u=col-cx, v=cy-row) coordinates.
    # Sx(a): row at v shifts along +u by -a*v = a*(row - cy).  Sy(b): column at u shifts by b*u
    # along +row.
    x = _shear_rows(x, a, cy)
    x = _shear_cols(x, b, cx)
    x = _shear_rows(x, a, cy)
    return x


def _keys_cubic(t):
    a = -0.5
    t = ops.abs(t)
    t2 = t * t
    t3 = t2 * t
    near = (a + 2.0) * t3 - (a + 3.0) * t2 + 1.0
    far = a * t3 - 5.0 * a * t2 + 8.0 * a * t - 4.0 * a
    return ops.where(t <= 1.0, near, ops.where(t < 2.0, far, 0.0))


def _rotate_interp(x, theta, h, w, method):
    """Inverse-map every output pixel and interpolate (periodic border)."""
    rad = theta * (math.pi / 180.0)
    cos = ops.reshape(ops.cos(rad), (-1, 1))
    sin = ops.reshape(ops.sin(rad), (-1, 1))
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32),
                             indexing="ij")
    u = ops.convert_to_tensor((cols - cx).reshape(1, -1))
    v = ops.convert_to_tensor((cy - rows).reshape(1, -1))
    # source point = R(-theta) (u, v)
    su = cos * u + sin * v
    sv = -sin * u + cos * v
    src_r = cy - sv  # (M, HW)
    src_c = su + cx
    r0 = ops.floor(src_r)
    c0 = ops.floor(src_c)
    fr = src_r - r0
    fc = src_c - c0
    if method == "bilinear":
        offsets = (0, 1)

        def weight(t):
            return 1.0 - ops.abs(t)
    else:
        offsets = (-1, 0, 1, 2)
        weight = _keys_cubic

    n = ops.shape(x)[0]
    c = int(x.shape[1])
    flat = ops.reshape(ops.transpose(x, (0, 2, 3, 1)), (-1, c))  # (N*H*W, C)
    base = ops.reshape(ops.arange(n, dtype="int32") * (h * w), (-1, 1))  # (N, 1)
    out = None
    for i in offsets:
        wy = weight(fr - float(i))
        ri = ops.mod(ops.cast(r0, "int32") + i, h)
        for j in offsets:
            wx = weight(fc - float(j))
            cj = ops.mod(ops.cast(c0, "int32") + j, w)
            idx = base + ri * w + cj  # (N, HW)
            vals = ops.take(flat, ops.reshape(idx, (-1,)), axis=0)
            vals = ops.reshape(vals, (-1, h * w, c)) * ops.expand_dims(wy * wx, -1)
            out = vals if out is None else out + vals
    out = ops.reshape(out, (-1, h, w, c))
    return ops.transpose(out, (0, 3, 1, 2))


def rotate(images, degrees, method="fft", data_format=None):
    """Rotate images counter-clockwise by ``degrees`` about the image centre (periodic border).

    Args:
        images: rank-4 batch, ``(N, H, W, C)`` (or ``(N, C, H, W)`` with
            ``data_format="channels_first"``); numpy array or backend tensor.
        degrees: rotation angle in degrees: Python number, numpy value or tensor, scalar or one
            angle per image (shape ``(N,)``). May be a traced tensor inside ``jit`` / ``fori_loop``.
        method: ``"fft"`` (band-limited three-shear, default), ``"bilinear"`` or ``"cubic"``.
            See the module docstring for what each one is exact for.
        data_format: ``"channels_last"`` / ``"channels_first"``; default from the Keras config.

    Returns:
        A tensor with the shape of ``images``; floating inputs keep their dtype, others become
        float32. ``rotate(x, 90)`` equals ``np.rot90(x, 1, axes=(1, 2))``.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(2, 16, 16, 1)).astype("float32")
        >>> y = rotate(x, 90.0)
        >>> bool(np.allclose(np.asarray(y), np.rot90(x, 1, axes=(1, 2)), atol=1e-5))
        True
        >>> z = rotate(rotate(x, 10.0), -10.0)   # band-limited: almost lossless
    """
    if method not in ROTATION_METHODS:
        raise ValueError(f"rotate: method must be one of {ROTATION_METHODS}, got {method!r}")
    data_format = _norm_data_format(data_format)
    x, dtype, h, w = _to_nchw(images, data_format, "rotate")
    theta = _per_image(degrees, "degrees")
    if method == "fft":
        y = _rotate_fft(x, theta, h, w)
    else:
        # quarter turns are exact; interpolate only the residual
        x, rad = _quarter_turns(x, theta, square=(h == w))
        y = _rotate_interp(x, rad * (180.0 / math.pi), h, w, method)
    return _from_nchw(y, dtype, data_format)


# ----------------------------------------------------------------------------------------------
# translation


def fractional_shift(images, dy, dx, data_format=None):
    """Band-limited (FFT phase ramp) periodic translation by ``(dy, dx)`` pixels.

    ``out[row, col] = images[row - dy, col - dx]`` (content moves down by ``dy`` and right by
    ``dx``), computed exactly for a periodic band-limited image. For even sizes the Nyquist row /
    column is scaled by ``cos(pi * d)`` so that a real image stays real; integer shifts are exact
    (they equal :func:`integer_shift`). ``dy`` and ``dx`` may be Python numbers, tensors (also
    traced ones), scalars or one value per image (shape ``(N,)``).

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(1, 8, 8, 1)).astype("float32")
        >>> y = fractional_shift(fractional_shift(x, 0.3, -0.25), -0.3, 0.25)
        >>> bool(np.abs(np.asarray(y) - x).max() < 1.0)   # only the Nyquist bins lose energy
        True
    """
    data_format = _norm_data_format(data_format)
    x, dtype, h, w = _to_nchw(images, data_format, "fractional_shift")
    dy = ops.reshape(_per_image(dy, "dy"), (-1, 1, 1))
    dx = ops.reshape(_per_image(dx, "dx"), (-1, 1, 1))
    x = _shift_last_axis(x, dx)
    x = ops.swapaxes(_shift_last_axis(ops.swapaxes(x, 2, 3), dy), 2, 3)
    return _from_nchw(x, dtype, data_format)


def integer_shift(images, dy, dx, data_format=None):
    """Exact periodic translation by whole pixels (a roll): ``out[r, c] = images[r - dy, c - dx]``.

    ``dy`` and ``dx`` must be Python integers (use :func:`fractional_shift` for tensor shifts;
    it is exact for integer values too).

    Example:
        >>> import numpy as np
        >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
        >>> bool(np.array_equal(np.asarray(integer_shift(x, 1, 2)), np.roll(x, (1, 2), (1, 2))))
        True
    """
    for name, v in (("dy", dy), ("dx", dx)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"integer_shift: {name} must be a Python int, got {v!r}; use "
                            "fractional_shift for non-integer or tensor shifts")
    data_format = _norm_data_format(data_format)
    x = ops.convert_to_tensor(images)
    if len(x.shape) != 4:
        raise ValueError(f"integer_shift expects a rank-4 image batch, got shape {tuple(x.shape)}")
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    return ops.roll(ops.roll(x, int(dy), axis=axes[0]), int(dx), axis=axes[1])
