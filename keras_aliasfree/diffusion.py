"""Noise schedule, :class:`DiffusionModel` (training with ``model.fit``, EMA) and in-graph sampling.

* :class:`NoiseSchedule` -- linear (Ho et al.) or cosine (Nichol & Dhariwal) betas.
* :class:`DiffusionModel` -- wraps a noise-prediction network ``denoiser([x_t, t]) -> eps``.
  ``compile(optimizer=...)`` + ``fit(images)`` trains it on TensorFlow, JAX and PyTorch: every step
  draws timesteps and noise from a ``keras.random.SeedGenerator`` owned by the model (its state
  advances inside the compiled step), noises the batch and minimises the MSE on the noise. An
  exponential moving average (EMA) of the weights is kept in non-trainable variables, updated after
  every optimizer step, used by :meth:`DiffusionModel.sample` and saved with checkpoints.
* Sampling -- DDPM (Algorithm 2 of Ho et al. 2020, all T steps) or DDIM (eta = 0, any number of
  steps), the whole reverse loop in-graph with ``keras.ops.fori_loop`` (compiled once per
  (num, sampler, steps, rotation method) with ``jax.jit`` / ``tf.function``; PyTorch runs it eagerly
  under ``no_grad``). With ``rotation=phi`` x_t is rotated by ``phi/steps`` degrees about the image
  centre before every reverse step, so the image arrives turned by ``phi`` (the paper's modified
  diffusion process). ``rotation=0`` skips the rotation entirely, so it reproduces plain sampling
  bit for bit for the same seed.
* Checkpoints -- a directory (see ``docs/TRAINING.md``); :meth:`DiffusionModel.save_checkpoint`
  writes it atomically, :func:`load_checkpoint` / :meth:`DiffusionModel.from_checkpoint` read it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time

import keras
import numpy as np
from keras import ops

from keras_aliasfree._io import replace_directory

_PACKAGE = "keras_aliasfree"
CHECKPOINT_FORMAT = "keras_aliasfree.checkpoint"
CHECKPOINT_VERSION = 1
SAMPLERS = ("ddpm", "ddim")
ROTATION_METHODS = ("fft", "bilinear", "cubic")
DEFAULT_ROTATION_METHOD = "fft"
BAND_LIMITS = ("auto", "disc", None)
#: raised-cosine roll-off of the training-data low-pass under ``band_limit="disc"``: flat up to
#: 0.8 x Nyquist, zero from Nyquist (the disc radius) on; see :class:`DiffusionModel`.
DATA_TAPER = 0.2


# ----------------------------------------------------------------------------- schedule

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
        if kind not in ("linear", "cosine"):
            raise ValueError(f"kind must be 'linear' or 'cosine', got {kind!r}")
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

    def sampling_tables(self, sampler="ddpm", steps=None):
        """Per-step tables ``(t, a, b, s)`` for ``x_prev = a*x_t + b*eps_hat + s*z`` (float64).

        DDPM (Ho et al. Algorithm 2, sigma_t^2 = beta_t): all T steps, ``t = T-1..0``, no noise at
        ``t = 0``. DDIM (eta = 0): ``steps`` timesteps evenly spaced over ``0..T-1``, deterministic.

        Example:
            >>> t, a, b, s = NoiseSchedule(10).sampling_tables("ddim", 5)
            >>> t.tolist(), float(s.max())
            ([9, 7, 4, 2, 0], 0.0)
        """
        T = self.timesteps
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        if sampler == "ddpm":
            if steps is not None and int(steps) != T:
                raise ValueError(f"DDPM runs all T={T} steps (Algorithm 2 of Ho et al.); got "
                                 f"steps={steps}. Use sampler='ddim' for fewer steps.")
            t = np.arange(T - 1, -1, -1)
            al, ab, be = self.alphas[t], self.alpha_bars[t], self.betas[t]
            a = 1.0 / np.sqrt(al)
            b = -be / (np.sqrt(al) * np.sqrt(1.0 - ab))
            s = np.where(t > 0, np.sqrt(be), 0.0)
            return t, a, b, s
        steps = 50 if steps is None else int(steps)
        if not 1 <= steps <= T:
            raise ValueError(f"DDIM steps must be in 1..{T}, got {steps}")
        t = np.unique(np.round(np.linspace(0, T - 1, steps)).astype(int))[::-1]
        ab = self.alpha_bars[t]
        ab_prev = np.concatenate([self.alpha_bars[t[1:]], [1.0]])
        a = np.sqrt(ab_prev) / np.sqrt(ab)
        b = np.sqrt(1.0 - ab_prev) - np.sqrt(ab_prev) * np.sqrt(1.0 - ab) / np.sqrt(ab)
        return t, a, b, np.zeros_like(a)

    def x0_tables(self, sampler="ddpm", steps=None, eta=0.0):
        """Per-step tables ``(t, sqrt_ab, sigma, cx, ce, s)`` of the same samplers, written with
        the predicted clean image (float64)::

            x0_hat = (x_t - sigma * eps_hat) / sqrt_ab        (clipped to [-1, 1] by default)
            x_prev = cx * x0_hat + ce * x_t + s * z

        DDPM: ``cx, ce`` are the coefficients of the posterior mean ``q(x_prev | x_t, x0_hat)``;
        DDIM: ``x_prev = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - s^2) eps' + s z`` with ``eps'``
        recomputed from ``x0_hat`` and ``s = eta * sqrt((1 - ab_prev) / (1 - ab)) *
        sqrt(1 - ab / ab_prev)`` (Song et al. 2021, eq. 16: ``eta = 0`` deterministic, ``eta = 1``
        the DDPM posterior noise on the shortened schedule). Without clipping and with ``eta = 0``
        this is exactly :meth:`sampling_tables`.

        Example:
            >>> t, ra, sg, cx, ce, s = NoiseSchedule(10).x0_tables("ddim", 5)
            >>> float(cx[-1]), float(ce[-1])   # the last step returns x0_hat
            (1.0, 0.0)
        """
        eta = float(eta)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        if sampler == "ddpm" and eta != 0.0:
            raise ValueError("eta applies to the DDIM sampler; DDPM always adds its noise")
        t, _, _, s = self.sampling_tables(sampler, steps)
        ab = self.alpha_bars[t]
        sigma = np.sqrt(1.0 - ab)
        if sampler == "ddpm":
            ab_prev = np.where(t > 0, self.alpha_bars[np.maximum(t - 1, 0)], 1.0)
            be, al = self.betas[t], self.alphas[t]
            cx = np.sqrt(ab_prev) * be / (1.0 - ab)
            ce = np.sqrt(al) * (1.0 - ab_prev) / (1.0 - ab)
        else:
            ab_prev = np.concatenate([self.alpha_bars[t[1:]], [1.0]])
            s = eta * np.sqrt((1.0 - ab_prev) / (1.0 - ab)) * np.sqrt(1.0 - ab / ab_prev)
            ce = np.sqrt(np.maximum(1.0 - ab_prev - s * s, 0.0)) / sigma
            cx = np.sqrt(ab_prev) - ce * np.sqrt(ab)
        return t, np.sqrt(ab), sigma, cx, ce, s


# ----------------------------------------------------------------------------- model

def _backend():
    return keras.backend.backend()


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DiffusionModel(keras.Model):
    """A denoising diffusion model around a noise-prediction network.

    Args:
        denoiser: a built ``keras.Model`` taking ``[noisy_images (B,H,W,C), timesteps (B,)]`` and
            returning the predicted noise, e.g. :func:`keras_aliasfree.unet.build_unet`.
        schedule: a :class:`NoiseSchedule` (default: linear, T = 1000, 1e-4..0.02).
        ema_decay: EMA decay; the effective decay at update n is ``min(ema_decay, (1+n)/(10+n))``
            so early averages are not dominated by the random initialisation. 0 disables averaging
            (the EMA copy then equals the weights).
        seed: seed of the model's ``SeedGenerator`` (timesteps and noise of the training steps).
        band_limit: ``"disc"``, ``None`` or ``"auto"`` (default): ``"disc"`` for a UNet of config
            C or D with the default filters, ``None`` otherwise (A, B, the ``paper`` preset, or a
            network that is not a :func:`~keras_aliasfree.unet.build_unet` model).

    Band limit. A filtered activation with a radially symmetric (jinc) low-pass keeps only the
    disc of frequencies that a rotation maps onto itself, so every path of a C/D UNet to its
    output is disc-limited, while the noise it must predict is white: it fills the whole square
    band, corners included (21% of it). No convolution can put the corners back, and a sampler
    that never removes the corner noise ends in a checkerboard (``docs/DESIGN_NOTES.md``). With
    ``band_limit="disc"`` the model treats the data as band-limited to the disc, which makes the
    corners of ``x_t`` pure noise with a known scale, so their noise is predicted exactly, in
    closed form, and the network predicts the disc::

        eps_hat(x_t, t) = P(net(x_t, t)) + (x_t - P(x_t)) / sqrt(1 - alpha_bar_t)

    where ``P`` is the ideal disc projection (:func:`~keras_aliasfree.transforms.disc_lowpass`,
    radius = Nyquist). Training images are low-passed to the disc first (raised-cosine roll-off
    from 0.8 x Nyquist, :data:`DATA_TAPER`), so the loss on the corners is zero and the network
    learns the disc only; samples come out band-limited to the disc. The same ``eps_hat`` is
    used by :meth:`sample`, by :meth:`predict_noise` and by the exported SavedModel.

    ``fit`` accepts images (float, [-1, 1], NHWC) as an array or a dataset yielding images or
    ``(images, labels)``; labels are ignored.

    Example:
        >>> import numpy as np, keras
        >>> from keras_aliasfree.unet import build_unet
        >>> net = build_unet("A", image_size=8, base_width=8, channel_mults=(1, 2),
        ...                  bottleneck_mult=2, attention=False, time_dim=16)
        >>> dm = DiffusionModel(net, NoiseSchedule(20), seed=0)
        >>> dm.compile(optimizer=keras.optimizers.AdamW(1e-3))
        >>> _ = dm.fit(np.zeros((8, 8, 8, 1), "float32"), batch_size=4, epochs=1, verbose=0)
        >>> dm.sample(2, sampler="ddim", steps=5, seed=1, verbose=0).shape
        (2, 8, 8, 1)
    """

    def __init__(self, denoiser, schedule=None, ema_decay=0.999, seed=None, band_limit="auto",
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(denoiser, keras.Model):
            raise TypeError(f"denoiser must be a keras.Model, got {type(denoiser).__name__}")
        if len(denoiser.inputs or []) != 2:
            raise ValueError("denoiser must take two inputs [noisy_images, timesteps]; got "
                             f"{len(denoiser.inputs or [])} input(s)")
        shape = tuple(denoiser.inputs[0].shape)
        if len(shape) != 4 or any(d is None for d in shape[1:]):
            raise ValueError("denoiser's image input must have a static shape (None, H, W, C); "
                             f"got {shape}")
        if not 0.0 <= float(ema_decay) < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        self.denoiser = denoiser
        self.band_limit = resolve_band_limit(band_limit, denoiser)
        self.schedule = schedule if schedule is not None else NoiseSchedule()
        self.ema_decay = float(ema_decay)
        self.image_shape = tuple(int(d) for d in shape[1:])
        self.seed_generator = keras.random.SeedGenerator(seed, name="train_seed_generator")
        self._ema_pairs = []
        for i, v in enumerate(denoiser.trainable_variables):
            e = self.add_weight(shape=tuple(v.shape), dtype=v.dtype, initializer="zeros",
                                trainable=False, name=f"ema_{i}")
            e.assign(ops.convert_to_numpy(v.value))  # a copy: JAX must not share the buffer
            self._ema_pairs.append((v, e))
        self.ema_updates = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                           trainable=False, name="ema_updates")
        tables = self.schedule
        self._sqrt_ab = np.sqrt(tables.alpha_bars).astype("float32")
        self._sqrt_1mab = np.sqrt(1.0 - tables.alpha_bars).astype("float32")
        self._sample_fns = {}
        self.built = True

    # -- properties ---------------------------------------------------------------------------
    @property
    def ema_variables(self):
        """EMA copies, in the order of ``denoiser.trainable_variables``."""
        return [e for _, e in self._ema_pairs]

    def get_config(self):
        return {**super().get_config(),
                "denoiser": keras.saving.serialize_keras_object(self.denoiser),
                "schedule": self.schedule.get_config(), "ema_decay": self.ema_decay,
                "band_limit": self.band_limit}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        denoiser = keras.saving.deserialize_keras_object(config.pop("denoiser"))
        schedule = NoiseSchedule(**config.pop("schedule"))
        return cls(denoiser, schedule, **config)

    # -- training -----------------------------------------------------------------------------
    def call(self, inputs, training=False):
        # The forward pass of fit() is done in compute_loss (random t and noise); call is a no-op.
        return inputs

    def _images(self, x):
        if isinstance(x, (tuple, list)):
            x = x[0]
        if isinstance(x, dict):
            for k in ("image", "images", "x"):
                if k in x:
                    x = x[k]
                    break
            else:
                raise ValueError(f"a dict batch needs an 'image' key, got keys {sorted(x)}")
        shape = tuple(x.shape)
        if len(shape) != 4 or tuple(shape[1:]) != self.image_shape:
            raise ValueError(f"DiffusionModel expects image batches of shape (batch, "
                             f"{', '.join(map(str, self.image_shape))}), got {shape}")
        return ops.cast(x, "float32")

    def band_limit_images(self, images):
        """The training images as the model sees them: low-passed to the disc under
        ``band_limit="disc"`` (see the class docs), unchanged otherwise."""
        x0 = ops.cast(ops.convert_to_tensor(images), "float32")
        if self.band_limit is None:
            return x0
        from keras_aliasfree.transforms import disc_lowpass
        return disc_lowpass(x0, taper=DATA_TAPER)

    def predict_noise(self, noisy_images, timesteps, training=False, _sigma=None):
        """The model's noise prediction ``eps_hat(x_t, t)`` (integer timesteps, one per image).

        The denoiser's output, with the band limit applied (see the class docs); sampling, the
        loss and the SavedModel's ``denoise`` signature all use it.
        """
        if isinstance(timesteps, (int, list, tuple, np.ndarray, np.integer)):
            t_np = np.asarray(timesteps)
            T = self.schedule.timesteps
            if t_np.size and (t_np.min() < 0 or t_np.max() >= T):
                raise ValueError(f"timesteps must be in 0..{T - 1}, got {t_np.min()}..{t_np.max()}")
        x = ops.cast(ops.convert_to_tensor(noisy_images), "float32")
        t = ops.convert_to_tensor(timesteps)
        eps = ops.cast(self.denoiser([x, ops.cast(t, "float32")], training=training), "float32")
        if self.band_limit is None:
            return eps
        sigma = _sigma
        if sigma is None:
            sigma = ops.take(ops.convert_to_tensor(self._sqrt_1mab), ops.cast(t, "int32"))
        return apply_band_limit(eps, x, sigma)

    def diffusion_loss(self, images, training=True):
        """MSE between the drawn noise and the predicted noise for random timesteps."""
        x0 = self.band_limit_images(self._images(images))
        n = ops.shape(x0)[0]
        T = self.schedule.timesteps
        t = keras.random.randint((n,), 0, T, dtype="int32", seed=self.seed_generator)
        eps = keras.random.normal(ops.shape(x0), dtype="float32", seed=self.seed_generator)
        ca = ops.reshape(ops.take(ops.convert_to_tensor(self._sqrt_ab), t), (-1, 1, 1, 1))
        cb = ops.reshape(ops.take(ops.convert_to_tensor(self._sqrt_1mab), t), (-1, 1, 1, 1))
        x_t = ca * x0 + cb * eps
        pred = self.predict_noise(x_t, t, training=training, _sigma=cb)
        return ops.mean(ops.square(pred - eps))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = self.diffusion_loss(x, training=training)
        if self.losses:
            loss = loss + ops.sum(ops.stack([ops.cast(v, "float32") for v in self.losses]))
        return loss

    def _ema_decay_tensor(self, n):
        n = ops.cast(n, "float32")
        return ops.minimum(ops.convert_to_tensor(self.ema_decay, "float32"),
                           (1.0 + n) / (10.0 + n))

    def train_step(self, *args):
        if _backend() == "jax":
            state, data = args
            logs, state = super().train_step(state, data)
            tv, ntv, ov, mv = state
            tv_index = {id(v): i for i, v in enumerate(self.trainable_variables)}
            ntv_index = {id(v): i for i, v in enumerate(self.non_trainable_variables)}
            ntv = list(ntv)
            k = ntv_index[id(self.ema_updates)]
            d = self._ema_decay_tensor(ntv[k])
            for raw, ema in self._ema_pairs:
                j = ntv_index[id(ema)]
                new = tv[tv_index[id(raw)]]
                ntv[j] = ops.cast(d * ntv[j] + (1.0 - d) * new, ema.dtype)
            ntv[k] = ntv[k] + 1
            return logs, (tv, ntv, ov, mv)
        logs = super().train_step(*args)
        self._update_ema()
        return logs

    def _update_ema(self):
        d = self._ema_decay_tensor(self.ema_updates.value)
        for raw, ema in self._ema_pairs:
            ema.assign(ops.cast(d * ema.value + (1.0 - d) * raw.value, ema.dtype))
        self.ema_updates.assign(self.ema_updates.value + 1)

    def reset_ema(self):
        """Copy the current weights into the EMA copy (e.g. after loading raw weights)."""
        for raw, ema in self._ema_pairs:
            ema.assign(ops.convert_to_numpy(raw.value))

    # -- sampling -----------------------------------------------------------------------------
    def _build_sample_fns(self, num, sampler, steps, rotate, method, clip, eta):
        t_tab, ra_tab, sig_tab, cx_tab, ce_tab, s_tab = self.schedule.x0_tables(sampler, steps,
                                                                                 eta)
        n_steps = len(t_tab)
        shape = (num,) + self.image_shape
        denoiser = self.denoiser
        band_limit = self.band_limit
        rotate_fn = None
        if rotate:
            from keras_aliasfree.transforms import rotate as rotate_fn  # noqa: F811
        sg = keras.random.SeedGenerator(0, name="sample_seed_generator")
        tv_refs = list(denoiser.trainable_variables)
        ntv_refs = list(denoiser.non_trainable_variables)
        tables = [ops.convert_to_tensor(np.asarray(v, "float32"))
                  for v in (t_tab, ra_tab, sig_tab, cx_tab, ce_tab, s_tab)]

        def draw(seed_state):
            with keras.StatelessScope(state_mapping=[(sg.state, seed_state)]) as scope:
                z = keras.random.normal(shape, dtype="float32", seed=sg)
                new_state = scope.get_current_value(sg.state)
            return z, new_state

        def init(seed_state):
            return draw(seed_state)

        def run(x, seed_state, weights, nt_weights, angle, start, stop):
            tt, ra, sg_tab, cx, ce, ss = tables

            def body(i, carry):
                x, seed_state = carry
                if rotate:
                    x = rotate_fn(x, angle, method=method)
                t = ops.take(tt, i)
                mapping = list(zip(tv_refs, weights)) + list(zip(ntv_refs, nt_weights))
                with keras.StatelessScope(state_mapping=mapping):
                    eps = denoiser([x, ops.broadcast_to(t, (num,))], training=False)
                eps = ops.cast(eps, "float32")
                sigma = ops.take(sg_tab, i)
                if band_limit is not None:
                    eps = apply_band_limit(eps, x, sigma)
                x0 = (x - sigma * eps) / ops.take(ra, i)
                if clip:
                    x0 = ops.clip(x0, -1.0, 1.0)
                z, seed_state = draw(seed_state)
                x = ops.take(cx, i) * x0 + ops.take(ce, i) * x + ops.take(ss, i) * z
                return x, seed_state

            return ops.fori_loop(start, stop, body, (x, seed_state))

        backend = _backend()
        if backend == "jax":
            import jax
            init, run = jax.jit(init), jax.jit(run)
        elif backend == "tensorflow":
            import tensorflow as tf
            init = tf.function(init, autograph=False, reduce_retracing=True)
            run = tf.function(run, autograph=False, reduce_retracing=True)
        elif backend == "torch":
            import torch
            init, run = torch.no_grad()(init), torch.no_grad()(run)
        return init, run, n_steps

    def sample(self, num_images, steps=None, sampler="ddpm", rotation=0.0, seed=None,
               return_trajectory=False, rotation_method=None, use_ema=True, verbose="auto",
               clip_denoised=True, eta=0.0):
        """Generate ``num_images`` images, optionally turned by ``rotation`` degrees.

        Args:
            num_images: number of images N.
            steps: DDPM: ``None`` or T (all steps); DDIM: number of steps (default 50).
            sampler: ``"ddpm"`` or ``"ddim"`` (eta = 0).
            rotation: degrees (counter-clockwise); x_t is rotated by ``rotation/steps`` before each
                reverse step. 0 = plain sampling (bit-identical for the same seed).
            seed: int for reproducible samples; ``None`` draws a fresh seed.
            return_trajectory: also return x_t at about 10 evenly spaced points of the reverse
                process (first = the initial noise), shape ``(K, N, H, W, C)``.
            rotation_method: ``"fft"`` (default; band-limited three-shear, keeps the noise
                variance) or ``"bilinear"`` (the paper-style interpolating rotation).
            use_ema: sample with the EMA weights (default) or the raw trained weights.
            verbose: progress bar; ``"auto"`` shows it for runs of >= 100 steps.
            clip_denoised: clip the predicted clean image ``x0_hat`` to [-1, 1] at every step
                (default, as Ho et al.'s released code does); each step then moves toward an
                image in the data range. ``False`` gives the textbook update (Algorithm 2 /
                DDIM), which diverges for a denoiser that is not yet accurate.
            eta: DDIM only: 0 (default) = deterministic DDIM; 1 = as much fresh noise per step as
                DDPM's posterior (Song et al. 2021), which forgives a less accurate denoiser.

        Returns:
            float32 numpy array in [-1, 1], shape (N, H, W, C) (and the trajectory if asked).

        Example:
            >>> # dm = DiffusionModel(build_unet("D-1N"), ...); dm.fit(...)
            >>> # grid = dm.sample(16, sampler="ddim", steps=100, rotation=45, seed=0)
        """
        num = int(num_images)
        if num < 1:
            raise ValueError(f"num_images must be >= 1, got {num_images}")
        method = DEFAULT_ROTATION_METHOD if rotation_method is None else rotation_method
        if method not in ROTATION_METHODS:
            raise ValueError(f"rotation_method must be one of {ROTATION_METHODS}, got {method!r}")
        rotation = float(rotation)
        if not math.isfinite(rotation):
            raise ValueError(f"rotation must be a finite number of degrees, got {rotation}")
        rotate = rotation != 0.0
        clip = bool(clip_denoised)
        eta = float(eta)
        key = (num, sampler, None if steps is None else int(steps), rotate,
               method if rotate else None, clip, eta)
        if key not in self._sample_fns:
            self._sample_fns[key] = self._build_sample_fns(num, sampler, steps, rotate, method,
                                                           clip, eta)
        init, run, n_steps = self._sample_fns[key]

        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0] & 0x7FFFFFFF)
        seed_state = keras.random.SeedGenerator(int(seed)).state.value
        weights = [e.value for e in self.ema_variables] if use_ema else \
            [v.value for v in self.denoiser.trainable_variables]
        nt_weights = [v.value for v in self.denoiser.non_trainable_variables]
        angle = ops.convert_to_tensor(rotation / n_steps, "float32")

        if verbose == "auto":
            verbose = n_steps >= 100
        chunks = 10 if (return_trajectory or verbose) else 1
        bounds = np.unique(np.round(np.linspace(0, n_steps, chunks + 1)).astype(int))
        bar = keras.utils.Progbar(n_steps, unit_name="step") if verbose else None
        x, seed_state = init(seed_state)
        trajectory = [ops.convert_to_numpy(x)] if return_trajectory else None
        torch_backend = _backend() == "torch"
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            if torch_backend:
                start, stop = int(lo), int(hi)
            else:
                start = ops.convert_to_tensor(int(lo), "int32")
                stop = ops.convert_to_tensor(int(hi), "int32")
            x, seed_state = run(x, seed_state, weights, nt_weights, angle, start, stop)
            if return_trajectory:
                trajectory.append(ops.convert_to_numpy(x))
            if bar is not None:
                bar.update(int(hi))
        out = np.clip(ops.convert_to_numpy(x).astype("float32"), -1.0, 1.0)
        if return_trajectory:
            return out, np.stack(trajectory).astype("float32")
        return out

    # -- checkpoints --------------------------------------------------------------------------
    def checkpoint_config(self):
        """The ``config.json`` content of a checkpoint."""
        unet_config = getattr(self.denoiser, "unet_config", None)
        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "unet": unet_config,
            "image_size": list(self.image_shape[:2]),
            "channels": self.image_shape[2],
            "schedule": self.schedule.get_config(),
            "ema_decay": self.ema_decay,
            "band_limit": self.band_limit,
            "keras_version": keras.__version__,
            "backend": _backend(),
        }

    def _save_denoiser_weights(self, path, values):
        # numpy copies: on PyTorch `v.value` is the live tensor that assign() overwrites in place
        raw = [ops.convert_to_numpy(v.value).copy() for v in self.denoiser.trainable_variables]
        try:
            for v, val in zip(self.denoiser.trainable_variables, values):
                v.assign(val)
            self.denoiser.save_weights(path)
        finally:
            for v, val in zip(self.denoiser.trainable_variables, raw):
                v.assign(val)

    def save_checkpoint(self, directory, training_state=None, include_optimizer=True):
        """Write a checkpoint directory atomically (temp dir, then rename over ``directory``).

        Layout: ``config.json``, ``ema.weights.h5`` and ``raw.weights.h5`` (denoiser weights, load
        into ``unet_from_config(config["unet"])``), ``training_state.json`` (step, EMA updates,
        RNG state, optimizer config, plus ``training_state``) and ``optimizer.npz`` (optimizer
        variables) when the model has a built optimizer.

        Example:
            >>> # dm.save_checkpoint("run/checkpoints/epoch_0003", {"epoch": 3})
        """
        directory = os.path.abspath(os.fspath(directory))
        parent = os.path.dirname(directory)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(directory) + "-", dir=parent)
        try:
            with open(os.path.join(tmp, "config.json"), "w") as f:
                json.dump(self.checkpoint_config(), f, indent=2)
            self.denoiser.save_weights(os.path.join(tmp, "raw.weights.h5"))
            self._save_denoiser_weights(os.path.join(tmp, "ema.weights.h5"),
                                        [e.value for e in self.ema_variables])
            state = dict(training_state or {})
            state["ema_updates"] = int(ops.convert_to_numpy(self.ema_updates.value))
            state["seed_state"] = ops.convert_to_numpy(
                self.seed_generator.state.value).astype("int64").tolist()
            opt = getattr(self, "optimizer", None)
            if include_optimizer and opt is not None and opt.built:
                store = {}
                opt.save_own_variables(store)
                np.savez(os.path.join(tmp, "optimizer.npz"),
                         **{k: np.asarray(ops.convert_to_numpy(v)) for k, v in store.items()})
                state["step"] = int(ops.convert_to_numpy(opt.iterations.value))
                state["optimizer"] = keras.optimizers.serialize(opt)
            state["saved_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            with open(os.path.join(tmp, "training_state.json"), "w") as f:
                json.dump(state, f, indent=2, default=_json_default)
            for name in os.listdir(tmp):
                _fsync(os.path.join(tmp, name))
            replace_directory(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return directory

    def load_weights_from_checkpoint(self, directory):
        """Load raw and EMA weights, EMA counter and RNG state from a checkpoint directory."""
        directory = find_checkpoint(directory)
        self.denoiser.load_weights(os.path.join(directory, "ema.weights.h5"))
        ema_values = [ops.convert_to_numpy(v.value).copy() for v in self.denoiser.trainable_variables]
        self.denoiser.load_weights(os.path.join(directory, "raw.weights.h5"))
        for e, val in zip(self.ema_variables, ema_values):
            e.assign(val)
        state = read_training_state(directory)
        if "ema_updates" in state:
            self.ema_updates.assign(int(state["ema_updates"]))
        if "seed_state" in state:
            self.seed_generator.state.assign(
                np.asarray(state["seed_state"]).astype(
                    keras.backend.standardize_dtype(self.seed_generator.state.dtype)))
        return state

    def restore_training_state(self, directory):
        """Resume: weights, EMA, RNG state and optimizer variables. Call after ``compile``.

        Returns the ``training_state.json`` dict (``epoch``, ``step``, ...).
        """
        directory = find_checkpoint(directory)
        state = self.load_weights_from_checkpoint(directory)
        opt_path = os.path.join(directory, "optimizer.npz")
        if os.path.exists(opt_path):
            if getattr(self, "optimizer", None) is None:
                raise ValueError("restore_training_state needs a compiled model (call compile "
                                 "with the optimizer first)")
            if not self.optimizer.built:
                self.optimizer.build(self.trainable_variables)
            with np.load(opt_path) as data:
                store = {k: data[k] for k in data.files}
            self.optimizer.load_own_variables(store)
        return state

    @classmethod
    def from_checkpoint(cls, directory, **kwargs):
        """Rebuild a model (UNet, schedule, EMA and raw weights, RNG state) from a checkpoint.

        ``directory`` may be a checkpoint or a training run directory (its latest checkpoint).

        Example:
            >>> # dm = DiffusionModel.from_checkpoint("runs/mnist_d1n")
            >>> # images = dm.sample(16, sampler="ddim", steps=100, rotation=90, seed=0)
        """
        directory, config, denoiser = denoiser_from_checkpoint(directory)
        kwargs.setdefault("ema_decay", config.get("ema_decay", 0.999))
        # checkpoints written before the band limit existed were trained without one
        kwargs.setdefault("band_limit", config.get("band_limit"))
        model = cls(denoiser, NoiseSchedule(**config["schedule"]), **kwargs)
        model.load_weights_from_checkpoint(directory)
        return model


# ----------------------------------------------------------------------------- band limit

def resolve_band_limit(band_limit, denoiser=None):
    """``"auto"`` -> ``"disc"`` for a C/D UNet with the default filters, else ``None``.

    Example:
        >>> resolve_band_limit("auto"), resolve_band_limit("disc"), resolve_band_limit("none")
        (None, 'disc', None)
    """
    if isinstance(band_limit, str) and band_limit.lower() == "none":
        band_limit = None
    if band_limit not in BAND_LIMITS:
        raise ValueError(f"band_limit must be one of 'auto', 'disc' or None, got {band_limit!r}")
    if band_limit != "auto":
        return band_limit
    cfg = getattr(denoiser, "unet_config", None)
    if not cfg:
        return None
    from keras_aliasfree.unet import parse_config
    fa = parse_config(cfg["config"]).filtered_activation
    return "disc" if fa and cfg.get("filter_preset", "default") != "paper" else None


def apply_band_limit(eps, noisy_images, sigma):
    """``P(eps) + (x_t - P(x_t)) / sigma`` with ``P`` the ideal disc projection (NHWC).

    ``sigma = sqrt(1 - alpha_bar_t)``: a scalar or one value per image. See
    :class:`DiffusionModel` (``band_limit="disc"``).
    """
    from keras_aliasfree.transforms import disc_lowpass
    sigma = ops.cast(ops.convert_to_tensor(sigma), "float32")
    if len(sigma.shape) == 1:
        sigma = ops.reshape(sigma, (-1, 1, 1, 1))
    x = ops.cast(noisy_images, "float32")
    # one FFT round trip: eps_hat = x/s + P(eps - x/s)
    return x / sigma + disc_lowpass(ops.cast(eps, "float32") - x / sigma)


# ----------------------------------------------------------------------------- checkpoint files

def denoiser_from_checkpoint(path):
    """Resolve ``path`` to a checkpoint and rebuild its UNet (weights not loaded).

    Returns ``(checkpoint_dir, config, denoiser)``; used by :meth:`DiffusionModel.from_checkpoint`
    and by the SavedModel export.

    Example:
        >>> # ckpt, config, unet = denoiser_from_checkpoint("runs/mnist_d1n")
    """
    directory = find_checkpoint(path)
    config = read_checkpoint_config(directory)
    if not config.get("unet"):
        raise ValueError(f"checkpoint {directory} has no UNet config; it was saved from a "
                         "denoiser not built by build_unet and cannot be rebuilt")
    from keras_aliasfree.unet import unet_from_config

    return directory, config, unet_from_config(config["unet"])


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _fsync(path):
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def is_checkpoint(directory) -> bool:
    """True when ``directory`` holds a complete checkpoint (config.json and both weight files)."""
    return all(os.path.isfile(os.path.join(directory, f))
               for f in ("config.json", "ema.weights.h5", "raw.weights.h5"))


def find_checkpoint(path) -> str:
    """Resolve a checkpoint directory, a run directory (``RUN/checkpoints/latest``) or a
    ``checkpoints`` folder to the checkpoint directory to load.

    Example:
        >>> # find_checkpoint("runs/mnist_d1n") -> ".../runs/mnist_d1n/checkpoints/epoch_0012"
    """
    path = os.path.abspath(os.fspath(path))
    if is_checkpoint(path):
        return path
    for ckdir in (os.path.join(path, "checkpoints"), path):
        if not os.path.isdir(ckdir):
            continue
        latest = os.path.join(ckdir, "latest")
        if os.path.isfile(latest):
            with open(latest) as f:
                cand = os.path.join(ckdir, f.read().strip())
            if is_checkpoint(cand):
                return cand
        cands = sorted(d for d in os.listdir(ckdir)
                       if d.startswith("epoch_") and is_checkpoint(os.path.join(ckdir, d)))
        if cands:
            return os.path.join(ckdir, cands[-1])
    raise FileNotFoundError(f"no checkpoint found at {path} (expected a directory with "
                            "config.json, ema.weights.h5 and raw.weights.h5, or a run directory "
                            "with checkpoints/)")


def read_checkpoint_config(directory) -> dict:
    """The ``config.json`` of a checkpoint (checked for format and version)."""
    directory = find_checkpoint(directory)
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    if config.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{directory}/config.json is not a keras_aliasfree checkpoint "
                         f"(format={config.get('format')!r})")
    if int(config.get("format_version", 0)) > CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint format version {config['format_version']} is newer than "
                         f"this library reads ({CHECKPOINT_VERSION})")
    return config


def read_training_state(directory) -> dict:
    """The ``training_state.json`` of a checkpoint ({} when absent)."""
    path = os.path.join(find_checkpoint(directory), "training_state.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def load_checkpoint(directory, **kwargs) -> DiffusionModel:
    """Same as :meth:`DiffusionModel.from_checkpoint`.

    Example:
        >>> # dm = load_checkpoint("runs/mnist_d1n"); dm.sample(4, sampler="ddim", steps=50)
    """
    return DiffusionModel.from_checkpoint(directory, **kwargs)


def write_latest(checkpoints_dir, name):
    """Atomically point ``checkpoints_dir/latest`` at checkpoint ``name``."""
    tmp = os.path.join(checkpoints_dir, f".latest.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(checkpoints_dir, "latest"))


# ----------------------------------------------------------------------------- training callback

class NaNLossError(RuntimeError):
    """Raised by the train command when the loss became NaN/inf (last good checkpoint kept)."""


class TrainingCheckpoint(keras.callbacks.Callback):
    """Per-epoch atomic checkpoints, NaN guard and sample grids for a :class:`DiffusionModel`.

    After each epoch whose loss is finite it writes ``run_dir/checkpoints/epoch_NNNN`` (atomic:
    temp directory + rename) and then points ``run_dir/checkpoints/latest`` at it (atomic
    ``os.replace``), keeping the newest ``keep`` checkpoints. An interrupted run (Ctrl-C,
    ``kill -9``) therefore loses at most the current epoch. When a batch loss is NaN/inf it stops
    training at once and never writes that epoch, so the last checkpoint stays the last good one
    (``self.nan_epoch`` records where it happened). Every ``sample_every`` epochs it samples a grid
    with the EMA weights, saves ``run_dir/samples/epoch_NNNN.png`` and, when TensorFlow is
    installed, logs it to TensorBoard (``run_dir/logs/samples``; TF-only part).

    Example:
        >>> # dm.fit(x, epochs=10, callbacks=[TrainingCheckpoint("runs/demo", sample_every=5)])
    """

    def __init__(self, run_dir, keep=2, sample_every=0, sample_num=16, sample_sampler="ddim",
                 sample_steps=50, sample_seed=0, extra_state=None, verbose=1):
        super().__init__()
        self.run_dir = os.path.abspath(os.fspath(run_dir))
        self.ckpt_dir = os.path.join(self.run_dir, "checkpoints")
        self.keep = max(1, int(keep))
        self.sample_every = int(sample_every or 0)
        self.sample_num = int(sample_num)
        self.sample_sampler = sample_sampler
        self.sample_steps = sample_steps
        self.sample_seed = sample_seed
        self.extra_state = dict(extra_state or {})
        self.verbose = verbose
        self.nan_epoch = None
        self.last_checkpoint = None
        self._writer = None

    def _finite(self, logs):
        loss = (logs or {}).get("loss")
        if loss is None:
            return True
        return bool(np.all(np.isfinite(np.asarray(ops.convert_to_numpy(loss), "float64"))))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not self._finite(logs):
            self.nan_epoch = getattr(self, "_epoch", 0) + 1
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.nan_epoch is not None or not self._finite(logs):
            self.nan_epoch = self.nan_epoch or epoch + 1
            self.model.stop_training = True
            last = self.last_checkpoint or _latest_or_none(self.ckpt_dir)
            print(f"\nNaN/inf loss in epoch {self.nan_epoch}: training stopped; epoch "
                  f"{self.nan_epoch} was not saved. Last good checkpoint: "
                  f"{last or 'none (no epoch finished)'}", file=sys.stderr)
            return
        name = f"epoch_{epoch + 1:04d}"
        state = dict(self.extra_state, epoch=epoch + 1,
                     loss=float(np.asarray(ops.convert_to_numpy(logs.get("loss", np.nan)))))
        os.makedirs(self.ckpt_dir, exist_ok=True)
        path = self.model.save_checkpoint(os.path.join(self.ckpt_dir, name), state)
        write_latest(self.ckpt_dir, name)
        self.last_checkpoint = path
        self._prune()
        if self.verbose:
            print(f"\ncheckpoint: {path}")
        if self.sample_every and (epoch + 1) % self.sample_every == 0:
            self._sample(epoch + 1)

    def _prune(self):
        names = sorted(d for d in os.listdir(self.ckpt_dir) if d.startswith("epoch_"))
        for d in names[:-self.keep]:
            shutil.rmtree(os.path.join(self.ckpt_dir, d), ignore_errors=True)

    def _sample(self, epoch):
        from keras_aliasfree.commands.sample import make_grid, save_grid

        imgs = self.model.sample(self.sample_num, sampler=self.sample_sampler,
                                 steps=self.sample_steps if self.sample_sampler == "ddim" else None,
                                 seed=self.sample_seed, verbose=0)
        path = os.path.join(self.run_dir, "samples", f"epoch_{epoch:04d}.png")
        save_grid(imgs, path)
        try:  # TensorBoard image summary: TensorFlow only
            import tensorflow as tf

            if self._writer is None:
                self._writer = tf.summary.create_file_writer(
                    os.path.join(self.run_dir, "logs", "samples"))
            grid = make_grid(imgs)[None].astype("float32") / 255.0
            with self._writer.as_default():
                tf.summary.image("samples", grid, step=epoch)
            self._writer.flush()
        except ImportError:
            pass
        if self.verbose:
            print(f"samples: {path}")


def _latest_or_none(ckpt_dir):
    try:
        return find_checkpoint(ckpt_dir)
    except FileNotFoundError:
        return None


__all__ = ["TrainingCheckpoint", "NaNLossError", "NoiseSchedule", "DiffusionModel", "load_checkpoint", "find_checkpoint",
           "read_checkpoint_config", "read_training_state", "is_checkpoint", "write_latest",
           "SAMPLERS", "ROTATION_METHODS"]
