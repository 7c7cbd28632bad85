"""Every custom layer of the library through the one harness (tests/layer_harness.py)."""

import numpy as np
import pytest

from conftest import BACKEND
from keras_aliasfree import AliasFreeDownsample, AliasFreeUpsample, FilteredActivation
from keras_aliasfree.equivariant import (FieldBroadcast, FieldGroupNorm, GroupConv2D,
                                         LiftingConv2D, OrientationPool, UpEncoding)
from keras_aliasfree.unet import (BilinearUpsample, IsotropicConv2D, SinusoidalEmbedding,
                                  SpatialSelfAttention)
from layer_harness import run_layer_test

_rng = np.random.default_rng(0)
_img = _rng.normal(size=(2, 8, 8, 4)).astype("float32")

CASES = {
    "AliasFreeUpsample": (AliasFreeUpsample, dict(factor=2), _img, (2, 16, 16, 4)),
    "AliasFreeUpsample-paper": (AliasFreeUpsample, dict(factor=2, preset="paper", beta=1.0),
                                _img, (2, 16, 16, 4)),
    "AliasFreeDownsample": (AliasFreeDownsample, dict(factor=2), _img, (2, 4, 4, 4)),
    "FilteredActivation": (FilteredActivation, dict(activation="gelu"), _img, (2, 8, 8, 4)),
    "FilteredActivation-channels_first": (
        FilteredActivation, dict(activation="relu", data_format="channels_first"),
        _img.transpose(0, 3, 1, 2).copy(), (2, 4, 8, 8)),
    "SinusoidalEmbedding": (SinusoidalEmbedding, dict(dim=8),
                            np.array([0.0, 999.0], "float32"), (2, 8)),
    "BilinearUpsample": (BilinearUpsample, dict(factor=2), _img, (2, 16, 16, 4)),
    "SpatialSelfAttention": (SpatialSelfAttention, dict(num_heads=2), _img, (2, 8, 8, 4)),
    "IsotropicConv2D": (IsotropicConv2D, dict(filters=3), _img, (2, 8, 8, 3)),
    "LiftingConv2D": (LiftingConv2D, dict(filters=2, group_order=4), _img, (2, 8, 8, 8)),
    "GroupConv2D": (GroupConv2D, dict(filters=3, group_order=4, kernel_size=3), _img,
                    (2, 8, 8, 12)),
    "GroupConv2D-C8": (GroupConv2D, dict(filters=1, group_order=8, use_bias=False),
                       _rng.normal(size=(2, 7, 7, 16)).astype("float32"), (2, 7, 7, 8)),
    "OrientationPool": (OrientationPool, dict(group_order=4), _img, (2, 8, 8, 1)),
    "OrientationPool-max": (OrientationPool, dict(group_order=2, mode="max"), _img, (2, 8, 8, 2)),
    "FieldGroupNorm": (FieldGroupNorm, dict(group_order=2, groups=2), _img, (2, 8, 8, 4)),
    "FieldBroadcast": (FieldBroadcast, dict(group_order=4), _img[:, 0, 0, :], (2, 16)),
    "UpEncoding": (UpEncoding, dict(group_order=4), np.array([0.0, 90.0], "float32"), (2, 4)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_harness(name, tmp_path):
    cls, kwargs, x, out_shape = CASES[name]
    # torch.compile warms up for tens of seconds per model on CPU: one layer takes that path on
    # PyTorch (the filtered activation, the library's heaviest op); the others fit eagerly there
    jit = True if BACKEND != "torch" or name == "FilteredActivation" else "auto"
    run_layer_test(cls, kwargs, x, out_shape, tmp_path, jit_compile=jit)


def test_every_custom_layer_is_covered():
    import inspect

    import keras

    import keras_aliasfree.equivariant.convs as EC
    import keras_aliasfree.equivariant.fields as EF
    import keras_aliasfree.layers as L
    import keras_aliasfree.unet as U
    import keras_aliasfree.unet_layers as UL

    found = {name for mod in (L, U, UL, EC, EF) for name, obj in vars(mod).items()
             if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)
             and not issubclass(obj, keras.Model) and obj.__module__ == mod.__name__
             and not name.startswith("_")}
    covered = {cls.__name__ for cls, *_ in CASES.values()}
    assert found <= covered, f"layers without a harness case: {sorted(found - covered)}"
