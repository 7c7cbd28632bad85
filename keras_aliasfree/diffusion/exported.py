"""A SavedModel export read back as a Keras denoiser: its info file and its weights.

An export (:func:`keras_aliasfree.export.export_saved_model`) stores, beside the serving graph,
``assets.extra/keras_aliasfree.json`` (the UNet config, the schedule, the band limit, the
prediction type) and, in ``variables/``, the denoiser's variables (the EMA copy) in the order of
``denoiser.variables``, under the keys ``denoiser_variables/<i>/.ATTRIBUTES/VARIABLE_VALUE``.
That is all a Keras model needs: :func:`denoiser_from_export` rebuilds the UNet from the config
and loads the weights, so an export is also a checkpoint for sampling (no optimizer state, raw
weights = EMA weights). Reading the variables uses TensorFlow's checkpoint reader (TensorFlow is
a dependency on every backend); the rebuilt model runs on any backend.

Example:
    >>> from keras_aliasfree.presets import resolve_preset
    >>> info, net = denoiser_from_export(resolve_preset("mnist-a"))
    >>> info["unet"]["config"], net.count_params()
    ('A', 375153)
"""

from __future__ import annotations

import json
import os

import numpy as np

from keras_aliasfree.diffusion.checkpoint import CheckpointError

EXPORT_FORMAT = "keras_aliasfree.saved_model"
EXPORT_VERSION = 1
INFO_FILE = os.path.join("assets.extra", "keras_aliasfree.json")
_KEY = "denoiser_variables/{}/.ATTRIBUTES/VARIABLE_VALUE"


def read_export_info(path) -> dict:
    """The ``assets.extra/keras_aliasfree.json`` written next to an exported SavedModel ({} if none).

    Example:
        >>> from keras_aliasfree.presets import resolve_preset
        >>> read_export_info(resolve_preset("mnist-d"))["image_shape"]
        [32, 32, 1]
    """
    p = os.path.join(os.fspath(path), INFO_FILE)
    if not os.path.exists(p):
        return {}
    with open(p) as f:
        return json.load(f)


def is_export(path) -> bool:
    """True when ``path`` is a SavedModel exported by this library (``saved_model.pb`` + info).

    Example:
        >>> import tempfile
        >>> is_export(tempfile.mkdtemp())
        False
    """
    path = os.fspath(path)
    return (os.path.isfile(os.path.join(path, "saved_model.pb"))
            and os.path.isfile(os.path.join(path, INFO_FILE)))


def denoiser_from_export(path):
    """Rebuild an export's UNet with its (EMA) weights; returns ``(info, denoiser)``.

    Raises :class:`~keras_aliasfree.diffusion.checkpoint.CheckpointError` when the folder is not
    an export of this library, was written by a newer format, or its variables do not fit the
    UNet its config builds (names the variable and both shapes).

    Example:
        >>> from keras_aliasfree.presets import resolve_preset
        >>> info, net = denoiser_from_export(resolve_preset("mnist-d"))
        >>> info["prediction"], tuple(net.inputs[0].shape)
        ('v', (None, 32, 32, 1))
    """
    path = os.path.abspath(os.fspath(path))
    if not is_export(path):
        raise CheckpointError(f"{path} is not a keras_aliasfree SavedModel export (expected "
                              f"saved_model.pb and {INFO_FILE})")
    info = read_export_info(path)
    if info.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{os.path.join(path, INFO_FILE)}: format "
                              f"{info.get('format')!r}, expected {EXPORT_FORMAT!r}")
    if int(info.get("format_version", 0)) > EXPORT_VERSION:
        raise CheckpointError(f"{path}: export format version {info['format_version']} is newer "
                              f"than this library reads ({EXPORT_VERSION})")
    if not info.get("unet"):
        raise CheckpointError(f"{path}: the export records no UNet config, so its Keras model "
                              "cannot be rebuilt (serve it with tf.saved_model.load instead)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from keras_aliasfree.unet import unet_from_config

    denoiser = unet_from_config(info["unet"])
    prefix = os.path.join(path, "variables", "variables")
    try:
        reader = tf.train.load_checkpoint(prefix)
    except Exception as e:  # NotFoundError, DataLossError: name the file
        raise CheckpointError(f"{prefix}: cannot read the export's variables "
                              f"({type(e).__name__}: {e})") from e
    shapes = reader.get_variable_to_shape_map()
    stored = sum(1 for k in shapes if k.startswith("denoiser_variables/"))
    if stored != len(denoiser.variables):
        raise CheckpointError(f"{path}: the export holds {stored} denoiser variables, the UNet of "
                              f"its config has {len(denoiser.variables)}")
    for i, v in enumerate(denoiser.variables):
        key = _KEY.format(i)
        if key not in shapes or tuple(shapes[key]) != tuple(v.shape):
            raise CheckpointError(f"{path}: variable {i} ({v.path}) has shape "
                                  f"{tuple(shapes.get(key, ()))} in the export, {tuple(v.shape)} "
                                  "in the UNet of its config")
        v.assign(np.asarray(reader.get_tensor(key)))
    return info, denoiser


def model_arguments_from_export(path, preset=None):
    """``(denoiser, schedule_config, kwargs)`` to build a ``DiffusionModel`` from an export.

    The export records the schedule, band limit and prediction type; the training options it
    does not record (``ema_decay``, ``loss_weighting``, ``snr_gamma``, ``up_augment``,
    ``equivariance_weight``, ``equivariance_timesteps``) come from the card of the registered
    ``preset`` name, else the library's defaults.

    Example:
        >>> from keras_aliasfree.presets import resolve_preset
        >>> _, _, kw = model_arguments_from_export(resolve_preset("mnist-a"), "mnist-a")
        >>> kw["prediction"], kw["loss_weighting"]
        ('v', 'min_snr')
    """
    from keras_aliasfree.diffusion.checkpoint import MODEL_DEFAULTS
    from keras_aliasfree.presets import get_preset, list_presets

    info, denoiser = denoiser_from_export(path)
    registered = isinstance(preset, str) and preset in list_presets()
    card = get_preset(preset).config if registered else {}
    kwargs = {key: card.get(key, MODEL_DEFAULTS[key])
              for key in ("ema_decay", "loss_weighting", "snr_gamma", "up_augment",
                          "equivariance_weight", "equivariance_timesteps")}
    kwargs.update(band_limit=info.get("band_limit"),
                  prediction=info.get("prediction", MODEL_DEFAULTS["prediction"]))
    return denoiser, info["schedule"], kwargs


__all__ = ["EXPORT_FORMAT", "EXPORT_VERSION", "INFO_FILE", "denoiser_from_export", "is_export",
           "model_arguments_from_export", "read_export_info"]
