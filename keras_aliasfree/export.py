"""TensorFlow SavedModel export with rotation-aware sampling signatures (TensorFlow-only module).

:func:`export_saved_model` turns a training checkpoint (see :mod:`keras_aliasfree.diffusion`) into a
SavedModel that serves sampling with plain TensorFlow -- no ``keras_aliasfree`` and no Keras needed
at load time. Signatures (``saved_model_cli show --all --dir DIR`` lists them; TensorFlow Serving
reads the same):

* ``sample(seed: int64 [], num_images: int32 [], rotation_degrees: float32 [], steps: int32 [])``
  -> ``{"images": uint8 (N, H, W, C)}``: the whole reverse process in one graph call
  (``tf.while_loop``, EMA weights, x0_hat clipped as ``DiffusionModel.sample``'s default), its
  body the library's own (``sampling.sampler_iteration``). ``num_images <= max_images`` (fixed at
  export, default :data:`DEFAULT_MAX_IMAGES`), else ``InvalidArgumentError``. Exported without
  ``sampler=``: ``steps <= 0`` or ``T`` runs DDPM, ``1 <= steps < T`` DDIM (the export's
  ``eta``), tables computed in-graph as :meth:`NoiseSchedule.sampler_tables`; ``steps > T`` is
  an error. Exported with ``sampler=`` (e.g. ``DPMSolverMultistep(10)``): that sampler, its
  tables constants of the graph; ``steps`` must be ``<= 0`` or its own steps (``docs/SAMPLING.md``).
  ``rotation_degrees = phi != 0`` turns x_t (and the sampler's carried images) by
  ``phi / NFE`` before every model evaluation (the FFT three-shear by default) and each fresh
  noise by the angle turned so far (``sampling.rotate_noise``).
* ``denoise(noisy_images: float32 (None, H, W, C), timesteps: int32 (None,) or [])`` (a scalar
  timestep applies to every image) -> ``{"noise": float32 (None, H, W, C)}``: the model's noise
  prediction with the EMA weights (``DiffusionModel.predict_noise``, band limit included).
* ``serving_default`` = ``sample``.

Randomness: the initial and per-step noise are ``tf.random.stateless_normal`` draws with seeds
``[seed, 0]``, ``[seed, 1]``, ... (modulo ``2**31 - 2``) -- the stream
:meth:`DiffusionModel.sample` draws under the TensorFlow backend from
``keras.random.SeedGenerator(seed)``; with the same loop arithmetic, the SavedModel reproduces the
library's TensorFlow samples for the same seed (to float rounding; the tests check it).

Backends: the SavedModel is always traced with TensorFlow; under JAX or PyTorch
:func:`export_saved_model` runs the export in a ``KERAS_BACKEND=tensorflow`` subprocess (weight
files are backend-independent; jax2tf cannot express run-time ``num_images`` and ``steps``).

Example:
    >>> # from keras_aliasfree.export import export_saved_model
    >>> # export_saved_model("runs/mnist_d1n", "saved_models/mnist-d")
    >>> # import tensorflow as tf; m = tf.saved_model.load("saved_models/mnist-d")
    >>> # m.sample(seed=tf.constant(0, tf.int64), num_images=tf.constant(4),
    >>> #          rotation_degrees=tf.constant(45.0), steps=tf.constant(20))["images"].shape
    >>> # TensorShape([4, 32, 32, 1])
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

from keras_aliasfree._io import make_temp_dir, remove_stale_temps, replace_directory
from keras_aliasfree.constants import DEFAULT_MAX_IMAGES
from keras_aliasfree.diffusion.exported import (EXPORT_FORMAT, EXPORT_VERSION, INFO_FILE,
                                                read_export_info)
from keras_aliasfree.diffusion.samplers import DDIM, get_sampler
from keras_aliasfree.diffusion.schedule import ddim_timesteps_tf

SIGNATURES = ("serving_default", "sample", "denoise")

_INT32_SEED_MOD = 2**31 - 2  # keras' _cast_seed: floormod(seed, int32.max - 1)


def _require_tensorflow_backend(what):
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"{what} needs the TensorFlow backend (KERAS_BACKEND=tensorflow); the "
                           f"current backend is {keras.backend.backend()!r}. "
                           "export_saved_model() switches backends for you via a subprocess.")


def _make_module(denoiser, schedule, rotation_method, band_limit=None, eta=0.0,
                 prediction="epsilon", max_images=DEFAULT_MAX_IMAGES, sampler=None):
    """The tf.Module holding the denoiser (EMA weights) and the two signature tf.functions.

    The loop body is :func:`~keras_aliasfree.diffusion.sampling.sampler_iteration` with the
    noise prediction of :func:`~keras_aliasfree.diffusion.sampling.noise_prediction`, as
    :meth:`DiffusionModel.sample` runs them; only the ``tf.while_loop`` and, with run-time steps,
    the DDIM tables (the same :func:`~keras_aliasfree.diffusion.schedule.ddim_coefficients`)
    are built here."""
    import tensorflow as tf

    from keras_aliasfree.diffusion.sampling import (noise_prediction, rotate_noise,
                                                     sampler_iteration, x0_prediction)
    from keras_aliasfree.diffusion.schedule import SamplerTables, ddim_coefficients
    from keras_aliasfree.transforms import rotate

    h, w, c = (int(d) for d in denoiser.inputs[0].shape[1:])
    T = int(schedule.timesteps)
    alpha_bars = np.asarray(schedule.alpha_bars, np.float64)
    ddpm_tables = schedule.sampler_tables("ddpm").astype(np.float32)
    # run-time steps: the DDIM/DDPM step on in-graph tables (noise always drawn); else fixed
    fixed, fixed_tables = sampler, None if sampler is None else sampler.tables(schedule)
    step_sampler = DDIM(1, 1.0) if fixed is None else fixed

    module = tf.Module(name="keras_aliasfree_diffusion")
    # Track the underlying tf.Variables, not the Keras model: then session-based loaders (TF1
    # `loader.load`, `saved_model_cli run`, TensorFlow Serving's C++ SavedModelBundle) restore
    # them too; tracking the Keras model only works with the TF2 `tf.saved_model.load`.
    module.denoiser_variables = [v.value for v in denoiser.variables]
    module.timesteps = tf.Variable(T, dtype=tf.int32, trainable=False, name="timesteps")
    module.image_shape = tf.Variable([h, w, c], dtype=tf.int32, trainable=False,
                                     name="image_shape")

    def seed_pair(seed, k):
        s = tf.stack([tf.cast(seed, tf.int64), tf.cast(k, tf.int64)])
        return tf.cast(tf.math.floormod(s, tf.constant(_INT32_SEED_MOD, tf.int64)), tf.int32)

    sigma_table = tf.constant(np.sqrt(1.0 - alpha_bars).astype(np.float32))
    sqrt_ab_table = tf.constant(np.sqrt(alpha_bars).astype(np.float32))

    def run_denoiser(x, t_float, sigma, sqrt_ab):
        return noise_prediction(denoiser([x, t_float], training=False), x, sigma, band_limit,
                                prediction, sqrt_ab)

    def ddpm():
        return tuple(tf.constant(v) for v in ddpm_tables)

    def ddim(n):
        t = ddim_timesteps_tf(n, T)
        ab_all = tf.constant(alpha_bars, tf.float64)
        ab = tf.gather(ab_all, t)
        ab_prev = tf.concat([tf.gather(ab_all, t[1:]), tf.ones([1], tf.float64)], axis=0)
        coeffs = ddim_coefficients(ab, ab_prev, eta, xp=tf.math)
        return tuple(tf.cast(v, tf.float32) for v in (t,) + tuple(coeffs))

    @tf.function(input_signature=[
        tf.TensorSpec([], tf.int64, name="seed"),
        tf.TensorSpec([], tf.int32, name="num_images"),
        tf.TensorSpec([], tf.float32, name="rotation_degrees"),
        tf.TensorSpec([], tf.int32, name="steps"),
    ], autograph=False)
    def sample(seed, num_images, rotation_degrees, steps):
        if fixed is None:
            steps_check = tf.debugging.assert_less_equal(
                steps, T, message=f"sample: steps must be <= T={T} (<= 0 or T = DDPM, "
                                  f"1..{T - 1} = DDIM)")
        else:  # the sampler is fixed: steps may only name it (or be <= 0)
            fixed_steps = getattr(fixed, "steps", None) or T
            steps_check = tf.debugging.Assert(
                tf.logical_or(steps <= 0, tf.equal(steps, fixed_steps)),
                [f"sample: this export's sampler is {fixed!r}; steps must be <= 0 or "
                 f"{fixed_steps}"])
        checks = [
            tf.debugging.assert_greater_equal(
                num_images, 1, message="sample: num_images must be >= 1"),
            tf.debugging.assert_less_equal(
                num_images, max_images,
                message=f"sample: num_images must be <= {max_images} (this export's max_images; "
                        "draw more in several calls, or re-export with a larger --max-images)"),
            steps_check,
            tf.debugging.assert_all_finite(
                rotation_degrees, message="sample: rotation_degrees must be finite"),
        ]
        with tf.control_dependencies(checks):
            if fixed is None:  # run-time steps: DDPM or DDIM(steps, eta), tables in-graph
                use_ddpm = tf.logical_or(steps <= 0, tf.equal(steps, T))
                tables = SamplerTables(*tf.cond(use_ddpm, ddpm, lambda: ddim(steps)))
                tabs = {"t": tables.timesteps, "sqrt_ab": tables.sqrt_alpha_bar,
                        "sigma": tables.sigma, "coef_x0": tables.coef_x0,
                        "coef_xt": tables.coef_xt, "noise_std": tables.noise_std}
            else:  # the sampler fixed at export time: its tables are constants of the graph
                tabs = {k: tf.constant(v) for k, v in fixed_tables.items()}
        n_steps = tf.shape(tabs["t"])[0]
        angle = tf.cast(tf.cast(rotation_degrees, tf.float64) / tf.cast(n_steps, tf.float64),
                        tf.float32)
        do_rotate = tf.not_equal(rotation_degrees, 0.0)
        shape = tf.stack([num_images, h, w, c])
        x0 = tf.random.stateless_normal(shape, seed=seed_pair(seed, 0), dtype=tf.float32)
        x0 = tf.ensure_shape(x0, [None, h, w, c])
        image = tf.TensorShape([None, h, w, c])

        def turn(a):
            turned = tf.cond(do_rotate, lambda: rotate(a, angle, method=rotation_method),
                             lambda: tf.identity(a))
            return tf.ensure_shape(turned, image)

        def body(i, x, *state):
            row = {k: v[i] for k, v in tabs.items()}

            def denoise(x, t, sqrt_ab, sigma):
                eps = run_denoiser(x, tf.fill(tf.reshape(num_images, [1]), t), sigma, sqrt_ab)
                return x0_prediction(eps, x, sigma, sqrt_ab, clip=step_sampler.clip_x0)

            z = tf.random.stateless_normal(shape, seed=seed_pair(seed, i + 1), dtype=tf.float32) \
                if step_sampler.stochastic else None

            def turn_noise(z):
                # the noise turned by the angle x_t has turned so far, as DiffusionModel.sample
                # does (skipped where the step adds none: DDIM with eta 0, the last step)
                go = tf.logical_and(do_rotate, tf.not_equal(row.get("noise_std", 1.0), 0.0))
                return tf.ensure_shape(tf.cond(
                    go, lambda: rotate_noise(z, angle * tf.cast(i + 1, tf.float32)),
                    lambda: tf.identity(z)), image)

            x, state = sampler_iteration(step_sampler, x, state, row, denoise, z, turn,
                                         turn_noise)
            return (i + 1, tf.ensure_shape(x, image)) + tuple(
                tf.ensure_shape(v, image) for v in state)

        init = (tf.constant(0), x0) + tuple(tf.zeros_like(x0) for _ in
                                            range(step_sampler.state_size))
        x = tf.while_loop(lambda i, *_: i < n_steps, body, init,
                          shape_invariants=(tf.TensorShape([]),) + (image,) * (len(init) - 1))[1]
        x = tf.clip_by_value(x, -1.0, 1.0)
        images = tf.cast(tf.clip_by_value(tf.round((x + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
        return {"images": images}

    @tf.function(input_signature=[
        tf.TensorSpec([None, h, w, c], tf.float32, name="noisy_images"),
        tf.TensorSpec(None, tf.int32, name="timesteps"),
    ], autograph=False)
    def denoise(noisy_images, timesteps):
        n = tf.shape(noisy_images)[0]
        rank = tf.debugging.assert_less_equal(
            tf.rank(timesteps), 1, message="denoise: timesteps must be a scalar (every image) or "
                                           "a vector with one timestep per image")
        with tf.control_dependencies([rank]):
            flat = tf.reshape(timesteps, [-1])
        # a scalar applies to every image; a vector must hold one timestep per image
        timesteps = tf.cond(tf.equal(tf.rank(timesteps), 0), lambda: tf.fill([n], flat[0]),
                            lambda: flat)
        checks = [
            tf.debugging.assert_equal(
                tf.shape(noisy_images)[1:], tf.constant([h, w, c]),
                message=f"denoise: noisy_images must have shape (N, {h}, {w}, {c})"),
            tf.debugging.assert_equal(
                tf.shape(timesteps)[0], n,
                message="denoise: need one timestep per image (or a scalar for all)"),
            tf.debugging.assert_greater_equal(
                timesteps, 0, message=f"denoise: timesteps must be in 0..{T - 1}"),
            tf.debugging.assert_less(
                timesteps, T, message=f"denoise: timesteps must be in 0..{T - 1}"),
        ]
        with tf.control_dependencies(checks):
            x = tf.identity(noisy_images)
            t = tf.cast(timesteps, tf.float32)
        return {"noise": run_denoiser(x, t, tf.gather(sigma_table, timesteps),
                                      tf.gather(sqrt_ab_table, timesteps))}

    module.sample = sample
    module.denoise = denoise
    return module


def build_serving_module(checkpoint, rotation_method=None, eta=0.0,
                         max_images=DEFAULT_MAX_IMAGES, sampler=None):
    """The ``tf.Module`` that :func:`export_saved_model` saves (TensorFlow backend only).

    Loads the checkpoint's UNet with its EMA weights; ``module.sample`` and ``module.denoise`` are
    the signature functions (callable directly, e.g. to compare before saving).

    Example:
        >>> # m = build_serving_module("runs/mnist_d1n")
        >>> # m.sample(tf.constant(0, tf.int64), tf.constant(2), tf.constant(0.0), tf.constant(10))
    """
    _require_tensorflow_backend("build_serving_module")
    from keras_aliasfree.diffusion import NoiseSchedule, denoiser_from_checkpoint
    from keras_aliasfree.diffusion.checkpoint import checkpoint_identity
    from keras_aliasfree.transforms import DEFAULT_ROTATION_METHOD, ROTATION_METHODS

    method = DEFAULT_ROTATION_METHOD if rotation_method is None else rotation_method
    if method not in ROTATION_METHODS:
        raise ValueError(f"rotation_method must be one of {ROTATION_METHODS}, got {method!r}")
    ckpt, config, denoiser = denoiser_from_checkpoint(checkpoint)
    denoiser.load_weights(os.path.join(ckpt, "ema.weights.h5"))
    schedule = NoiseSchedule(**config["schedule"])
    band_limit = config.get("band_limit")  # absent: a checkpoint from before the band limit
    eta = float(eta)
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    prediction = config.get("prediction", "epsilon")  # absent: from before prediction types
    max_images = int(max_images)
    if max_images < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images}")
    fixed = None
    if sampler is not None:
        if eta != 0.0:
            raise ValueError("eta applies to the run-time DDIM sampler; with a fixed sampler "
                             "put it in the sampler (DDIM(steps, eta))")
        fixed = get_sampler(sampler)
        fixed.tables(schedule)  # validates it against the schedule
    module = _make_module(denoiser, schedule, method, band_limit, eta, prediction, max_images,
                          fixed)
    module.checkpoint_dir = ckpt  # for messages on this machine; not written into the export
    module.export_info = {
        "format": EXPORT_FORMAT, "format_version": EXPORT_VERSION,
        # what identifies the checkpoint, never its path on the exporting machine
        "checkpoint": checkpoint_identity(ckpt), "checkpoint_backend": config.get("backend"),
        "unet": config["unet"], "schedule": schedule.get_config(),
        "image_shape": [int(d) for d in denoiser.inputs[0].shape[1:]],
        "rotation_method": method, "weights": "ema", "band_limit": band_limit, "ddim_eta": eta,
        "prediction": prediction, "max_images": max_images,
        "sampler": None if fixed is None else fixed.get_config(),
        "signatures": list(SIGNATURES),
    }
    return module


# the child of _export_in_subprocess: this library's function, its arguments as one JSON string
_CHILD = ("import json, sys; from keras_aliasfree.export import export_saved_model; "
          "export_saved_model(**json.loads(sys.argv[1]))")


def _export_in_subprocess(**kwargs):
    """Run :func:`export_saved_model` with ``kwargs`` in a ``KERAS_BACKEND=tensorflow`` child
    process: the SavedModel is traced with TensorFlow whatever the
    caller's backend, and checkpoint weights are backend-independent."""
    cmd = [sys.executable, "-c", _CHILD, json.dumps(kwargs)]
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    verbose = kwargs["verbose"]
    if verbose:
        print(f"export: backend is {keras.backend.backend()}; tracing the SavedModel in a "
              "subprocess with KERAS_BACKEND=tensorflow (checkpoint weights are "
              "backend-independent)")
    proc = subprocess.run(cmd, env=env, capture_output=not verbose, text=True)
    if proc.returncode != 0:
        detail = "" if verbose else f"\n{proc.stdout}\n{proc.stderr}"
        raise RuntimeError(f"export subprocess (KERAS_BACKEND=tensorflow) failed with exit code "
                           f"{proc.returncode}{detail}")
    return kwargs["out"]


def export_saved_model(checkpoint, out, rotation_method=None, overwrite=False, verify=True,
                       verbose=True, eta=0.0, max_images=DEFAULT_MAX_IMAGES, sampler=None):
    """Export a checkpoint as a TensorFlow SavedModel with ``sample``/``denoise`` signatures.

    Args:
        checkpoint: a checkpoint directory or a training run directory (its latest checkpoint).
        out: SavedModel directory to write (atomically: a temp directory renamed into place).
        rotation_method: rotation of x_t traced into ``sample`` (default: the library's default,
            ``"fft"``).
        overwrite: replace ``out`` if it exists (otherwise an existing ``out`` is an error).
        verify: reload the written SavedModel with ``tf.saved_model.load`` and check that its
            ``denoise`` matches the Keras UNet on a small batch.
        verbose: print what was written.
        eta: the DDIM noise level of ``sample`` when ``steps < T`` (0 = deterministic DDIM, 1 =
            DDPM-like fresh noise; see ``DiffusionModel.sample``), fixed at export time.
        max_images: the most images one ``sample`` call may ask for (a larger ``num_images`` is
            an ``InvalidArgumentError``), fixed at export time.
        sampler: ``None`` (default): ``sample`` takes its ``steps`` at run time (DDPM or DDIM
            with ``eta``). A :class:`~keras_aliasfree.diffusion.samplers.Sampler`, its config
            dict or a name: the sampler is fixed at export time (its tables are constants of the
            graph) and ``steps`` must be ``<= 0`` or the sampler's own steps.

    Under a non-TensorFlow backend the export runs in a ``KERAS_BACKEND=tensorflow`` subprocess.
    Returns the absolute path of ``out``.

    Example:
        >>> # export_saved_model("runs/mnist_d1n", "saved_models/mnist-d")
    """
    import keras

    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out) and not overwrite:
        raise FileExistsError(f"{out} already exists; pass overwrite=True (--overwrite) to "
                              "replace it")
    if keras.backend.backend() != "tensorflow":
        return _export_in_subprocess(checkpoint=os.fspath(checkpoint), out=out,
                                     rotation_method=rotation_method, overwrite=overwrite,
                                     verify=verify, verbose=verbose, eta=float(eta),
                                     max_images=int(max_images),
                                     sampler=None if sampler is None else
                                     get_sampler(sampler).get_config())

    import tensorflow as tf

    t0 = time.perf_counter()
    module = build_serving_module(checkpoint, rotation_method, eta, max_images, sampler)
    parent = os.path.dirname(out)
    tmp = make_temp_dir(parent, os.path.basename(out))
    try:
        signatures = {"serving_default": module.sample.get_concrete_function(),
                      "sample": module.sample.get_concrete_function(),
                      "denoise": module.denoise.get_concrete_function()}
        tf.saved_model.save(module, tmp, signatures=signatures)
        info = dict(module.export_info, keras_version=keras.__version__,
                    tensorflow_version=tf.__version__,
                    exported_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)
        with open(os.path.join(tmp, INFO_FILE), "w") as f:
            json.dump(info, f, indent=2)
        if verify:
            _verify(tmp, module)
        replace_directory(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    remove_stale_temps(parent, os.path.basename(out))  # left by an interrupted export
    if verbose:
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
        print(f"exported {module.checkpoint_dir} -> {out} ({size / 1e6:.1f} MB, "
              f"{time.perf_counter() - t0:.0f} s); signatures: {', '.join(SIGNATURES)}")
    return out


def _verify(path, module):
    """Reload ``path`` and compare its ``denoise`` with the in-memory module on a small batch."""
    import tensorflow as tf

    h, w, c = module.export_info["image_shape"]
    T = module.export_info["schedule"]["timesteps"]
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, h, w, c)).astype("float32"))
    t = tf.constant([0, T - 1], tf.int32)
    loaded = tf.saved_model.load(path)
    got = loaded.signatures["denoise"](noisy_images=x, timesteps=t)["noise"].numpy()
    want = module.denoise(x, t)["noise"].numpy()
    if not np.allclose(got, want, atol=1e-5, rtol=1e-5):
        raise RuntimeError(f"export check failed: the reloaded SavedModel's denoise differs from "
                           f"the Keras UNet by {np.abs(got - want).max():.3g}")


def load_saved_model(name_or_path):
    """Load an exported SavedModel for serving, by preset name or folder (``tf.saved_model.load``).

    Its ``signatures["sample"]`` and ``signatures["denoise"]`` are those of the module docs; no
    Keras model is rebuilt. A registered or shipped preset name resolves to its folder
    (:func:`keras_aliasfree.presets.resolve_preset`).

    Example:
        >>> import tensorflow as tf
        >>> m = load_saved_model("mnist-d")
        >>> m.signatures["sample"](seed=tf.constant(0, tf.int64), num_images=tf.constant(1),
        ...     rotation_degrees=tf.constant(0.0), steps=tf.constant(2))["images"].shape
        TensorShape([1, 32, 32, 1])
    """
    from keras_aliasfree.presets import PresetError, folder_kind, resolve_preset

    path = resolve_preset(name_or_path, kind="diffusion")
    if folder_kind(path) != "saved_model":
        raise PresetError(f"{path} is not a SavedModel (no saved_model.pb); export it first with "
                          "`keras-aliasfree export --checkpoint RUN --out DIR`")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf.saved_model.load(path)


__all__ = ["export_saved_model", "build_serving_module", "ddim_timesteps_tf", "read_export_info",
           "load_saved_model", "SIGNATURES"]

