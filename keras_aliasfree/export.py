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
from keras_aliasfree.diffusion.samplers import get_sampler
from keras_aliasfree.diffusion.schedule import ddim_timesteps_tf  # noqa: F401  (re-exported)

SIGNATURES = ("serving_default", "sample", "denoise")

def _require_tensorflow_backend(what):
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"{what} needs the TensorFlow backend (KERAS_BACKEND=tensorflow); the "
                           f"current backend is {keras.backend.backend()!r}. "
                           "export_saved_model() switches backends for you via a subprocess.")


def build_serving_module(checkpoint, rotation_method=None, eta=0.0,
                         max_images=DEFAULT_MAX_IMAGES, sampler=None,
                         rotation_mode="progressive"):
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
    from keras_aliasfree.serving import make_serving_module

    module = make_serving_module(denoiser, schedule, method, band_limit, eta, prediction,
                                 max_images, fixed, rotation_mode)
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
        "rotation_mode": rotation_mode, "up_input": len(denoiser.inputs) == 3,
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
                       verbose=True, eta=0.0, max_images=DEFAULT_MAX_IMAGES, sampler=None,
                       rotation_mode="progressive"):
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
        rotation_mode: how ``sample`` turns, fixed at export time: ``"progressive"`` (the
            paper's) or ``"once"`` (:meth:`DiffusionModel.sample`).

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
                                     max_images=int(max_images), rotation_mode=rotation_mode,
                                     sampler=None if sampler is None else
                                     get_sampler(sampler).get_config())

    import tensorflow as tf

    t0 = time.perf_counter()
    module = build_serving_module(checkpoint, rotation_method, eta, max_images, sampler,
                                  rotation_mode)
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
    up = {"up_degrees": tf.constant([0.0, 90.0])} if module.export_info["up_input"] else {}
    got = loaded.signatures["denoise"](noisy_images=x, timesteps=t, **up)["noise"].numpy()
    want = module.denoise(x, t, *up.values())["noise"].numpy()
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
        >>> m = load_saved_model("mnist-d")      # serves Heun, 10 steps: steps 0 runs it
        >>> m.signatures["sample"](seed=tf.constant(0, tf.int64), num_images=tf.constant(1),
        ...     rotation_degrees=tf.constant(0.0), steps=tf.constant(0))["images"].shape
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

