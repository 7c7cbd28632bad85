"""Layers on regular fields that hold no convolution: :class:`OrientationPool`,
:class:`FieldBroadcast`, :class:`UpEncoding`, :class:`FieldGroupNorm`.

Example:
    >>> import numpy as np
    >>> tuple(OrientationPool(4)(np.zeros((1, 3, 3, 8), "float32")).shape)
    (1, 3, 3, 2)
"""

from __future__ import annotations

import keras
from keras import ops

from keras_aliasfree.equivariant.basis import _positive_int, up_encoding

_PACKAGE = "keras_aliasfree"
POOL_MODES = ("mean", "max")

class _FieldLayer(keras.layers.Layer):
    def __init__(self, group_order, **kwargs):
        super().__init__(**kwargs)
        self.group_order = _positive_int(group_order, "group_order", type(self).__name__)

    def _fields(self, input_shape):
        c = input_shape[-1]
        if c is None or int(c) % self.group_order:
            raise ValueError(f"{type(self).__name__}: last axis must be fields x group_order "
                             f"({self.group_order}), got shape {tuple(input_shape)}")
        return int(c) // self.group_order

    def get_config(self):
        return {**super().get_config(), "group_order": self.group_order}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class OrientationPool(_FieldLayer):
    """Reduce each field over its ``N`` orientations: ``(..., F * N) -> (..., F)``.

    The result does not depend on the orientation a turn shifts to, so it is invariant to the
    shift: a turn of the input turns these maps and nothing else (plain scalar channels, ready for
    a 1x1 ``Conv2D`` back to an image). No weights.

    Args:
        group_order: int ``N``, default 4.
        mode: ``"mean"`` (default) or ``"max"``.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: tensor whose last axis holds ``F * N`` channels, orientation-fastest.

    Example:
        >>> import numpy as np
        >>> x = np.arange(8, dtype="float32").reshape(1, 1, 1, 8)
        >>> keras.ops.convert_to_numpy(OrientationPool(4, "max")(x)).ravel().tolist()
        [3.0, 7.0]
    """

    def __init__(self, group_order=4, mode="mean", **kwargs):
        super().__init__(group_order, **kwargs)
        if mode not in POOL_MODES:
            raise ValueError(f"OrientationPool: mode must be one of {POOL_MODES}, got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        f = self._fields(inputs.shape)
        rest = tuple(inputs.shape[1:-1])
        if any(d is None for d in rest):
            raise ValueError(f"OrientationPool needs static non-batch dimensions, got "
                             f"{tuple(inputs.shape)}")
        x = ops.reshape(inputs, (-1, *rest, f, self.group_order))
        return ops.mean(x, axis=-1) if self.mode == "mean" else ops.max(x, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self._fields(input_shape))

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FieldBroadcast(_FieldLayer):
    """Repeat each feature over the ``N`` orientations of a field: ``(..., F) -> (..., F * N)``.

    How a quantity that does not turn (a timestep embedding, a per-field bias) joins regular
    fields: every orientation receives the same value, so adding it commutes with turns.

    Args:
        group_order: int ``N``, default 4.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: tensor ``(..., F)``.

    Example:
        >>> import numpy as np
        >>> y = FieldBroadcast(3)(np.array([[1.0, 2.0]], "float32"))
        >>> keras.ops.convert_to_numpy(y).tolist()
        [[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]]
    """

    def call(self, inputs):
        return ops.repeat(inputs, self.group_order, axis=-1)

    def compute_output_shape(self, input_shape):
        c = input_shape[-1]
        return (*tuple(input_shape)[:-1], None if c is None else int(c) * self.group_order)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class UpEncoding(_FieldLayer):
    """The "up" angle in degrees as a regular field of one channel per orientation (see
    :func:`up_encoding`): ``(B,)`` or ``(B, 1)`` -> ``(B, N)``. No weights.

    Args:
        group_order: int ``N``, default 4.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: angles in degrees, counter-clockwise.

    Example:
        >>> import numpy as np
        >>> y = keras.ops.convert_to_numpy(UpEncoding(4)(np.array([180.0], "float32")))
        >>> (np.round(y, 6) + 0.0).tolist()
        [[-1.0, 0.0, 1.0, 0.0]]
    """

    def __init__(self, group_order=4, **kwargs):
        kwargs["autocast"] = False             # angles stay float32; the result is cast after
        super().__init__(group_order, **kwargs)

    def call(self, inputs):
        return ops.cast(up_encoding(inputs, self.group_order), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.group_order)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FieldGroupNorm(_FieldLayer):
    """Group normalisation whose groups hold whole fields, with one scale and offset per field.

    Mean and variance are taken over height, width and the channels of a group (``F / groups``
    whole fields, all orientations), and the learned ``gamma``/``beta`` are shared by a field's
    orientations: both commute with a turn that shifts orientations (Keras'
    ``GroupNormalization`` would give every orientation its own scale). Statistics in float32
    under mixed precision.

    Args:
        group_order: int ``N``, default 4.
        groups: int, default 1. Must divide the number of fields.
        epsilon: float, default ``1e-5``.
        center: bool, default ``True``. Learn a per-field offset.
        scale: bool, default ``True``. Learn a per-field scale.
        **kwargs: base ``keras.layers.Layer`` arguments.

    Call arguments:
        inputs: ``(B, H, W, F * N)`` regular fields, orientation-fastest.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(2, 4, 4, 8)).astype("float32")
        >>> y = keras.ops.convert_to_numpy(FieldGroupNorm(4, groups=2)(x))
        >>> bool(abs(y[0, ..., :4].mean()) < 1e-5), round(float(y[0, ..., :4].std()), 3)
        (True, 1.0)
    """

    def __init__(self, group_order=4, groups=1, epsilon=1e-5, center=True, scale=True, **kwargs):
        super().__init__(group_order, **kwargs)
        self.groups = _positive_int(groups, "groups", "FieldGroupNorm")
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)

    def build(self, input_shape):
        f = self._fields(input_shape)
        if len(input_shape) != 4 or f % self.groups:
            raise ValueError(f"FieldGroupNorm: expects (batch, height, width, fields x "
                             f"{self.group_order}) with fields divisible by groups "
                             f"({self.groups}), got {tuple(input_shape)}")
        self.gamma = (self.add_weight(shape=(f,), initializer="ones", name="gamma")
                      if self.scale else None)
        self.beta = (self.add_weight(shape=(f,), initializer="zeros", name="beta")
                     if self.center else None)

    def call(self, inputs):
        dtype = inputs.dtype
        x = ops.cast(inputs, "float32")
        h, w, c = inputs.shape[1], inputs.shape[2], inputs.shape[3]
        g = ops.reshape(x, (-1, h, w, self.groups, c // self.groups))
        mean = ops.mean(g, axis=(1, 2, 4), keepdims=True)
        var = ops.mean(ops.square(g - mean), axis=(1, 2, 4), keepdims=True)
        x = ops.reshape((g - mean) * ops.rsqrt(var + self.epsilon), (-1, h, w, c))
        if self.gamma is not None:
            x = x * ops.repeat(ops.cast(self.gamma, "float32"), self.group_order)
        if self.beta is not None:
            x = x + ops.repeat(ops.cast(self.beta, "float32"), self.group_order)
        return ops.cast(x, dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}


__all__ = ["OrientationPool", "FieldBroadcast", "UpEncoding", "FieldGroupNorm", "POOL_MODES"]
