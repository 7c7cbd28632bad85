"""Evaluate a trained diffusion checkpoint: FD/KID/IS, the denoiser's EQ-T/EQ-T_frac/EQ-R and the
rotation consistency of the rotation-aware sampler. Used by ``keras-aliasfree evaluate``.

Every number is explained in docs/METRICS.md.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time

import numpy as np

from keras_aliasfree.metrics import distances as D
from keras_aliasfree.metrics import equivariance as EQ
from keras_aliasfree.metrics import extractors as E
from keras_aliasfree.metrics.agreement import AGREEMENT_ANGLES, rotation_agreement
from keras_aliasfree.metrics.report import EvaluationReport, format_table, write_json


#: Version of the ``evaluate`` output. 2: rotation-aware sampling turns each step's fresh noise
#: too, so the rotated and upright samples of a seed are the same sample (docs/METRICS.md).
EVALUATION_VERSION = 2


def sample_images(model, num, batch_size=250, sampler="ddim", steps=50, seed=0, rotation=0.0,
                  rotation_method="fft", verbose=True, eta=0.0, rotation_mode="progressive"):
    """Draw ``num`` images from a :class:`~keras_aliasfree.diffusion.DiffusionModel` in batches
    (batch ``i`` uses seed ``seed + i``); returns float32 numpy in [-1, 1]. ``sampler``,
    ``steps``, ``eta`` as :meth:`DiffusionModel.sample` takes them (a name or a sampler).

    Example:
        >>> # x = sample_images(dm, 500, batch_size=250, sampler="ddim", steps=50, seed=0)
    """
    num, batch_size = int(num), int(batch_size)
    if num < 1 or batch_size < 1:
        raise ValueError(f"num and batch_size must be >= 1, got {num}, {batch_size}")
    out = []
    done = 0
    i = 0
    while done < num:
        b = min(batch_size, num - done)
        if verbose:
            print(f"  sampling {done + b}/{num} (rotation {rotation:g} deg)", flush=True)
        out.append(model.sample(b, steps=steps, sampler=sampler, rotation=rotation,
                                seed=seed + i, rotation_method=rotation_method, verbose=False,
                                eta=eta, rotation_mode=rotation_mode))
        done += b
        i += 1
    return np.concatenate(out).astype(np.float32)


def generative_scores(fake_feats, fake_probs, ref, kid_subsets=100, kid_subset_size=1000,
                      is_splits=10):
    """FD, KID (mean and std over subsets) and IS of generated features against ``ref`` (the dict
    of :func:`~keras_aliasfree.metrics.extractors.reference_features`). Unless N holds two subsets of
    ``kid_subset_size``, the KID subsets hold N // 2 samples (subsets of all N would all be the
    same set, and KID's spread would read 0); IS splits are capped at N // 2 (the
    values used are returned).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> f = rng.normal(size=(50, 4)); p = np.full((50, 3), 1 / 3)
        >>> s = generative_scores(f, p, {"features": f}, kid_subsets=5)
        >>> round(s["fd"], 6), s["kid_subset_size"], round(s["is"], 6)
        (0.0, 25, 1.0)
    """
    n = min(len(fake_feats), len(ref["features"]))
    # subsets must be a strict part of the samples: of all N they would all be the same set
    subset = int(kid_subset_size) if n >= 2 * kid_subset_size else max(2, n // 2)
    kid, kid_std = D.kernel_distance(fake_feats, ref["features"], subsets=kid_subsets,
                                     subset_size=subset, return_std=True)
    splits = int(max(1, min(is_splits, len(fake_probs) // 2)))
    is_mean, is_std = D.inception_score(fake_probs, splits=splits, return_std=True)
    return {"fd": D.frechet_distance(fake_feats, ref["features"]), "kid": kid, "kid_std": kid_std,
            "kid_subset_size": subset, "is": is_mean, "is_std": is_std, "is_splits": splits}


def denoiser_equivariance(denoiser, clean_images, timestep=500, schedule=None, seed=0,
                          max_shift=0.125):
    """EQ-T, EQ-T_frac and EQ-R (dB) of a noise-prediction network at a fixed ``timestep``, on
    ``clean_images`` noised to that timestep (same noise for every measure).

    Example:
        >>> # denoiser_equivariance(build_unet("D-1N"), real_images[:16], timestep=500)
    """
    from keras_aliasfree.diffusion.sampling import takes_up

    xt = EQ.noisy_inputs(clean_images, timestep, schedule, seed=seed)
    fn = EQ.denoiser_fn(denoiser, timestep)
    return {
        "eq_t": EQ.eq_translation(fn, xt, fractional=False, max_shift=max_shift, seed=seed),
        "eq_t_frac": EQ.eq_translation(fn, xt, fractional=True, max_shift=max_shift, seed=seed),
        "eq_r": EQ.eq_rotation(fn, xt, seed=seed, with_up=takes_up(denoiser)),
    }


def noise_equivariance(model, clean_images, timesteps=(100, 500, 900), seed=0, max_shift=0.125):
    """EQ-R and EQ-T_frac (dB) of what the sampler uses -- the model's noise prediction
    ``eps_hat`` (EMA weights, band limit and prediction target applied; a denoiser that takes
    "up" is told the angle, so x_t and up turn together) -- with both outputs
    projected on the disc of frequencies a rotation maps onto itself (radius Nyquist), at each
    of ``timesteps``. Returns ``{t: {measure: dB}}``: ``eq_r_disc`` and ``eq_t_frac_disc``, and
    ``eq_r_exact`` (with ``eq_r_exact_floor``): EQ-R of the same ``eps_hat`` with the
    exact rotation of :func:`~keras_aliasfree.metrics.equivariance.eq_rotation_exact` (inputs
    windowed to a disc in space; a much higher ceiling: the figure to compare configs by);
    ``eq_r_disc_floor``: the same EQ-R of the projection alone (``eps_hat = x_t``), the
    measurement's own ceiling on these inputs. A periodic image cannot be rotated exactly (its
    frequencies leave the lattice; the three-shear rotation aliases what a shear pushes past
    Nyquist), so even a perfectly rotation-equivariant denoiser scores about this figure, not
    ``inf``: compare a model with the floor, not with infinity.

    Rotation is defined only on that disc: outside it a raw network output is either copied noise
    (config A at large t scores high there for free) or, for C/D, closed-form noise. So this is the
    figure that compares configs and prediction targets; the raw-output ``eq_*`` keys are kept for
    continuity.

    Example:
        >>> # noise_equivariance(load_checkpoint("runs/x"), real_images[:16])
    """
    import keras

    from keras_aliasfree.discs import disc_lowpass

    out = {}
    up = bool(getattr(model, "takes_up", False))  # x_t and "up" turned together
    with model.ema_weights_applied():
        for t in timesteps:
            xt = EQ.noisy_inputs(clean_images, int(t), model.schedule, seed=seed)

            def raw(x, up_degrees=None, t=int(t)):
                tt = np.full((x.shape[0],), t, "int32")
                kw = {"up_degrees": up_degrees} if up else {}
                return model.predict_noise(keras.ops.convert_to_tensor(x), tt, **kw)

            def fn(x, up_degrees=None):
                return disc_lowpass(raw(x, up_degrees))

            m = out[int(t)] = {}
            m["eq_r_disc"] = EQ.eq_rotation(fn, xt, seed=seed, with_up=up)
            m["eq_r_disc_floor"] = EQ.eq_rotation(disc_lowpass, xt, seed=seed)
            m["eq_t_frac_disc"] = EQ.eq_translation(fn, xt, fractional=True,
                                                    max_shift=max_shift, seed=seed)
            # the same eps_hat with an exact rotation of disc-windowed inputs (a higher ceiling);
            # the exact rotation projects on the disc itself (on a zero-padded canvas), so raw
            m["eq_r_exact"], m["eq_r_exact_floor"] = EQ.eq_rotation_exact(
                raw, xt, return_floor=True, with_up=up)
    return out


@dataclasses.dataclass(frozen=True)
class EvaluationOptions:
    """What :func:`evaluate` measures, and how (see docs/METRICS.md for every figure).

    Args:
        data: reference dataset (a ``keras_aliasfree.data`` source name or path); the first
            ``num`` images of its ``split`` give the reference statistics (cached on disk).
        num: generated and real images for FD/KID/IS.
        split: the reference split.
        extractor: ``"auto"``, ``"inception"``, ``"classifier"``, a path, or a FeatureExtractor.
        sampler, steps, eta: sampling settings, a sampler name with its steps and DDIM's
            ``eta`` (DDIM 50 steps by default; DDPM runs all T and its ``steps`` reads ``None``;
            :func:`~keras_aliasfree.diffusion.samplers.sampler_from_options`), or a
            :class:`~keras_aliasfree.diffusion.samplers.Sampler` (its name, steps and eta are
            recorded). :attr:`sampler_object` is the sampler that draws.
        batch_size: images sampled per call (batch ``i`` uses seed ``seed + i``).
        seed: seed of the samples and of the equivariance inputs.
        angles: rotation sweep for the rotation consistency (``rotation_num`` images per angle);
            empty skips it.
        rotated_fd_angle: FD/KID of samples drawn with this rotation vs real data rotated by the
            same angle (``rotated_num`` images, default ``num``); 0 or ``None`` skips it.
        eq_num, eq_timestep: real images noised to ``eq_timestep`` for the raw UNet's EQ-* figures.
        eq_timesteps: the timesteps of the EQ figures of ``eps_hat`` on the disc
            (:func:`noise_equivariance`).
        rotation_method: the rotation of rotation-aware sampling.
        rotation_mode: ``"progressive"`` or ``"once"`` (:meth:`DiffusionModel.sample`).
        agreement_angles, agreement_num: rotation agreement (kept class and turned-back PSNR,
            :func:`~keras_aliasfree.metrics.agreement.rotation_agreement`) at these angles on
            ``agreement_num`` seeds, classified by the extractor's class probabilities; empty
            angles skip it.
        consistency_methods: further rotation methods swept for rotation consistency.
        kid_subsets, kid_subset_size: KID's subsets.
        data_dir, cache: data folder and reference-statistics cache folder.
        save_samples: an ``.npz`` path for the ``num`` unrotated samples (uint8 ``x``).
        verbose: print progress.

    Example:
        >>> EvaluationOptions(num=500).steps
        50
        >>> EvaluationOptions(rotation_method="nearest")
        Traceback (most recent call last):
        ...
        ValueError: rotation method must be one of ('fft', 'bilinear', 'cubic'), got 'nearest'
    """

    data: str = "mnist"
    num: int = 2000
    split: str = "train"
    extractor: object = "auto"
    sampler: str = "ddim"
    steps: int | None = 50
    eta: float = 0.0
    batch_size: int = 250
    seed: int = 0
    angles: tuple = (30.0, 60.0, 90.0)
    rotation_num: int = 16
    rotated_fd_angle: float | None = 45.0
    rotated_num: int | None = None
    eq_num: int = 16
    eq_timestep: int = 500
    eq_timesteps: tuple = (100, 500, 900)
    rotation_method: str = "fft"
    rotation_mode: str = "progressive"
    agreement_angles: tuple = AGREEMENT_ANGLES
    agreement_num: int = 200
    consistency_methods: tuple = ()
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    data_dir: str | None = None
    cache: str | None = None
    save_samples: str | None = None
    verbose: bool = True

    def __post_init__(self):
        from keras_aliasfree.constants import ROTATION_METHODS

        for m in (self.rotation_method, *self.consistency_methods):
            if m not in ROTATION_METHODS:
                raise ValueError(f"rotation method must be one of {ROTATION_METHODS}, got {m!r}")
        from keras_aliasfree.diffusion.sampling import ROTATION_MODES

        if self.rotation_mode not in ROTATION_MODES:
            raise ValueError(f"rotation_mode must be one of {ROTATION_MODES}, got "
                             f"{self.rotation_mode!r}")
        if self.save_samples is not None and not str(self.save_samples).endswith(".npz"):
            raise ValueError(f"save_samples must be an .npz path, got {self.save_samples!r}")
        from keras_aliasfree.diffusion.samplers import Sampler, sampler_from_options

        sampler = self.sampler if isinstance(self.sampler, Sampler) else \
            sampler_from_options(self.sampler, self.steps, self.eta)
        object.__setattr__(self, "sampler_object", sampler)
        object.__setattr__(self, "sampler", sampler.name)
        object.__setattr__(self, "steps", getattr(sampler, "steps", None))
        object.__setattr__(self, "eta", getattr(sampler, "eta", 0.0))
        object.__setattr__(self, "angles", tuple(float(a) for a in (self.angles or ())))
        object.__setattr__(self, "eq_timesteps", tuple(int(t) for t in self.eq_timesteps))
        object.__setattr__(self, "agreement_angles",
                           tuple(float(a) for a in (self.agreement_angles or ())))
        object.__setattr__(self, "consistency_methods", tuple(self.consistency_methods or ()))

    @property
    def methods(self) -> list:
        """The rotation methods swept for rotation consistency, the main one first."""
        return [self.rotation_method] + [m for m in self.consistency_methods
                                         if m != self.rotation_method]


def evaluate(model, options=None, checkpoint=None) -> EvaluationReport:
    """Evaluate a loaded :class:`~keras_aliasfree.diffusion.DiffusionModel`.

    Args:
        model: the model (sampled with its EMA weights).
        options: an :class:`EvaluationOptions` (default: its defaults).
        checkpoint: the checkpoint the model came from, recorded in ``meta``.

    Returns:
        An :class:`~keras_aliasfree.metrics.report.EvaluationReport`.

    Example:
        >>> # report = evaluate(load_checkpoint("runs/x"), EvaluationOptions(num=500))
        >>> # print(format_table(report))
    """
    import keras

    from keras_aliasfree.metrics.classifier import load_real_images

    o = options if options is not None else EvaluationOptions()
    t0 = time.time()
    h, w, c = model.image_shape
    if h != w:
        raise ValueError(f"evaluate needs square images, the model makes {h}x{w}")
    ext = E.get_extractor(o.extractor, verbose=o.verbose)
    if o.verbose:
        print(f"extractor: {ext.description}")
    ref_kw = dict(split=o.split, image_size=h, channels=c, data_dir=o.data_dir, cache=o.cache,
                  verbose=o.verbose, rotation_method=o.rotation_method)
    ref = E.reference_features(o.data, ext, count=o.num, **ref_kw)
    fake = sample_images(model, o.num, o.batch_size, o.sampler_object, None, o.seed, 0.0,
                         o.rotation_method, o.verbose)
    if o.save_samples is not None:
        save_samples_npz(fake, o.save_samples)
    ff, fp = ext(fake, verbose=o.verbose)
    gs = generative_scores(ff, fp, ref, o.kid_subsets, o.kid_subset_size)
    scores = {"fd": gs["fd"], "kid_x100": 100 * gs["kid"], "kid_std_x100": 100 * gs["kid_std"],
              "is": gs["is"], "is_std": gs["is_std"],
              # the data itself through the same extractor: the best IS, the scale of the numbers
              "is_real": D.inception_score(ref["probs"], splits=gs["is_splits"])}
    if o.rotated_fd_angle:
        rn = int(o.rotated_num or o.num)
        rref = E.reference_features(o.data, ext, count=rn, rotation=float(o.rotated_fd_angle),
                                    **ref_kw)
        rfake = sample_images(model, rn, o.batch_size, o.sampler_object, None, o.seed + 10_000,
                              float(o.rotated_fd_angle), o.rotation_method, o.verbose,
                              rotation_mode=o.rotation_mode)
        rs = generative_scores(*ext(rfake, verbose=o.verbose), rref, o.kid_subsets,
                               o.kid_subset_size)
        scores.update(fd_rotated=rs["fd"], kid_rotated_x100=100 * rs["kid"])

    real, _ = load_real_images(o.data, "test" if o.split == "train" else o.split, h, c, o.eq_num,
                               o.data_dir, with_labels=False)
    with model.ema_weights_applied() as denoiser:
        scores.update(denoiser_equivariance(denoiser, real, o.eq_timestep, model.schedule, o.seed))
    noise = noise_equivariance(model, real, o.eq_timesteps, o.seed)

    consistency = {}
    for method in o.methods if o.angles else ():
        def sample_fn(rotation, s, method=method):
            return model.sample(int(o.rotation_num), sampler=o.sampler_object,
                                rotation=rotation, seed=s, rotation_method=method,
                                verbose=False, rotation_mode=o.rotation_mode)

        mean, per = EQ.rotation_consistency(sample_fn, angles=o.angles, seed=o.seed,
                                            method=method, return_per_angle=True)
        consistency[method] = {"mean": mean, "per_angle": {f"{k:g}": v for k, v in per.items()}}

    if o.agreement_angles:
        if o.verbose:
            print(f"rotation agreement: {o.agreement_num} seeds at "
                  f"{', '.join(f'{a:g}' for a in o.agreement_angles)} deg", flush=True)

        def agreement_fn(rotation, n, s):
            return model.sample(n, sampler=o.sampler_object, rotation=rotation, seed=s,
                                rotation_method=o.rotation_method, verbose=False,
                                rotation_mode=o.rotation_mode)

        scores["rotation_agreement"] = rotation_agreement(
            agreement_fn, lambda x: ext(x, verbose=False)[1], o.agreement_angles,
            o.agreement_num, o.batch_size, o.seed + 20_000)

    unet = getattr(model.denoiser, "unet_config", None) or {}
    settings = {k: v for k, v in dataclasses.asdict(o).items()
                if k not in ("extractor", "verbose", "data_dir", "cache", "save_samples")}
    meta = {
        "format_version": EVALUATION_VERSION, "checkpoint": checkpoint,
        "unet": unet.get("config"), **settings, "angles": list(o.angles),
        "sampler_config": o.sampler_object.get_config(),
        "eq_timesteps": list(o.eq_timesteps), "agreement_angles": list(o.agreement_angles),
        "consistency_methods": o.methods if o.angles else [],
        "extractor": ext.name, "extractor_description": ext.description,
        "reference_cached": bool(ref["cached"]),
        "samples_file": None if o.save_samples is None else str(o.save_samples),
        "kid_subset_size": gs["kid_subset_size"], "is_splits": gs["is_splits"],
        "backend": keras.backend.backend(), "keras": keras.__version__,
        "machine": platform.platform(), "seconds": round(time.time() - t0, 1),
    }
    return EvaluationReport(scores, noise, consistency, meta)


def _model_folder(source):
    """The folder a model source loads from: an export as it resolves, else its checkpoint."""
    from keras_aliasfree.diffusion import find_checkpoint, is_export
    from keras_aliasfree.presets import resolve_preset

    path = resolve_preset(source, kind="diffusion")
    return path if is_export(path) else find_checkpoint(path)


def evaluate_checkpoint(checkpoint, options=None, **overrides) -> EvaluationReport:
    """Load a model once and :func:`evaluate` it.

    Args:
        checkpoint: a checkpoint or run directory (``keras-aliasfree train --out DIR``), a
            SavedModel export or a preset name (:meth:`DiffusionModel.from_preset`).
        options: an :class:`EvaluationOptions`; ``overrides`` (its field names) replace fields.

    Example:
        >>> # r = evaluate_checkpoint("runs/mnist_d1n", num=500, steps=50)
        >>> # print(format_table(r))
    """
    from keras_aliasfree.diffusion import DiffusionModel

    options = dataclasses.replace(options or EvaluationOptions(), **overrides)
    model = DiffusionModel.from_preset(checkpoint)  # a preset, an export, a checkpoint or a run
    return evaluate(model, options, checkpoint=_model_folder(checkpoint))


def save_samples_npz(images, path):
    """Write images in [-1, 1] as a compressed ``.npz`` holding uint8 ``x`` (N, H, W, C), the
    layout ``keras_aliasfree.data`` reads as a dataset (``--data PATH.npz``); returns ``path``.

    Example:
        >>> import tempfile
        >>> p = save_samples_npz(np.zeros((2, 4, 4, 1)), tempfile.mkdtemp() + "/s.npz")
        >>> x = np.load(p)["x"]; x.dtype, x.shape, int(x[0, 0, 0, 0])
        (dtype('uint8'), (2, 4, 4, 1), 128)
    """
    from keras_aliasfree.images import to_uint8

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(path, x=to_uint8(images))
    return path


__all__ = ["EvaluationOptions", "EvaluationReport", "evaluate", "evaluate_checkpoint",
           "format_table", "write_json", "sample_images", "generative_scores",
           "denoiser_equivariance", "noise_equivariance", "save_samples_npz"]
