"""``DiffusionModel``: a noise-prediction network trained with ``model.fit``, with EMA and sampling.

``compile(optimizer=...)`` + ``fit(images)`` trains it on TensorFlow, JAX and PyTorch: every step
draws timesteps and noise from a ``keras.random.SeedGenerator`` owned by the model (its state
advances inside the compiled step), noises the batch and minimises the MSE on the noise. An
exponential moving average (EMA) of the weights is kept in non-trainable variables, updated after
every optimizer step, used by :meth:`DiffusionModel.sample` and saved with checkpoints.

Sampling (:meth:`DiffusionModel.sample`) runs the whole reverse loop in-graph, optionally
turning the image as it is drawn (:mod:`keras_aliasfree.diffusion.sampling`).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_aliasfree.diffusion.band_limit import band_limit_images, resolve_band_limit
from keras_aliasfree.diffusion.checkpoint import MODEL_DEFAULTS, migrate_checkpoint_config
from keras_aliasfree.diffusion.ema import EMAMethods
from keras_aliasfree.diffusion.saving import CheckpointMethods
from keras_aliasfree.diffusion.sampling import (ROTATION_MODES, build_sample_loop,
                                               denoiser_inputs, noise_prediction,
                                               run_sample_loop, takes_up)
from keras_aliasfree.diffusion.samplers import get_sampler
from keras_aliasfree.diffusion.schedule import NoiseSchedule
from keras_aliasfree.discs import disc_mask
from keras_aliasfree.distribute import (per_replica_logs, replica_context, replica_rows,
                                        scale_loss_for_replicas)
from keras_aliasfree.transforms import DEFAULT_ROTATION_METHOD, ROTATION_METHODS
from keras_aliasfree.transforms import rotate as rotate_images

_PACKAGE = "keras_aliasfree"
# the constructor arguments a config stores besides the network and the schedule
_MODEL_KEYS = tuple(MODEL_DEFAULTS)


def _backend():
    return keras.backend.backend()


def _timestep_range(value, timesteps):
    """``None`` or the validated ``(low, high)`` of ``equivariance_timesteps``."""
    if value is None:
        return None
    try:
        low, high = (int(v) for v in value)
        ok = [low, high] == [float(v) for v in value]
    except (TypeError, ValueError):
        ok = False
    if not ok or not 0 <= low < high <= timesteps:
        raise ValueError(f"equivariance_timesteps must be None or a pair of integers (low, high) "
                         f"with 0 <= low < high <= {timesteps} (the schedule's timesteps), got "
                         f"{value!r}")
    return (low, high)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DiffusionModel(CheckpointMethods, EMAMethods, keras.Model):
    """A denoising diffusion model around a denoising network.

    Args:
        denoiser: a built ``keras.Model`` taking ``[noisy_images (B,H,W,C), timesteps (B,)]`` and
            returning the prediction (``(B,H,W,C)``), e.g. :func:`keras_aliasfree.build_unet`;
            or one that also takes ``up_degrees (B,)``, where "up" is
            (:func:`keras_aliasfree.build_equivariant_unet`): trained with up = 0 (the data is
            upright), and told the angle it has been turned by in rotation-aware sampling.
        schedule: a :class:`NoiseSchedule` (default: linear, T = 1000, 1e-4..0.02).
        ema_decay: EMA decay; the effective decay at update n is ``min(ema_decay, (1+n)/(10+n))``
            so early averages are not dominated by the random initialisation. 0 disables averaging
            (the EMA copy then equals the weights).
        seed: seed of the model's ``SeedGenerator`` (timesteps and noise of the training steps).
        band_limit: ``"disc"``, ``None`` or ``"auto"`` (default): ``"disc"`` for a UNet of config
            C or D with the default filters, ``None`` otherwise (A, B, the ``paper`` preset, or a
            network that is not a :func:`~keras_aliasfree.unet.build_unet` model).
        prediction: what the network predicts: ``"epsilon"`` (the noise; the paper), ``"v"``
            (``sqrt(ab) eps - sqrt(1 - ab) x0``, Salimans & Ho 2022) or ``"x0"`` (the clean
            image). Sampling, the band limit and the export turn it into ``eps_hat``.
        loss_weighting: ``"uniform"`` (MSE on the prediction target; the paper) or ``"min_snr"``
            (Hang et al. 2023, with ``snr_gamma``); see :meth:`NoiseSchedule.loss_weights`.
        snr_gamma: the ``gamma`` of ``min_snr`` (default 5).
        up_augment: for a denoiser with an "up" input, the fraction of training images (drawn
            afresh each step) turned by a uniform random angle, with the denoiser told that angle
            (cubic rotation of the image, :func:`~keras_aliasfree.transforms.rotate`); the rest
            stay upright with up = 0. Default 0: trained on upright data only.
        equivariance_weight: for a denoiser with an "up" input, the weight of a consistency term
            added to the loss: the squared difference, inside the central disc and weighted over
            t like the main loss, between the noise predicted for ``x_t`` turned by a random
            angle in [-45, 45) degrees with "up" turned with it, and the noise predicted for
            ``x_t`` turned afterwards (band-limited rotation,
            :func:`~keras_aliasfree.transforms.rotate`; the turned-afterwards side is held fixed,
            ``stop_gradient``). A C_N equivariant UNet is exact at multiples of 360/N degrees by
            construction; this term teaches it the angles between. One more forward and
            backward pass per step. Default 0 (off).
        equivariance_timesteps: ``None`` (default) or ``(low, high)``: where in t the
            equivariance term is spent. ``None``: on the main loss's ``x_t`` (its timesteps,
            uniform over ``0..T-1``). A pair: the term noises the same images with the same
            noise at its own timesteps, uniform in ``low..high-1``, weighted there like the main
            loss; one more forward pass per step (the held-fixed side). Rotation-aware sampling
            loses the image's identity at middle noise levels, not at the ends
            (``docs/EQUIVARIANT.md``).

    Band limit. A C/D UNet (jinc filters) can only output the disc of frequencies a rotation
    maps onto itself, while the noise it must predict fills the square band. With
    ``band_limit="disc"`` the data is treated as band-limited to the disc (training images are
    low-passed to it, :data:`DATA_TAPER`), so the corners of ``x_t`` are pure noise of known scale
    and are predicted in closed form:
    ``eps_hat = P(net(x_t, t)) + (x_t - P(x_t)) / sqrt(1 - alpha_bar_t)``, ``P`` the disc
    projection (:func:`~keras_aliasfree.discs.disc_lowpass`). :meth:`sample`,
    :meth:`predict_noise` and the export use the same ``eps_hat`` (``docs/DESIGN_NOTES.md``).

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
                 prediction="epsilon", loss_weighting="uniform", snr_gamma=5.0, up_augment=0.0,
                 equivariance_weight=0.0, equivariance_timesteps=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(denoiser, keras.Model):
            raise TypeError(f"denoiser must be a keras.Model, got {type(denoiser).__name__}")
        if len(denoiser.inputs or []) not in (2, 3):
            raise ValueError("denoiser must take the inputs [noisy_images, timesteps] or "
                             "[noisy_images, timesteps, up_degrees]; got "
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
        self.prediction = prediction
        self.loss_weighting = loss_weighting
        self.snr_gamma = float(snr_gamma)
        if not 0.0 <= float(up_augment) <= 1.0:
            raise ValueError(f"up_augment must be in [0, 1], got {up_augment}")
        if up_augment and not takes_up(denoiser):
            raise ValueError("up_augment turns images together with the denoiser's 'up' input; "
                             "this denoiser has none")
        self.up_augment = float(up_augment)
        if not (math.isfinite(float(equivariance_weight)) and float(equivariance_weight) >= 0.0):
            raise ValueError(f"equivariance_weight must be a finite number >= 0, got "
                             f"{equivariance_weight}")
        if equivariance_weight and not takes_up(denoiser):
            raise ValueError("equivariance_weight compares the denoiser with itself turned "
                             "together with its 'up' input; this denoiser has none")
        self.equivariance_weight = float(equivariance_weight)
        self.equivariance_timesteps = _timestep_range(equivariance_timesteps,
                                                      self.schedule.timesteps)
        # validates all three; float32 weight of the squared noise error per timestep
        self._loss_weights = self.schedule.loss_weights(prediction, loss_weighting, snr_gamma)
        self._sqrt_ab = np.sqrt(self.schedule.alpha_bars).astype("float32")
        self._sqrt_1mab = np.sqrt(1.0 - self.schedule.alpha_bars).astype("float32")
        self._sample_fns = {}
        self.built = True

    # -- properties ---------------------------------------------------------------------------
    @property
    def takes_up(self):
        """Whether the denoiser takes the "up" angle (``[x_t, t, up_degrees]``)."""
        return takes_up(self.denoiser)

    @property
    def ema_variables(self):
        """EMA copies, in the order of ``denoiser.trainable_variables``."""
        return [e for _, e in self._ema_pairs]

    def get_config(self):
        """The constructor arguments; the same dict is a checkpoint's ``config.json`` (plus format
        and provenance keys, :meth:`checkpoint_config`). A UNet from :func:`build_unet` is stored
        as its build arguments (``unet``), any other denoiser as a serialised Keras object."""
        unet_config = getattr(self.denoiser, "unet_config", None)
        network = {"unet": unet_config} if unet_config else \
            {"denoiser": keras.saving.serialize_keras_object(self.denoiser)}
        return {**super().get_config(), **network,
                "schedule": self.schedule.get_config(), "ema_decay": self.ema_decay,
                "band_limit": self.band_limit, "prediction": self.prediction,
                "loss_weighting": self.loss_weighting, "snr_gamma": self.snr_gamma,
                "up_augment": self.up_augment, "equivariance_weight": self.equivariance_weight,
                "equivariance_timesteps": (list(self.equivariance_timesteps)
                                           if self.equivariance_timesteps else None)}

    @classmethod
    def from_config(cls, config):
        """Rebuild from :meth:`get_config` or a checkpoint's ``config.json`` (any format version:
        :func:`~keras_aliasfree.diffusion.checkpoint.migrate_checkpoint_config` owns the
        defaults of keys older files lack)."""
        from keras_aliasfree.unet import unet_from_config

        config = migrate_checkpoint_config(config)
        if config.get("unet"):
            denoiser = unet_from_config(config["unet"])
        elif config.get("denoiser"):
            denoiser = keras.saving.deserialize_keras_object(config["denoiser"])
        else:
            raise ValueError("the config has no 'unet' or 'denoiser' entry to rebuild the network")
        kwargs = {k: config[k] for k in _MODEL_KEYS}
        kwargs.update({k: config[k] for k in ("name", "trainable", "dtype", "seed")
                       if k in config})
        return cls(denoiser, NoiseSchedule(**config["schedule"]), **kwargs)

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
        return band_limit_images(images, self.band_limit)

    def predict_noise(self, noisy_images, timesteps, training=False, up_degrees=None,
                      _sigma=None, _sqrt_ab=None):
        """The model's noise prediction ``eps_hat(x_t, t)`` (integer timesteps, one per image).

        The denoiser's output turned into noise (``prediction``), with the band limit applied
        (see the class docs); sampling, the loss and the SavedModel's ``denoise`` signature all
        use it. ``up_degrees`` (a number or one per image; default 0) is where "up" is, for a
        denoiser that takes it (:attr:`takes_up`); giving it to one that does not is an error.
        """
        if isinstance(timesteps, (int, list, tuple, np.ndarray, np.integer)):
            t_np = np.asarray(timesteps)
            T = self.schedule.timesteps
            if t_np.size and (t_np.min() < 0 or t_np.max() >= T):
                raise ValueError(f"timesteps must be in 0..{T - 1}, got {t_np.min()}..{t_np.max()}")
        x = ops.cast(ops.convert_to_tensor(noisy_images), "float32")
        t = ops.convert_to_tensor(timesteps)
        # float32 from here on (the denoiser computes in bfloat16/float16 under mixed precision)
        if up_degrees is not None and not self.takes_up:
            raise ValueError("up_degrees given, but this denoiser has no 'up' input")
        t_f = ops.cast(t, "float32")
        inputs = denoiser_inputs(self.denoiser, x, t_f, up_degrees)
        out = ops.cast(self.denoiser(inputs, training=training), "float32")
        sigma, sqrt_ab = _sigma, _sqrt_ab
        if sigma is None:
            sigma = ops.take(ops.convert_to_tensor(self._sqrt_1mab), ops.cast(t, "int32"))
        if sqrt_ab is None:
            sqrt_ab = ops.take(ops.convert_to_tensor(self._sqrt_ab), ops.cast(t, "int32"))
        return noise_prediction(out, x, sigma, self.band_limit, self.prediction, sqrt_ab)

    def diffusion_loss(self, images, training=True):
        """The training loss for random timesteps: the squared error of the prediction target
        (``prediction``), weighted over t (``loss_weighting``), written as a weighted MSE on the
        noise (:meth:`NoiseSchedule.loss_weights`); with the defaults, the paper's noise MSE."""
        x0 = self._images(images)
        n = ops.shape(x0)[0]
        up = None
        if self.up_augment:
            up = self._draw_up(n)
            x0 = rotate_images(x0, up, method="cubic", data_format="channels_last")
        x0 = self.band_limit_images(x0)
        T = self.schedule.timesteps
        t, eps = self._draw(n, T, ops.shape(x0))
        ca, cb, w_t = self._coefficients(t)
        x_t = ca * x0 + cb * eps
        pred = self.predict_noise(x_t, t, training=training, up_degrees=up, _sigma=cb,
                                  _sqrt_ab=ca)
        err = ops.square(pred - eps)
        uniform = self.prediction == "epsilon" and self.loss_weighting == "uniform"
        w = 1.0 if uniform else w_t
        loss = ops.mean(w * err)
        if self.equivariance_weight:
            if self.equivariance_timesteps:  # its own timesteps: re-noise x0 there
                t = self._draw_in(n, *self.equivariance_timesteps)
                ca, cb, w = self._coefficients(t)
                x_t = ca * x0 + cb * eps
                pred = self.predict_noise(x_t, t, training=training, up_degrees=up,
                                          _sigma=cb, _sqrt_ab=ca)
            loss = loss + self.equivariance_weight * self._equivariance_term(
                x_t, t, up, pred, w, ca, cb, training)
        return loss

    def _coefficients(self, t):
        """``sqrt(alpha_bar_t)``, ``sqrt(1 - alpha_bar_t)`` and the loss weight at ``t``, each
        shaped ``(n, 1, 1, 1)``."""
        def at(table):
            return ops.reshape(ops.take(ops.convert_to_tensor(table), t), (-1, 1, 1, 1))

        return at(self._sqrt_ab), at(self._sqrt_1mab), at(self._loss_weights)

    def _equivariance_term(self, x_t, t, up, pred, w, ca, cb, training):
        """The consistency term of ``equivariance_weight`` (see the class docs): the weighted
        squared difference, inside the central disc, between eps_hat(R x_t, up + phi) and
        R eps_hat(x_t, up) (the latter held fixed), one random phi per image."""
        n = ops.shape(x_t)[0]
        phi = self._draw_turn(n)
        up = ops.zeros_like(phi) if up is None else up
        turned = self.predict_noise(
            rotate_images(x_t, phi, method="fft", data_format="channels_last"), t,
            training=training, up_degrees=up + phi, _sigma=cb, _sqrt_ab=ca)
        target = ops.stop_gradient(
            rotate_images(pred, phi, method="fft", data_format="channels_last"))
        h, wd = self.image_shape[:2]
        disc = disc_mask(h, wd).astype("float32")
        mask = ops.convert_to_tensor(disc.reshape(1, h, wd, 1))
        per_pixel = w * mask * ops.square(turned - target)
        return ops.sum(ops.mean(per_pixel, axis=(0, 3))) / float(disc.sum())

    def _draw_rows(self, n, draw):
        """The tensors ``draw(rows)`` returns, for this replica's ``n`` rows. Under a
        tf.distribute strategy every replica draws the global batch's numbers and keeps its rows
        (distinct per replica; equal to one device)."""
        rid, reps = replica_context()
        values = draw(n * reps)
        return values if reps == 1 else tuple(replica_rows(v, n, rid) for v in values)

    def _draw(self, n, T, shape):
        """Timesteps and noise of a step (replica rows: :meth:`_draw_rows`)."""
        return self._draw_rows(n, lambda rows: (
            keras.random.randint((rows,), 0, T, dtype="int32", seed=self.seed_generator),
            keras.random.normal((rows,) + tuple(shape[1:]), dtype="float32",
                                seed=self.seed_generator)))

    def _draw_in(self, n, low, high):
        """Per-image timesteps uniform in ``low..high-1`` (replica rows)."""
        return self._draw_rows(n, lambda rows: (
            keras.random.randint((rows,), low, high, dtype="int32",
                                 seed=self.seed_generator),))[0]

    def _draw_up(self, n):
        """Per-image "up" angles of a step under ``up_augment``: uniform in [0, 360) for that
        fraction of the images, 0 for the rest."""
        def draw(rows):
            angle = keras.random.uniform((rows,), 0.0, 360.0, seed=self.seed_generator)
            turned = keras.random.uniform((rows,), seed=self.seed_generator) < self.up_augment
            return (ops.where(turned, angle, ops.zeros_like(angle)),)

        return self._draw_rows(n, draw)[0]

    def _draw_turn(self, n):
        """Per-image angles in [-45, 45) degrees of the consistency term."""
        return self._draw_rows(n, lambda rows: (
            keras.random.uniform((rows,), -45.0, 45.0, seed=self.seed_generator),))[0]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = self.diffusion_loss(x, training=training)
        if self.losses:
            loss = loss + ops.sum(ops.stack([ops.cast(v, "float32") for v in self.losses]))
        # tf.distribute sums the replicas' gradients: scale so the sum is the global mean
        return scale_loss_for_replicas(loss, replica_context()[1])

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
        return per_replica_logs(logs)

    # -- sampling -----------------------------------------------------------------------------
    def sample(self, num_images, steps=None, sampler="ddpm", rotation=0.0, seed=None,
               return_trajectory=False, rotation_method=None, use_ema=True, verbose="auto",
               clip_denoised=True, eta=0.0, rotation_mode="progressive"):
        """Generate ``num_images`` images, optionally turned by ``rotation`` degrees.

        Args:
            num_images: number of images N.
            steps: with a sampler name: DDPM ``None`` or T (all steps); the others their number
                of steps (default :data:`~keras_aliasfree.diffusion.DEFAULT_DDIM_STEPS`).
            sampler: a :class:`~keras_aliasfree.diffusion.samplers.Sampler` (``DDIM(20, 1.0)``,
                ``DPMSolverMultistep(10)``, ``Euler``, ``Heun``, ``DDPM()``) or a name for
                :func:`~keras_aliasfree.diffusion.samplers.get_sampler` (``"ddpm"``, ``"ddim"``,
                ``"dpm++2m"``, ``"euler"``, ``"heun"``) with ``steps`` and ``eta``.
            rotation: degrees (counter-clockwise); 0 = plain sampling (bit-identical for the
                same seed). The sample is the same seed's plain sample, turned, as far as the
                denoiser is equivariant (to turning x_t and "up" together, for a denoiser that
                takes "up"; it is told the angle turned so far).
            rotation_mode: how the turn enters the reverse process. ``"progressive"`` (the
                paper's): x_t and the sampler's carried images are rotated by
                ``rotation / NFE`` before each model evaluation, and a stochastic sampler's
                fresh noise by the angle turned so far
                (:func:`~keras_aliasfree.diffusion.sampling.rotate_noise`). ``"once"``: the
                initial noise and every fresh noise are turned by ``rotation``, x_t is never
                resampled (for a denoiser exactly equivariant to the turn, e.g. quarter turns
                of a C_4 :class:`~keras_aliasfree.EquivariantUNet`, the sample is then the
                plain one turned, to float round-off).
            seed: int for reproducible samples; ``None`` draws a fresh seed.
            return_trajectory: also return x_t at about 10 evenly spaced points of the reverse
                process (first = the initial noise), shape ``(K, N, H, W, C)``: the result is
                then a :class:`~keras_aliasfree.diffusion.sampling.SampleOutput` (``images``,
                ``trajectory``; a tuple).
            rotation_method: ``"fft"`` (default; band-limited three-shear, keeps the noise
                variance) or ``"bilinear"`` (the paper-style interpolating rotation).
            use_ema: sample with the EMA weights (default) or the raw trained weights.
            verbose: progress bar; ``"auto"`` shows it for runs of >= 100 steps.
            clip_denoised: clip the predicted clean image ``x0_hat`` to [-1, 1] at every step
                (default, as Ho et al.'s released code; Euler and Heun never clip);
                ``False`` gives the textbook update.
            eta: with ``sampler="ddim"``: 0 (default) = deterministic; 1 = as much fresh noise
                per step as DDPM's posterior (Song et al. 2021).

        Returns:
            float32 numpy array in [-1, 1], shape (N, H, W, C) (and the trajectory if asked).

        Example:
            >>> # dm = DiffusionModel(build_unet("D-1N"), ...); dm.fit(...)
            >>> # grid = dm.sample(16, sampler=DPMSolverMultistep(10), rotation=45, seed=0)
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
        sampler = get_sampler(sampler, steps, eta)
        sampler.tables(self.schedule)  # validates the sampler against the schedule
        if rotation_mode not in ROTATION_MODES:
            raise ValueError(f"rotation_mode must be one of {ROTATION_MODES}, got "
                             f"{rotation_mode!r}")
        mode = rotation_mode if rotate else None
        key = (num, repr(sampler), rotate, method if rotate else None, clip, mode)
        if key not in self._sample_fns:
            self._sample_fns[key] = build_sample_loop(
                self.denoiser, self.band_limit, sampler, self.schedule, num, rotate, method,
                clip, self.prediction, mode or "progressive")
        init, run, n_steps = self._sample_fns[key]

        weights = [e.value for e in self.ema_variables] if use_ema else \
            [v.value for v in self.denoiser.trainable_variables]
        return run_sample_loop(init, run, n_steps, weights,
                               [v.value for v in self.denoiser.non_trainable_variables],
                               rotation, seed, verbose, return_trajectory,
                               mode or "progressive")


__all__ = ["DiffusionModel"]
