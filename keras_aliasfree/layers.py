"""The three public alias-free layers. Thin: configuration, shapes, and a call into :mod:`ops`.

All three are weightless, serialisable (``get_config``/``from_config``, registered under the
package name ``keras_aliasfree``), work eagerly, in the functional API, under ``jit_compile=True``
and under the ``mixed_float16``/``mixed_bfloat16`` policies (they compute in and return the
compute dtype), and honour ``data_format``. They need static height and width.

Their filter arguments are the fields of :class:`~keras_aliasfree.FilterSpec` (``kernel_size``,
``cutoff``, ``beta``, ``normalize``, ``preset``, ``window``, ``rank``, ``impl``), in every
layer's signature; ``layer.filter_spec`` returns them as one object and
``AliasFreeUpsample(2, **spec.get_config())`` builds a layer from one. What the presets do is
measured in ``docs/benchmarks/filters.md`` (``python benchmarks/filters.py``).
"""

from __future__ import annotations

import keras

from keras_aliasfree import filters as _filters
from keras_aliasfree import ops as _ops
from keras_aliasfree.filter_spec import FilterSpec

_PACKAGE = "keras_aliasfree"

_FILTER_ARGS_DOC = """kernel_size: int or ``None``. Taps per side (``None``: ``4 * factor`` for the
            ``"default"`` preset, 3 for ``"paper"``).
        cutoff: float or ``None``. Radians per sample on the upsampled grid (``None``:
            ``pi / factor``).
        beta: float or ``None``. Kaiser window parameter (``None``: 4 for ``"default"``, 0 for
            ``"paper"``).
        normalize: bool, default ``True``. Scale the kernel to sum 1.
        preset: ``"default"`` (circular jinc, radial Kaiser window) or ``"paper"`` (the paper's
            3x3 jinc, separable window).
        window: ``"radial"``, ``"separable"`` or ``None`` (the preset's).
        rank: int or ``None``. Separable terms of the kernel kept (``None``: the preset's rule).
        impl: how the resampling is computed: ``"auto"`` (default), ``"axes"``, ``"banded"``,
            ``"dense"``, ``"kron"`` or ``"ref"`` (see :mod:`keras_aliasfree.ops`).
        data_format: ``"channels_last"`` or ``"channels_first"`` (default: Keras config).
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...)."""


def _doc(cls):
    cls.__doc__ = cls.__doc__.replace("{filter_args}", _FILTER_ARGS_DOC)
    return cls


class _FilterLayer(keras.layers.Layer):
    """Shared filter configuration of the alias-free layers (not public)."""

    def __init__(self, factor, kernel_size, cutoff, beta, normalize, preset, window, rank, impl,
                 data_format, **kwargs):
        super().__init__(**kwargs)
        self.factor = _filters.check_factor(factor)
        # validates every filter argument; the kernel is designed once here and the resampling
        # matrices are cached per input size
        self._spec = FilterSpec(kernel_size=kernel_size, cutoff=cutoff, beta=beta,
                                normalize=normalize, preset=preset, window=window, rank=rank,
                                impl=impl)
        self.data_format = _ops._norm_data_format(data_format)
        self.kernel = self._spec.kernel(self.factor)
        self._built_hw = None
        self._operands = None

    @property
    def filter_spec(self) -> FilterSpec:
        """The filter options as one :class:`~keras_aliasfree.FilterSpec`."""
        return self._spec

    # the filter arguments, read-only, as attributes of the layer
    kernel_size = property(lambda self: self._spec.kernel_size)
    cutoff = property(lambda self: self._spec.cutoff)
    beta = property(lambda self: self._spec.beta)
    normalize = property(lambda self: self._spec.normalize)
    preset = property(lambda self: self._spec.preset)
    window = property(lambda self: self._spec.window)
    rank = property(lambda self: self._spec.rank)
    impl = property(lambda self: self._spec.impl)

    def build(self, input_shape):
        # the resampling matrices for this input size are built here, once, so that ``call``
        # holds tensor ops only (torch.compile / XLA see constants, not numpy code)
        self._check_rank(input_shape)
        h, w = (input_shape[a] for a in self._spatial_axes())
        if h is not None and w is not None and self.impl != "ref":
            self._built_hw = (int(h), int(w))
            self._operands = self._make_operands(int(h), int(w))
        self.built = True

    def _operands_for(self, x):
        h, w = (x.shape[a] for a in self._spatial_axes())
        if (h, w) == self._built_hw:
            return self._operands
        # a size other than the one built for (or unknown at build time): computed (cached) here
        return self._make_operands(*_ops._spatial_dims(x, self.data_format, type(self).__name__))

    def _spatial_axes(self):
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def _check_rank(self, input_shape):
        if len(input_shape) != 4:
            layout = "(batch, height, width, channels)" if self.data_format == "channels_last" \
                else "(batch, channels, height, width)"
            raise ValueError(f"{type(self).__name__} expects rank-4 input {layout}, "
                             f"got shape {tuple(input_shape)}")

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, **self._spec.get_config(), data_format=self.data_format)
        return config


@_doc
@keras.saving.register_keras_serializable(package=_PACKAGE)
class AliasFreeUpsample(_FilterLayer):
    """Upsample by ``factor``: zero insertion, then a jinc low-pass with gain ``factor**2``.

    With the default preset a constant image maps to the same constant (exactly, in the interior);
    the ``"paper"`` preset's 3x3 kernel turns it into a checkerboard and is kept for comparison.

    Args:
        factor: int >= 2, default 2. Output height and width are ``factor`` times the input's.
        {filter_args}

    Call arguments:
        inputs: rank-4 tensor with static height and width.

    Example:
        >>> import numpy as np, keras
        >>> layer = AliasFreeUpsample(2)
        >>> y = layer(np.ones((1, 8, 8, 3), "float32"))
        >>> tuple(y.shape), round(float(keras.ops.convert_to_numpy(y)[0, 8, 8, 0]), 4)
        ((1, 16, 16, 3), 1.0)
    """

    def __init__(self, factor=2, kernel_size=None, cutoff=None, beta=None, normalize=True,
                 preset="default", window=None, rank=None, impl="auto", data_format=None,
                 **kwargs):
        super().__init__(factor, kernel_size, cutoff, beta, normalize, preset, window, rank, impl,
                         data_format, **kwargs)

    def _make_operands(self, h, w):
        return _ops.gemm_operands(self.kernel, h, w, self.factor, "up", self.impl)

    def call(self, inputs):
        if self.impl == "ref":
            return _ops.upsample_2d(inputs, self.kernel, self.factor, self.data_format, "ref")
        return _ops.resample_with(inputs, self._operands_for(inputs), self.data_format)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        shape = list(input_shape)
        for axis in self._spatial_axes():
            shape[axis] = None if shape[axis] is None else shape[axis] * self.factor
        return tuple(shape)


@_doc
@keras.saving.register_keras_serializable(package=_PACKAGE)
class AliasFreeDownsample(_FilterLayer):
    """Downsample by ``factor``: jinc low-pass, then keep every ``factor``-th sample.

    The kernel sums to 1 (``normalize=True``), so a constant maps to the same constant.

    Args:
        factor: int >= 2, default 2. Height and width must be divisible by it.
        {filter_args}

    Call arguments:
        inputs: rank-4 tensor with static height and width divisible by ``factor``.

    Example:
        >>> import numpy as np
        >>> y = AliasFreeDownsample(2)(np.ones((1, 16, 16, 3), "float32"))
        >>> tuple(y.shape)
        (1, 8, 8, 3)
    """

    def __init__(self, factor=2, kernel_size=None, cutoff=None, beta=None, normalize=True,
                 preset="default", window=None, rank=None, impl="auto", data_format=None,
                 **kwargs):
        super().__init__(factor, kernel_size, cutoff, beta, normalize, preset, window, rank, impl,
                         data_format, **kwargs)

    def _check_divisible(self, h, w, shape):
        if (h is not None and h % self.factor) or (w is not None and w % self.factor):
            raise ValueError(f"AliasFreeDownsample(factor={self.factor}) needs height and width "
                             f"divisible by {self.factor}, got shape {tuple(shape)}")

    def _make_operands(self, h, w):
        self._check_divisible(h, w, (h, w))
        return _ops.gemm_operands(self.kernel, h, w, self.factor, "down", self.impl)

    def call(self, inputs):
        if self.impl == "ref":
            return _ops.downsample_2d(inputs, self.kernel, self.factor, self.data_format, "ref")
        return _ops.resample_with(inputs, self._operands_for(inputs), self.data_format)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        self._check_divisible(*(input_shape[a] for a in self._spatial_axes()), input_shape)
        shape = list(input_shape)
        for axis in self._spatial_axes():
            shape[axis] = None if shape[axis] is None else shape[axis] // self.factor
        return tuple(shape)


@_doc
@keras.saving.register_keras_serializable(package=_PACKAGE)
class FilteredActivation(_FilterLayer):
    """Alias-free nonlinearity: upsample by ``up_factor``, apply ``activation``, filter, downsample.

    The nonlinearity creates frequencies above the input's band; computing it at ``up_factor``
    times the rate and low-passing before returning to the input rate keeps them from folding
    back as aliases. Output shape = input shape. The same filter is used on the way up and down.

    Args:
        activation: a pointwise activation name (``"gelu"``, ``"relu"``, ``"silu"``, ...) or a
            callable; default ``"gelu"``.
        up_factor: int >= 2, default 2. The rate at which the activation is applied.
        {filter_args}

    Call arguments:
        inputs: rank-4 tensor with static height and width.

    Example:
        >>> import numpy as np
        >>> y = FilteredActivation("gelu")(np.zeros((2, 8, 8, 4), "float32"))
        >>> tuple(y.shape)
        (2, 8, 8, 4)
    """

    def __init__(self, activation="gelu", up_factor=2, kernel_size=None, cutoff=None, beta=None,
                 normalize=True, preset="default", window=None, rank=None, impl="auto",
                 data_format=None, **kwargs):
        super().__init__(up_factor, kernel_size, cutoff, beta, normalize, preset, window, rank,
                         impl, data_format, **kwargs)
        self.activation_fn = _ops.get_activation(activation)
        self.activation = activation if isinstance(activation, str) else \
            keras.activations.serialize(activation)

    @property
    def up_factor(self):
        return self.factor

    def _make_operands(self, h, w):
        f = self.factor
        return (_ops.gemm_operands(self.kernel, h, w, f, "up", self.impl),
                _ops.gemm_operands(self.kernel, h * f, w * f, f, "down", self.impl))

    def call(self, inputs):
        if self.impl == "ref":
            return _ops.filtered_activation(inputs, self.activation_fn, self.factor, self.kernel,
                                            self.kernel, self.data_format, "ref")
        up, down = self._operands_for(inputs)
        return _ops.filtered_activation_with(inputs, self.activation_fn, up, down, self.data_format)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["up_factor"] = config.pop("factor")
        config["activation"] = self.activation
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        act = config.get("activation")
        if isinstance(act, dict):
            config["activation"] = keras.activations.deserialize(act)
        return cls(**config)


__all__ = ["AliasFreeUpsample", "AliasFreeDownsample", "FilteredActivation"]
