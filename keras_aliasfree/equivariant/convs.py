"""The steerable convolutions over C_N: :class:`LiftingConv2D` (image -> fields) and
:class:`GroupConv2D` (fields -> fields), their kernels expanded inside ``call`` from learned
basis coefficients and the constant :func:`~keras_aliasfree.equivariant.basis.steerable_basis`.

Example:
    >>> import numpy as np
    >>> y = GroupConv2D(2, 8)(LiftingConv2D(1, 8)(np.zeros((1, 6, 6, 1), "float32")))
    >>> tuple(y.shape)
    (1, 6, 6, 16)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_aliasfree.equivariant.basis import _positive_int, steerable_basis

_PACKAGE = "keras_aliasfree"

_CONV_ARGS_DOC = """group_order: int ``N >= 1``, default 4. Orientations per field.
        kernel_size: odd int, default 5.
        max_frequency: int >= 0, default 2. Highest circular harmonic of the kernel basis on its
            inner rings (:func:`steerable_basis`).
        use_bias: bool, default ``True``. One bias per output field, the same at every
            orientation.
        kernel_initializer: initializer of the basis coefficients, default ``"he_normal"`` (fan-in
            counts the basis functions).
        bias_initializer: default ``"zeros"``.
        taper: float or ``None`` (default). Radius in pixels of a raised-cosine window on the
            kernel basis (:func:`steerable_basis`); ``None``: the square support.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...)."""


def _doc(cls):
    cls.__doc__ = cls.__doc__.replace("{conv_args}", _CONV_ARGS_DOC)
    return cls


class _SteerableConv(keras.layers.Layer):
    """Shared configuration of the two steerable convolutions (not public)."""

    def __init__(self, filters, group_order, kernel_size, max_frequency, use_bias,
                 kernel_initializer, bias_initializer, taper, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.filters = _positive_int(filters, "filters", owner)
        self.group_order = _positive_int(group_order, "group_order", owner)
        self.kernel_size = _positive_int(kernel_size, "kernel_size", owner)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"{owner}: kernel_size must be odd (a centre pixel to turn about), "
                             f"got {kernel_size}")
        self._basis = steerable_basis(self.kernel_size, self.group_order, max_frequency,
                                      taper=taper)
        self.max_frequency = int(max_frequency)
        self.taper = None if taper is None else float(taper)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    @property
    def num_basis(self) -> int:
        """Basis functions per (input, output) pair: the learned weights per kernel."""
        return int(self._basis.shape[-1])

    def _input_channels(self, input_shape):
        cin = input_shape[-1]
        if len(input_shape) != 4 or cin is None:
            raise ValueError(f"{type(self).__name__} expects (batch, height, width, channels) "
                             f"with known channels, got {tuple(input_shape)}")
        return int(cin)

    def _add_bias(self):
        self.bias = (self.add_weight(shape=(self.filters,), initializer=self.bias_initializer,
                                     name="bias") if self.use_bias else None)

    def _conv(self, x, kernel):
        y = ops.conv(x, kernel, strides=1, padding="same", data_format="channels_last")
        if self.bias is not None:
            y = y + ops.repeat(ops.cast(self.bias, y.dtype), self.group_order)
        return y

    def compute_output_shape(self, input_shape):
        self._input_channels(input_shape)
        return (*tuple(input_shape)[:-1], self.filters * self.group_order)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "group_order": self.group_order,
                "kernel_size": self.kernel_size, "max_frequency": self.max_frequency,
                "taper": self.taper, "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}


@_doc
@keras.saving.register_keras_serializable(package=_PACKAGE)
class LiftingConv2D(_SteerableConv):
    """Lift an image to regular fields over C_N: ``filters`` kernels, each applied turned to the
    ``N`` orientations (orientation ``k``: the base kernel turned by ``2 * pi * k / N``).

    Input channels are scalars (they do not change under a turn); output ``(B, H, W, filters *
    N)`` orientation-fastest (see :mod:`keras_aliasfree.equivariant`). Turning the input by a
    quarter turn turns the output and shifts each field's orientations by ``N / 4``.
    ``padding="same"`` with zeros, stride 1.

    Args:
        filters: int. Output fields.
        {conv_args}

    Call arguments:
        inputs: ``(B, H, W, C)`` channels-last tensor.

    Example:
        >>> import numpy as np
        >>> layer = LiftingConv2D(2, group_order=4)
        >>> tuple(layer(np.zeros((1, 8, 8, 3), "float32")).shape), layer.count_params()
        ((1, 8, 8, 8), 56)
    """

    def __init__(self, filters, group_order=4, kernel_size=5, max_frequency=2, use_bias=True,
                 kernel_initializer="he_normal", bias_initializer="zeros", taper=None, **kwargs):
        super().__init__(filters, group_order, kernel_size, max_frequency, use_bias,
                         kernel_initializer, bias_initializer, taper, **kwargs)

    def build(self, input_shape):
        cin = self._input_channels(input_shape)
        self.coefficients = self.add_weight(shape=(self.num_basis, cin, self.filters),
                                            initializer=self.kernel_initializer,
                                            name="coefficients")
        self._add_bias()

    def kernel(self):
        """The ``(K, K, C, filters * N)`` kernel the layer applies, expanded from the basis."""
        basis = ops.convert_to_tensor(self._basis, dtype=self.compute_dtype)
        w = ops.cast(self.coefficients, self.compute_dtype)
        k = ops.einsum("npqb,bio->pqion", basis, w)
        s = self.kernel_size
        return ops.reshape(k, (s, s, -1, self.filters * self.group_order))

    def call(self, inputs):
        return self._conv(inputs, self.kernel())


@_doc
@keras.saving.register_keras_serializable(package=_PACKAGE)
class GroupConv2D(_SteerableConv):
    """Group convolution over C_N: regular fields in, regular fields out.

    Output orientation ``k`` applies the base kernels turned by ``2 * pi * k / N`` and reads the
    input orientations cyclically shifted by ``k`` (input orientation ``l`` meets the base kernel
    of relative orientation ``(l - k) mod N``), so a turn of the input that shifts its orientations
    shifts the output's alike. ``padding="same"`` with zeros, stride 1. ``kernel_size=1`` mixes
    orientations without looking at neighbours (a pointwise group convolution).

    Args:
        filters: int. Output fields.
        {conv_args}

    Call arguments:
        inputs: ``(B, H, W, C_in * N)`` regular fields, orientation-fastest.

    Example:
        >>> import numpy as np
        >>> layer = GroupConv2D(3, group_order=4, use_bias=False)
        >>> tuple(layer(np.zeros((1, 8, 8, 8), "float32")).shape), layer.count_params()
        ((1, 8, 8, 12), 216)
    """

    def __init__(self, filters, group_order=4, kernel_size=5, max_frequency=2, use_bias=True,
                 kernel_initializer="he_normal", bias_initializer="zeros", taper=None, **kwargs):
        super().__init__(filters, group_order, kernel_size, max_frequency, use_bias,
                         kernel_initializer, bias_initializer, taper, **kwargs)
        n = self.group_order
        # _shift[k, l] = (l - k) mod N: the base orientation input l meets at output orientation k
        self._shift = (np.arange(n)[None, :] - np.arange(n)[:, None]) % n

    def build(self, input_shape):
        cin = self._input_channels(input_shape)
        if cin % self.group_order:
            raise ValueError(f"GroupConv2D: input channels ({cin}) must be fields x group_order "
                             f"({self.group_order}), got shape {tuple(input_shape)}")
        self.coefficients = self.add_weight(
            shape=(self.num_basis, cin // self.group_order, self.group_order, self.filters),
            initializer=self.kernel_initializer, name="coefficients")
        self._add_bias()

    def kernel(self):
        """The ``(K, K, C_in * N, filters * N)`` kernel the layer applies."""
        basis = ops.convert_to_tensor(self._basis, dtype=self.compute_dtype)
        w = ops.cast(self.coefficients, self.compute_dtype)
        w = ops.take(w, ops.convert_to_tensor(self._shift.astype("int32")), axis=2)  # b,i,k,l,o
        k = ops.einsum("kpqb,biklo->pqilok", basis, w)
        s, n = self.kernel_size, self.group_order
        return ops.reshape(k, (s, s, -1, self.filters * n))

    def call(self, inputs):
        return self._conv(inputs, self.kernel())


__all__ = ["LiftingConv2D", "GroupConv2D"]
