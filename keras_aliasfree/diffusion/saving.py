"""Writing a checkpoint directory, and loading one into a model (the layout and the reading
side are in :mod:`keras_aliasfree.diffusion.checkpoint`).

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> write_latest(d, "epoch_0001")
    >>> sorted(os.listdir(d))
    ['latest']
"""

from __future__ import annotations

import json
import os
import shutil
import time

import keras
import numpy as np
from keras import ops

from keras_aliasfree._io import make_temp_dir, remove_stale_temps, replace_directory
from keras_aliasfree.diffusion.checkpoint import (CHECKPOINT_FORMAT, CHECKPOINT_VERSION,
                                                  MODEL_DEFAULTS, CheckpointError,
                                                  _write_manifest, denoiser_from_checkpoint,
                                                  find_checkpoint, read_training_state)
from keras_aliasfree.diffusion.exported import is_export, model_arguments_from_export
from keras_aliasfree.diffusion.schedule import NoiseSchedule
from keras_aliasfree.presets import resolve_preset

# the constructor arguments a config stores besides the network and the schedule
_MODEL_KEYS = tuple(MODEL_DEFAULTS)

def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
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


def write_latest(checkpoints_dir, name):
    """Atomically point ``checkpoints_dir/latest`` at checkpoint ``name``.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> write_latest(d, "epoch_0003")
        >>> open(os.path.join(d, "latest")).read()
        'epoch_0003\\n'
    """
    tmp = os.path.join(checkpoints_dir, f".latest.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(checkpoints_dir, "latest"))


def _save_denoiser_weights(denoiser, path, values):
    """Save ``denoiser`` with its trainable weights temporarily set to ``values``."""
    # numpy copies: on PyTorch `v.value` is the live tensor that assign() overwrites in place
    raw = [ops.convert_to_numpy(v.value).copy() for v in denoiser.trainable_variables]
    try:
        for v, val in zip(denoiser.trainable_variables, values):
            v.assign(val)
        denoiser.save_weights(path)
    finally:
        for v, val in zip(denoiser.trainable_variables, raw):
            v.assign(val)


def save_model_checkpoint(model, directory, training_state=None, include_optimizer=True):
    """Write ``model``'s checkpoint directory atomically (see the module docs); returns its path."""
    directory = os.path.abspath(os.fspath(directory))
    parent = os.path.dirname(directory)
    tmp = make_temp_dir(parent, os.path.basename(directory))
    try:
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(model.checkpoint_config(), f, indent=2)
        model.denoiser.save_weights(os.path.join(tmp, "raw.weights.h5"))
        _save_denoiser_weights(model.denoiser, os.path.join(tmp, "ema.weights.h5"),
                               [e.value for e in model.ema_variables])
        state = dict(training_state or {})
        state["ema_updates"] = int(ops.convert_to_numpy(model.ema_updates.value))
        state["seed_state"] = ops.convert_to_numpy(
            model.seed_generator.state.value).astype("int64").tolist()
        opt = getattr(model, "optimizer", None)
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
        _write_manifest(tmp)  # last: it vouches for every other file
        for name in os.listdir(tmp):
            _fsync(os.path.join(tmp, name))
        replace_directory(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    remove_stale_temps(parent)  # leftovers of writes that a kill interrupted
    return directory


# ----------------------------------------------------------------------------- loading into a model

def _load_weights(net, path):
    try:
        net.load_weights(path)
    except Exception as e:  # h5py / Keras errors do not name the file
        raise CheckpointError(f"{path}: cannot be loaded into this UNet "
                              f"({type(e).__name__}: {e})") from e


def load_model_weights(model, directory):
    """Load raw and EMA weights, the EMA counter and the RNG state into ``model``."""
    directory = find_checkpoint(directory)
    _load_weights(model.denoiser, os.path.join(directory, "ema.weights.h5"))
    ema_values = [ops.convert_to_numpy(v.value).copy()
                  for v in model.denoiser.trainable_variables]
    _load_weights(model.denoiser, os.path.join(directory, "raw.weights.h5"))
    for e, val in zip(model.ema_variables, ema_values):
        e.assign(val)
    state = read_training_state(directory)
    if "ema_updates" in state:
        model.ema_updates.assign(int(state["ema_updates"]))
    if "seed_state" in state:
        dtype = keras.backend.standardize_dtype(model.seed_generator.state.dtype)
        model.seed_generator.state.assign(np.asarray(state["seed_state"]).astype(dtype))
    return state


def load_optimizer_state(model, directory):
    """Load ``optimizer.npz`` into the compiled ``model``'s optimizer; False when absent."""
    path = os.path.join(find_checkpoint(directory), "optimizer.npz")
    if not os.path.exists(path):
        return False
    if getattr(model, "optimizer", None) is None:
        raise ValueError("restoring the optimizer needs a compiled model (call compile with the "
                         "optimizer first)")
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        with np.load(path, allow_pickle=False) as data:
            store = {k: data[k] for k in data.files}
        model.optimizer.load_own_variables(store)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot be loaded into the optimizer "
                              f"({type(e).__name__}: {e})") from e
    return True


class CheckpointMethods:
    """:class:`~keras_aliasfree.DiffusionModel`'s checkpoint and preset methods (a mixin: the
    model's constructor arguments are its config, :meth:`DiffusionModel.get_config`)."""

    def checkpoint_config(self):
        """The ``config.json`` of a checkpoint: :meth:`get_config` with the format version and
        the image shape, Keras version and backend it was written with."""
        config = {k: v for k, v in self.get_config().items()
                  if k not in ("name", "trainable", "dtype")}
        return {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, **config,
                "image_size": list(self.image_shape[:2]), "channels": self.image_shape[2],
                "keras_version": keras.__version__, "backend": keras.backend.backend()}

    def save_checkpoint(self, directory, training_state=None, include_optimizer=True):
        """Write a checkpoint directory atomically (temp dir, then rename over ``directory``).

        Layout: ``config.json``, ``ema.weights.h5`` and ``raw.weights.h5`` (denoiser weights, load
        into ``unet_from_config(config["unet"])``), ``training_state.json`` (step, EMA updates,
        RNG state, optimizer config, plus ``training_state``) and ``optimizer.npz`` (optimizer
        variables) when the model has a built optimizer. Returns the directory.

        Example:
            >>> # dm.save_checkpoint("run/checkpoints/epoch_0003", {"epoch": 3})
        """
        return save_model_checkpoint(self, directory, training_state, include_optimizer)

    def load_weights_from_checkpoint(self, directory):
        """Load raw and EMA weights, EMA counter and RNG state from a checkpoint directory."""
        return load_model_weights(self, directory)

    def restore_training_state(self, directory):
        """Resume: weights, EMA, RNG state and optimizer variables. Call after ``compile``.

        Returns the ``training_state.json`` dict (``epoch``, ``step``, ...).
        """
        state = load_model_weights(self, directory)
        load_optimizer_state(self, directory)
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
        model = cls(denoiser, NoiseSchedule(**config["schedule"]),
                    **{**{k: config[k] for k in _MODEL_KEYS}, **kwargs})
        model.load_weights_from_checkpoint(directory)
        return model

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """A pretrained model by preset name, or from a folder: ready to :meth:`sample`.

        ``preset``: a name from :func:`keras_aliasfree.presets.list_presets` (unknown names
        raise :class:`~keras_aliasfree.presets.PresetError`, listing them), a SavedModel export
        (the UNet rebuilt from its config with the exported EMA weights;
        :func:`~keras_aliasfree.diffusion.exported.model_arguments_from_export`) or a checkpoint
        / run directory (:meth:`from_checkpoint`). ``kwargs`` override the constructor
        arguments. The shipped ``mnist-d`` and ``mnist-a`` exports serve Heun with 10 steps,
        ``mnist-e`` DDIM with ``eta=1`` (``keras-aliasfree presets`` shows each card).

        Example:
            >>> from keras_aliasfree import DiffusionModel
            >>> dm = DiffusionModel.from_preset("mnist-d")
            >>> dm.sample(2, sampler="ddim", steps=4, eta=1.0, seed=0, verbose=0).shape
            (2, 32, 32, 1)
        """
        path = resolve_preset(preset, kind="diffusion")
        if not is_export(path):
            return cls.from_checkpoint(path, **kwargs)
        denoiser, schedule, stored = model_arguments_from_export(path, preset)
        return cls(denoiser, NoiseSchedule(**schedule), **{**stored, **kwargs})


__all__ = ["write_latest", "save_model_checkpoint", "load_model_weights", "load_optimizer_state",
           "CheckpointMethods"]
