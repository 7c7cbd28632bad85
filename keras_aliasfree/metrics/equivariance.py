"""Equivariance metrics in dB, after StyleGAN3's ``metrics/equivariance.py`` (Karras et al. 2021).

For a transform ``T`` and a function ``f`` on image batches, the score is the PSNR (dB) between
``f(T x)`` and ``T f(x)`` over a valid mask, with the peak taken as the peak-to-peak range of the
reference ``T f(x)``. An exactly equivariant ``f`` scores ``inf`` (identical outputs); higher is
better. ``f`` is any callable on ``(N, H, W, C)`` arrays: a layer, a model, the UNet denoiser at a
fixed timestep (:func:`denoiser_fn`), or a plain function. If ``f`` changes the resolution (a
downsampling layer), ``T`` is scaled to the output grid.

* **EQ-T** -- integer translation (periodic roll) by up to ``max_shift`` of the image size.
* **EQ-T_frac** -- band-limited fractional translation (FFT phase ramp).
* **EQ-R** -- band-limited rotation (FFT three-shear, :func:`keras_aliasfree.transforms.rotate`),
  compared inside the central disc.
* **EQ-R exact** (:func:`eq_rotation_exact`) -- the rotation of the disc-band-limited content of
  an image windowed to a disc in space, computed exactly on a zero-padded canvas: no periodic wrap,
  no shear aliasing, so an exactly equivariant ``f`` scores far higher than with EQ-R
  (docs/METRICS.md has the ceilings).

Translations use periodic shifts, so for an ``f`` with zero-padded borders the band that wrapped
around, plus ``border`` pixels, is left out of the comparison (StyleGAN3 masks the same way).
"""

from __future__ import annotations

import functools

import numpy as np

from keras_aliasfree import discs as DS
from keras_aliasfree import transforms as T


def _check_images(images):
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"images must be a rank-4 batch (N, H, W, C), got shape {x.shape}")
    if x.shape[0] < 1 or x.shape[1] < 2 or x.shape[2] < 2:
        raise ValueError(f"images must hold at least one image of at least 2x2, got {x.shape}")
    return x.astype(np.float32)


def _call(fn, x):
    import keras

    y = keras.ops.convert_to_numpy(fn(x))
    if y.ndim != 4 or y.shape[0] != x.shape[0]:
        raise ValueError(f"fn must map (N, H, W, C) to (N, H', W', C'), got {x.shape} -> {y.shape}")
    return y.astype(np.float64)


def _scale(in_shape, out_shape):
    sy = out_shape[1] / in_shape[1]
    sx = out_shape[2] / in_shape[2]
    return sy, sx


def _band_mask(h, w, dy, dx, border):
    """(N, H, W, 1) mask: pixels whose source and destination both lie >= border from the edges,
    for a periodic shift by (dy, dx) (per image)."""
    rows = np.arange(h)[None, :, None]
    cols = np.arange(w)[None, None, :]
    dy = np.asarray(dy, np.float64).reshape(-1, 1, 1)
    dx = np.asarray(dx, np.float64).reshape(-1, 1, 1)
    src_r, src_c = rows - dy, cols - dx
    ok = ((rows >= border) & (rows <= h - 1 - border) & (cols >= border) & (cols <= w - 1 - border)
          & (src_r >= border) & (src_r <= h - 1 - border)
          & (src_c >= border) & (src_c <= w - 1 - border))
    return ok[..., None]


def eq_translation(fn, images, fractional=False, max_shift=0.125, border=None, seed=0,
                   return_details=False):
    """EQ-T (``fractional=False``) or EQ-T_frac (``fractional=True``) of ``fn`` in dB.

    Each image gets its own random shift ``(dy, dx)``, uniform in ``[-max_shift, max_shift]`` times
    the image size (rounded to whole pixels for EQ-T, at least one pixel). The score is
    ``psnr(T fn(x), fn(T x))`` pooled over all images, over the pixels that did not wrap around the
    border (minus ``border`` more pixels, default 1/16 of the output size).

    Args:
        fn: callable on ``(N, H, W, C)`` arrays.
        images: ``(N, H, W, C)`` inputs (e.g. real images, or noisy images for a denoiser).
        fractional: use band-limited sub-pixel shifts instead of integer rolls.
        max_shift: largest shift as a fraction of the size (StyleGAN3: 0.125).
        border: extra pixels left out at the edges (output grid); default ``size // 16``.
        seed: seed of the random shifts.
        return_details: also return a dict with the shifts and the mask fraction.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(4, 16, 16, 1)).astype("float32")
        >>> eq_translation(lambda v: v, x)
        inf
        >>> decimate = lambda v: np.repeat(np.repeat(v[:, ::2, ::2], 2, 1), 2, 2)
        >>> eq_translation(decimate, x) < 20     # stride-2 sampling aliases
        True
    """
    x = _check_images(images)
    n, h, w, _ = x.shape
    if not 0 < max_shift < 1:
        raise ValueError(f"max_shift must be in (0, 1) (a fraction of the image size), got "
                         f"{max_shift}")
    rng = np.random.default_rng(seed)
    dy = rng.uniform(-max_shift, max_shift, n) * h
    dx = rng.uniform(-max_shift, max_shift, n) * w
    if not fractional:
        dy, dx = np.round(dy), np.round(dx)
        both_zero = (dy == 0) & (dx == 0)
        dx[both_zero] = np.where(rng.uniform(size=both_zero.sum()) < 0.5, -1.0, 1.0)
    import keras

    if fractional:
        xt = keras.ops.convert_to_numpy(T.fractional_shift(x, dy.astype(np.float32),
                                                           dx.astype(np.float32)))
    else:
        xt = np.stack([np.roll(xi, (int(a), int(b)), axis=(0, 1)) for xi, a, b in zip(x, dy, dx)])
    y = _call(fn, x)
    yt = _call(fn, xt)
    sy, sx = _scale(x.shape, y.shape)
    ody, odx = dy * sy, dx * sx
    integral = np.allclose(ody, np.round(ody)) and np.allclose(odx, np.round(odx))
    if integral and not fractional:
        ref = np.stack([np.roll(yi, (int(round(a)), int(round(b))), axis=(0, 1))
                        for yi, a, b in zip(y, ody, odx)])
    else:
        ref = keras.ops.convert_to_numpy(T.fractional_shift(
            y.astype(np.float32), ody.astype(np.float32), odx.astype(np.float32))).astype(np.float64)
    oh, ow = y.shape[1], y.shape[2]
    border = max(oh, ow) // 16 if border is None else int(border)
    mask = _band_mask(oh, ow, ody, odx, border)
    if not mask.any():
        raise ValueError("the valid mask is empty: reduce max_shift or border")
    score = DS.psnr(ref, yt, np.broadcast_to(mask, ref.shape))
    if return_details:
        return score, {"dy": dy, "dx": dx, "mask_fraction": float(mask.mean())}
    return score


def eq_rotation(fn, images, angles=None, method="fft", radius=None, seed=0, return_details=False,
                with_up=False):
    """EQ-R of ``fn`` in dB: ``psnr(R fn(x), fn(R x))`` inside the central disc.

    Args:
        fn: callable on ``(N, H, W, C)`` arrays.
        images: ``(N, H, W, C)``.
        angles: degrees; ``None`` = one random angle per image, uniform in [-180, 180)
            (StyleGAN3's default range); a scalar; or a sequence of angles, each applied to the
            whole batch (the MSE is pooled over all of them).
        method: rotation used for ``R`` (``"fft"``, band-limited, is the one to measure with).
        radius: disc radius on the output grid; default ``min(H', W') / 2 - 1``.
        seed: seed of the random angles.
        with_up: ``fn(x, up_degrees)`` is told the angle (one per image) its input was turned
            by: the equivariance to turning the image and "up" together.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(2, 16, 16, 1)).astype("float32")
        >>> eq_rotation(lambda v: v, x, angles=[10.0, 45.0])
        inf
    """
    import keras

    x = _check_images(images)
    n = x.shape[0]
    if angles is None:
        angle_sets = [np.random.default_rng(seed).uniform(-180.0, 180.0, n).astype(np.float32)]
    else:
        a = np.asarray(angles, np.float32)
        if a.ndim > 1:
            raise ValueError(f"angles must be a scalar or a 1-D sequence, got shape {a.shape}")
        angle_sets = [np.float32(v) for v in np.atleast_1d(a)]
    call = (lambda v, up: _call(lambda u: fn(u, np.broadcast_to(
        np.float32(up) if np.ndim(up) == 0 else up, (n,)).astype(np.float32)), v)) \
        if with_up else (lambda v, up: _call(fn, v))
    y = call(x, np.float32(0.0))
    oh, ow = y.shape[1], y.shape[2]
    radius = min(oh, ow) / 2.0 - 1.0 if radius is None else float(radius)
    mask = DS.disc_mask(oh, ow, radius)[None, :, :, None]
    refs, outs = [], []
    for ang in angle_sets:
        xr = keras.ops.convert_to_numpy(T.rotate(x, ang, method=method))
        refs.append(keras.ops.convert_to_numpy(
            T.rotate(y.astype(np.float32), ang, method=method)).astype(np.float64))
        outs.append(call(xr, ang))
    ref, out = np.concatenate(refs), np.concatenate(outs)
    score = DS.psnr(ref, out, np.broadcast_to(mask, ref.shape))
    if return_details:
        return score, {"angles": angle_sets, "radius": radius}
    return score


def denoiser_fn(denoiser, timestep):
    """Wrap a noise-prediction network ``denoiser([x_t, t])`` as ``fn(x_t)`` at a fixed timestep,
    for :func:`eq_translation` / :func:`eq_rotation`; ``fn(x_t, up_degrees=None)`` passes
    the "up" angle to a denoiser that takes it (0 when ``None``).

    Example:
        >>> # fn = denoiser_fn(build_unet("D-1N", 32, 1), timestep=500)
        >>> # eq_rotation(fn, noisy_images)
    """
    import keras

    from keras_aliasfree.diffusion.sampling import denoiser_inputs

    def fn(x, up_degrees=None):
        t = keras.ops.full((x.shape[0],), float(timestep), dtype="float32")
        x = keras.ops.convert_to_tensor(x, "float32")
        up = None if up_degrees is None else keras.ops.convert_to_tensor(up_degrees, "float32")
        return denoiser(denoiser_inputs(denoiser, x, t, up), training=False)

    return fn


def noisy_inputs(images, timestep, schedule=None, seed=0):
    """``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` for the denoiser's equivariance: the
    linear schedule of the paper (T = 1000, betas 1e-4..0.02) unless a ``schedule`` with
    ``betas`` / ``timesteps`` attributes is given.

    Example:
        >>> bool(noisy_inputs(np.zeros((2, 8, 8, 1)), 999).std() > 0.9)
        True
    """
    x0 = _check_images(images)
    if schedule is not None and hasattr(schedule, "betas"):
        betas = np.asarray(schedule.betas, np.float64)
    else:
        betas = np.linspace(1e-4, 0.02, 1000)
    t = int(timestep)
    if not 0 <= t < len(betas):
        raise ValueError(f"timestep must be in [0, {len(betas) - 1}], got {timestep}")
    abar = np.cumprod(1.0 - betas)[t]
    eps = np.random.default_rng(seed).normal(size=x0.shape)
    return (np.sqrt(abar) * x0 + np.sqrt(1.0 - abar) * eps).astype(np.float32)


def rotation_consistency(sample_fn, angles=(15.0, 30.0, 45.0, 60.0, 90.0), seed=0, method="fft",
                         radius=None, return_per_angle=False):
    """Rotation consistency of a sampler in dB, averaged over ``angles``.

    For each angle phi: ``psnr(rotate(sample_fn(0, seed), phi), sample_fn(phi, seed))`` inside the
    central disc, i.e. how well the image generated with rotation-aware sampling matches the
    ordinary sample turned afterwards (same seed, so the same initial noise).

    Args:
        sample_fn: ``sample_fn(rotation_degrees, seed) -> (N, H, W, C)`` numpy images, e.g.
            ``lambda r, s: model.sample(16, sampler="ddim", steps=50, rotation=r, seed=s)``.
        angles: the sweep of phi in degrees.
        return_per_angle: also return ``{phi: dB}``.

    Example:
        >>> import numpy as np
        >>> base = np.random.default_rng(0).normal(size=(2, 16, 16, 1)).astype("float32")
        >>> perfect = lambda r, s: np.asarray(T.rotate(base, r))
        >>> rotation_consistency(perfect, angles=(30.0,)) > 100     # float32 round-off only
        True
    """
    import keras

    base = _check_images(sample_fn(0.0, seed))
    h, w = base.shape[1:3]
    radius = min(h, w) / 2.0 - 1.0 if radius is None else float(radius)
    mask = DS.disc_mask(h, w, radius)
    per = {}
    for phi in angles:
        ref = keras.ops.convert_to_numpy(T.rotate(base, float(phi), method=method))
        got = _check_images(sample_fn(float(phi), seed))
        if got.shape != base.shape:
            raise ValueError(f"sample_fn returned {got.shape} for rotation {phi}, {base.shape} "
                             "for 0")
        per[float(phi)] = DS.psnr(ref, got, mask)
    mean = float(np.mean(list(per.values())))
    return (mean, per) if return_per_angle else mean


# ----------------------------------------------------------------------------------------------
# exact rotation on a zero-padded canvas


@functools.lru_cache(maxsize=16)
def _rotation_matrix(n, degrees, radius):
    # (n*n, n*n): pixel values of the trig interpolant of an n x n image zero-padded to a 2n x 2n
    # canvas, its spectrum cut to the disc |f| <= radius (cycles/sample), rotated by ``degrees``
    # about the image centre and sampled on the n x n grid. The rotated function is sampled where
    # it is defined (no periodic wrap inside the canvas, no frequency pushed past Nyquist).
    m = 2 * n
    f = np.fft.fftfreq(m)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    keep = np.hypot(fy, fx) <= radius + 1e-9
    fy, fx = fy[keep], fx[keep]
    c = (n - 1) / 2.0
    yy, xx = np.mgrid[0:n, 0:n]
    py, px = (yy - c).ravel(), (xx - c).ravel()
    th = np.deg2rad(degrees)
    sy, sx = np.cos(th) * py - np.sin(th) * px, np.sin(th) * py + np.cos(th) * px
    synth = np.exp(2j * np.pi * (np.outer(sy, fy) + np.outer(sx, fx)))
    analyse = np.exp(-2j * np.pi * (np.outer(fy, py) + np.outer(fx, px)))
    out = ((synth @ analyse).real / (m * m)).astype(np.float32)
    out.setflags(write=False)
    return out


def exact_rotation(images, degrees, radius=0.5):
    """Rotate the disc-band-limited content of square images (numpy, ``(N, n, n, C)``, n <= 48).

    The images are zero-padded to twice their size, cut to the disc of ``radius`` cycles/sample
    (the frequencies a rotation maps onto themselves) and their interpolant is rotated by
    ``degrees`` and sampled on the original grid -- exact for content that stays inside the grid,
    which :func:`radial_window` arranges. ``degrees=0`` is the disc projection alone. A dense
    ``(n^2, n^2)`` matrix per angle (cached), hence the size limit: a measurement tool, not the
    sampler's rotation (:func:`keras_aliasfree.transforms.rotate`).

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(1, 32, 32, 1)) * radial_window(32)[..., None]
        >>> x = exact_rotation(x, 0.0)                    # band-limited to the disc
        >>> back = exact_rotation(exact_rotation(x, 30.0), -30.0)
        >>> from keras_aliasfree.discs import psnr
        >>> psnr(x[:, 8:24, 8:24], back[:, 8:24, 8:24]) > 40
        True
    """
    x = _check_images(images)
    n, h, w, c = x.shape
    if h != w or h > 48:
        raise ValueError(f"exact_rotation takes square images of at most 48x48, got {h}x{w}")
    m = _rotation_matrix(h, float(degrees), float(radius))
    flat = np.transpose(x, (0, 3, 1, 2)).reshape(n * c, h * w)
    return np.transpose((flat @ m.T).reshape(n, c, h, w), (0, 2, 3, 1))


def radial_window(n, inner=0.625, outer=0.875):
    """``(n, n)`` window: 1 within ``inner`` of the half-size from the centre, a raised cosine to
    0 at ``outer`` and 0 beyond (so the corners, which a rotation swaps with the outside of the
    grid, hold nothing).

    Example:
        >>> w = radial_window(16)
        >>> float(w[8, 8]), float(w[0, 0])
        (1.0, 0.0)
    """
    c = (n - 1) / 2.0
    yy, xx = np.mgrid[0:n, 0:n]
    r = np.hypot(yy - c, xx - c) / (n / 2.0)
    t = np.clip((r - inner) / (outer - inner), 0.0, 1.0)
    return (0.5 * (1.0 + np.cos(np.pi * t))).astype(np.float32)


EXACT_ANGLES = (17.0, 37.0, 53.0, 71.0)


def eq_rotation_exact(fn, images, angles=EXACT_ANGLES, return_floor=False, with_up=False):
    """EQ-R in dB with an exact rotation: ``psnr(R fn(x), P fn(R x))`` on the central disc, where
    ``x`` is ``images`` windowed to a disc in space (:func:`radial_window`) and projected on the
    disc of frequencies, ``R`` is :func:`exact_rotation` and ``P`` the same projection unrotated.

    Both inputs hold nothing near the corners and nothing a rotation cannot map, so the figure
    measures ``fn`` itself. ``return_floor`` also returns the score of ``fn = identity`` on the
    same inputs (what is left of the interpolant outside the grid), the ceiling to compare a
    model with. Angles avoid multiples of 90 degrees, which any kernel with
    the square's symmetry passes exactly.

    ``with_up=True``: ``fn(x, up_degrees)`` is told the angle its input was turned by
    (counter-clockwise degrees, as :func:`keras_aliasfree.transforms.rotate`; 0 for ``x``), so
    the measure is the equivariance to turning the image and "up" together (a denoiser with an
    "up" input, :func:`keras_aliasfree.build_equivariant_unet`).

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(2, 16, 16, 1)).astype("float32")
        >>> score, floor = eq_rotation_exact(lambda v: v, x, angles=(30.0,), return_floor=True)
        >>> score == floor and score > 40
        True
    """
    x = _check_images(images)
    x = exact_rotation(x * radial_window(x.shape[1])[None, :, :, None], 0.0)
    call = (lambda v, up: _call(lambda u: fn(u, up), v)) if with_up else \
        (lambda v, up: _call(fn, v))
    y = call(x, 0.0)
    if y.shape[1:3] != x.shape[1:3]:
        raise ValueError(f"eq_rotation_exact needs fn to keep the image size, got {y.shape}")
    mask = DS.disc_mask(x.shape[1], x.shape[2], x.shape[1] / 2.0 - 1.0)[None, :, :, None]
    refs, outs, frefs, fouts = [], [], [], []
    for ang in angles:
        xr = exact_rotation(x, ang)
        refs.append(exact_rotation(y, ang))
        # exact_rotation's +ang is clockwise: "up" (counter-clockwise degrees) turns by -ang
        outs.append(exact_rotation(call(xr, -float(ang)), 0.0))
        if return_floor:
            frefs.append(xr)
            fouts.append(exact_rotation(xr, 0.0))
    score = DS.psnr(np.concatenate(refs), np.concatenate(outs),
                   np.broadcast_to(mask, (len(refs) * y.shape[0],) + y.shape[1:]))
    if not return_floor:
        return score
    floor = DS.psnr(np.concatenate(frefs), np.concatenate(fouts),
                   np.broadcast_to(mask, (len(frefs) * x.shape[0],) + x.shape[1:]))
    return score, floor
