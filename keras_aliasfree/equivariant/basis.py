"""The steerable kernel basis, the "up" encoding and what a quarter turn does to regular fields
(numpy and ``keras.ops``; no layers).

Example:
    >>> steerable_basis(5, 8).shape
    (8, 5, 5, 9)
"""

from __future__ import annotations

import functools
import math

import keras  # noqa: F401  (the examples use keras.ops)
import numpy as np
from keras import ops


def _positive_int(value, what, owner):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise ValueError(f"{owner}: {what} must be a positive integer, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------------- the basis

@functools.lru_cache(maxsize=64)
def _basis(kernel_size: int, group_order: int, max_frequency: int, sigma: float,
           taper) -> np.ndarray:
    k = kernel_size
    c = (k - 1) / 2.0
    ii, jj = np.mgrid[0:k, 0:k].astype(np.float64)
    x, y = jj - c, c - ii                      # math coordinates: x right, y up (as displayed)
    rad = np.hypot(x, y)
    theta = np.arctan2(y, x)
    at_centre = rad < 1e-9
    # a raised-cosine radial window: the square support's corners, which a turn by an angle
    # outside the quarter turns moves, fade out instead of cutting the rings
    window = (1.0 if taper is None else
              np.where(rad < taper, 0.5 * (1.0 + np.cos(np.pi * rad / taper)), 0.0))
    funcs = []                                 # (ring radius, m, "cos"/"sin")
    rings = np.arange(0, int(c) + 1, dtype=np.float64)
    for r in rings:
        m_max = 0 if r == 0 else (min(1, max_frequency) if r == rings[-1] else
                                  min(max_frequency, int(2 * r)))
        for m in range(m_max + 1):
            funcs.append((r, m, "cos"))
            if m > 0:
                funcs.append((r, m, "sin"))
    out = np.zeros((group_order, k, k, len(funcs)), np.float64)
    for b, (r, m, kind) in enumerate(funcs):
        ring = np.exp(-0.5 * ((rad - r) / sigma) ** 2) * window
        base = ring * (np.cos(m * theta) if kind == "cos" else np.sin(m * theta))
        if m > 0:
            base[at_centre] = 0.0              # a harmonic has no value at the origin
        norm = np.sqrt(np.sum(base ** 2))
        for o in range(group_order):
            # the function turned counter-clockwise by alpha: evaluated at angle theta - alpha
            alpha = 2.0 * np.pi * o / group_order
            ang = np.cos(m * (theta - alpha)) if kind == "cos" else np.sin(m * (theta - alpha))
            turned = ring * ang
            if m > 0:
                turned[at_centre] = 0.0
            out[o, :, :, b] = turned / norm
    out = out.astype(np.float32)
    out.setflags(write=False)
    return out


def steerable_basis(kernel_size=5, group_order=4, max_frequency=2, sigma=0.6,
                    taper=None) -> np.ndarray:
    """The kernel basis of :class:`LiftingConv2D` and :class:`GroupConv2D`, turned per orientation.

    Gaussian rings (width ``sigma`` pixels) at radii ``0 .. (kernel_size - 1) / 2`` times
    ``cos(m theta)`` / ``sin(m theta)``; ``m = 0`` at the centre, ``m <= 1`` on the outer ring,
    ``m <= max_frequency`` between; each function scaled to unit norm on the grid. Entry
    ``[k, :, :, b]`` is function ``b`` turned counter-clockwise by ``2 * pi * k / group_order``.
    Cached; read-only float32 ``(group_order, kernel_size, kernel_size, num_basis)``.

    Args:
        kernel_size: odd int, default 5.
        group_order: int ``N >= 1``, default 4.
        max_frequency: int >= 0, default 2. Highest harmonic on the inner rings.
        sigma: float, default 0.6. Ring width in pixels.
        taper: float or ``None`` (default). With a radius ``R`` in pixels, every function is
            multiplied by the raised-cosine window ``(1 + cos(pi r / R)) / 2`` for ``r < R``
            (0 beyond), which makes the kernels' turns between quarter turns closer to the
            turned kernels on the grid (``R`` a little over the kernel's half-diagonal, e.g. 3.5
            for 5x5, keeps most of the outer ring). ``None``: no window, the square support.

    Example:
        >>> b = steerable_basis(5, 4)
        >>> b.shape, bool(np.allclose(b[1], np.rot90(b[0], 1), atol=1e-6))
        ((4, 5, 5, 9), True)
    """
    kernel_size = _positive_int(kernel_size, "kernel_size", "steerable_basis")
    if kernel_size % 2 == 0:
        raise ValueError(f"steerable_basis: kernel_size must be odd (a centre pixel to turn "
                         f"about), got {kernel_size}")
    group_order = _positive_int(group_order, "group_order", "steerable_basis")
    if isinstance(max_frequency, bool) or int(max_frequency) != max_frequency or max_frequency < 0:
        raise ValueError(f"steerable_basis: max_frequency must be an integer >= 0, "
                         f"got {max_frequency!r}")
    if not float(sigma) > 0:
        raise ValueError(f"steerable_basis: sigma must be > 0, got {sigma!r}")
    if taper is not None:
        if isinstance(taper, bool) or not float(taper) > (kernel_size - 1) / 2.0:
            raise ValueError(f"steerable_basis: taper must be None or a radius beyond the outer "
                             f"ring ({(kernel_size - 1) / 2.0:g} px), got {taper!r}")
        taper = float(taper)
    return _basis(kernel_size, group_order, int(max_frequency), float(sigma), taper)


def up_encoding(degrees, group_order=4):
    """Encode an "up" angle as a regular field: ``cos(phi - 2 * pi * k / N)``, ``k = 0 .. N-1``.

    Turning ``phi`` by ``360 / N`` degrees shifts the encoding by one orientation (entry ``k``
    takes entry ``k - 1``'s value), the same shift a turn of the image applies to lifted fields.

    Args:
        degrees: angles in degrees (counter-clockwise, as :func:`keras_aliasfree.rotate`), shape
            ``(B,)`` or ``(B, 1)``.
        group_order: int ``N``, default 4.

    Returns:
        Tensor ``(B, N)`` (float32).

    Example:
        >>> e = keras.ops.convert_to_numpy(up_encoding(np.array([0.0, 90.0]), 4))
        >>> (np.round(e, 6) + 0.0).tolist()
        [[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]
    """
    n = _positive_int(group_order, "group_order", "up_encoding")
    phi = ops.reshape(ops.cast(degrees, "float32"), (-1, 1)) * (math.pi / 180.0)
    k = ops.convert_to_tensor((2.0 * np.pi * np.arange(n) / n)[None, :].astype("float32"))
    return ops.cos(phi - k)


def turn_fields(fields, quarter_turns=1, group_order=4):
    """Turn regular fields (numpy ``(B, H, W, F * N)``) by ``quarter_turns`` x 90 degrees: the
    spatial ``np.rot90`` and the orientation shift of ``N / 4`` per quarter turn. What a layer of
    this module applies to its output when its input turns; the tests' and benchmarks' reference.

    Example:
        >>> x = np.arange(4, dtype="float32").reshape(1, 1, 1, 4)
        >>> turn_fields(x, 1, 4).ravel().tolist()
        [3.0, 0.0, 1.0, 2.0]
    """
    n = _positive_int(group_order, "group_order", "turn_fields")
    if n % 4:
        raise ValueError(f"turn_fields: a quarter turn is a group element only when group_order "
                         f"is a multiple of 4, got {n}")
    x = np.rot90(np.asarray(fields), quarter_turns, axes=(1, 2))
    f = x.shape[-1] // n
    x = x.reshape(*x.shape[:-1], f, n)
    return np.roll(x, quarter_turns * n // 4, axis=-1).reshape(*x.shape[:-2], f * n)


__all__ = ["steerable_basis", "up_encoding", "turn_fields"]
