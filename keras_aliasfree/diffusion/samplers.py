"""Sampler objects: each owns its timestep or sigma table, its validation, its NFE and its state.

A sampler turns a :class:`~keras_aliasfree.diffusion.schedule.NoiseSchedule` into per-iteration
tables (numpy float32, computed once per schedule) and provides one loop iteration written in
``keras.ops``::

    x, state = sampler.step(x, state, row, denoise, noise)

``x`` is the VP-scaled image ``x_t = sqrt(ab) x0 + sqrt(1 - ab) eps`` (every sampler starts from
``x_T ~ N(0, I)`` and ends at the clean image), ``state`` a tuple of images the sampler carries
from one iteration to the next (the multistep solver's previous ``x0_hat``, Heun's start point and
slope), ``row`` one row of the tables (a dict of scalars) and ``denoise(x, t, sqrt_ab, sigma)``
the model's ``x0_hat`` (clipped to [-1, 1] under ``clip_denoised`` where ``clip_x0``). Every loop
iteration calls ``denoise`` once, so the number of iterations is the NFE. :func:`~keras_aliasfree.diffusion.sampling.build_sample_loop` drives the
step for :meth:`DiffusionModel.sample`; rotation-aware sampling turns ``x`` and every image of
``state`` by the same angle before each iteration (all of them are linear in images, so an
equivariant denoiser gives the plain sample turned).

Samplers: :class:`DDPM` (Ho et al. 2020), :class:`DDIM` (Song et al. 2021),
:class:`DPMSolverMultistep` (DPM-Solver++ 2M in data prediction, Lu et al. 2022), :class:`Euler`
and :class:`Heun` on Karras sigmas (Karras et al. 2022). :func:`get_sampler` builds one from a
name, a dict or an object.

Example:
    >>> from keras_aliasfree.diffusion import NoiseSchedule
    >>> s = get_sampler("dpm++2m", steps=10)
    >>> s, s.nfe(NoiseSchedule(1000))
    (DPMSolverMultistep(steps=10, order=2, spacing='logsnr'), 10)
    >>> s.get_config()
    {'name': 'dpm++2m', 'steps': 10, 'order': 2, 'spacing': 'logsnr'}
"""

from __future__ import annotations

import numpy as np
from keras import ops

from keras_aliasfree.constants import (DEFAULT_DDIM_STEPS, DEFAULT_SAMPLER,
                                       DEFAULT_SAMPLER_STEPS, SAMPLER_NAMES)
from keras_aliasfree.diffusion.schedule import (ddim_timesteps, karras_sigmas,
                                                timestep_of_sigma, ve_sigmas)


def _int_steps(steps, name):
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise ValueError(f"{name} steps must be an int >= 1, got {steps!r}")
    if steps < 1:
        raise ValueError(f"{name} steps must be >= 1, got {steps}")
    return int(steps)


class Sampler:
    """Base class: tables cached per schedule, ``get_config``/``from_config``, ``nfe``.

    Subclasses set ``name``, ``state_size`` (images carried besides x), ``stochastic`` (draws
    fresh noise each iteration) and ``clip_x0`` (honours ``clip_denoised``), and implement
    ``_tables(schedule)`` (dict of numpy arrays, one entry per loop iteration) and ``step``.
    """

    name = None
    state_size = 0
    stochastic = False
    #: whether ``denoise`` clips x0_hat to [-1, 1] when the caller asks for it (``clip_denoised``)
    clip_x0 = True

    def __init__(self):
        self._cache = {}

    def get_config(self):
        """The constructor arguments plus ``name``: :func:`get_sampler` rebuilds the sampler."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        config = {k: v for k, v in dict(config).items() if k != "name"}
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return isinstance(other, Sampler) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(tuple(sorted(self.get_config().items())))

    def tables(self, schedule):
        """The per-iteration tables for ``schedule`` (float32 numpy, computed once per schedule).

        Raises ``ValueError`` when the sampler's settings do not fit the schedule (e.g. more
        DDIM steps than T).
        """
        key = tuple(sorted(schedule.get_config().items()))
        if key not in self._cache:
            tabs = self._tables(schedule)
            self._cache[key] = {k: np.asarray(v, np.float32) for k, v in tabs.items()}
        return self._cache[key]

    def nfe(self, schedule):
        """Network evaluations of one sample (= loop iterations)."""
        return int(len(self.tables(schedule)["t"]))

    def init_state(self, x):
        """The carried images at the start (zeros like ``x``)."""
        return tuple(ops.zeros_like(x) for _ in range(self.state_size))

    def _tables(self, schedule):
        raise NotImplementedError

    def step(self, x, state, row, denoise, noise):
        raise NotImplementedError


class _TableSampler(Sampler):
    """DDPM and DDIM: ``x_prev = coef_x0 x0_hat + coef_xt x_t + noise_std z`` (SamplerTables)."""

    def _sampler_tables(self, schedule):
        raise NotImplementedError

    def _tables(self, schedule):
        tab = self._sampler_tables(schedule)
        return {"t": tab.timesteps, "sqrt_ab": tab.sqrt_alpha_bar, "sigma": tab.sigma,
                "coef_x0": tab.coef_x0, "coef_xt": tab.coef_xt, "noise_std": tab.noise_std}

    def step(self, x, state, row, denoise, noise):
        x0 = denoise(x, row["t"], row["sqrt_ab"], row["sigma"])
        x_prev = row["coef_x0"] * x0 + row["coef_xt"] * x
        return (x_prev if noise is None else x_prev + row["noise_std"] * noise), state


class DDPM(_TableSampler):
    """Ancestral sampling of Ho et al. 2020 (Algorithm 2, sigma_t^2 = beta_t): all T steps.

    NFE = T. Fresh noise every step but the last.

    Args:
        steps: ``None`` (default) or T; any other value is a ``ValueError`` (use :class:`DDIM`).

    Example:
        >>> from keras_aliasfree.diffusion import NoiseSchedule
        >>> DDPM().nfe(NoiseSchedule(100))
        100
    """

    name = "ddpm"
    stochastic = True

    def __init__(self, steps=None):
        super().__init__()
        self.steps = None if steps is None else _int_steps(steps, "DDPM")

    def get_config(self):
        return {"name": self.name} if self.steps is None else \
            {"name": self.name, "steps": self.steps}

    def _sampler_tables(self, schedule):
        return schedule.sampler_tables("ddpm", self.steps)


class DDIM(_TableSampler):
    """DDIM (Song et al. 2021, eq. 16) over ``steps`` timesteps evenly spaced in ``0..T-1``.

    Args:
        steps: number of steps = NFE (default :data:`DEFAULT_DDIM_STEPS`), 1..T.
        eta: fresh noise per step, 0 (deterministic, the default) to 1 (as much as DDPM's
            posterior on the shortened schedule).

    Example:
        >>> from keras_aliasfree.diffusion import NoiseSchedule
        >>> DDIM(5).tables(NoiseSchedule(10))["t"].tolist()
        [9.0, 7.0, 4.0, 2.0, 0.0]
    """

    name = "ddim"

    def __init__(self, steps=DEFAULT_DDIM_STEPS, eta=0.0):
        super().__init__()
        self.steps = _int_steps(steps, "DDIM")
        eta = float(eta)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        self.eta = eta
        self.stochastic = eta > 0.0

    def get_config(self):
        return {"name": self.name, "steps": self.steps, "eta": self.eta}

    def _sampler_tables(self, schedule):
        return schedule.sampler_tables("ddim", self.steps, self.eta)


def _vp(schedule, t):
    ab = schedule.alpha_bars[t]
    return np.sqrt(ab), np.sqrt(1.0 - ab)


#: timestep spacings of :class:`DPMSolverMultistep`: uniform in log-SNR (fractional timesteps)
#: or the DDIM timesteps
DPM_SPACINGS = ("logsnr", "linear")


class DPMSolverMultistep(Sampler):
    """DPM-Solver++ (Lu et al. 2022) in data prediction, multistep, order 1 or 2 ("2M").

    The ``steps`` model evaluations are spaced uniformly in log-SNR from ``t = T-1`` to ``t = 0``
    (``spacing="logsnr"``, the default, with fractional timesteps as the Karras samplers; Lu et
    al. recommend it for small images) or at the DDIM timesteps (``"linear"``), and a last step
    goes from ``t = 0`` to the clean image. With ``lambda = log(sqrt(ab) / sqrt(1 - ab))``,
    ``h = lambda_next - lambda``, the update is::

        x_next = (sigma_next / sigma) x + sqrt(ab_next) (1 - exp(-h)) D
        D = (1 + 1 / (2 r)) x0_hat - 1 / (2 r) x0_hat_prev,   r = h_prev / h   (order 2)

    with ``D = x0_hat`` on the first and the last step (order 1 there, as diffusers'
    ``lower_order_final``). The state is the previous ``x0_hat``. NFE = ``steps``.

    Args:
        steps: number of model evaluations, 1..T.
        order: 1 (DPM-Solver++ 1: deterministic DDIM on these timesteps) or 2 (default).
        spacing: ``"logsnr"`` (default) or ``"linear"`` (the DDIM timesteps).

    Example:
        >>> from keras_aliasfree.diffusion import NoiseSchedule
        >>> tab = DPMSolverMultistep(4, spacing="linear").tables(NoiseSchedule(1000))
        >>> tab["t"].tolist(), [round(float(v), 3) for v in tab["w_prev"]]
        ([999.0, 666.0, 333.0, 0.0], [0.0, -0.333, -1.333, 0.0])
    """

    name = "dpm++2m"
    state_size = 1

    def __init__(self, steps=DEFAULT_DDIM_STEPS, order=2, spacing="logsnr"):
        super().__init__()
        self.steps = _int_steps(steps, "DPM-Solver++")
        if isinstance(order, bool) or order not in (1, 2):
            raise ValueError(f"DPM-Solver++ order must be 1 or 2, got {order!r}")
        self.order = int(order)
        if spacing not in DPM_SPACINGS:
            raise ValueError(f"DPM-Solver++ spacing must be one of {DPM_SPACINGS}, got "
                             f"{spacing!r}")
        self.spacing = spacing

    def get_config(self):
        return {"name": self.name, "steps": self.steps, "order": self.order,
                "spacing": self.spacing}

    def _tables(self, schedule):
        T = schedule.timesteps
        if not 1 <= self.steps <= T:
            raise ValueError(f"DPM-Solver++ steps must be in 1..{T}, got {self.steps}")
        if self.spacing == "linear":
            t = ddim_timesteps(self.steps, T).astype(np.float64)
            alpha, sigma = _vp(schedule, t.astype(int))
        else:
            ve = ve_sigmas(schedule)
            lam = np.linspace(-np.log(ve[-1]), -np.log(ve[0]), self.steps)
            s = np.exp(-lam)
            t = timestep_of_sigma(schedule, s)
            alpha, sigma = 1.0 / np.sqrt(1.0 + s * s), s / np.sqrt(1.0 + s * s)
        lam = np.log(alpha / sigma)
        n = len(t)
        a, b = np.zeros(n), np.ones(n)  # the last step: x_0 = x0_hat
        h = np.full(n, np.inf)
        h[:-1] = lam[1:] - lam[:-1]
        a[:-1] = sigma[1:] / sigma[:-1]
        b[:-1] = alpha[1:] * -np.expm1(-h[:-1])
        w_cur, w_prev = np.ones(n), np.zeros(n)
        if self.order == 2:
            for i in range(1, n - 1):
                r = h[i - 1] / h[i]
                w_cur[i], w_prev[i] = 1.0 + 0.5 / r, -0.5 / r
        return {"t": t, "sqrt_ab": alpha, "sigma": sigma, "a": a, "b": b, "w_cur": w_cur,
                "w_prev": w_prev}

    def step(self, x, state, row, denoise, noise):
        (prev,) = state
        x0 = denoise(x, row["t"], row["sqrt_ab"], row["sigma"])
        d = row["w_cur"] * x0 + row["w_prev"] * prev
        return row["a"] * x + row["b"] * d, (x0,)


class _KarrasSampler(Sampler):
    """Euler / Heun on Karras sigmas, one model evaluation per loop iteration ("stage").

    The discrete VP schedule maps to VE noise levels ``sigma = sqrt((1 - ab) / ab)``; a sigma
    between two timesteps gets a fractional timestep by interpolating ``log sigma`` (the network
    takes float timesteps), and its ``ab = 1 / (1 + sigma^2)`` exactly. The loop carries the VP
    image ``x_t``; a stage works on ``x_ve = x_t sqrt(1 + sigma^2)`` with the Karras ODE slope
    ``d = (x_ve - x0_hat) / sigma``::

        x_ve' = c_start x_start + c_x x_ve + c_d d + c_dp d_prev,  x_t' = x_ve' / sqrt(1 + s'^2)

    A predictor (Euler) stage has ``c = (0, 1, h, 0)``, a corrector (Heun) stage
    ``(1, 0, h/2, h/2)`` with ``h = sigma_next - sigma``; the state is the stage's start
    ``x_start`` (VE) and slope ``d_prev``.

    With ``s_churn > 0`` (Karras et al. 2022, Algorithm 2) a predictor stage whose sigma is in
    ``[s_tmin, s_tmax]`` first raises it to ``s_hat = sigma (1 + gamma)``, ``gamma = min(s_churn /
    steps, sqrt(2) - 1)``, by adding fresh noise of VE standard deviation
    ``s_noise sqrt(s_hat^2 - sigma^2)``, and steps from there: the sampler is then stochastic
    (and its fresh noise turns with rotation-aware sampling like any other's).

    x0_hat is never clipped here (``clip_x0 = False``, whatever ``clip_denoised`` says): the slope
    divides x0_hat's error by sigma, and a clipped x0_hat near the data's bounds at small sigma
    gives slopes of order ``1 / sigma`` that throw the sample off (docs/SAMPLING.md).
    """

    state_size = 2
    second_order = False
    clip_x0 = False

    def __init__(self, steps=DEFAULT_DDIM_STEPS, rho=7.0, s_churn=0.0, s_tmin=0.0, s_tmax=None,
                 s_noise=1.0):
        super().__init__()
        self.steps = _int_steps(steps, type(self).__name__)
        if not float(rho) > 0.0:
            raise ValueError(f"rho must be > 0, got {rho}")
        self.rho = float(rho)
        for key, value in (("s_churn", s_churn), ("s_tmin", s_tmin), ("s_noise", s_noise)):
            if not (np.isfinite(float(value)) and float(value) >= 0.0):
                raise ValueError(f"{key} must be a finite number >= 0, got {value}")
        if s_tmax is not None and not float(s_tmax) >= float(s_tmin):
            raise ValueError(f"s_tmax must be None or >= s_tmin, got {s_tmax} < {s_tmin}")
        self.s_churn, self.s_tmin, self.s_noise = float(s_churn), float(s_tmin), float(s_noise)
        self.s_tmax = None if s_tmax is None else float(s_tmax)
        self.stochastic = self.s_churn > 0.0

    def get_config(self):
        config = {"name": self.name, "steps": self.steps, "rho": self.rho}
        if self.s_churn:
            config.update(s_churn=self.s_churn, s_tmin=self.s_tmin, s_tmax=self.s_tmax,
                          s_noise=self.s_noise)
        return config

    def sigmas(self, schedule):
        """The Karras sigmas (VE) from the schedule's ``sigma(T-1)`` to ``sigma(0)``, then 0."""
        ve = ve_sigmas(schedule)
        return karras_sigmas(self.steps, ve[0], ve[-1], self.rho)

    def _gamma(self, sigma):
        """The churn of a predictor stage at VE noise level ``sigma`` (0 without churn)."""
        inside = sigma >= self.s_tmin and (self.s_tmax is None or sigma <= self.s_tmax)
        return min(self.s_churn / self.steps, np.sqrt(2.0) - 1.0) if inside else 0.0

    def _tables(self, schedule):
        sig = self.sigmas(schedule)
        rows = []
        for i in range(self.steps):
            s, s_next = sig[i], sig[i + 1]
            s_hat = min(s * (1.0 + self._gamma(s)), sig[0])  # the schedule's top at most
            h = s_next - s_hat
            churn = self.s_noise * np.sqrt(s_hat * s_hat - s * s)
            rows.append((s, s_hat, s_next, churn, 0.0, 1.0, h, 0.0))  # predictor (Euler)
            if self.second_order and s_next > 0:  # corrector (Heun)
                rows.append((s_next, s_next, s_next, 0.0, 1.0, 0.0, h / 2, h / 2))
        s_in, s, s_next, churn, c_start, c_x, c_d, c_dp = (np.array(c) for c in zip(*rows))
        t = timestep_of_sigma(schedule, s)
        scale = np.sqrt(1.0 + s * s)
        tabs = {"t": t, "sqrt_ab": 1.0 / scale, "sigma": s / scale, "s": s, "scale_in": scale,
                "scale_out": 1.0 / np.sqrt(1.0 + s_next * s_next), "c_start": c_start,
                "c_x": c_x, "c_d": c_d, "c_dp": c_dp}
        if self.stochastic:  # x_t arrives at s_in; the stage evaluates at s (s_hat)
            tabs.update(scale_in=np.sqrt(1.0 + s_in * s_in), churn=churn, scale_eval=1.0 / scale)
        return tabs

    def step(self, x, state, row, denoise, noise):
        x_start, d_prev = state
        x_ve = x * row["scale_in"]
        if self.stochastic:
            x_ve = x_ve + row["churn"] * noise
            x = x_ve * row["scale_eval"]
        x0 = denoise(x, row["t"], row["sqrt_ab"], row["sigma"])
        d = (x_ve - x0) / row["s"]
        x_ve_new = (row["c_start"] * x_start + row["c_x"] * x_ve + row["c_d"] * d
                    + row["c_dp"] * d_prev)
        return x_ve_new * row["scale_out"], (x_ve, d)


class Euler(_KarrasSampler):
    """Euler's method on the probability-flow ODE over Karras sigmas (Karras et al. 2022).

    Args:
        steps: number of sigmas (the last step goes to sigma 0) = NFE.
        rho: the Karras schedule's exponent (default 7).
        s_churn, s_tmin, s_tmax, s_noise: EDM's churn (see :class:`_KarrasSampler`; off by
            default).

    Example:
        >>> from keras_aliasfree.diffusion import NoiseSchedule
        >>> Euler(10).nfe(NoiseSchedule(1000))
        10
    """

    name = "euler"


class Heun(_KarrasSampler):
    """Heun's second-order method over Karras sigmas (Karras et al. 2022, Algorithm 1).

    Every step but the last (to sigma 0, an Euler step) evaluates the model twice.

    Args:
        steps: number of sigmas; NFE = ``2 steps - 1``.
        rho: the Karras schedule's exponent (default 7).
        s_churn, s_tmin, s_tmax, s_noise: EDM's churn (Algorithm 2: fresh noise raises sigma
            before each predictor stage; see :class:`_KarrasSampler`; off by default).

    Example:
        >>> from keras_aliasfree.diffusion import NoiseSchedule
        >>> Heun(10).nfe(NoiseSchedule(1000))
        19
    """

    name = "heun"
    second_order = True


SAMPLER_CLASSES = {c.name: c for c in (DDPM, DDIM, DPMSolverMultistep, Euler, Heun)}
assert tuple(SAMPLER_CLASSES) == SAMPLER_NAMES


def get_sampler(spec="ddpm", steps=None, eta=None):
    """A :class:`Sampler` from an object, a config dict or a name (with ``steps`` / ``eta``).

    ``spec`` is a :class:`Sampler` (returned as is; ``steps`` must then be ``None``, ``eta``
    ``None`` or 0), a dict from :meth:`Sampler.get_config`, or one of :data:`SAMPLER_NAMES`:
    ``"ddpm"`` (all T steps: ``steps`` ``None`` or T; ``eta`` ``None`` or 0), ``"ddim"``
    (``steps``, ``eta``), ``"dpm++2m"``, ``"euler"``, ``"heun"`` (``steps``; no ``eta``). ``steps=None`` takes the
    sampler's default (:data:`DEFAULT_DDIM_STEPS`).

    Example:
        >>> get_sampler("ddim", steps=20, eta=1.0)
        DDIM(steps=20, eta=1.0)
        >>> get_sampler({"name": "heun", "steps": 10, "rho": 7.0})
        Heun(steps=10, rho=7.0)
    """
    if isinstance(spec, Sampler):
        if steps is not None or eta not in (None, 0, 0.0):
            raise ValueError(f"steps and eta belong to the sampler object {spec!r}; pass "
                             "them to its constructor")
        return spec
    if isinstance(spec, dict):
        name = spec.get("name")
        if name not in SAMPLER_CLASSES:
            raise ValueError(f"sampler config needs a 'name' in {SAMPLER_NAMES}, got {name!r}")
        return SAMPLER_CLASSES[name].from_config(spec)
    if spec not in SAMPLER_CLASSES:
        raise ValueError(f"sampler must be one of {SAMPLER_NAMES} or a Sampler, got {spec!r}")
    if spec == "ddpm":
        if eta not in (None, 0, 0.0):
            raise ValueError("eta applies to the DDIM sampler; DDPM always adds its noise")
        return DDPM(steps)
    if eta not in (None, 0, 0.0) and spec != "ddim":
        raise ValueError(f"eta applies to the DDIM sampler, not {spec!r}")
    kwargs = {} if steps is None else {"steps": steps}
    if spec == "ddim" and eta is not None:
        kwargs["eta"] = eta
    return SAMPLER_CLASSES[spec](**kwargs)


def sampler_from_options(name, steps=None, eta=0.0):
    """The sampler that a command line's ``--sampler``, ``--steps`` and ``--eta`` name.

    The one place of the rule for options that always have values: ``"ddpm"`` ignores ``steps``
    (it runs all T), only ``"ddim"`` reads ``eta``; another sampler with ``eta != 0`` is a
    ``ValueError`` (its update adds no noise). ``steps=None`` is the sampler's default
    (:data:`~keras_aliasfree.constants.DEFAULT_SAMPLER_STEPS` for the default sampler, Heun).

    Example:
        >>> sampler_from_options("ddpm", 50, 0.0), sampler_from_options("heun", 10, 0.0)
        (DDPM(), Heun(steps=10, rho=7.0))
    """
    if name == "ddpm":
        return get_sampler(name, None, eta)
    if steps is None and name == DEFAULT_SAMPLER:
        steps = DEFAULT_SAMPLER_STEPS
    return get_sampler(name, steps, eta if name == "ddim" else (eta or None))


__all__ = ["Sampler", "sampler_from_options", "DDPM", "DDIM", "DPMSolverMultistep", "Euler",
           "Heun", "get_sampler",
           "karras_sigmas", "SAMPLER_CLASSES", "SAMPLER_NAMES"]
