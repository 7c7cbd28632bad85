"""The verbs of the ``keras-aliasfree`` command (one module each) and what they share."""


def add_rotation_mode_argument(parser, what="rotation-aware sampling"):
    """``--rotation-mode progressive|once``, worded once for every verb that samples turned."""
    from keras_aliasfree.constants import ROTATION_MODES

    parser.add_argument("--rotation-mode", default="progressive", choices=ROTATION_MODES,
                        help=f"how {what} turns the image: 'progressive' (the paper's: x_t "
                             "turned a little before every step) or 'once' (the noise turned "
                             "once; exact for quarter turns of an E config); docs/EQUIVARIANT.md")


def find_checkpoint_announced(path, **kwargs):
    """:func:`keras_aliasfree.diffusion.find_checkpoint`, its warnings (a damaged newest
    checkpoint skipped, an unreadable ``latest``) printed as ``warning: ...`` lines on stderr."""
    import sys
    import warnings

    from keras_aliasfree.diffusion import find_checkpoint

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = find_checkpoint(path, **kwargs)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return found


def resolve_model_announced(name_or_path):
    """The folder a diffusion model is loaded from: a preset name or a SavedModel export as
    :func:`keras_aliasfree.presets.resolve_preset` resolves it, else a checkpoint or run directory
    as :func:`find_checkpoint_announced` does (its warnings printed). Raises ``PresetError``,
    ``FileNotFoundError`` or ``CheckpointError`` (a ``ValueError``) with a one-line message."""
    import os

    from keras_aliasfree.diffusion import is_export
    from keras_aliasfree.presets import folder_kind, list_presets, resolve_preset

    source = name_or_path
    missing_word = not os.path.exists(source) and os.sep not in source  # a mistyped name?
    if source in list_presets() or missing_word or folder_kind(source) == "saved_model":
        # an unknown name: resolve_preset's error lists the presets
        source = resolve_preset(source, kind="diffusion")
        if is_export(source):
            return source
    return find_checkpoint_announced(source)
