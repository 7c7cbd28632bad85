"""keras_aliasfree: alias-free resampling layers, UNets and diffusion models for Keras 3.

Example:
    >>> import keras
    >>> from keras_aliasfree import AliasFreeDownsample, FilteredActivation
    >>> x = keras.Input((32, 32, 16))
    >>> y = AliasFreeDownsample(2)(FilteredActivation("gelu")(x))
    >>> tuple(y.shape)
    (None, 16, 16, 16)
"""

from keras_aliasfree.version import __version__
from keras_aliasfree.layers import AliasFreeDownsample, AliasFreeUpsample, FilteredActivation
from keras_aliasfree.unet import build_unet, parse_config
from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule, load_checkpoint

__all__ = ["__version__", "AliasFreeUpsample", "AliasFreeDownsample", "FilteredActivation",
           "build_unet", "parse_config", "DiffusionModel", "NoiseSchedule", "load_checkpoint"]
