"""The three public alias-free layers. Thin: configuration, shapes, and a call into :mod:`ops`.

All three are weightless, serialisable (``get_config``/``from_config``, registered under the
package name ``keras_aliasfree``), work eagerly, in the functional API, under ``jit_compile=True``
and under the ``mixed_float16``/``mixed_bfloat16`` policies (they compute in and return the
compute dtype), and honour ``data_format``.

Filter arguments (shared by the three layers):

* ``kernel_size`` -- taps per side; default ``4 * factor`` (``preset="default"``) or 3
  (``preset="paper"``).
* ``cutoff`` -- radians per sample on the grid where the filter runs (the upsampled grid);
  default ``pi / factor`` (the paper's ``pi/2`` for x2).
* ``beta`` -- Kaiser window parameter; default 4 (``"default"``) or 0 (``"paper"``).
* ``normalize`` -- scale the kernel to sum 1 (the "N" of a config name such as ``D-1N``).
* ``preset`` -- ``"default"``: a circular jinc with a radial Kaiser window, long enough to be a real
  low-pass; ``"paper"``: the paper's 3x3 jinc with a separable Kaiser window.
* ``window`` -- ``"radial"`` or ``"separable"``; default from the preset.
* ``impl`` -- how the resampling is computed: ``"auto"`` (default), ``"banded"`` (cost linear in
  the pixels), ``"dense"`` (the reference path) or ``"kron"`` (one matrix for both axes; images of
  up to 32x32 low-resolution pixels, taken by ``"auto"`` at 8x8 and below); the same result up to
  float rounding (:func:`keras_aliasfree.ops.gemm_operands`).

What the presets do, measured by ``python benchmarks/filters.py`` (x2; docs/benchmarks/filters.md):

* default (8x8, beta 4, radial window, rank-2 SVD approximation): an image of ones upsamples to
  ones exactly (a symmetric even kernel is polyphase-balanced); a cosine at 0.8 pi is attenuated by
  39 dB along an axis and the diagonal, 0.15 pi passes within 0.2 dB; ``FilteredActivation("gelu")`` is ~12 dB more
  rotation-equivariant than plain GELU (50.4 vs 38.5 dB).
* paper (3x3, cutoff pi/2, beta 0/1/2): upsampling an image of ones gives a 2x2 checkerboard
  (beta 0: 1.36/0.98/0.68, beta 1: 1.10/1.01/0.88, beta 2: 1.51/0.96/0.58 with our x4 gain;
  0.38/0.24/0.14 for beta 2 without it, as in the paper's code), the kernel attenuates 0.8 pi by
  only 10-18 dB in its worst direction (beta 2: 10 dB), and ``FilteredActivation("gelu")`` gains
  +12.3 / +9.5 / +1.9 dB EQ-R over plain GELU for beta 0 / 1 / 2 when run through these phase- and
  gain-correct ops (the paper's own code, without the x4 gain, feeds GELU a quarter-level signal).
"""

from __future__ import annotations

import keras

from keras_aliasfree import filters as _filters
from keras_aliasfree import ops as _ops

_PACKAGE = "keras_aliasfree"


class _FilterLayer(keras.layers.Layer):
    """Shared filter configuration of the alias-free layers (not public)."""

    def __init__(self, factor, kernel_size=None, cutoff=None, beta=None, normalize=True,
                 preset="default", window=None, data_format=None, rank=None, impl="auto",
                 **kwargs):
        super().__init__(**kwargs)
        if impl not in _ops.IMPLS:
            raise ValueError(f"impl must be one of {_ops.IMPLS}, got {impl!r}")
        self.impl = impl
        self.factor = _filters.check_factor(factor)
        if preset not in _filters.PRESETS:
            raise ValueError(f"preset must be one of {_filters.PRESETS}, got {preset!r}")
        if window is not None and window not in _filters.WINDOWS:
            raise ValueError(f"window must be one of {_filters.WINDOWS} or None, got {window!r}")
        self.kernel_size = kernel_size
        self.cutoff = cutoff
        self.beta = beta
        self.normalize = bool(normalize)
        self.preset = preset
        self.window = window
        self.rank = None if rank is None else int(rank)
        self.data_format = _ops._norm_data_format(data_format)
        # designed once here (validates the arguments); the resampling matrices are cached per size
        self.kernel = _filters.design_filter(self.factor, kernel_size=kernel_size, cutoff=cutoff,
                                             beta=beta, normalize=normalize, preset=preset,
                                             window=window, rank=self.rank)
        self._built_hw = None
        self._operands = None

    def build(self, input_shape):
        # the resampling matrices for this input size are built here, once, so that ``call``
        # holds tensor ops only (torch.compile / XLA see constants, not numpy code)
        self._check_rank(input_shape)
        h, w = (input_shape[a] for a in self._spatial_axes())
        if h is not None and w is not None:
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
            raise ValueError(f"{type(self).__name__} expects rank-4 input "
                             f"({'(batch, height, width, channels)' if self.data_format == 'channels_last' else '(batch, channels, height, width)'}), "
                             f"got shape {tuple(input_shape)}")

    def call(self, inputs):
        # the resampling layers; FilteredActivation overrides this
        return _ops.resample_with(inputs, self._operands_for(inputs), self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, kernel_size=self.kernel_size, cutoff=self.cutoff,
                      beta=self.beta, normalize=self.normalize, preset=self.preset,
                      window=self.window, data_format=self.data_format)
        if self.rank is not None:  # absent = the preset's rule: older configs read unchanged
            config["rank"] = self.rank
        if self.impl != "auto":
            config["impl"] = self.impl
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class AliasFreeUpsample(_FilterLayer):
    """Upsample by ``factor``: zero insertion, then a jinc low-pass with gain ``factor**2``.

    A constant image maps to the same constant (exactly, in the interior, with the default
    even-size kernel). Output height and width are ``factor`` times the input's.

    Args:
        factor: integer >= 2.
        kernel_size, cutoff, beta, normalize, preset, window: the filter (see module docstring).
        data_format: ``"channels_last"`` or ``"channels_first"`` (default: Keras config).

    With ``preset="paper"`` (kernel 3, cutoff pi/2) a constant image of ones becomes a
    checkerboard (beta 2: 1.51/0.96/0.58 with the x4 gain, 0.38/0.24/0.14 without), so that
    preset is kept for comparison only.

    Example:
        >>> import numpy as np, keras
        >>> layer = AliasFreeUpsample(2)
        >>> y = layer(np.ones((1, 8, 8, 3), "float32"))
        >>> tuple(y.shape), round(float(keras.ops.convert_to_numpy(y)[0, 8, 8, 0]), 4)
        ((1, 16, 16, 3), 1.0)
    """

    def __init__(self, factor=2, kernel_size=None, cutoff=None, beta=None, normalize=True,
                 preset="default", window=None, data_format=None, **kwargs):
        super().__init__(factor, kernel_size, cutoff, beta, normalize, preset, window,
                         data_format, **kwargs)

    def _make_operands(self, h, w):
        return _ops.gemm_operands(self.kernel, h, w, self.factor, "up", self.impl)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        shape = list(input_shape)
        for axis in self._spatial_axes():
            shape[axis] = None if shape[axis] is None else shape[axis] * self.factor
        return tuple(shape)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class AliasFreeDownsample(_FilterLayer):
    """Downsample by ``factor``: jinc low-pass, then keep every ``factor``-th sample.

    Height and width must be divisible by ``factor``; the kernel sums to 1 (``normalize=True``) so a
    constant maps to the same constant. With the defaults a cosine at 0.8 pi is attenuated by 39 dB
    (axis and diagonal) and one at 0.15 pi passes within 0.2 dB; the paper's 3x3 kernel
    attenuates 0.8 pi by only 10-18 dB (``python benchmarks/filters.py``).

    Example:
        >>> import numpy as np
        >>> y = AliasFreeDownsample(2)(np.ones((1, 16, 16, 3), "float32"))
        >>> tuple(y.shape)
        (1, 8, 8, 3)
    """

    def __init__(self, factor=2, kernel_size=None, cutoff=None, beta=None, normalize=True,
                 preset="default", window=None, data_format=None, **kwargs):
        super().__init__(factor, kernel_size, cutoff, beta, normalize, preset, window,
                         data_format, **kwargs)

    def _make_operands(self, h, w):
        if h % self.factor or w % self.factor:
            raise ValueError(f"AliasFreeDownsample(factor={self.factor}) needs height and width "
                             f"divisible by {self.factor}, got {h}x{w}")
        return _ops.gemm_operands(self.kernel, h, w, self.factor, "down", self.impl)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        shape = list(input_shape)
        for axis in self._spatial_axes():
            n = shape[axis]
            if n is not None and n % self.factor:
                raise ValueError(f"AliasFreeDownsample(factor={self.factor}) needs height and width "
                                 f"divisible by {self.factor}, got shape {tuple(input_shape)}")
            shape[axis] = None if n is None else n // self.factor
        return tuple(shape)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FilteredActivation(_FilterLayer):
    """Alias-free nonlinearity: upsample by ``up_factor``, apply ``activation``, filter, downsample.

    The nonlinearity creates frequencies above the input's band; computing it at ``up_factor``
    times the rate and low-passing before returning to the input rate keeps them from folding
    back as aliases. Output shape = input shape. The same filter is used on the way up and down.

    With default arguments ``FilteredActivation("gelu")`` is ~12 dB more rotation-equivariant than
    plain GELU on band-limited input (PSNR of f(rotate(x)) against rotate(f(x)) over a central
    disc: 50.4 vs 38.5 dB); with the paper's settings (kernel 3, cutoff pi/2) the gain is
    +12.3 / +9.5 / +1.9 dB for beta 0 / 1 / 2, and its upsampler makes a checkerboard of a constant
    (``python benchmarks/filters.py``).

    Args:
        activation: a pointwise activation name (``"gelu"``, ``"relu"``, ``"silu"``, ...) or callable.
        up_factor: integer >= 2.
        kernel_size, cutoff, beta, normalize, preset, window, data_format: as the other layers.

    Example:
        >>> import numpy as np
        >>> y = FilteredActivation("gelu")(np.zeros((2, 8, 8, 4), "float32"))
        >>> tuple(y.shape)
        (2, 8, 8, 4)
    """

    def __init__(self, activation="gelu", up_factor=2, kernel_size=None, cutoff=None, beta=None,
                 normalize=True, preset="default", window=None, data_format=None, **kwargs):
        super().__init__(up_factor, kernel_size, cutoff, beta, normalize, preset, window,
                         data_format, **kwargs)
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
