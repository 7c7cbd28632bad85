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
from keras_aliasfree.diffusion.checkpoint import (CheckpointError, _write_manifest,
                                                  find_checkpoint, read_training_state)

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


__all__ = ["write_latest", "save_model_checkpoint", "load_model_weights", "load_optimizer_state"]
