"""The reference resampling: the textbook algorithm, readable top to bottom (``impl="ref"``).

Every fast plan of :mod:`keras_aliasfree.ops` is tested against this (and this against a scipy
oracle). It shares nothing with the fast paths but :func:`phase_offset`, the convention that
fixes where input sample ``i`` sits on the fine grid. It is slow: one slice and multiply-add per
kernel tap.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from keras_aliasfree.ops._plans import phase_offset


def _pads(n: int, factor: int, mode: str) -> tuple[int, int]:
    """Zero padding ``(before, after)`` of an axis for an ``n``-tap correlation."""
    s = phase_offset(n, factor)
    before = int(round((n - 1) / 2.0 + s)) if mode == "up" else int(round((n - 1) / 2.0 - s))
    return before, n - 1 - before


def reference_resample(x, kernel, factor: int, mode: str):
    """Resample a channels-last ``(b, h, w, c)`` tensor by ``factor`` the plain way.

    1. ``mode="up"``: insert ``factor - 1`` zeros after every sample along height and width
       (input sample ``i`` lands on fine index ``factor * i``).
    2. Zero-pad each axis so that the correlation below keeps the length and puts the kernel's
       centre on the phase of :func:`phase_offset`.
    3. Correlate with the full 2-D ``kernel``: ``y[p, q] = sum_{a, b} kernel[a, b] *
       x_padded[p + a, q + b]``.
    4. ``mode="up"``: multiply by ``factor**2`` (the energy the inserted zeros took);
       ``mode="down"``: keep every ``factor``-th sample, starting at 0.

    Example:
        >>> import numpy as np
        >>> y = reference_resample(np.ones((1, 4, 4, 1), "float32"), np.full((2, 2), 0.25), 2, "up")
        >>> np.round(np.asarray(y)[0, 2:6, 2:6, 0], 3).tolist()[0]
        [1.0, 1.0, 1.0, 1.0]
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    x = ops.convert_to_tensor(x)
    b, h, w, c = x.shape
    if mode == "up":                                                            # 1
        zeros = ops.zeros_like(x)
        x = ops.stack([x] + [zeros] * (factor - 1), axis=3)                     # (b, h, w, f, c)
        x = ops.reshape(x, (-1, h, w * factor, c))
        x = ops.stack([x] + [ops.zeros_like(x)] * (factor - 1), axis=2)        # (b, h, f, wf, c)
        x = ops.reshape(x, (-1, h * factor, w * factor, c))
    elif mode != "down":
        raise ValueError(f"mode must be 'up' or 'down', got {mode!r}")
    n_h, n_w = x.shape[1], x.shape[2]
    kh, kw = kernel.shape
    (t, bo), (le, r) = _pads(kh, factor, mode), _pads(kw, factor, mode)           # 2
    x = ops.pad(x, [(0, 0), (max(t, 0), max(bo, 0)), (max(le, 0), max(r, 0)), (0, 0)])
    # a negative pad (short kernels at factor 4) crops instead
    x = x[:, max(-t, 0):x.shape[1] - max(-bo, 0), max(-le, 0):x.shape[2] - max(-r, 0), :]
    y = 0.0
    for a in range(kh):                                                         # 3
        for b_ in range(kw):
            y = y + float(kernel[a, b_]) * x[:, a:a + n_h, b_:b_ + n_w, :]
    if mode == "up":                                                            # 4
        return y * float(factor * factor)
    return y[:, ::factor, ::factor, :]
