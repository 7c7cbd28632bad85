"""Rotation-equivariant layers over the cyclic group C_N (group convolutions on the pixel grid).

A *regular field* over C_N is a stack of ``N`` feature maps, one per orientation ``k`` (the angle
``2 * pi * k / N``). Turning the input image by ``2 * pi / N`` turns every map of a field and moves
orientation ``k`` to ``k + 1`` (a cyclic shift). The layers here keep that rule, so a network made
of them is equivariant: turn the input, and the output turns with it.

**Layout** (channels-last only): a tensor of ``F`` fields over C_N is stored as ``(B, H, W, F * N)``
*orientation-fastest*: channel ``f * N + k`` is field ``f`` at orientation ``k``, so the ``N`` maps
of one field are contiguous. A quarter turn of the input (``np.rot90(x, 1, axes=(1, 2))``, counter-
clockwise as displayed) acts on fields of order ``N`` (a multiple of 4) as ``np.rot90`` on the
spatial axes and ``np.roll(..., N // 4, axis=-1)`` on the ``(F, N)`` view of the channels.

**Kernels** come from a band-limited steerable basis (as escnn's ``R2Conv`` builds them): Gaussian
rings at radii ``0, 1, ..., (K - 1) / 2`` times circular harmonics ``cos(m theta)``,
``sin(m theta)``, evaluated at the pixel centres of an odd ``K x K`` kernel. A ring holds the
harmonics it can sample without aliasing: ``m = 0`` at the centre, ``m <= 1`` on the outermost
ring (cut by the square's sides), ``m <= max_frequency`` (default 2) in between. The learned
weights are basis coefficients; the kernel of orientation ``k`` is the same expansion evaluated on
the grid turned by ``2 * pi * k / N`` -- the base kernel turned exactly, as a continuous function.
For quarter turns the turned grid is the grid itself, so ``N = 4`` (or 8, 12, ...) is exact to
float round-off under 90-degree turns; other angles are as good as the sampled basis.

"Up" is an input too: :func:`up_encoding` writes an angle ``phi`` as the ``N`` values
``cos(phi - 2 * pi * k / N)``, a regular field that turning ``phi`` by ``2 * pi / N`` shifts by one
orientation -- exactly as a turn of the image shifts the lifted fields. A network given it is
equivariant to turning the image and ``phi`` together, and can still tell up from down.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(1, 9, 9, 1)).astype("float32")
    >>> lift, conv, pool = LiftingConv2D(2, 4), GroupConv2D(3, 4), OrientationPool(4)
    >>> f = lambda v: keras.ops.convert_to_numpy(pool(conv(lift(v))))
    >>> turned = f(np.rot90(x, 1, axes=(1, 2)).copy())
    >>> bool(np.allclose(turned, np.rot90(f(x), 1, axes=(1, 2)), atol=1e-5))
    True
"""

from __future__ import annotations

import functools
import math

import keras
import numpy as np
from keras import ops

_PACKAGE = "keras_aliasfree"
POOL_MODES = ("mean", "max")


def _positive_int(value, what, owner):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise ValueError(f"{owner}: {what} must be a positive integer, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------------- the basis

@functools.lru_cache(maxsize=64)
def _basis(kernel_size: int, group_order: int, max_frequency: int, sigma: float) -> np.ndarray:
    k = kernel_size
    c = (k - 1) / 2.0
    ii, jj = np.mgrid[0:k, 0:k].astype(np.float64)
    x, y = jj - c, c - ii                      # math coordinates: x right, y up (as displayed)
    rad = np.hypot(x, y)
    theta = np.arctan2(y, x)
    at_centre = rad < 1e-9
    funcs = []                                 # (ring radius, m, "cos"/"sin")
    rings = np.arange(0, int(c) + 1, dtype=np.float64)
    for r in rings:
        m_max = 0 if r == 0 else (min(1, max_frequency) if r == rings[-1] else
                                  min(max_frequency, int(2 * r)))
        for m in range(m_max + 1):
            funcs.append((r, m, "cos"))
            if m > 0:
                funcs.append((r, m, "sin"))
    out = np.zeros((group_order, k, k, len(funcs)), np.float64)
    for b, (r, m, kind) in enumerate(funcs):
        ring = np.exp(-0.5 * ((rad - r) / sigma) ** 2)
        base = ring * (np.cos(m * theta) if kind == "cos" else np.sin(m * theta))
        if m > 0:
            base[at_centre] = 0.0              # a harmonic has no value at the origin
        norm = np.sqrt(np.sum(base ** 2))
        for o in range(group_order):
            # the function turned counter-clockwise by alpha: evaluated at angle theta - alpha
            alpha = 2.0 * np.pi * o / group_order
            ang = np.cos(m * (theta - alpha)) if kind == "cos" else np.sin(m * (theta - alpha))
            turned = ring * ang
            if m > 0:
                turned[at_centre] = 0.0
            out[o, :, :, b] = turned / norm
    out = out.astype(np.float32)
    out.setflags(write=False)
    return out


def steerable_basis(kernel_size=5, group_order=4, max_frequency=2, sigma=0.6) -> np.ndarray:
    """The kernel basis of :class:`LiftingConv2D` and :class:`GroupConv2D`, turned per orientation.

    Gaussian rings (width ``sigma`` pixels) at radii ``0 .. (kernel_size - 1) / 2`` times
    ``cos(m theta)`` / ``sin(m theta)``; ``m = 0`` at the centre, ``m <= 1`` on the outer ring,
    ``m <= max_frequency`` between; each function scaled to unit norm on the grid. Entry
    ``[k, :, :, b]`` is function ``b`` turned counter-clockwise by ``2 * pi * k / group_order``.
    Cached; read-only float32 ``(group_order, kernel_size, kernel_size, num_basis)``.

    Args:
        kernel_size: odd int, default 5.
        group_order: int ``N >= 1``, default 4.
        max_frequency: int >= 0, default 2. Highest harmonic on the inner rings.
        sigma: float, default 0.6. Ring width in pixels.

    Example:
        >>> b = steerable_basis(5, 4)
        >>> b.shape, bool(np.allclose(b[1], np.rot90(b[0], 1), atol=1e-6))
        ((4, 5, 5, 9), True)
    """
    kernel_size = _positive_int(kernel_size, "kernel_size", "steerable_basis")
    if kernel_size % 2 == 0:
        raise ValueError(f"steerable_basis: kernel_size must be odd (a centre pixel to turn "
                         f"about), got {kernel_size}")
    group_order = _positive_int(group_order, "group_order", "steerable_basis")
    if isinstance(max_frequency, bool) or int(max_frequency) != max_frequency or max_frequency < 0:
        raise ValueError(f"steerable_basis: max_frequency must be an integer >= 0, "
                         f"got {max_frequency!r}")
    if not float(sigma) > 0:
        raise ValueError(f"steerable_basis: sigma must be > 0, got {sigma!r}")
    return _basis(kernel_size, group_order, int(max_frequency), float(sigma))


def up_encoding(degrees, group_order=4):
    """Encode an "up" angle as a regular field: ``cos(phi - 2 * pi * k / N)``, ``k = 0 .. N-1``.

    Turning ``phi`` by ``360 / N`` degrees shifts the encoding by one orientation (entry ``k``
    takes entry ``k - 1``'s value), the same shift a turn of the image applies to lifted fields.

    Args:
        degrees: angles in degrees (counter-clockwise, as :func:`keras_aliasfree.rotate`), shape
            ``(B,)`` or ``(B, 1)``.
        group_order: int ``N``, default 4.

    Returns:
        Tensor ``(B, N)`` (float32).

    Example:
        >>> e = keras.ops.convert_to_numpy(up_encoding(np.array([0.0, 90.0]), 4))
        >>> (np.round(e, 6) + 0.0).tolist()
        [[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]
    """
    n = _positive_int(group_order, "group_order", "up_encoding")
    phi = ops.reshape(ops.cast(degrees, "float32"), (-1, 1)) * (math.pi / 180.0)
    k = ops.convert_to_tensor((2.0 * np.pi * np.arange(n) / n)[None, :].astype("float32"))
    return ops.cos(phi - k)


# ----------------------------------------------------------------------------------- conv layers

_CONV_ARGS_DOC = """group_order: int ``N >= 1``, default 4. Orientations per field.
        kernel_size: odd int, default 5.
        max_frequency: int >= 0, default 2. Highest circular harmonic of the kernel basis on its
            inner rings (:func:`steerable_basis`).
        use_bias: bool, default ``True``. One bias per output field, the same at every
            orientation.
        kernel_initializer: initializer of the basis coefficients, default ``"he_normal"`` (fan-in
            counts the basis functions).
        bias_initializer: default ``"zeros"``.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...)."""


def _doc(cls):
    cls.__doc__ = cls.__doc__.replace("{conv_args}", _CONV_ARGS_DOC)
    return cls


class _SteerableConv(keras.layers.Layer):
    """Shared configuration of the two steerable convolutions (not public)."""

    def __init__(self, filters, group_order, kernel_size, max_frequency, use_bias,
                 kernel_initializer, bias_initializer, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.filters = _positive_int(filters, "filters", owner)
        self.group_order = _positive_int(group_order, "group_order", owner)
        self.kernel_size = _positive_int(kernel_size, "kernel_size", owner)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"{owner}: kernel_size must be odd (a centre pixel to turn about), "
                             f"got {kernel_size}")
        self.max_frequency = int(max_frequency)
        self._basis = steerable_basis(self.kernel_size, self.group_order, self.max_frequency)
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
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}


@_doc
@keras.saving.register_keras_serializable(package=_PACKAGE)
class LiftingConv2D(_SteerableConv):
    """Lift an image to regular fields over C_N: ``filters`` kernels, each applied turned to the
    ``N`` orientations (orientation ``k``: the base kernel turned by ``2 * pi * k / N``).

    Input channels are scalars (they do not change under a turn); output ``(B, H, W, filters *
    N)`` orientation-fastest (see the module docstring). Turning the input by a quarter turn turns
    the output and shifts each field's orientations by ``N / 4``. ``padding="same"`` with zeros,
    stride 1.

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
                 kernel_initializer="he_normal", bias_initializer="zeros", **kwargs):
        super().__init__(filters, group_order, kernel_size, max_frequency, use_bias,
                         kernel_initializer, bias_initializer, **kwargs)

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
                 kernel_initializer="he_normal", bias_initializer="zeros", **kwargs):
        super().__init__(filters, group_order, kernel_size, max_frequency, use_bias,
                         kernel_initializer, bias_initializer, **kwargs)
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


# ----------------------------------------------------------------------------------- field layers

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
        >>> np.round([y[0, ..., :4].mean(), y[0, ..., :4].std()], 3).tolist()
        [0.0, 1.0]
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


def turn_fields(fields, quarter_turns=1, group_order=4):
    """Turn regular fields (numpy ``(B, H, W, F * N)``) by ``quarter_turns`` x 90 degrees: the
    spatial ``np.rot90`` and the orientation shift of ``N / 4`` per quarter turn. What a layer of
    this module applies to its output when its input turns; the tests' and benchmarks' reference.

    Example:
        >>> x = np.arange(4, dtype="float32").reshape(1, 1, 1, 4)
        >>> turn_fields(x, 1, 4).ravel().tolist()
        [3.0, 0.0, 1.0, 2.0]
    """
    n = _positive_int(group_order, "group_order", "turn_fields")
    if n % 4:
        raise ValueError(f"turn_fields: a quarter turn is a group element only when group_order "
                         f"is a multiple of 4, got {n}")
    x = np.rot90(np.asarray(fields), quarter_turns, axes=(1, 2))
    f = x.shape[-1] // n
    x = x.reshape(*x.shape[:-1], f, n)
    return np.roll(x, quarter_turns * n // 4, axis=-1).reshape(*x.shape[:-2], f * n)


__all__ = ["LiftingConv2D", "GroupConv2D", "OrientationPool", "FieldBroadcast", "UpEncoding",
           "FieldGroupNorm", "steerable_basis", "up_encoding", "turn_fields", "POOL_MODES"]
