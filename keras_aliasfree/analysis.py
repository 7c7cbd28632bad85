"""Signal measurements of resampling ops and activations (numpy in, numbers out).

These are the measures the foundation issue sets for the layers, shared by
``benchmarks/filters.py`` (which prints them) and the tests (which assert them):

* :func:`cosine_gain_db` -- gain of a resampling callable on a plane-wave cosine;
* :func:`constant_response` -- what an image of ones becomes in the interior;
* :func:`activation_rotation_psnr` -- PSNR of ``f(rotate(x))`` against ``rotate(f(x))`` over a
  central disc, for band-limited ``x``.

Every callable takes and returns NHWC arrays (a layer, a ``keras.ops`` function, a lambda).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _to_numpy(y):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(y), dtype=np.float64)


def plane_wave(size: int, freq: float, angle_deg: float = 0.0, phase: float = 0.0) -> np.ndarray:
    """``cos(freq * (x cos a + y sin a) + phase)`` at pixel centres, shape ``(1, size, size, 1)``.

    Example:
        >>> plane_wave(4, 0.0).ravel().tolist()[:2]
        [1.0, 1.0]
    """
    a = np.deg2rad(angle_deg)
    c = np.arange(size) + 0.5
    yy, xx = np.meshgrid(c, c, indexing="ij")
    w = np.cos(freq * (xx * np.cos(a) + yy * np.sin(a)) + phase)
    return w[None, :, :, None].astype(np.float32)


def cosine_gain_db(fn, freq: float, angle_deg: float = 0.0, size: int = 64, border: int = 8) -> float:
    """Gain in dB of ``fn`` on a unit plane-wave cosine of ``freq`` rad/sample (input grid).

    The output amplitude is ``sqrt(2) * RMS`` over the interior (``border`` output samples dropped on
    each side), averaged over four input phases so that sampling does not bias it.

    Example:
        >>> round(cosine_gain_db(lambda x: x, 0.3 * np.pi), 2)
        0.0
    """
    amps = []
    for phase in (0.0, 0.5 * np.pi, 0.25 * np.pi, 0.75 * np.pi):
        y = _to_numpy(fn(plane_wave(size, freq, angle_deg, phase)))[0, :, :, 0]
        b = min(border, y.shape[0] // 4)
        inner = y[b:y.shape[0] - b, b:y.shape[1] - b]
        amps.append(np.mean(inner**2))
    return float(10.0 * np.log10(2.0 * np.mean(amps)))


def constant_response(fn, size: int = 32, border: int = 8) -> np.ndarray:
    """Distinct interior values (rounded to 1e-6) of ``fn`` applied to an image of ones.

    Example:
        >>> constant_response(lambda x: 2 * x).tolist()
        [2.0]
    """
    y = _to_numpy(fn(np.ones((1, size, size, 1), np.float32)))[0, :, :, 0]
    b = min(border, y.shape[0] // 4)
    return np.unique(np.round(y[b:y.shape[0] - b, b:y.shape[1] - b], 6))


def band_limited_field(size: int, angle_deg: float = 0.0, band=(0.1, 0.5), n_waves: int = 24,
                       seed: int = 0, channels: int = 1) -> np.ndarray:
    """A sum of random plane waves with ``|omega|`` in ``band * pi``, optionally rotated exactly.

    The field is evaluated analytically at pixel centres after rotating the coordinates about the
    image centre by ``angle_deg`` (counter-clockwise), so ``band_limited_field(n, a)`` is the exact
    rotation of ``band_limited_field(n, 0)``. Standard deviation about 1.5. Shape
    ``(1, size, size, channels)``.

    Example:
        >>> band_limited_field(16).shape
        (1, 16, 16, 1)
    """
    rng = np.random.default_rng(seed)
    out = np.zeros((size, size, channels))
    c = np.arange(size) + 0.5 - size / 2.0
    yy, xx = np.meshgrid(c, c, indexing="ij")
    # counter-clockwise as displayed (row 0 at the top), the sense of scipy.ndimage.rotate
    a = -np.deg2rad(angle_deg)
    # coordinates of the un-rotated field that land on each output pixel
    xr = np.cos(a) * xx + np.sin(a) * yy
    yr = -np.sin(a) * xx + np.cos(a) * yy
    for ch in range(channels):
        for _ in range(n_waves):
            r = rng.uniform(band[0], band[1]) * np.pi
            t = rng.uniform(0, 2 * np.pi)
            ph = rng.uniform(0, 2 * np.pi)
            out[:, :, ch] += np.cos(r * (np.cos(t) * xr + np.sin(t) * yr) + ph)
    out *= 1.5 / np.sqrt(n_waves / 2.0)
    return out[None].astype(np.float32)


def disc_psnr(a: np.ndarray, b: np.ndarray, radius_frac: float = 0.35) -> float:
    """PSNR in dB of ``b`` against reference ``a`` over a central disc (peak = ptp of ``a``).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(1, 16, 16, 1))
        >>> disc_psnr(x, x)
        inf
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    h, w = a.shape[1:3]
    c = np.arange(h) + 0.5 - h / 2.0
    yy, xx = np.meshgrid(c, np.arange(w) + 0.5 - w / 2.0, indexing="ij")
    mask = np.hypot(yy, xx) <= radius_frac * min(h, w)
    diff = (a - b)[:, mask]
    mse = float(np.mean(diff**2))
    peak = float(np.ptp(a[:, mask]))
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak**2 / mse))


def _rotate_output(y: np.ndarray, angle_deg: float) -> np.ndarray:
    # quintic-spline rotation about the image centre; only the central disc is compared
    return np.stack([
        np.stack([ndimage.rotate(y[n, :, :, ch], angle_deg, reshape=False, order=5, mode="reflect")
                  for ch in range(y.shape[-1])], axis=-1)
        for n in range(y.shape[0])])


def activation_rotation_psnr(fn, angle_deg: float = 30.0, size: int = 64, seeds=(0, 1, 2),
                             band=(0.1, 0.5)) -> float:
    """Rotation equivariance of ``fn``: mean PSNR (dB) of ``fn(rot x)`` against ``rot fn(x)``.

    ``x`` is a band-limited random field (:func:`band_limited_field`); ``rot x`` is computed
    analytically (no interpolation), ``rot fn(x)`` with a quintic spline. Higher is more
    equivariant. Plain GELU scores low because the harmonics it creates above Nyquist alias.

    Example:
        >>> activation_rotation_psnr(lambda x: x, seeds=(0,)) > 40
        True
    """
    scores = []
    for seed in seeds:
        x = band_limited_field(size, 0.0, band, seed=seed)
        xr = band_limited_field(size, angle_deg, band, seed=seed)
        ref = _to_numpy(fn(xr))
        rot = _rotate_output(_to_numpy(fn(x)), angle_deg)
        scores.append(disc_psnr(ref, rot))
    return float(np.mean(scores))


PASSBAND_FREQS = (0.3, 0.5, 0.7)


def filtered_activation_passband(kernel=None, factor: int = 2, freqs=PASSBAND_FREQS,
                                 angle_deg: float = 0.0, size: int = 64):
    """Gain (dB) of one filtered activation with the *identity* as its activation, at each of
    ``freqs`` (fractions of Nyquist) -- the same as the round trip up x``factor`` then down.

    An ideal alias-free nonlinearity would return a band-limited input unchanged: 0 dB up to
    Nyquist. A droop (or bump) here compounds through a network that stacks many of them.

    Example:
        >>> g = filtered_activation_passband()
        >>> [round(v, 1) for v in g]   # the default 8x8 jinc, beta 4
        [-0.3, -1.6, -4.4]
    """
    from keras_aliasfree import filters as F
    from keras_aliasfree import ops as O

    kernel = F.design_filter(factor) if kernel is None else np.asarray(kernel, np.float32)

    def fn(x):
        return O.filtered_activation(x, lambda v: v, factor, kernel, kernel)

    return [cosine_gain_db(fn, f * np.pi, angle_deg, size=size) for f in freqs]
