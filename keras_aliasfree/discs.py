"""The disc of frequencies a rotation maps onto itself, and image comparisons inside a disc.

A rotation maps the disc of frequencies inscribed in the square band onto itself, and nothing
else; these helpers project an image on that disc (:func:`disc_lowpass`), give the projection's
frequency response (:func:`disc_response`), a spatial disc mask (:func:`disc_mask`) and PSNR
inside a mask (:func:`psnr`). ``keras.ops`` for tensors, numpy for the masks and PSNR.

Example:
    >>> int(disc_mask(4, 4).sum())
    12
"""

from __future__ import annotations

import functools

import numpy as np
from keras import ops

from keras_aliasfree.ops import _norm_data_format
from keras_aliasfree.transforms import _from_nchw, _to_nchw

__all__ = ["disc_lowpass", "disc_response", "disc_mask", "psnr"]


# ----------------------------------------------------------------------------------------------
# FFT-domain disc low-pass (band limit of the diffusion models)


def disc_response(h, w, radius=0.5, taper=0.0):
    """The ``(h, w)`` DFT-grid response of :func:`disc_lowpass` (numpy, float32, read-only;
    designed once per argument set).

    Frequencies are in cycles per sample (Nyquist = 0.5), on ``np.fft.fftfreq`` order. The
    response is 1 up to ``radius * (1 - taper)``, falls with a raised cosine to 0 at ``radius``
    and is 0 beyond. ``taper=0`` gives the ideal disc (0/1), an orthogonal projection. The grid is
    symmetric under ``f -> -f``, so filtering a real image gives a real image.

    Example:
        >>> r = disc_response(4, 4)
        >>> r.tolist()[0], r.tolist()[2]
        ([1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0])
    """
    return _disc_response(int(h), int(w), float(radius), float(taper))


@functools.lru_cache(maxsize=32)
def _disc_response(h, w, radius, taper):
    # cached: the samplers and the training step call disc_lowpass at every step, eagerly on torch
    if h < 1 or w < 1:
        raise ValueError(f"disc_response: h and w must be positive, got {h}x{w}")
    if not 0.0 < radius:
        raise ValueError(f"disc_response: radius must be > 0 cycles/sample, got {radius}")
    if not 0.0 <= taper <= 1.0:
        raise ValueError(f"disc_response: taper must be in [0, 1], got {taper}")
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    rho = np.sqrt(fy * fy + fx * fx)
    eps = 1e-9  # keep grid points that sit exactly on the circle (e.g. (0.5, 0)) inside
    if taper == 0.0:
        resp = (rho <= radius + eps).astype(np.float32)
    else:
        r0 = radius * (1.0 - taper)
        t = np.clip((rho - r0) / (radius - r0), 0.0, 1.0)
        resp = 0.5 * (1.0 + np.cos(np.pi * t))
        resp[rho > radius + eps] = 0.0
        resp = resp.astype(np.float32)
    resp.setflags(write=False)  # shared by every call
    return resp


def disc_lowpass(images, radius=0.5, taper=0.0, data_format=None):
    """Low-pass ``images`` to a disc of ``radius`` cycles/sample with an FFT (periodic borders).

    ``taper=0`` is the ideal disc projection ``P``: ``P(P(x)) = P(x)`` up to float round-off, and
    ``x - P(x)`` holds exactly the frequencies outside the disc (for ``radius = 0.5``, the corners
    of the square band that a rotation cannot map onto itself). ``taper > 0`` rolls off with a
    raised cosine inside the disc (less ringing at sharp edges) and is still zero outside it, so
    ``P`` leaves its output unchanged. See :func:`disc_response` for the exact response.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype("float32")
        >>> y = np.asarray(disc_lowpass(x))
        >>> bool(np.allclose(np.asarray(disc_lowpass(y)), y, atol=1e-5))
        True
    """
    data_format = _norm_data_format(data_format)
    x, dtype, h, w = _to_nchw(images, data_format, "disc_lowpass")
    resp = ops.convert_to_tensor(disc_response(h, w, radius, taper))
    yr, yi = ops.fft2((x, ops.zeros_like(x)))
    yr, yi = ops.ifft2((yr * resp, yi * resp))
    return _from_nchw(yr, dtype, data_format)


# ----------------------------------------------------------------------------------------------
# numpy helpers


def disc_mask(h, w, radius=None):
    """Boolean ``(h, w)`` mask of the central disc (pixel centres within ``radius`` of the centre).

    ``radius`` defaults to ``min(h, w) / 2`` (the inscribed disc). Rotation about the centre maps
    the disc onto itself, so a rotated image can be compared with a reference inside it.

    Example:
        >>> disc_mask(4, 4).astype(int).tolist()
        [[0, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 1, 1, 0]]
    """
    h, w = int(h), int(w)
    if h < 1 or w < 1:
        raise ValueError(f"disc_mask: h and w must be positive, got {h}x{w}")
    radius = min(h, w) / 2.0 if radius is None else float(radius)
    rows, cols = np.mgrid[0:h, 0:w]
    d2 = (rows - (h - 1) / 2.0) ** 2 + (cols - (w - 1) / 2.0) ** 2
    return d2 <= radius * radius


def psnr(a, b, mask=None, peak=None, data_format=None):
    """Peak signal-to-noise ratio in dB between a reference ``a`` and ``b`` (numpy).

    ``PSNR = 10 log10(peak**2 / MSE)`` with the MSE pooled over every element where ``mask`` is
    true. ``peak`` defaults to the peak-to-peak range of the reference ``a`` inside the mask (as
    StyleGAN3's equivariance metrics use the data range, 2 for images in [-1, 1]). Identical
    inputs give ``inf``. ``mask`` is broadcast to the arrays; a 2-D ``(H, W)`` mask with rank-4
    images is placed on the spatial axes of ``data_format``.

    Example:
        >>> import numpy as np
        >>> a = np.linspace(-1, 1, 64).reshape(1, 8, 8, 1)
        >>> round(psnr(a, a + 0.02), 2)   # peak 2, MSE 4e-4
        40.0
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"psnr: arrays must have the same shape, got {a.shape} and {b.shape}")
    if mask is None:
        m = np.ones(a.shape, dtype=bool)
    else:
        m = np.asarray(mask, dtype=bool)
        if m.ndim == 2 and a.ndim == 4:
            if _norm_data_format(data_format) == "channels_last":
                m = m[None, :, :, None]
            else:
                m = m[None, None, :, :]
        try:
            m = np.broadcast_to(m, a.shape)
        except ValueError:
            raise ValueError(f"psnr: mask of shape {np.shape(mask)} does not fit images of shape "
                             f"{a.shape}") from None
    if not m.any():
        raise ValueError("psnr: the mask selects no element")
    ref = a[m]
    if peak is None:
        peak = float(ref.max() - ref.min())
    peak = float(peak)
    if not peak > 0:
        raise ValueError(f"psnr: peak must be > 0 (the reference is constant?), got {peak}")
    mse = float(np.mean((ref - b[m]) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(peak * peak / mse))
