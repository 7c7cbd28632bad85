"""Checkpoint directories of a :class:`~keras_aliasfree.DiffusionModel` (format in docs/TRAINING.md).

A checkpoint is a directory holding ``config.json`` (format, UNet config, schedule, band limit),
``raw.weights.h5`` and ``ema.weights.h5`` (the denoiser's weights; load into
``unet_from_config(config["unet"])``), ``training_state.json`` (epoch, step, EMA counter, RNG
state, optimizer config) and ``optimizer.npz`` (optimizer variables). It is written into a temp
directory and renamed into place, so a crash never leaves a half-written checkpoint under its
name. A run directory keeps them in ``checkpoints/epoch_NNNN`` with ``checkpoints/latest`` naming
the newest.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import keras
import numpy as np
from keras import ops

from keras_aliasfree._io import replace_directory

CHECKPOINT_FORMAT = "keras_aliasfree.checkpoint"
CHECKPOINT_VERSION = 1
REQUIRED_FILES = ("config.json", "ema.weights.h5", "raw.weights.h5")


# ----------------------------------------------------------------------------- finding and reading

def is_checkpoint(directory) -> bool:
    """True when ``directory`` holds a complete checkpoint (config.json and both weight files).

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> is_checkpoint(d)
        False
        >>> for name in REQUIRED_FILES:
        ...     open(os.path.join(d, name), "w").close()
        >>> is_checkpoint(d)
        True
    """
    return all(os.path.isfile(os.path.join(directory, f)) for f in REQUIRED_FILES)


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


def latest_checkpoint_or_none(path):
    """:func:`find_checkpoint`, or ``None`` when there is none yet."""
    try:
        return find_checkpoint(path)
    except FileNotFoundError:
        return None


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


def denoiser_from_checkpoint(path):
    """Resolve ``path`` to a checkpoint and rebuild its UNet (weights not loaded).

    Returns ``(checkpoint_dir, config, denoiser)``; used by
    :meth:`~keras_aliasfree.DiffusionModel.from_checkpoint` and by the SavedModel export.

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


# ----------------------------------------------------------------------------- writing

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
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(directory) + "-", dir=parent)
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
        for name in os.listdir(tmp):
            _fsync(os.path.join(tmp, name))
        replace_directory(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


# ----------------------------------------------------------------------------- loading into a model

def load_model_weights(model, directory):
    """Load raw and EMA weights, the EMA counter and the RNG state into ``model``."""
    directory = find_checkpoint(directory)
    model.denoiser.load_weights(os.path.join(directory, "ema.weights.h5"))
    ema_values = [ops.convert_to_numpy(v.value).copy()
                  for v in model.denoiser.trainable_variables]
    model.denoiser.load_weights(os.path.join(directory, "raw.weights.h5"))
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
    with np.load(path) as data:
        store = {k: data[k] for k in data.files}
    model.optimizer.load_own_variables(store)
    return True


__all__ = ["find_checkpoint", "is_checkpoint", "read_checkpoint_config", "read_training_state",
           "write_latest", "denoiser_from_checkpoint", "save_model_checkpoint",
           "load_model_weights", "load_optimizer_state", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION"]
