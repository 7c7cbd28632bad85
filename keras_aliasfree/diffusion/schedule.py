"""The forward process and the coefficient tables of the reverse samplers (numpy, float64).

:class:`NoiseSchedule` holds ``beta_1..beta_T``; :meth:`NoiseSchedule.sampler_tables` turns it into
a :class:`SamplerTables` (one row per reverse step) for DDPM or DDIM. The DDIM coefficients are a
function of ``alpha_bar`` at each step and the next (:func:`ddim_coefficients`), written once for
numpy and for TensorFlow tensors, so the SavedModel's in-graph tables (``steps`` known only at run
time) and the library's precomputed ones are the same formula.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from keras_aliasfree.constants import (DEFAULT_DDIM_STEPS, LOSS_WEIGHTINGS, PREDICTION_TYPES,
                                       SAMPLERS)
SCHEDULE_KINDS = ("linear", "cosine")


class SamplerTables(NamedTuple):
    """Per-step coefficients of the reverse process, written with the predicted clean image::

        x0_hat = (x_t - sigma * eps_hat) / sqrt_alpha_bar        (clipped to [-1, 1] by default)
        x_prev = coef_x0 * x0_hat + coef_xt * x_t + noise_std * z

    Each field is an array with one entry per reverse step, in sampling order (``timesteps`` runs
    from high to low). :class:`~keras_aliasfree.diffusion.samplers.DDPM` and ``DDIM`` apply one row per step.
    """

    timesteps: np.ndarray
    sqrt_alpha_bar: np.ndarray
    sigma: np.ndarray
    coef_x0: np.ndarray
    coef_xt: np.ndarray
    noise_std: np.ndarray

    def astype(self, dtype):
        """The same tables as numpy arrays of ``dtype`` (e.g. float32 for a compiled loop)."""
        return SamplerTables(*(np.asarray(v, dtype) for v in self))


def ddim_coefficients(alpha_bar, alpha_bar_prev, eta, xp=np):
    """``(sqrt_alpha_bar, sigma, coef_x0, coef_xt, noise_std)`` of DDIM steps (Song et al. eq. 16).

    ``x_prev = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - s^2) eps' + s z`` with ``eps'`` recomputed
    from ``x0_hat`` and ``s = eta * sqrt((1 - ab_prev) / (1 - ab)) * sqrt(1 - ab / ab_prev)``:
    ``eta = 0`` is deterministic DDIM, ``eta = 1`` DDPM's posterior noise on the shortened schedule.
    ``xp`` is the array namespace (``numpy`` or ``tf.math``): the SavedModel uses the same formula
    in-graph.

    Example:
        >>> [round(float(v[0]), 4) for v in ddim_coefficients(np.array([0.5]), np.array([1.0]), 0.0)]
        [0.7071, 0.7071, 1.0, 0.0, 0.0]
    """
    sigma = xp.sqrt(1.0 - alpha_bar)
    s = eta * xp.sqrt((1.0 - alpha_bar_prev) / (1.0 - alpha_bar)) * xp.sqrt(
        1.0 - alpha_bar / alpha_bar_prev)
    coef_xt = xp.sqrt(xp.maximum(1.0 - alpha_bar_prev - s * s, 0.0)) / sigma
    coef_x0 = xp.sqrt(alpha_bar_prev) - coef_xt * xp.sqrt(alpha_bar)
    return xp.sqrt(alpha_bar), sigma, coef_x0, coef_xt, s


def ddim_timesteps(steps, timesteps):
    """The DDIM timesteps: ``round(linspace(0, T-1, steps))`` without repeats, high to low.

    Example:
        >>> ddim_timesteps(5, 10).tolist()
        [9, 7, 4, 2, 0]
    """
    return np.unique(np.round(np.linspace(0, timesteps - 1, steps)).astype(int))[::-1]


def ddim_timesteps_tf(steps, timesteps):
    """In-graph DDIM timesteps: ``round(linspace(0, T-1, steps))`` reversed, int32 (TF ops).

    Computed in float64 as numpy's ``linspace`` does (``i * ((T-1)/(steps-1))``, the last value set
    to ``T-1``), then rounded half-to-even like ``np.round``, so it equals
    ``NoiseSchedule(T).sampling_timesteps("ddim", steps)`` for every ``1 <= steps <= T``.

    Example:
        >>> import tensorflow as tf
        >>> ddim_timesteps_tf(tf.constant(5), 1000).numpy().tolist()
        [999, 749, 500, 250, 0]
    """
    import tensorflow as tf

    n = tf.cast(steps, tf.int32)
    last = float(timesteps - 1)
    i = tf.cast(tf.range(n), tf.float64)
    step = tf.constant(last, tf.float64) / tf.cast(tf.maximum(n - 1, 1), tf.float64)
    vals = i * step
    vals = tf.where((tf.range(n) == n - 1) & (n > 1), tf.constant(last, tf.float64), vals)
    return tf.reverse(tf.cast(tf.round(vals), tf.int32), axis=[0])


class NoiseSchedule:
    """Forward-process variances ``beta_1..beta_T`` and derived tables (numpy float64).

    Args:
        timesteps: T (the paper: 1000).
        beta_start, beta_end: linear schedule end points (the paper: 1e-4, 0.02).
        kind: ``"linear"`` or ``"cosine"`` (Nichol & Dhariwal 2021, s = 0.008, betas capped at
            0.999; ``beta_start``/``beta_end`` are then unused).

    Attributes ``betas``, ``alphas``, ``alpha_bars`` are indexed by ``t = 0..T-1``.

    Example:
        >>> s = NoiseSchedule(1000)
        >>> s.betas.shape, round(float(s.alpha_bars[-1]), 5)
        ((1000,), 4e-05)
    """

    def __init__(self, timesteps=1000, beta_start=1e-4, beta_end=0.02, kind="linear"):
        timesteps = int(timesteps)
        if timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {timesteps}")
        if kind not in SCHEDULE_KINDS:
            raise ValueError(f"kind must be one of {SCHEDULE_KINDS}, got {kind!r}")
        if kind == "linear":
            if not 0.0 < beta_start <= beta_end < 1.0:
                raise ValueError("need 0 < beta_start <= beta_end < 1, got "
                                 f"beta_start={beta_start}, beta_end={beta_end}")
            betas = np.linspace(beta_start, beta_end, timesteps, dtype=np.float64)
        else:
            s = 0.008
            f = np.cos((np.arange(timesteps + 1) / timesteps + s) / (1 + s) * np.pi / 2) ** 2
            betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
        self.timesteps = timesteps
        self.beta_start = float(beta_start)
        self.beta_end = float(beta_end)
        self.kind = kind
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alpha_bars = np.cumprod(self.alphas)

    def get_config(self):
        return dict(timesteps=self.timesteps, beta_start=self.beta_start,
                    beta_end=self.beta_end, kind=self.kind)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return (f"NoiseSchedule(timesteps={self.timesteps}, beta_start={self.beta_start}, "
                f"beta_end={self.beta_end}, kind={self.kind!r})")

    def sampling_timesteps(self, sampler="ddpm", steps=None):
        """The timesteps a sampler visits, high to low (validates ``sampler`` and ``steps``).

        DDPM: all T steps (``steps`` must be ``None`` or T); DDIM: ``steps`` (default
        :data:`DEFAULT_DDIM_STEPS`) evenly spaced over ``0..T-1``.

        Example:
            >>> NoiseSchedule(10).sampling_timesteps("ddim", 5).tolist()
            [9, 7, 4, 2, 0]
        """
        T = self.timesteps
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        if sampler == "ddpm":
            if steps is not None and int(steps) != T:
                raise ValueError(f"DDPM runs all T={T} steps (Algorithm 2 of Ho et al.); got "
                                 f"steps={steps}. Use sampler='ddim' for fewer steps.")
            return np.arange(T - 1, -1, -1)
        steps = DEFAULT_DDIM_STEPS if steps is None else int(steps)
        if not 1 <= steps <= T:
            raise ValueError(f"DDIM steps must be in 1..{T}, got {steps}")
        return ddim_timesteps(steps, T)

    def snr(self):
        """Signal-to-noise ratio ``alpha_bar / (1 - alpha_bar)`` per timestep."""
        return self.alpha_bars / (1.0 - self.alpha_bars)

    def loss_weights(self, prediction="epsilon", weighting="uniform", snr_gamma=5.0):
        """Per-timestep weights of the squared *noise* error that give the chosen loss (float32).

        The network may predict eps, v or x0, but every one of them maps linearly onto
        ``eps_hat`` at a given t: ``v_hat - v = (eps_hat - eps) / sqrt(ab)`` and ``x0_hat - x0 =
        -(eps_hat - eps) / sqrt(SNR)``. So the MSE on the target is a weighted MSE on the noise
        with weight 1 (eps), ``1 / ab`` (v) or ``1 / SNR`` (x0); ``min_snr`` (Hang et al. 2023)
        reweights the target's MSE so that the noise weight is ``min(SNR, gamma) / SNR`` for all
        three.

        Example:
            >>> s = NoiseSchedule(1000)
            >>> w = s.loss_weights("v")
            >>> round(float(w[0]), 4), float(s.loss_weights("x0", "min_snr").max())
            (1.0001, 1.0)
        """
        if prediction not in PREDICTION_TYPES:
            raise ValueError(f"prediction must be one of {PREDICTION_TYPES}, got {prediction!r}")
        if weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f"loss weighting must be one of {LOSS_WEIGHTINGS}, got {weighting!r}")
        snr = self.snr()
        if weighting == "min_snr":
            if not float(snr_gamma) > 0.0:
                raise ValueError(f"snr_gamma must be > 0, got {snr_gamma}")
            return (np.minimum(snr, float(snr_gamma)) / snr).astype("float32")
        scale = {"epsilon": np.ones_like(snr), "v": 1.0 / self.alpha_bars, "x0": 1.0 / snr}
        return scale[prediction].astype("float32")

    def sampler_tables(self, sampler="ddpm", steps=None, eta=0.0) -> SamplerTables:
        """The :class:`SamplerTables` of a sampler (float64).

        DDPM (Ho et al. Algorithm 2, sigma_t^2 = beta_t): ``coef_x0, coef_xt`` are the posterior
        mean of ``q(x_prev | x_t, x0_hat)``, no noise at ``t = 0``. DDIM: :func:`ddim_coefficients`
        with ``eta`` (0 = deterministic, the default; 1 = DDPM-like noise).

        Example:
            >>> tab = NoiseSchedule(10).sampler_tables("ddim", 5)
            >>> tab.timesteps.tolist(), float(tab.coef_x0[-1]), float(tab.coef_xt[-1])
            ([9, 7, 4, 2, 0], 1.0, 0.0)
        """
        eta = float(eta)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        if sampler == "ddpm" and eta != 0.0:
            raise ValueError("eta applies to the DDIM sampler; DDPM always adds its noise")
        t = self.sampling_timesteps(sampler, steps)
        ab = self.alpha_bars[t]
        if sampler == "ddpm":
            ab_prev = np.where(t > 0, self.alpha_bars[np.maximum(t - 1, 0)], 1.0)
            be, al = self.betas[t], self.alphas[t]
            coef_x0 = np.sqrt(ab_prev) * be / (1.0 - ab)
            coef_xt = np.sqrt(al) * (1.0 - ab_prev) / (1.0 - ab)
            noise = np.where(t > 0, np.sqrt(be), 0.0)
            return SamplerTables(t, np.sqrt(ab), np.sqrt(1.0 - ab), coef_x0, coef_xt, noise)
        ab_prev = np.concatenate([self.alpha_bars[t[1:]], [1.0]])
        return SamplerTables(t, *ddim_coefficients(ab, ab_prev, eta))


def ve_sigmas(schedule):
    """The VE noise levels ``sigma = sqrt((1 - ab) / ab)`` of a schedule, per integer timestep.

    Example:
        >>> [round(float(s), 4) for s in ve_sigmas(NoiseSchedule(1000))[[0, -1]]]
        [0.01, 157.4073]
    """
    return np.sqrt((1.0 - schedule.alpha_bars) / schedule.alpha_bars)


def timestep_of_sigma(schedule, sigma):
    """The fractional timestep of VE noise levels: ``log sigma`` interpolated between steps.

    Example:
        >>> s = NoiseSchedule(1000)
        >>> timestep_of_sigma(s, ve_sigmas(s)[[0, 500]]).tolist()
        [0.0, 500.0]
    """
    return np.interp(np.log(sigma), np.log(ve_sigmas(schedule)),
                     np.arange(schedule.timesteps, dtype=np.float64))


def karras_sigmas(steps, sigma_min, sigma_max, rho=7.0):
    """Karras et al. 2022 eq. 5: ``steps`` sigmas from ``sigma_max`` to ``sigma_min``, then 0.

    Example:
        >>> [round(float(s), 3) for s in karras_sigmas(3, 0.1, 10.0)]
        [10.0, 1.451, 0.1, 0.0]
    """
    if steps == 1:
        return np.array([sigma_max, 0.0])
    ramp = np.linspace(0.0, 1.0, steps)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    return np.append((hi + ramp * (lo - hi)) ** rho, 0.0)


__all__ = ["ve_sigmas", "timestep_of_sigma", "karras_sigmas", "NoiseSchedule", "SamplerTables", "ddim_coefficients", "ddim_timesteps",
           "ddim_timesteps_tf", "SAMPLERS",
           "DEFAULT_DDIM_STEPS"]
