"""Pretrained models by name: the registry of presets (the way keras-hub names its checkpoints).

A preset is a name for a folder: a diffusion model (an exported SavedModel, which also carries
the Keras model's config, schedule and EMA weights, or a training checkpoint / run directory) or
a feature classifier (``classifier.keras`` + ``classifier.json``). The shipped presets travel
inside the installed package (``keras_aliasfree/presets_data``, built from the repository's
top-level ``saved_models/`` folder); in a source checkout they are read from ``saved_models/``
itself. Each carries a card: what it is, its config, its training budget and its scores.

Wherever the library or the command line takes a preset name it also takes a folder path, and a
user's own export can be registered under a name (:func:`register_preset`), so the shipped
models are not a special case: ``DiffusionModel.from_preset("mnist-d")``,
``DiffusionModel.from_preset("runs/my_run")`` and ``from_preset("mine")`` after
``register_preset("mine", "exports/mine")`` all take the same path through the code.

This module only names and finds folders (no Keras, no TensorFlow): loading lives with the
models (:meth:`keras_aliasfree.DiffusionModel.from_preset`,
:func:`keras_aliasfree.export.load_saved_model`,
:func:`keras_aliasfree.metrics.load_classifier_extractor`).

Example:
    >>> list_presets()
    ['mnist-d', 'mnist-a', 'mnist-e', 'mnist-classifier']
    >>> get_preset("mnist-d").kind
    'diffusion'
    >>> os.path.isfile(os.path.join(resolve_preset("mnist-d"), "saved_model.pb"))
    True
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
import os

#: the kinds of preset: a diffusion model and a feature classifier (FD/KID/IS)
KINDS = ("diffusion", "classifier")
#: the folder of the shipped presets inside the installed package
PACKAGE_DATA = "presets_data"
#: the repository folder the package data is built from (a source checkout reads it directly)
SOURCE_FOLDER = "saved_models"


class PresetError(KeyError):
    """An unknown preset name, a folder that is not a preset, or a preset of the wrong kind.

    A ``KeyError`` (a lookup that failed) whose message reads as a sentence, not a quoted key.
    """

    def __str__(self):
        return str(self.args[0]) if self.args else ""


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named model folder and its card.

    Attributes:
        name: the name to load it by.
        kind: ``"diffusion"`` or ``"classifier"`` (:data:`KINDS`).
        description: one line: what it is.
        folder: a folder name inside the shipped data (``mnist-d``) or an absolute path.
        config: the model's configuration, summarised (the authoritative copy is in the folder).
        training: the training budget and how it was trained.
        scores: measured figures (what, with what, how many samples), as documented.
        shipped: ``True`` for the presets that come with the package.

    Example:
        >>> p = get_preset("mnist-a")
        >>> p.config["unet"], p.kind, p.shipped
        ('A', 'diffusion', True)
    """

    name: str
    kind: str
    description: str
    folder: str
    config: dict = dataclasses.field(default_factory=dict)
    training: dict = dataclasses.field(default_factory=dict)
    scores: dict = dataclasses.field(default_factory=dict)
    shipped: bool = False

    @property
    def path(self) -> str:
        """The absolute path of the preset's folder."""
        if os.path.isabs(self.folder):
            return self.folder
        return os.path.join(data_root(), self.folder)


# The cards of the shipped presets. The figures are those of saved_models/README.md (how each was
# measured and what the columns mean is written there and in docs/METRICS.md).
_RECIPE = {"prediction": "v", "loss_weighting": "min_snr", "snr_gamma": 5.0, "ema_decay": 0.995,
           "base_width": 8, "attention": False, "params": 375_153, "image_shape": [32, 32, 1],
           "schedule": "linear betas 1e-4..0.02, T = 1000",
           "sampler": "Heun on Karras sigmas, 10 steps, 19 NFE (fixed in the export)"}
_BUDGET = {"data": "MNIST train (60,000 images, bilinear 32x32)", "steps": 18_000,
           "batch_size": 32, "epochs": 48, "optimizer": "AdamW lr 1e-3, weight decay 0.01",
           "seed": 0, "hardware": "2 CPU cores", "command": "bash scripts/train_pretrained.sh"}
_SCORED = {"extractor": "mnist-classifier-6cae226923-s1.449 (offline MNIST classifier, not "
                        "Inception)", "num": 1000, "sampler": "Heun 10 steps (19 NFE), seed 0"}

_SHIPPED = (
    Preset("mnist-d", "diffusion",
           "D-1N alias-free UNet (alias-free up/down + filtered GELU, Kaiser beta 1, normalised) "
           "trained on MNIST 32x32; the demo's model",
           "mnist-d",
           dict(_RECIPE, unet="D-1N", band_limit="disc"),
           dict(_BUDGET, minutes=135),
           dict(_SCORED, fd=3.95, kid_x100=12.3, inception_score=6.24, fd_rotated_45=6.5),
           shipped=True),
    Preset("mnist-a", "diffusion",
           "baseline A UNet (max-pool, bilinear up, plain GELU), the same recipe and budget as "
           "mnist-d; the demo's comparison",
           "mnist-a",
           dict(_RECIPE, unet="A", band_limit=None),
           dict(_BUDGET, minutes=52),
           dict(_SCORED, fd=3.14, kid_x100=9.8, inception_score=6.55, fd_rotated_45=6.3),
           shipped=True),
    Preset("mnist-e", "diffusion",
           "E4 orientation-equivariant UNet (C_4 group convolutions, jinc resampling, an 'up' "
           "input) trained on MNIST 32x32, half of each batch turned with 'up' by random angles, "
           "then fine-tuned with an equivariance term; rotation-aware sampling turns the noise "
           "once and draws the same digit, turned",
           "mnist-e",
           dict(_RECIPE, unet="E4", base_width=4, band_limit=None, params=252_881,
                rotation_mode="once", up_augment=0.5, equivariance_weight=4.0,
                sampler="DDIM, eta 1 (export)"),
           dict(_BUDGET, steps=18_000, epochs=48, minutes=139,
                command="bash scripts/train_pretrained.sh e && WEIGHT=4 TAG=eq_w4 bash "
                        "scripts/equivariance_finetune.sh eq runs/mnist_e_pretrained && WEIGHT=4 "
                        "TAG=eq_w4_w4 bash scripts/equivariance_finetune.sh eq runs/e4_eqft/eq_w4"),
           dict(_SCORED, sampler="DDIM 20 steps, eta 1, seed 0", fd=13.45, kid_x100=49.8,
                inception_score=4.99, fd_rotated_45=10.5,
                kept_class_90=1.0, kept_class_180=1.0, kept_class_45=0.72, kept_class_15=0.82),
           shipped=True),
    Preset("mnist-classifier", "classifier",
           "small MNIST CNN whose 128-d features score FD/KID/IS offline (evaluate's default "
           "extractor)",
           "mnist-classifier",
           {"image_shape": [32, 32, 1], "feature_dim": 128, "params": 22_170,
            "feature_scale": 1.448616},
           {"data": "MNIST train (60,000 images)", "epochs": 4, "batch_size": 128, "seed": 0,
            "seconds": 260.7, "hardware": "2 CPU cores",
            "command": "keras-aliasfree train-classifier --data mnist --out "
                       "saved_models/mnist-classifier --epochs 4 --batch-size 128 --seed 0"},
           {"test_accuracy": 0.9855, "test_set": "MNIST test split, 10,000 images"},
           shipped=True),
)

_REGISTRY: dict = {p.name: p for p in _SHIPPED}


def data_root() -> str:
    """The folder that holds the shipped presets.

    In an installed package that is ``keras_aliasfree/presets_data`` (package data, found with
    :mod:`importlib.resources`); in a source checkout or an editable install it is the
    repository's ``saved_models/`` next to the package, the folder the package data is built from.

    Example:
        >>> os.path.basename(data_root()) in ("presets_data", "saved_models")
        True
    """
    package = importlib.resources.files("keras_aliasfree")
    candidates = [package / PACKAGE_DATA]
    try:
        candidates.append(os.path.join(os.path.dirname(os.fspath(package)), SOURCE_FOLDER))
    except TypeError:  # a package that is not a real folder (zipped): package data only
        pass
    for cand in candidates:
        try:
            path = os.fspath(cand)
        except TypeError:
            continue
        if os.path.isdir(os.path.join(path, "mnist-d")):
            return os.path.abspath(path)
    raise PresetError(f"the shipped presets are not installed: looked for {PACKAGE_DATA}/ in the "
                      f"package and {SOURCE_FOLDER}/ beside it ({', '.join(map(str, candidates))})")


def list_presets(kind=None) -> list:
    """The registered preset names (shipped first, then the user's, in registration order).

    Args:
        kind: ``None`` (all), ``"diffusion"`` or ``"classifier"``.

    Example:
        >>> list_presets("diffusion")
        ['mnist-d', 'mnist-a', 'mnist-e']
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
    return [n for n, p in _REGISTRY.items() if kind is None or p.kind == kind]


def get_preset(name) -> Preset:
    """The :class:`Preset` registered as ``name``; :class:`PresetError` (listing the names) if none.

    Example:
        >>> sorted(get_preset("mnist-classifier").scores)
        ['test_accuracy', 'test_set']
        >>> get_preset("mnist-x")
        Traceback (most recent call last):
        ...
        keras_aliasfree.presets.PresetError: no preset named 'mnist-x'; the presets are: mnist-d, mnist-a, mnist-e, ...
    """
    try:
        return copy.deepcopy(_REGISTRY[name])
    except (KeyError, TypeError):
        raise PresetError(f"no preset named {name!r}; the presets are: "
                          f"{', '.join(_REGISTRY)}") from None


def folder_kind(path):
    """What a folder holds, judged by its files: ``"saved_model"``, ``"checkpoint"`` (a training
    checkpoint or run directory), ``"classifier"`` or ``None``.

    Example:
        >>> folder_kind(resolve_preset("mnist-d")), folder_kind(resolve_preset("mnist-classifier"))
        ('saved_model', 'classifier')
    """
    path = os.fspath(path)
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return "saved_model"
    if os.path.isfile(os.path.join(path, "classifier.keras")):
        return "classifier"
    if os.path.isfile(os.path.join(path, "config.json")) or \
            os.path.isdir(os.path.join(path, "checkpoints")) or \
            os.path.isfile(os.path.join(path, "manifest.json")):
        return "checkpoint"
    return None


_FOLDER_KINDS = {"diffusion": ("saved_model", "checkpoint"), "classifier": ("classifier",)}


def resolve_preset(name_or_path, kind=None) -> str:
    """The absolute folder of a preset name or of a folder path.

    A registered name wins; anything else must be an existing folder (a path given directly needs
    no registering). With ``kind``, a preset or folder of another kind is a :class:`PresetError`.

    Args:
        name_or_path: a preset name (:func:`list_presets`) or a folder.
        kind: ``None``, ``"diffusion"`` or ``"classifier"``.

    Example:
        >>> os.path.basename(resolve_preset("mnist-a", kind="diffusion"))
        'mnist-a'
        >>> resolve_preset("mnist-classifier", kind="diffusion")
        Traceback (most recent call last):
        ...
        keras_aliasfree.presets.PresetError: 'mnist-classifier' is a classifier preset, not a diffusion one; the diffusion presets are: mnist-d, mnist-a, mnist-e
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
    key = os.fspath(name_or_path)
    preset = _REGISTRY.get(key)
    if preset is not None:
        if kind is not None and preset.kind != kind:
            raise PresetError(f"{key!r} is a {preset.kind} preset, not a {kind} one; the {kind} "
                              f"presets are: {', '.join(list_presets(kind))}")
        path = preset.path
        if not os.path.isdir(path):
            raise PresetError(f"preset {key!r} points at {path}, which is not a folder (moved or "
                              "deleted?)")
        return path
    if not os.path.isdir(key):
        names = list_presets(kind)
        raise PresetError(f"no preset named {key!r} and no folder at that path; the "
                          f"{kind + ' ' if kind else ''}presets are: {', '.join(names)}")
    path = os.path.abspath(key)
    found = folder_kind(path)
    if kind is not None and found is not None and found not in _FOLDER_KINDS[kind]:
        raise PresetError(f"{path} holds a {found.replace('_', ' ')}, not a {kind} model")
    return path


def register_preset(name, path, kind=None, description="", config=None, training=None,
                    scores=None, overwrite=False) -> Preset:
    """Register a folder (a SavedModel export, a training checkpoint or run directory, or a
    classifier folder) under ``name``, for this process.

    Args:
        name: the new name (a shipped name cannot be replaced).
        path: the folder; it must exist.
        kind: ``"diffusion"`` or ``"classifier"``; ``None`` judges it from the folder's files.
        description, config, training, scores: the card (shown by ``keras-aliasfree presets``).
        overwrite: replace an earlier registration of ``name``.

    Example:
        >>> p = register_preset("my-d", resolve_preset("mnist-d"), description="a copy")
        >>> p.kind, "my-d" in list_presets()
        ('diffusion', True)
        >>> unregister_preset("my-d")
    """
    name = str(name)
    if not name or name != name.strip():
        raise ValueError(f"a preset name must be a non-empty word, got {name!r}")
    if name in _REGISTRY and (_REGISTRY[name].shipped or not overwrite):
        what = "a shipped preset" if _REGISTRY[name].shipped else "registered already"
        raise PresetError(f"{name!r} is {what}; choose another name"
                          + ("" if _REGISTRY[name].shipped else " or pass overwrite=True"))
    path = os.path.abspath(os.fspath(path))
    if not os.path.isdir(path):
        raise PresetError(f"cannot register {name!r}: no folder at {path}")
    found = folder_kind(path)
    if kind is None:
        if found is None:
            raise PresetError(f"cannot tell what {path} holds (no saved_model.pb, config.json, "
                              "checkpoints/ or classifier.keras); pass kind=")
        kind = "classifier" if found == "classifier" else "diffusion"
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if found is not None and found not in _FOLDER_KINDS[kind]:
        raise PresetError(f"{path} holds a {found.replace('_', ' ')}, not a {kind} model")
    preset = Preset(name, kind, description or path, path, dict(config or {}),
                    dict(training or {}), dict(scores or {}))
    _REGISTRY[name] = preset
    return copy.deepcopy(preset)


def unregister_preset(name):
    """Remove a preset registered by :func:`register_preset` (the shipped ones stay).

    Example:
        >>> unregister_preset("mnist-d")
        Traceback (most recent call last):
        ...
        keras_aliasfree.presets.PresetError: 'mnist-d' is a shipped preset and cannot be removed
    """
    preset = _REGISTRY.get(name)
    if preset is None:
        raise PresetError(f"no preset named {name!r}; the presets are: {', '.join(_REGISTRY)}")
    if preset.shipped:
        raise PresetError(f"{name!r} is a shipped preset and cannot be removed")
    del _REGISTRY[name]


def _score_text(p):
    s = p.scores
    if p.kind == "classifier":
        return f"test accuracy {s['test_accuracy']:.2%}" if "test_accuracy" in s else ""
    parts = [f"{label} {s[key]:g}" for key, label in
             (("fd", "FD"), ("kid_x100", "KIDx100"), ("inception_score", "IS")) if key in s]
    return ", ".join(parts)


def _budget_text(p):
    t = p.training
    parts = []
    if "steps" in t:
        parts.append(f"{t['steps']:,} steps x {t.get('batch_size', '?')}")
    elif "epochs" in t:
        parts.append(f"{t['epochs']} epochs")
    if "minutes" in t:
        parts.append(f"{t['minutes']} min")
    elif "seconds" in t:
        parts.append(f"{t['seconds'] / 60:.1f} min")
    if "hardware" in t:
        parts.append(t["hardware"])
    return ", ".join(parts)


def presets_table(kind=None) -> str:
    """A Markdown table of the registered presets (``keras-aliasfree presets`` prints it).

    Example:
        >>> print(presets_table("classifier").splitlines()[0])
        | name | kind | what | config | training | scores |
    """
    rows = ["| name | kind | what | config | training | scores |", "|---|---|---|---|---|---|"]
    for name in list_presets(kind):
        p = _REGISTRY[name]
        cfg = p.config
        config = ", ".join(str(x) for x in (cfg.get("unet"), cfg.get("prediction") and
                                            f"{cfg['prediction']}-prediction",
                                            cfg.get("params") and f"{cfg['params']:,} params")
                           if x)
        rows.append(f"| {name} | {p.kind} | {p.description} | {config} | {_budget_text(p)} | "
                    f"{_score_text(p)} |")
    return "\n".join(rows)


__all__ = ["KINDS", "Preset", "PresetError", "data_root", "folder_kind", "get_preset",
           "list_presets", "presets_table", "register_preset", "resolve_preset",
           "unregister_preset"]
