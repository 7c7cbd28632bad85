"""keras_aliasfree: alias-free resampling layers, UNets and diffusion models for Keras 3.

Importing the package registers its layers and models with Keras (``keras.saving`` finds them
when a ``.keras`` file is loaded) and exposes the public API below.

Example:
    >>> import keras
    >>> from keras_aliasfree import AliasFreeDownsample, FilteredActivation
    >>> x = keras.Input((32, 32, 16))
    >>> y = AliasFreeDownsample(2)(FilteredActivation("gelu")(x))
    >>> tuple(y.shape)
    (None, 16, 16, 16)
"""

from keras_aliasfree.version import __version__
from keras_aliasfree.filters import design_filter
from keras_aliasfree.filter_spec import FilterSpec
from keras_aliasfree.ops import downsample_2d, filtered_activation, upsample_2d
from keras_aliasfree.layers import AliasFreeDownsample, AliasFreeUpsample, FilteredActivation
from keras_aliasfree.transforms import fractional_shift, integer_shift, rotate
from keras_aliasfree.unet import UNet, build_unet, parse_config
from keras_aliasfree.equivariant import (FieldBroadcast, FieldGroupNorm, GroupConv2D,
                                         LiftingConv2D, OrientationPool, UpEncoding)
from keras_aliasfree.equivariant_unet import EquivariantUNet, build_equivariant_unet
from keras_aliasfree.diffusion import (DiffusionModel, NoiseSchedule, TrainingCheckpoint,
                                       load_checkpoint, load_preset)
from keras_aliasfree.presets import PresetError, list_presets, register_preset
from keras_aliasfree.images import make_grid, save_grid
from keras_aliasfree.export import export_saved_model  # TensorFlow-only when called
from keras_aliasfree.data import load_dataset  # tf.data: TensorFlow-only when called


__all__ = ["__version__", "AliasFreeUpsample", "AliasFreeDownsample", "FilteredActivation",
           "FilterSpec", "upsample_2d", "downsample_2d", "filtered_activation", "design_filter", "rotate",
           "fractional_shift", "integer_shift", "UNet", "build_unet", "parse_config",
           "LiftingConv2D", "GroupConv2D", "OrientationPool", "FieldGroupNorm", "FieldBroadcast",
           "UpEncoding", "EquivariantUNet", "build_equivariant_unet",
           "DiffusionModel", "NoiseSchedule", "TrainingCheckpoint", "load_checkpoint",
           "load_preset", "list_presets", "register_preset", "PresetError",
           "export_saved_model", "load_dataset", "make_grid", "save_grid"]
