"""Function forms of :meth:`DiffusionModel.from_checkpoint` and :meth:`DiffusionModel.from_preset`.

Example:
    >>> load_preset("mnist-d").image_shape
    (32, 32, 1)
"""

from __future__ import annotations

from keras_aliasfree.diffusion.model import DiffusionModel


def load_checkpoint(directory, **kwargs) -> DiffusionModel:
    """Same as :meth:`DiffusionModel.from_checkpoint`.

    Example:
        >>> # dm = load_checkpoint("runs/mnist_d1n"); dm.sample(4, sampler="ddim", steps=50)
    """
    return DiffusionModel.from_checkpoint(directory, **kwargs)


def load_preset(preset, **kwargs) -> DiffusionModel:
    """Same as :meth:`DiffusionModel.from_preset`.

    Example:
        >>> load_preset("mnist-a").prediction
        'v'
    """
    return DiffusionModel.from_preset(preset, **kwargs)


__all__ = ["load_checkpoint", "load_preset"]
