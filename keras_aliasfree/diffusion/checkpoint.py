"""Checkpoint directories of a :class:`~keras_aliasfree.DiffusionModel` (format in docs/TRAINING.md).

A checkpoint is a directory holding ``config.json`` (format, UNet config, schedule, band limit),
``raw.weights.h5`` and ``ema.weights.h5`` (the denoiser's weights; load into
``unet_from_config(config["unet"])``), ``training_state.json`` (epoch, step, EMA counter, RNG
state, optimizer config), ``optimizer.npz`` (optimizer variables) and, written last,
``manifest.json`` (size and SHA-256 of every other file). It is written into a temp directory and
renamed into place, so a crash never leaves a half-written checkpoint under its name; the manifest
catches a file damaged later (truncated, garbled, deleted) before it is used. A run directory keeps
them in ``checkpoints/epoch_NNNN`` with ``checkpoints/latest`` naming the newest.

Damage policy (:func:`find_checkpoint`): a damaged newest checkpoint is skipped for the newest
intact one *with a warning* when that is safe (sampling, evaluation, export: ``allow_older=True``),
and refused with a :class:`CheckpointError` naming the file when it is not (``--resume`` would
retrain epochs and overwrite later work) unless the caller allows it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
import zipfile

CHECKPOINT_FORMAT = "keras_aliasfree.checkpoint"
CHECKPOINT_VERSION = 2
#: What a ``DiffusionModel`` config key means when an older file lacks it: the settings every
#: model had before the key existed.
MODEL_DEFAULTS = {"ema_decay": 0.999, "band_limit": None, "prediction": "epsilon",
                  "loss_weighting": "uniform", "snr_gamma": 5.0, "up_augment": 0.0,
                  "equivariance_weight": 0.0, "equivariance_timesteps": None}
REQUIRED_FILES = ("config.json", "ema.weights.h5", "raw.weights.h5")
#: what resuming needs on top of REQUIRED_FILES
RESUME_FILES = ("training_state.json",)
MANIFEST = "manifest.json"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: the message names the file and what is wrong."""


_HASHES = {}  # (path, size, mtime_ns, inode) -> sha256 of files that had settled when hashed


def _sha256(path):
    # loading a checkpoint checks it from several helpers: a file already hashed in this process
    # and not touched since is not read again. Only files whose mtime was over 2 s old when hashed
    # are remembered, so a change within the file system's timestamp granularity is still seen.
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if key in _HASHES:
        return _HASHES[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if time.time() - st.st_mtime > 2.0:
        if len(_HASHES) > 256:
            _HASHES.clear()
        _HASHES[key] = digest
    return digest


def _write_manifest(directory):
    files = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name != MANIFEST and os.path.isfile(path):
            files[name] = {"size": os.path.getsize(path), "sha256": _sha256(path)}
    with open(os.path.join(directory, MANIFEST), "w") as f:
        json.dump({"format": CHECKPOINT_FORMAT, "files": files}, f, indent=2)


def checkpoint_problems(directory, for_resume=False) -> list:
    """What is wrong with a checkpoint directory, one string per file (empty: usable).

    Checks the required files are there, every file against ``manifest.json`` (size, SHA-256) when
    the checkpoint has one, and that JSON files parse and weight files look like HDF5 / zip
    otherwise. ``for_resume`` also requires ``training_state.json``.

    Example:
        >>> import tempfile
        >>> checkpoint_problems(tempfile.mkdtemp())
        ['config.json: missing', 'ema.weights.h5: missing', 'raw.weights.h5: missing']
    """
    directory = os.fspath(directory)
    problems = []
    manifest = os.path.join(directory, MANIFEST)
    listed = {}
    if os.path.isfile(manifest):
        try:
            with open(manifest, "rb") as f:
                listed = json.loads(f.read().decode("utf-8"))["files"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            problems.append(f"{MANIFEST}: unreadable ({type(e).__name__})")
    needed = REQUIRED_FILES + (RESUME_FILES if for_resume else ())
    for name in sorted(set(needed) | set(listed)):
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            problems.append(f"{name}: missing")
            continue
        if name in listed:
            want = listed[name]
            size = os.path.getsize(path)
            if size != want.get("size"):
                problems.append(f"{name}: {size} bytes, the manifest says {want.get('size')} "
                                "(truncated or replaced)")
            elif _sha256(path) != want.get("sha256"):
                problems.append(f"{name}: contents differ from the manifest's checksum (damaged)")
            continue
        # no manifest entry (a checkpoint from before manifests): cheap format checks
        if name.endswith(".json"):
            try:
                with open(path, "rb") as f:
                    json.loads(f.read().decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                problems.append(f"{name}: not valid JSON")
        elif name.endswith(".h5"):
            with open(path, "rb") as f:
                if f.read(8) != _HDF5_SIGNATURE:
                    problems.append(f"{name}: not an HDF5 weights file")
    npz = os.path.join(directory, "optimizer.npz")
    if "optimizer.npz" not in listed and os.path.isfile(npz) and not zipfile.is_zipfile(npz):
        problems.append("optimizer.npz: not a valid .npz (zip) file")
    return problems


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


def _looks_like_checkpoint(path):
    return any(os.path.exists(os.path.join(path, f)) for f in REQUIRED_FILES + (MANIFEST,))


def _read_latest(ckdir):
    """The name in ``ckdir/latest`` (None when absent; a warning and None when unreadable)."""
    latest = os.path.join(ckdir, "latest")
    if not os.path.isfile(latest):
        return None
    with open(latest, "rb") as f:
        raw = f.read()
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        warnings.warn(f"{latest} is not readable text (damaged); looking for the newest "
                      "checkpoint by name instead", stacklevel=3)
        return None
    if not name or os.sep in name or name in (".", ".."):
        warnings.warn(f"{latest} does not name a checkpoint ({name!r}); looking for the newest "
                      "checkpoint by name instead", stacklevel=3)
        return None
    return name


def find_checkpoint(path, allow_older=True, for_resume=False) -> str:
    """Resolve a checkpoint directory, a run directory (``RUN/checkpoints/latest``) or a
    ``checkpoints`` folder to the checkpoint directory to load.

    A run's candidates are the checkpoint ``latest`` names, then ``epoch_*`` newest first; the
    first one without :func:`checkpoint_problems` is returned. When a newer one had to be skipped
    because it is damaged, ``allow_older=True`` warns (naming the file and the fault) and returns
    the intact older one; ``allow_older=False`` raises :class:`CheckpointError` instead (resuming
    from an older state would retrain epochs and overwrite the later checkpoint). A checkpoint
    directory given directly must be intact. ``for_resume`` also requires ``training_state.json``.

    Example:
        >>> # find_checkpoint("runs/mnist_d1n") -> ".../runs/mnist_d1n/checkpoints/epoch_0012"
    """
    path = os.path.abspath(os.fspath(path))
    if _looks_like_checkpoint(path):
        problems = checkpoint_problems(path, for_resume)
        if problems:
            raise CheckpointError(f"checkpoint {path} is damaged: {'; '.join(problems)}")
        return path
    for ckdir in (os.path.join(path, "checkpoints"), path):
        if not os.path.isdir(ckdir):
            continue
        names = sorted((d for d in os.listdir(ckdir)
                        if d.startswith("epoch_") and os.path.isdir(os.path.join(ckdir, d))),
                       reverse=True)
        latest = _read_latest(ckdir)
        if latest in names:
            names.remove(latest)
            names.insert(0, latest)
        skipped = []
        for name in names:
            cand = os.path.join(ckdir, name)
            problems = checkpoint_problems(cand, for_resume)
            if not problems:
                if skipped:
                    what = "; ".join(f"{n}: {', '.join(p)}" for n, p in skipped)
                    if not allow_older:
                        raise CheckpointError(
                            f"the newest checkpoint in {ckdir} is damaged ({what}); the newest "
                            f"intact one is {name}. Resuming from it would retrain later epochs "
                            "and overwrite their checkpoint: repair or remove the damaged "
                            "checkpoint, or allow the older one explicitly "
                            "(train --resume --allow-older-checkpoint)")
                    warnings.warn(f"skipping damaged checkpoint(s) in {ckdir} ({what}); using "
                                  f"the older intact {name}", stacklevel=2)
                return cand
            skipped.append((name, problems))
        if skipped:
            what = "; ".join(f"{n}: {', '.join(p)}" for n, p in skipped)
            raise CheckpointError(f"no intact checkpoint in {ckdir}: {what}")
    raise FileNotFoundError(f"no checkpoint found at {path} (expected a directory with "
                            "config.json, ema.weights.h5 and raw.weights.h5, or a run directory "
                            "with checkpoints/)")


def latest_checkpoint_or_none(path):
    """:func:`find_checkpoint`, or ``None`` when there is none (or none intact) yet."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return find_checkpoint(path)
    except (FileNotFoundError, CheckpointError):
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
    return migrate_checkpoint_config(config)


def migrate_checkpoint_config(config: dict) -> dict:
    """A checkpoint's (or a ``DiffusionModel``'s) config in the current format version.

    The one place older files are read: they may lack the model keys added over time
    (:data:`MODEL_DEFAULTS`), and version 1 (and configs without a version) may hold the UNet's
    filter options as separate keys (:func:`keras_aliasfree.unet.migrate_unet_config`). Returns
    a new dict.

    Example:
        >>> c = migrate_checkpoint_config({"format_version": 1, "unet": {"config": "A"}})
        >>> c["format_version"], c["prediction"], c["unet"]["config"]
        (2, 'epsilon', 'A')
    """
    config = dict(config)
    version = int(config.get("format_version", 1))
    for key, default in MODEL_DEFAULTS.items():
        config.setdefault(key, default)
    if version < 2:
        if config.get("unet"):
            from keras_aliasfree.unet import migrate_unet_config

            config["unet"] = migrate_unet_config(config["unet"])
    if "format_version" in config or "format" in config:
        config["format_version"] = max(version, CHECKPOINT_VERSION)
    return config


def read_training_state(directory) -> dict:
    """The ``training_state.json`` of a checkpoint ({} when absent)."""
    path = os.path.join(find_checkpoint(directory), "training_state.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def checkpoint_identity(directory) -> dict:
    """What identifies a checkpoint without saying where it lives: its directory name, the
    SHA-256 of its ``manifest.json`` (which holds the SHA-256 of every other file; None for a
    checkpoint from before manifests), and the epoch and optimizer step it was saved at.

    Example:
        >>> import tempfile
        >>> d = os.path.join(tempfile.mkdtemp(), "epoch_0002")
        >>> os.makedirs(d)
        >>> sorted(checkpoint_identity(d))
        ['epoch', 'manifest_sha256', 'name', 'step', 'steps_in_epoch']
    """
    directory = os.fspath(directory)
    manifest = os.path.join(directory, MANIFEST)
    state = {}
    path = os.path.join(directory, "training_state.json")
    if os.path.isfile(path):
        with open(path) as f:
            state = json.load(f)
    return {"name": os.path.basename(os.path.normpath(directory)),
            "manifest_sha256": _sha256(manifest) if os.path.isfile(manifest) else None,
            "epoch": state.get("epoch"), "step": state.get("step"),
            "steps_in_epoch": state.get("steps_in_epoch", 0 if "epoch" in state else None)}


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


__all__ = ["CheckpointError", "checkpoint_identity", "checkpoint_problems", "find_checkpoint",
           "is_checkpoint", "read_checkpoint_config", "read_training_state",
           "denoiser_from_checkpoint", "migrate_checkpoint_config", "CHECKPOINT_FORMAT",
           "CHECKPOINT_VERSION", "MODEL_DEFAULTS"]
