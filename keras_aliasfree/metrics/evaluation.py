"""Evaluate a trained diffusion checkpoint: FD/KID/IS, the denoiser's EQ-T/EQ-T_frac/EQ-R and the
rotation consistency of the rotation-aware sampler. Used by ``keras-aliasfree evaluate``.

Every number is explained in docs/METRICS.md.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time

import numpy as np

from keras_aliasfree.metrics import distances as D
from keras_aliasfree.metrics import equivariance as EQ
from keras_aliasfree.metrics import extractors as E


def sample_images(model, num, batch_size=250, sampler="ddim", steps=50, seed=0, rotation=0.0,
                  rotation_method="fft", verbose=True, eta=0.0):
    """Draw ``num`` images from a :class:`~keras_aliasfree.diffusion.DiffusionModel` in batches
    (batch ``i`` uses seed ``seed + i``); returns float32 numpy in [-1, 1].

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
                                eta=eta))
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
    xt = EQ.noisy_inputs(clean_images, timestep, schedule, seed=seed)
    fn = EQ.denoiser_fn(denoiser, timestep)
    return {
        "eq_t": EQ.eq_translation(fn, xt, fractional=False, max_shift=max_shift, seed=seed),
        "eq_t_frac": EQ.eq_translation(fn, xt, fractional=True, max_shift=max_shift, seed=seed),
        "eq_r": EQ.eq_rotation(fn, xt, seed=seed),
    }


def noise_equivariance(model, clean_images, timesteps=(100, 500, 900), seed=0, max_shift=0.125):
    """EQ-R and EQ-T_frac (dB) of what the sampler uses -- the model's noise prediction
    ``eps_hat`` (EMA weights, band limit and prediction target applied) -- with both outputs
    projected on the disc of frequencies a rotation maps onto itself (radius Nyquist), at each
    of ``timesteps``. Keys ``eq_r_disc_t{t}`` and ``eq_t_frac_disc_t{t}``, and
    ``eq_r_exact_t{t}`` (with ``eq_r_exact_floor_t{t}``): EQ-R of the same ``eps_hat`` with the
    exact rotation of :func:`~keras_aliasfree.metrics.equivariance.eq_rotation_exact` (inputs
    windowed to a disc in space; ceiling ~50 dB instead of ~32: the figure to compare configs by);
    ``eq_r_disc_floor_t{t}``: the same EQ-R of the projection alone (``eps_hat = x_t``), the
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

    from keras_aliasfree.transforms import disc_lowpass

    out = {}
    with model.ema_weights_applied():
        for t in timesteps:
            xt = EQ.noisy_inputs(clean_images, int(t), model.schedule, seed=seed)

            def raw(x, t=int(t)):
                tt = np.full((x.shape[0],), t, "int32")
                return model.predict_noise(keras.ops.convert_to_tensor(x), tt)

            def fn(x):
                return disc_lowpass(raw(x))

            out[f"eq_r_disc_t{t}"] = EQ.eq_rotation(fn, xt, seed=seed)
            out[f"eq_r_disc_floor_t{t}"] = EQ.eq_rotation(disc_lowpass, xt, seed=seed)
            out[f"eq_t_frac_disc_t{t}"] = EQ.eq_translation(fn, xt, fractional=True,
                                                            max_shift=max_shift, seed=seed)
            # the same eps_hat with an exact rotation of disc-windowed inputs (ceiling ~50 dB);
            # the exact rotation projects on the disc itself (on a zero-padded canvas), so raw
            out[f"eq_r_exact_t{t}"], out[f"eq_r_exact_floor_t{t}"] = EQ.eq_rotation_exact(
                raw, xt, return_floor=True)
    return out


def _ema_denoiser(model):
    """A copy of ``model``'s UNet holding its EMA weights (what ``sample`` runs)."""
    from keras import ops

    from keras_aliasfree.unet import unet_from_config

    net = unet_from_config(model.denoiser.unet_config)
    for v, src in zip(net.trainable_variables, model.ema_variables):
        v.assign(np.array(ops.convert_to_numpy(src.value)))
    for v, src in zip(net.non_trainable_variables, model.denoiser.non_trainable_variables):
        v.assign(np.array(ops.convert_to_numpy(src.value)))
    return net


def _model_folder(source):
    """The folder a model source loads from: an export as it resolves, else its checkpoint."""
    from keras_aliasfree.diffusion import find_checkpoint, is_export
    from keras_aliasfree.presets import resolve_preset

    path = resolve_preset(source, kind="diffusion")
    return path if is_export(path) else find_checkpoint(path)


def evaluate_checkpoint(checkpoint, data="mnist", num=2000, split="train", extractor="auto",
                        sampler="ddim", steps=50, batch_size=250, seed=0, angles=(30.0, 60.0, 90.0),
                        rotation_num=16, rotated_fd_angle=45.0, rotated_num=None, eq_num=16,
                        eq_timestep=500, rotation_method="fft", kid_subsets=100,
                        eq_timesteps=(100, 500, 900),
                        kid_subset_size=1000, data_dir=None, cache=None, verbose=True, eta=0.0,
                        consistency_methods=None, save_samples=None):
    """Evaluate a checkpoint; returns a JSON-able dict (see docs/METRICS.md for every key).

    Args:
        checkpoint: checkpoint or run directory (``keras-aliasfree train --out DIR``), a
            SavedModel export or a preset name (:meth:`DiffusionModel.from_preset`).
        data: reference dataset (``keras_aliasfree.data`` source name or path); its ``split`` gives
            the first ``num`` real images for the reference statistics (cached on disk).
        num: generated and real images for FD/KID/IS.
        extractor: ``"auto"``, ``"inception"``, ``"classifier"``, a path, or a FeatureExtractor.
        sampler, steps: sampling settings (DDIM 50 steps by default; DDPM runs all T).
        eta: DDIM noise level (0 = deterministic DDIM; 1 = DDPM-like, see ``DiffusionModel.sample``).
        angles: rotation sweep for the rotation consistency (``rotation_num`` images per angle).
        rotated_fd_angle: FD/KID of samples drawn with this rotation vs real data rotated by the
            same angle (``rotated_num`` images, default ``num``); 0/None skips it.
        eq_num, eq_timestep: real images noised to ``eq_timestep`` for the raw UNet's EQ-* figures.
        eq_timesteps: the timesteps of the EQ figures on ``eps_hat`` within the disc
            (:func:`noise_equivariance`; the ones that compare configs and targets).
        consistency_methods: rotation methods of further rotation-consistency sweeps (the same
            angles, images and seed), e.g. ``("bilinear",)``; each other than
            ``rotation_method`` adds ``rotation_consistency_<method>`` and
            ``rotation_consistency_per_angle_<method>``.
        save_samples: an ``.npz`` path: the ``num`` unrotated samples scored by FD/KID/IS are
            written there as uint8 ``x`` (N, H, W, C), compressed (:func:`save_samples_npz`).

    Example:
        >>> # r = evaluate_checkpoint("runs/mnist_d1n", num=500, steps=50)
        >>> # print(format_table(r))
    """
    from keras_aliasfree.constants import ROTATION_METHODS
    from keras_aliasfree.diffusion import DiffusionModel

    methods = [rotation_method] + [m for m in (consistency_methods or ()) if m != rotation_method]
    for m in methods:
        if m not in ROTATION_METHODS:
            raise ValueError(f"rotation method must be one of {ROTATION_METHODS}, got {m!r}")
    if save_samples is not None and not str(save_samples).endswith(".npz"):
        raise ValueError(f"save_samples must be an .npz path, got {save_samples!r}")
    t0 = time.time()
    model = DiffusionModel.from_preset(checkpoint)  # a preset, an export, a checkpoint or a run
    ck_dir = _model_folder(checkpoint)
    h, w, c = model.image_shape
    if h != w:
        raise ValueError(f"evaluate needs square images, the checkpoint makes {h}x{w}")
    ext = E.get_extractor(extractor, verbose=verbose)
    if verbose:
        print(f"extractor: {ext.description}")
    ref_kw = dict(split=split, image_size=h, channels=c, data_dir=data_dir, cache=cache,
                  verbose=verbose, rotation_method=rotation_method)
    ref = E.reference_features(data, ext, count=num, **ref_kw)
    fake = sample_images(model, num, batch_size, sampler, steps, seed, 0.0, rotation_method,
                         verbose, eta)
    if save_samples is not None:
        save_samples_npz(fake, save_samples)
    ff, fp = ext(fake, verbose=verbose)
    scores = generative_scores(ff, fp, ref, kid_subsets, kid_subset_size)
    result = {"fd": scores["fd"], "kid_x100": 100 * scores["kid"],
              "kid_std_x100": 100 * scores["kid_std"], "is": scores["is"],
              "is_std": scores["is_std"]}
    # the data itself through the same extractor: the best IS / the scale of the numbers
    result["is_real"] = D.inception_score(ref["probs"], splits=scores["is_splits"])

    if rotated_fd_angle:
        rn = int(rotated_num or num)
        rref = E.reference_features(data, ext, count=rn, rotation=float(rotated_fd_angle),
                                    **ref_kw)
        rfake = sample_images(model, rn, batch_size, sampler, steps, seed + 10_000,
                              float(rotated_fd_angle), rotation_method, verbose, eta)
        rf, rp = ext(rfake, verbose=verbose)
        rs = generative_scores(rf, rp, rref, kid_subsets, kid_subset_size)
        result["fd_rotated"] = rs["fd"]
        result["kid_rotated_x100"] = 100 * rs["kid"]

    net = _ema_denoiser(model)
    from keras_aliasfree.metrics.classifier import load_real_images

    real, _ = load_real_images(data, "test" if split == "train" else split, h, c, eq_num, data_dir,
                               with_labels=False)
    result.update(denoiser_equivariance(net, real, eq_timestep, model.schedule, seed))
    result.update(noise_equivariance(model, real, eq_timesteps, seed))

    for method in methods if angles else ():
        def sample_fn(rotation, s, method=method):
            return model.sample(int(rotation_num), steps=steps, sampler=sampler,
                                rotation=rotation, seed=s, rotation_method=method,
                                verbose=False, eta=eta)

        mean, per = EQ.rotation_consistency(sample_fn, angles=tuple(float(a) for a in angles),
                                            seed=seed, method=method, return_per_angle=True)
        suffix = "" if method == rotation_method else f"_{method}"
        result[f"rotation_consistency{suffix}"] = mean
        result[f"rotation_consistency_per_angle{suffix}"] = {f"{k:g}": v for k, v in per.items()}

    import keras

    meta = {
        "checkpoint": ck_dir,
        "unet": (getattr(model.denoiser, "unet_config", None) or {}).get("config"),
        "data": data, "split": split, "num": int(num), "extractor": ext.name,
        "extractor_description": ext.description, "reference_cached": bool(ref["cached"]),
        "sampler": sampler, "steps": steps, "eta": eta, "seed": seed, "angles": list(angles or []),
        "rotation_num": rotation_num, "rotated_fd_angle": rotated_fd_angle,
        "rotation_method": rotation_method, "consistency_methods": methods if angles else [],
        # rotation-aware sampling turns each step's fresh noise too (since 2026-12-01); an older
        # evaluation's stochastic rotation consistency compared two different samples
        "rotation_noise_turned": True,
        "samples_file": None if save_samples is None else str(save_samples),
        "eq_num": eq_num, "eq_timestep": eq_timestep,
        "eq_timesteps": [int(t) for t in eq_timesteps],
        "kid_subsets": kid_subsets, "kid_subset_size": scores["kid_subset_size"],
        "is_splits": scores["is_splits"], "backend": keras.backend.backend(),
        "keras": keras.__version__, "machine": platform.platform(),
        "seconds": round(time.time() - t0, 1),
    }
    return {"metrics": result, "meta": meta}


_ROWS = [
    ("fd", "FD ({ext})", "{:.3f}"),
    ("kid_x100", "KID x100", "{:.4f}"),
    ("is", "IS", "{:.3f}"),
    ("is_real", "IS of the real data", "{:.3f}"),
    ("fd_rotated", "FD rotated {rot} deg vs rotated data", "{:.3f}"),
    ("kid_rotated_x100", "KID x100 rotated {rot} deg", "{:.4f}"),
    ("eq_t", "EQ-T of the raw UNet output (dB)", "{:.2f}"),
    ("eq_t_frac", "EQ-T_frac of the raw UNet output (dB)", "{:.2f}"),
    ("eq_r", "EQ-R of the raw UNet output (dB)", "{:.2f}"),
    ("rotation_consistency", "rotation consistency (dB)", "{:.2f}"),
]


def format_table(report):
    """A Markdown table of an :func:`evaluate_checkpoint` report.

    Example:
        >>> print(format_table({"metrics": {"fd": 1.0}, "meta": {"extractor": "x"}}))
        | metric | value |
        |---|---:|
        | FD (x) | 1.000 |
    """
    m, meta = report["metrics"], report.get("meta", {})
    lines = ["| metric | value |", "|---|---:|"]
    for key, label, fmt in _ROWS:
        if key not in m:
            continue
        v = m[key]
        text = "inf" if isinstance(v, float) and math.isinf(v) else fmt.format(v)
        if key == "kid_x100" and "kid_std_x100" in m:
            text += f" ± {m['kid_std_x100']:.4f}"
        if key == "is" and "is_std" in m:
            text += f" ± {m['is_std']:.3f}"
        lines.append(f"| {label.format(ext=meta.get('extractor', '?'), rot=meta.get('rotated_fd_angle'))} | {text} |")
    for prefix, what in (("eq_r_exact_t", "EQ-R (exact rotation)"),
                         ("eq_r_exact_floor_t", "the floor of EQ-R (exact rotation)"),
                         ("eq_r_disc_t", "EQ-R"), ("eq_r_disc_floor_t", "the floor of EQ-R"),
                         ("eq_t_frac_disc_t", "EQ-T_frac")):
        for key in sorted((k for k in m if k.startswith(prefix)),
                          key=lambda k: int(k[len(prefix):])):
            lines.append(f"| {what} of eps_hat on the disc, t = {key[len(prefix):]} (dB) | "
                         f"{m[key]:.2f} |")
    for method in [""] + [k[len("rotation_consistency_"):] for k in m
                          if k.startswith("rotation_consistency_")
                          and not k.startswith("rotation_consistency_per_angle")]:
        suffix = f"_{method}" if method else ""
        if method:
            lines.append(f"| rotation consistency, {method} rotation (dB) | "
                         f"{m['rotation_consistency' + suffix]:.2f} |")
        per = m.get("rotation_consistency_per_angle" + suffix)
        if per:
            lines.append("| ... per angle (dB) | " + ", ".join(f"{k}: {v:.2f}"
                                                           for k, v in per.items()) + " |")
    return "\n".join(lines)


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


def write_json(report, path):
    """Write a report as JSON (``inf`` is written as the string ``"inf"``)."""

    def clean(o):
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, (np.floating, float)):
            o = float(o)
            return o if math.isfinite(o) else str(o)
        if isinstance(o, np.integer):
            return int(o)
        return o

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(clean(report), f, indent=2)
        f.write("\n")
    return path
