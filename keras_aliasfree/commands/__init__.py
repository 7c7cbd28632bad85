"""The verbs of the ``keras-aliasfree`` command (one module each) and what they share."""


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
