"""Low-pass filter design and analysis (numpy/scipy only, no Keras).

The alias-free layers resample with a 2-D low-pass kernel. This module designs those kernels and
measures them:

* :func:`jinc_lowpass` -- the circularly symmetric "jinc" low-pass of the paper
  (Anjum 2024, arXiv 2411.09174), ``h(r) = wc * J1(wc r) / (2 pi r)`` with centre value
  ``wc**2 / (4 pi)``, sampled on an ``size x size`` grid centred on the kernel and multiplied by a
  Kaiser window.
* :func:`kaiser_sinc_lowpass` -- the separable alternative: the outer product of two 1-D
  Kaiser-windowed sinc filters (what StyleGAN3 uses for its separable case).
* :func:`frequency_response` -- the kernel's 2-D DTFT on a grid.
* :func:`filter_summary` -- DC gain, passband ripple, stopband attenuation and polyphase balance.

Presets: ``design_filter(preset="default")`` is this library's design (jinc of ``4*factor`` taps
per side, cutoff ``pi/factor``, radial Kaiser window, beta 4, low-rank approximation); ``preset="paper"`` is the paper's 3x3 kernel with a
separable Kaiser window, cutoff ``pi/2``. ``python benchmarks/filters.py`` prints the figures of both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

WINDOWS = ("radial", "separable")
PRESETS = ("default", "paper")

# The library's default design (see benchmarks/filters.py for the figures that justify it):
# kernel DEFAULT_TAPS_PER_FACTOR * factor taps per side (8 for x2, 16 for x4).
DEFAULT_TAPS_PER_FACTOR = 4
DEFAULT_BETA = 4.0
# the default kernel is the lowest-rank (SVD) approximation of that jinc within 0.5% of its norm:
# rank 2 for beta 4, which measures as the full kernel at half the cost of rank 4
# (docs/benchmarks/filters.md); low betas (config names such as D-1N) keep rank 4
DEFAULT_RANK_RTOL = 5e-3
DEFAULT_WINDOW = "radial"
# The paper's settings: kernel 3x3, cutoff pi/2, separable (outer-product) Kaiser window.
PAPER_KERNEL_SIZE = 3
PAPER_WINDOW = "separable"


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"kernel size must be an integer >= 1, got {size!r}")
    if size < 1:
        raise ValueError(f"kernel size must be >= 1, got {size}")
    return int(size)


def _check_cutoff(cutoff) -> float:
    try:
        c = float(cutoff)
    except (TypeError, ValueError):
        raise TypeError(f"cutoff must be a number in (0, pi] radians/sample, got {cutoff!r}") from None
    if not (0.0 < c <= math.pi + 1e-12) or not math.isfinite(c):
        raise ValueError(f"cutoff must be in (0, pi] radians/sample (pi = Nyquist), got {cutoff!r}")
    return min(c, math.pi)


def _check_beta(beta) -> float:
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise TypeError(f"Kaiser beta must be a number >= 0, got {beta!r}") from None
    if not (b >= 0.0) or not math.isfinite(b):
        raise ValueError(f"Kaiser beta must be a finite number >= 0, got {beta!r}")
    return b


def check_factor(factor) -> int:
    """Validate a resampling factor (an integer >= 2) and return it as ``int``."""
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)):
        raise TypeError(f"factor must be an integer >= 2, got {factor!r}")
    if factor < 2:
        raise ValueError(f"factor must be an integer >= 2, got {factor}")
    return int(factor)


def _centred_grid(size: int) -> np.ndarray:
    return np.arange(size, dtype=np.float64) - (size - 1) / 2.0


def kaiser_window(size: int, beta: float, window: str = DEFAULT_WINDOW) -> np.ndarray:
    """2-D Kaiser window of shape ``(size, size)``.

    ``window="separable"`` is the outer product of two 1-D windows (``np.kaiser``), as in the
    paper's reference code; ``"radial"`` evaluates ``I0(beta sqrt(1 - (r/R)^2)) / I0(beta)`` at
    the radius ``r`` of each tap with ``R = size / 2`` (zero outside), which keeps the kernel
    circularly symmetric.

    Example:
        >>> float(kaiser_window(4, 0.0, "separable").sum())
        16.0
    """
    size = _check_size(size)
    beta = _check_beta(beta)
    if window == "separable":
        w = np.kaiser(size, beta) if size > 1 else np.ones(1)
        return np.outer(w, w)
    if window == "radial":
        c = _centred_grid(size)
        r = np.hypot(c[:, None], c[None, :])
        radius = size / 2.0
        arg = np.clip(1.0 - (r / radius) ** 2, 0.0, None)
        w = special.i0(beta * np.sqrt(arg)) / special.i0(beta)
        return np.where(r <= radius, w, 0.0)
    raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")


def jinc_lowpass(size: int, cutoff: float, beta: float, normalize: bool = True,
                 window: str = "separable") -> np.ndarray:
    """Kaiser-windowed jinc (circular) low-pass kernel of shape ``(size, size)``, float64.

    ``h(r) = cutoff * J1(cutoff * r) / (2 pi r)``, ``h(0) = cutoff**2 / (4 pi)``, with ``r`` the
    distance of a tap from the kernel centre ``((size-1)/2, (size-1)/2)``, multiplied by a Kaiser
    window of parameter ``beta`` (see :func:`kaiser_window`; the default ``"separable"`` window is
    the paper's). ``normalize=True`` scales the kernel to sum 1 (the "N" of a config name).

    Args:
        size: taps per side, >= 1.
        cutoff: radians per sample in (0, pi]; pi is the Nyquist frequency.
        beta: Kaiser window parameter, >= 0 (0 = rectangular window).
        normalize: scale to unit sum (unit DC gain).
        window: ``"separable"`` or ``"radial"``.

    Example:
        >>> k = jinc_lowpass(3, np.pi / 2, beta=2.0)
        >>> round(float(k.sum()), 6), round(float(k[1, 1]), 4)
        (1.0, 0.3774)
    """
    size = _check_size(size)
    cutoff = _check_cutoff(cutoff)
    beta = _check_beta(beta)
    c = _centred_grid(size)
    r = np.hypot(c[:, None], c[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        h = cutoff * special.j1(cutoff * r) / (2.0 * np.pi * r)
    h = np.where(r == 0.0, cutoff**2 / (4.0 * np.pi), h)
    h = h * kaiser_window(size, beta, window)
    if normalize:
        total = h.sum()
        if abs(total) < 1e-12:
            raise ValueError(f"kernel sums to ~0 (size={size}, cutoff={cutoff}, beta={beta}); "
                             "cannot normalize")
        h = h / total
    return h


def kaiser_sinc_lowpass(size: int, cutoff: float, beta: float, normalize: bool = True) -> np.ndarray:
    """Separable low-pass: outer product of two 1-D Kaiser-windowed sinc filters, ``(size, size)``.

    The 1-D filter is ``(cutoff/pi) * sinc(cutoff * x / pi) * kaiser(size, beta)`` at the centred
    tap positions ``x``. Its passband is a square, not a disc, so it is less rotation-friendly
    than :func:`jinc_lowpass`; it is rank 1 and therefore cheaper to apply.

    Example:
        >>> k = kaiser_sinc_lowpass(6, np.pi / 2, beta=4.0)
        >>> k.shape, round(float(k.sum()), 6)
        ((6, 6), 1.0)
    """
    size = _check_size(size)
    cutoff = _check_cutoff(cutoff)
    beta = _check_beta(beta)
    x = _centred_grid(size)
    g = (cutoff / np.pi) * np.sinc(cutoff * x / np.pi)
    if size > 1:
        g = g * np.kaiser(size, beta)
    if normalize:
        g = g / g.sum()
    return np.outer(g, g)


def design_filter(factor: int = 2, kernel_size: int | None = None, cutoff: float | None = None,
                  beta: float | None = None, normalize: bool = True, preset: str = "default",
                  window: str | None = None, rank: int | None = None) -> np.ndarray:
    """The kernel the layers use: a preset filled in by any explicit argument.

    ``preset="default"``: jinc of ``4*factor`` taps per side (8x8 for x2), radial Kaiser window,
    beta 4, cutoff ``pi/factor``, reduced to its lowest-rank approximation within 0.5% of its norm
    (:func:`truncate_rank`; rank 2 for beta 4, 4 for beta <= 2) and polyphase-balanced
    (:func:`balance_polyphase`).
    ``preset="paper"``: 3x3 jinc, separable Kaiser window, cutoff ``pi/2`` (beta from the
    config name, default 0).
    ``rank``: keep exactly this many separable terms (:func:`truncate_rank`) instead of the
    preset's rule -- the fast path's cost goes with the rank (what a lower rank costs in
    passband and stopband: ``python benchmarks/passband.py``).

    Example:
        >>> design_filter(2).shape
        (8, 8)
        >>> design_filter(2, preset="paper", beta=2.0).shape
        (3, 3)
    """
    factor = check_factor(factor)
    if preset == "default":
        size = DEFAULT_TAPS_PER_FACTOR * factor if kernel_size is None else kernel_size
        b = DEFAULT_BETA if beta is None else beta
        win = DEFAULT_WINDOW if window is None else window
    elif preset == "paper":
        size = PAPER_KERNEL_SIZE if kernel_size is None else kernel_size
        b = 0.0 if beta is None else beta
        win = PAPER_WINDOW if window is None else window
    else:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    wc = math.pi / factor if cutoff is None else cutoff
    kernel = jinc_lowpass(size, wc, b, normalize=normalize, window=win)
    if rank is not None:
        kernel = truncate_rank(kernel, rank=rank)
        return balance_polyphase(kernel, factor) if preset == "default" else kernel
    if preset == "default":
        kernel = balance_polyphase(truncate_rank(kernel, rtol=DEFAULT_RANK_RTOL), factor)
    return kernel


def truncate_rank(kernel: np.ndarray, rank: int | None = None, rtol: float | None = None) -> np.ndarray:
    """Low-rank approximation of ``kernel`` (truncated SVD), rescaled to the same sum.

    Give ``rank`` for a fixed number of terms, or ``rtol`` for the fewest terms whose dropped part
    is at most ``rtol`` of the kernel's Frobenius norm. The resampling ops cost one pair of matrix
    products per SVD term, so a low-rank kernel is cheaper. A kernel symmetric under a 180-degree
    turn stays so, so an even-size kernel stays polyphase-balanced for x2.

    Example:
        >>> k = truncate_rank(jinc_lowpass(8, np.pi / 2, 4.0, window="radial"), rtol=5e-3)
        >>> len(low_rank_factors(k)[0]), round(float(k.sum()), 6)
        (2, 1.0)
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    u, s, vt = np.linalg.svd(kernel)
    if rank is None:
        if rtol is None or not rtol >= 0:
            raise ValueError(f"give rank (an integer >= 1) or rtol (>= 0), got rank={rank!r}, rtol={rtol!r}")
        tail = np.append(np.sqrt(np.cumsum((s**2)[::-1]))[::-1], 0.0)
        rank = max(1, int(np.argmax(tail <= rtol * np.sqrt(np.sum(s**2)))))
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ValueError(f"rank must be an integer >= 1, got {rank!r}")
    approx = (u[:, :rank] * s[:rank]) @ vt[:rank]
    total, new_total = kernel.sum(), approx.sum()
    if abs(new_total) > 1e-12:
        approx *= total / new_total
    return approx


def balance_polyphase(kernel: np.ndarray, factor: int) -> np.ndarray:
    """Scale each of the ``factor**2`` polyphase components of ``kernel`` to the same sum.

    Upsampling by zero insertion sees one polyphase component per output phase, so a balanced
    kernel maps a constant image to the same constant (times the DC gain) at every output sample.
    A symmetric even-size kernel is already balanced for ``factor=2``; for ``factor=4`` a
    16-tap jinc is slightly off and this corrects it (the total sum is kept). The default preset
    applies it; the paper preset does not.

    Example:
        >>> k = balance_polyphase(jinc_lowpass(16, np.pi / 4, 4.0, window="radial"), 4)
        >>> filter_summary(k, 4).polyphase_imbalance < 1e-12
        True
    """
    kernel = np.array(kernel, dtype=np.float64)
    factor = check_factor(factor)
    total = kernel.sum()
    sums = np.array([[kernel[a::factor, b::factor].sum() for b in range(factor)]
                     for a in range(factor)])
    if np.any(np.abs(sums) < 1e-12 * max(abs(total), 1e-300)):
        return kernel  # a phase with no weight cannot be balanced by scaling; leave as designed
    target = total / factor**2
    for a in range(factor):
        for b in range(factor):
            kernel[a::factor, b::factor] *= target / sums[a, b]
    return kernel


def frequency_response(kernel: np.ndarray, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """2-D DTFT of ``kernel`` on an ``n x n`` grid of frequencies in ``[-pi, pi)``.

    The phase is taken about the kernel centre, so a symmetric kernel has a real response.

    Returns:
        ``(omega, H)``: ``omega`` the 1-D frequency axis (radians/sample, length ``n``) and ``H``
        the complex response with ``H[i, j]`` at ``(omega_y, omega_x) = (omega[i], omega[j])``.

    Example:
        >>> w, H = frequency_response(np.ones((1, 1)), n=8)
        >>> np.allclose(H, 1.0)
        True
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got shape {kernel.shape}")
    n = _check_size(n)
    omega = 2.0 * np.pi * (np.arange(n) - n // 2) / n
    ey = np.exp(-1j * np.outer(omega, _centred_grid(kernel.shape[0])))
    ex = np.exp(-1j * np.outer(omega, _centred_grid(kernel.shape[1])))
    return omega, ey @ kernel @ ex.T


def response_at(kernel: np.ndarray, wy: float, wx: float) -> float:
    """|H(wy, wx)| of ``kernel`` at one frequency pair (radians/sample), relative to no filter.

    Example:
        >>> round(response_at(np.ones((1, 1)), 0.3, 0.1), 6)
        1.0
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    cy, cx = _centred_grid(kernel.shape[0]), _centred_grid(kernel.shape[1])
    ph = np.exp(-1j * (wy * cy[:, None] + wx * cx[None, :]))
    return float(abs((kernel * ph).sum()))


@dataclass(frozen=True)
class FilterSummary:
    """What :func:`filter_summary` measures (all gains relative to the DC gain unless said)."""

    dc_gain: float
    passband_edge: float
    passband_ripple_db: float
    stopband_edge: float
    stopband_attenuation_db: float
    factor: int
    upsample_constant_response: np.ndarray
    polyphase_imbalance: float

    def __str__(self) -> str:
        phases = np.array2string(self.upsample_constant_response, precision=4, separator=", ")
        return (f"DC gain {self.dc_gain:.6f}; passband (|w| <= {self.passband_edge / np.pi:.3f}pi) "
                f"ripple {self.passband_ripple_db:.3f} dB; stopband (|w| >= "
                f"{self.stopband_edge / np.pi:.3f}pi) attenuation {self.stopband_attenuation_db:.1f} dB; "
                f"x{self.factor} upsampling of ones gives {phases} "
                f"(imbalance {self.polyphase_imbalance:.2e})")


def filter_summary(kernel: np.ndarray, factor: int = 2, passband_edge: float | None = None,
                   stopband_edge: float | None = None, n: int = 256) -> FilterSummary:
    """Measure a kernel: DC gain, passband ripple, stopband attenuation, polyphase balance.

    * ``passband_ripple_db``: largest |20 log10(|H|/H(0))| over radial frequencies
      ``|w| <= passband_edge`` (default ``0.3 * pi / factor``, i.e. 0.15 pi for x2).
    * ``stopband_attenuation_db``: smallest ``-20 log10(|H|/H(0))`` over ``stopband_edge <= |w|``
      inside ``[-pi, pi]^2`` (default ``1.6 * pi / factor``, i.e. 0.8 pi for x2).
    * ``upsample_constant_response``: the ``factor x factor`` values that upsampling an image of ones
      (zero insertion, gain ``factor**2``) produces in the interior, one per output phase. A balanced
      filter gives all ones (times the DC gain); the paper's 3x3 filter does not.
    * ``polyphase_imbalance``: ``max |v / mean(v) - 1|`` over those values.

    Example:
        >>> s = filter_summary(jinc_lowpass(3, np.pi / 2, beta=2.0))
        >>> np.round(s.upsample_constant_response / 4, 2).tolist()  # without the x4 gain
        [[0.38, 0.24], [0.24, 0.14]]
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got shape {kernel.shape}")
    factor = check_factor(factor)
    pb = 0.3 * np.pi / factor if passband_edge is None else float(passband_edge)
    sb = 1.6 * np.pi / factor if stopband_edge is None else float(stopband_edge)
    omega, H = frequency_response(kernel, n)
    mag = np.abs(H)
    dc = float(kernel.sum())
    rel = mag / abs(dc)
    radius = np.hypot(omega[:, None], omega[None, :])
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(np.maximum(rel, 1e-300))
    ripple = float(np.max(np.abs(db[radius <= pb]))) if np.any(radius <= pb) else 0.0
    stop_mask = radius >= sb
    atten = float(-np.max(db[stop_mask])) if np.any(stop_mask) else float("inf")
    phases = np.array([[kernel[a::factor, b::factor].sum() for b in range(factor)]
                       for a in range(factor)]) * factor**2
    # order the phases by output position (the tap set a phase sees depends on the padding rule,
    # the multiset of values does not); report them largest-first along the diagonal, as measured
    phases = _order_phases(phases)
    imbalance = float(np.max(np.abs(phases / phases.mean() - 1.0)))
    return FilterSummary(dc, pb, ripple, sb, atten, factor, phases, imbalance)


def _order_phases(phases: np.ndarray) -> np.ndarray:
    # roll rows/columns so the largest phase sum sits at [0, 0] (a constant image's value at the
    # input sample positions)
    i, j = np.unravel_index(np.argmax(phases), phases.shape)
    return np.roll(np.roll(phases, -i, axis=0), -j, axis=1)


def low_rank_factors(kernel: np.ndarray, rtol: float = 1e-7) -> tuple[np.ndarray, np.ndarray]:
    """Factor ``kernel ~= sum_k outer(col[k], row[k])`` with the fewest terms (SVD).

    Terms are kept until the dropped singular values amount to at most ``rtol`` of the kernel's
    Frobenius norm. A separable kernel gives one term; a jinc kernel typically 2-5.

    Returns:
        ``(cols, rows)`` of shapes ``(rank, kh)`` and ``(rank, kw)``.

    Example:
        >>> c, r = low_rank_factors(kaiser_sinc_lowpass(6, np.pi / 2, 4.0))
        >>> c.shape
        (1, 6)
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    u, s, vt = np.linalg.svd(kernel)
    norm = np.sqrt(np.sum(s**2))
    if norm == 0:
        raise ValueError("kernel is all zeros")
    tail = np.append(np.sqrt(np.cumsum((s**2)[::-1]))[::-1], 0.0)  # tail[k] = norm of s[k:]
    rank = max(1, int(np.argmax(tail <= rtol * norm)))
    sq = np.sqrt(s[:rank])
    return (u[:, :rank] * sq).T, (vt[:rank].T * sq).T
