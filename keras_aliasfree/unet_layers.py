"""The UNet's own layers: the timestep embedding, config A's upsampler, self-attention, and the
isotropic 3x3 convolution.

Registered with Keras under the package name ``keras_aliasfree`` (a saved UNet finds them by that
name); :mod:`keras_aliasfree.unet` re-exports them.
"""

from __future__ import annotations

import json

import keras
import numpy as np
from keras import ops

from keras_aliasfree.attention import UNetMultiHeadAttention

_PACKAGE = "keras_aliasfree"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SinusoidalEmbedding(keras.layers.Layer):
    """Sinusoidal timestep embedding (sin half, then cos half), as the reference UNet.

    ``emb[:, i] = sin(t * 10000**(-2i/dim))``, ``emb[:, dim/2 + i] = cos(...)``. No weights.

    Example:
        >>> import numpy as np
        >>> tuple(SinusoidalEmbedding(8)(np.array([0, 5])).shape)
        (2, 8)
    """

    def __init__(self, dim=256, **kwargs):
        # timesteps stay float32 under a mixed policy (bfloat16 rounds 999 to 1000)
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        if int(dim) < 2 or int(dim) % 2:
            raise ValueError(f"time embedding dim must be an even integer >= 2, got {dim!r}")
        self.dim = int(dim)
        self.built = True

    def call(self, t):
        # float32 whatever the policy: in float16 a timestep near 1000 is only known to 0.5, and
        # sin/cos of it would be noise; the result is cast to the compute dtype afterwards
        t = ops.cast(ops.reshape(t, (-1, 1)), "float32")
        inv = 1.0 / (10000.0 ** (np.arange(0, self.dim, 2, dtype="float32") / self.dim))
        arg = t * ops.convert_to_tensor(inv[None, :], dtype="float32")
        emb = ops.concatenate([ops.sin(arg), ops.cos(arg)], axis=-1)
        return ops.cast(emb, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


def _linear_resize_matrix(n_in: int, factor: int) -> np.ndarray:
    n_out = n_in * factor
    m = np.zeros((n_out, n_in), dtype=np.float64)
    if n_in == 1:
        m[:, 0] = 1.0
        return m.astype("float32")
    pos = np.arange(n_out) * (n_in - 1) / (n_out - 1)
    lo = np.minimum(np.floor(pos).astype(int), n_in - 2)
    frac = pos - lo
    m[np.arange(n_out), lo] = 1.0 - frac
    m[np.arange(n_out), lo + 1] += frac
    return m.astype("float32")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BilinearUpsample(keras.layers.Layer):
    """Bilinear x``factor`` upsampling with ``align_corners=True`` (PyTorch's ``nn.Upsample`` in the
    reference UNet; Keras' ``UpSampling2D`` uses half-pixel centres instead). Config A's upsampler.
    Channels-last, static spatial size. No weights.

    Example:
        >>> import numpy as np
        >>> y = BilinearUpsample()(np.arange(4, dtype="float32").reshape(1, 2, 2, 1))
        >>> tuple(y.shape), float(y[0, 0, 3, 0]), float(y[0, 3, 3, 0])
        ((1, 4, 4, 1), 1.0, 3.0)
    """

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(factor, bool) or int(factor) != factor or int(factor) < 1:
            raise ValueError(f"BilinearUpsample: factor must be an integer >= 1, got {factor!r}")
        self.factor = int(factor)
        self.built = True

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        if h is None or w is None:
            raise ValueError(f"BilinearUpsample needs static height and width, got {x.shape}")
        a = ops.convert_to_tensor(_linear_resize_matrix(int(h), self.factor), dtype=x.dtype)
        b = ops.convert_to_tensor(_linear_resize_matrix(int(w), self.factor), dtype=x.dtype)
        y = ops.einsum("ph,bhwc->bpwc", a, x)
        return ops.einsum("qw,bpwc->bpqc", b, y)

    def compute_output_shape(self, s):
        f = self.factor
        return (s[0], None if s[1] is None else s[1] * f, None if s[2] is None else s[2] * f, s[3])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpatialSelfAttention(keras.layers.Layer):
    """Reference-style self-attention over all pixels: LayerNorm, 4-head attention, residual, then a
    LayerNorm-Dense-GELU-Dense feed-forward with a residual. Channels-last.

    Example:
        >>> import numpy as np
        >>> tuple(SpatialSelfAttention(4)(np.zeros((1, 4, 4, 8), "float32")).shape)
        (1, 4, 4, 8)
    """

    def __init__(self, num_heads=4, impl="auto", **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.impl = impl  # the attention product's path (keras_aliasfree.attention)

    def build(self, input_shape):
        c = int(input_shape[-1])
        if c % self.num_heads:
            raise ValueError(f"SpatialSelfAttention: channels ({c}) must be divisible by num_heads "
                             f"({self.num_heads})")
        self.ln = keras.layers.LayerNormalization(epsilon=1e-5, name="ln")
        self.mha = UNetMultiHeadAttention(self.num_heads, c // self.num_heads, impl=self.impl,
                                          name="mha")
        self.ff_ln = keras.layers.LayerNormalization(epsilon=1e-5, name="ff_ln")
        self.ff1 = keras.layers.Dense(c, name="ff1")
        self.ff2 = keras.layers.Dense(c, name="ff2")
        seq = (input_shape[0], None, c)
        self.ln.build(seq)
        self.mha.build(seq, seq, seq)
        self.ff_ln.build(seq)
        self.ff1.build(seq)
        self.ff2.build(seq)

    def call(self, x):
        b = ops.shape(x)[0]
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        seq = ops.reshape(x, (b, h * w, c))
        y = self.ln(seq)
        seq = self.mha(y, y, y) + seq
        seq = self.ff2(keras.activations.gelu(self.ff1(self.ff_ln(seq)))) + seq
        return ops.reshape(seq, (b, h, w, c))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "impl": self.impl}


# the ring of an isotropic 3x3 kernel: edges 4, corners 1 (sum 1 after /20). Its frequency response
# is rotation-invariant up to 4th order in the frequency (the "Mehrstellen" weights): a free 3x3
# kernel is anisotropic already at 2nd order, a D4-symmetric one (edge e, corner k) at 4th order
# unless k = e / 4, which is this ring.
_ISOTROPIC_RING = np.array([[1.0, 4.0, 1.0], [4.0, 0.0, 4.0], [1.0, 4.0, 1.0]], "float32") / 20.0


@keras.saving.register_keras_serializable(package=_PACKAGE)
class IsotropicConv2D(keras.layers.Layer):
    """3x3 convolution whose every (input, output) kernel is isotropic: ``c * delta + r * ring``,
    two weights per channel pair (a free 3x3 has nine), with ``ring`` the fixed ``[[1, 4, 1],
    [4, 0, 4], [1, 4, 1]] / 20``. The kernel is symmetric under the eight symmetries of the square,
    so the layer commutes exactly with 90-degree turns and flips, and its frequency response is
    rotation-invariant up to 4th order in the frequency: rotating the input rotates the output
    up to that residue. Channels-last, ``padding="same"`` (zeros), no bias by default.

    Used by :func:`~keras_aliasfree.unet.build_unet` with ``conv="isotropic"``: the learned 3x3
    convolutions are the one part of the paper's UNet that no alias-free filter makes
    rotation-equivariant.

    Example:
        >>> import numpy as np
        >>> layer = IsotropicConv2D(2)
        >>> x = np.random.default_rng(0).normal(size=(1, 6, 6, 3)).astype("float32")
        >>> y = keras.ops.convert_to_numpy(layer(x))
        >>> turned = keras.ops.convert_to_numpy(layer(np.rot90(x, 1, (1, 2)).copy()))
        >>> bool(np.allclose(turned, np.rot90(y, 1, (1, 2)), atol=1e-5))
        True
        >>> layer.count_params()
        12
    """

    def __init__(self, filters, use_bias=False, kernel_initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        if isinstance(filters, bool) or int(filters) != filters or int(filters) < 1:
            raise ValueError(f"IsotropicConv2D: filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        cin = input_shape[-1]
        if cin is None:
            raise ValueError(f"IsotropicConv2D needs a known channel count, got {input_shape}")
        shape = (int(cin), self.filters)
        self.center = self.add_weight(shape=shape, initializer=self.kernel_initializer,
                                      name="center")
        self.ring = self.add_weight(shape=shape, initializer=self.kernel_initializer, name="ring")
        self.bias = (self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")
                     if self.use_bias else None)

    def kernel(self):
        """The ``(3, 3, in, out)`` kernel the layer applies."""
        delta = np.zeros((3, 3), "float32")
        delta[1, 1] = 1.0
        d = ops.convert_to_tensor(delta[:, :, None, None], dtype=self.compute_dtype)
        r = ops.convert_to_tensor(_ISOTROPIC_RING[:, :, None, None], dtype=self.compute_dtype)
        c = ops.cast(self.center, self.compute_dtype)
        g = ops.cast(self.ring, self.compute_dtype)
        return d * c[None, None] + r * g[None, None]

    def call(self, x):
        y = ops.conv(x, self.kernel(), strides=1, padding="same", data_format="channels_last")
        if self.bias is not None:
            y = y + ops.cast(self.bias, y.dtype)
        return y

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


def _check_size(image_size, levels):
    if isinstance(image_size, (int, np.integer)):
        h = w = int(image_size)
    else:
        try:
            h, w = (int(v) for v in image_size)
        except (TypeError, ValueError):
            raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}")
    if h < 1 or w < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    div = 2 ** levels
    if h % div or w % div:
        raise ValueError(f"image_size {h}x{w} is not divisible by 2**{levels} = {div} (the UNet "
                         f"halves the size {levels} times); use a multiple of {div}, e.g. "
                         f"{max(div, (h // div) * div)}")
    return h, w


class BuildArgsModel(keras.Model):
    """A functional model whose config is its build arguments (``unet_config``), not its layers.

    Subclasses set ``self._unet_config_json`` (JSON text: Keras would wrap a dict attribute in
    its own tracked containers) after building the graph.
    """

    @property
    def unet_config(self) -> dict:
        """The canonical build arguments (a fresh dict; checkpoints store it as ``unet``)."""
        return json.loads(self._unet_config_json)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, **self.unet_config}


__all__ = ["SinusoidalEmbedding", "BilinearUpsample", "SpatialSelfAttention", "IsotropicConv2D",
           "BuildArgsModel"]
