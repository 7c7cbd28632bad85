"""An orientation-equivariant alias-free UNet over C_N that can be told where "up" is.

The paper's UNet (:mod:`keras_aliasfree.unet`) with its parts replaced by ones that commute with
turns (:mod:`keras_aliasfree.equivariant`): the image is lifted to regular fields over C_N
(:class:`LiftingConv2D`), conv blocks are group convolutions (:class:`GroupConv2D`) with
:class:`FieldGroupNorm` and a pointwise GELU, the levels are joined by the radial-jinc
:class:`AliasFreeDownsample` / :class:`AliasFreeUpsample` (per channel, so per orientation), skips
concatenate whole fields, the time embedding is added the same to every orientation of a field
(:class:`FieldBroadcast`), and :class:`OrientationPool` and a 1x1 convolution project the fields
back to an image. No self-attention (its projections would mix orientations freely).

"Up" is an input: the angle in degrees, encoded as a regular field (:class:`UpEncoding`) and added
to the lifted image through a pointwise group convolution. The network is equivariant to turning
``(noisy_images, up_degrees)`` together; with ``use_up=False`` it has no third input and is
equivariant in ``noisy_images`` alone (and so samples a rotation-invariant distribution).

Quarter turns are exact (float round-off) when ``group_order`` is a multiple of 4, the kernels odd
and the resampling filters the ``"default"`` preset (an even-sized radial kernel whose coarse grid
is centred on the fine one; the ``"paper"`` preset's 3x3 kernel puts coarse sample ``i`` on fine
sample ``2 i``, a grid that a turn about the image centre does not map onto itself). Channels-last.
"""

from __future__ import annotations

import json
import re

import keras

from keras_aliasfree.equivariant import (FieldBroadcast, FieldGroupNorm, GroupConv2D,
                                         LiftingConv2D, OrientationPool, UpEncoding)
from keras_aliasfree.filter_spec import FilterSpec
from keras_aliasfree.layers import AliasFreeDownsample, AliasFreeUpsample, FilteredActivation
from keras_aliasfree.unet_layers import BuildArgsModel, SinusoidalEmbedding, _check_size

_PACKAGE = "keras_aliasfree"
ACTIVATIONS = ("gelu", "filtered_gelu")
_NAME_RE = re.compile(r"^E(\d+)?$")


def equivariant_group_order(name):
    """The group order ``N`` a config name gives (``"E"`` = C_4, ``"E8"`` = C_8), or ``None``
    for a name that is not an equivariant config (``"A"``, ``"D-1N"``).

    Example:
        >>> [equivariant_group_order(name) for name in ("E", "e8", "A")]
        [4, 8, None]
    """
    m = _NAME_RE.match(str(name).strip().upper()) if name is not None else None
    if not m:
        return None
    n = int(m.group(1) or 4)
    if n < 1:
        raise ValueError(f"config {name!r}: the group order must be >= 1")
    return n


def build_equivariant_unet(image_size=32, channels=1, base_width=None, group_order=4,
                           kernel_size=5, max_frequency=2, channel_mults=(1, 2, 4, 4),
                           bottleneck_mult=8, time_dim=256, use_up=True, activation="gelu",
                           pool="mean", filters=None, kernel_taper=None,
                           name=None) -> "EquivariantUNet":
    """Build the orientation-equivariant UNet (see the module docstring).

    Args:
        image_size: int or (height, width); divisible by ``2**(len(channel_mults)-1)``.
        channels: int, default 1. Image channels (input and output).
        base_width: int or ``None``. Fields of the first block (each ``group_order`` channels);
            ``None``: ``image height // group_order``, so the first block has as many channels
            as :func:`~keras_aliasfree.build_unet`'s default.
        group_order: int ``N``, default 4. Orientations per field (C_N).
        kernel_size: odd int, default 5. Spatial size of the group-conv kernels; on maps not
            wider than it (the 4x4 bottleneck of a 32x32 UNet) the largest odd size below the
            map's side (3 at 4x4).
        max_frequency: int, default 2. Highest circular harmonic of the kernel basis.
        channel_mults: widths of the input block and each down stage, in units of ``base_width``.
        bottleneck_mult: bottleneck width in units of ``base_width``, default 8.
        time_dim: int, default 256. Sinusoidal time-embedding width.
        use_up: bool, default ``True``. Take the "up" angle as a third input.
        activation: ``"gelu"`` (pointwise, exactly equivariant on regular fields) or
            ``"filtered_gelu"`` (:class:`~keras_aliasfree.FilteredActivation` with ``filters``).
        pool: ``"mean"`` or ``"max"``: how :class:`OrientationPool` reduces the last fields.
        filters: a :class:`~keras_aliasfree.FilterSpec` (or its dict) for the resampling and
            filtered activations; ``None``: the defaults.
        kernel_taper: float or ``None`` (default). With a margin ``m`` in pixels, every
            steerable kernel wider than 1x1 gets the raised-cosine window of radius
            ``(size - 1) / 2 + m`` (:func:`~keras_aliasfree.equivariant.steerable_basis`'s
            ``taper``), which brings its turns between group elements closer to the turned
            kernel; 1.5 is the setting docs/benchmarks/steerable_basis_taper.md measures.
            ``None``: the square support.
        name: model name.

    Returns:
        An :class:`EquivariantUNet` with inputs ``[noisy_images (B,H,W,C), timesteps (B,),
        up_degrees (B,)]`` (no ``up_degrees`` when ``use_up=False``) and output ``(B,H,W,C)``
        (float32).

    Example:
        >>> m = build_equivariant_unet(16, base_width=2, channel_mults=(1, 2), bottleneck_mult=2,
        ...                            time_dim=8)
        >>> [tuple(t.shape) for t in m.inputs], tuple(m.output.shape)
        ([(None, 16, 16, 1), (None,), (None,)], (None, 16, 16, 1))
    """
    return EquivariantUNet(image_size=image_size, channels=channels, base_width=base_width,
                           group_order=group_order, kernel_size=kernel_size,
                           max_frequency=max_frequency, channel_mults=channel_mults,
                           bottleneck_mult=bottleneck_mult, time_dim=time_dim, use_up=use_up,
                           activation=activation, pool=pool, filters=filters,
                           kernel_taper=kernel_taper, name=name)


def _graph(image_size, channels, base_width, group_order, kernel_size, max_frequency,
           channel_mults, bottleneck_mult, time_dim, use_up, activation, pool, filters,
           kernel_taper):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if kernel_taper is not None:
        if isinstance(kernel_taper, bool) or not float(kernel_taper) > 0:
            raise ValueError(f"kernel_taper must be None or a margin > 0 pixels, "
                             f"got {kernel_taper!r}")
        kernel_taper = float(kernel_taper)
    levels = len(channel_mults) - 1
    if levels < 1:
        raise ValueError(f"channel_mults needs at least 2 entries, got {channel_mults!r}")
    h, w = _check_size(image_size, levels)
    channels = int(channels)
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    n = int(group_order)
    base = int(h // n if base_width is None else base_width)
    if base < 1:
        raise ValueError(f"base_width must be >= 1 field, got {base_width!r}")
    widths = [int(base * m) for m in channel_mults]
    bott = int(base * bottleneck_mult)
    spec = FilterSpec.from_config(filters)
    filt = spec.get_config()
    counter = {"n": 0}

    def uid(prefix):
        counter["n"] += 1
        return f"{prefix}_{counter['n']}"

    def taper(size):
        return None if kernel_taper is None or size < 2 else (size - 1) / 2.0 + kernel_taper

    def gconv(x, fields):
        # a kernel no wider than the map: on a 4x4 map a 5x5 kernel's outer ring sees little but
        # padding, and XLA's CPU convolution for that shape is two orders of magnitude slower
        side = min(int(x.shape[1]), int(x.shape[2]))
        size = min(int(kernel_size), side - 1 if side % 2 == 0 else side)
        size = max(size, 1)
        return GroupConv2D(fields, n, kernel_size=size, max_frequency=max_frequency,
                           use_bias=False, taper=taper(size), name=uid("gconv"))(x)

    def act(x):
        if activation == "filtered_gelu":
            return FilteredActivation("gelu", **filt, name=uid("filtered_gelu"))(x)
        return keras.layers.Activation("gelu", name=uid("gelu"))(x)

    def norm(x):
        return FieldGroupNorm(n, groups=1, name=uid("field_gn"))(x)

    def double_conv(x, out, mid=None, residual=False):
        y = act(norm(gconv(x, out if mid is None else mid)))
        y = norm(gconv(y, out))
        if residual:
            y = act(keras.layers.Add(name=uid("res"))([x, y]))
        return y

    def add_time(x, t_act, fields):
        e = keras.layers.Dense(fields, name=uid("time_proj"))(t_act)
        e = FieldBroadcast(n, name=uid("time_fields"))(e)
        e = keras.layers.Reshape((1, 1, fields * n), name=uid("time_reshape"))(e)
        return keras.layers.Add(name=uid("add_time"))([x, e])

    x_in = keras.Input((h, w, channels), name="noisy_images")
    t_in = keras.Input((), name="timesteps")
    inputs = [x_in, t_in]
    t_emb = SinusoidalEmbedding(time_dim, name="time_embedding")(t_in)
    t_act = keras.layers.Activation("silu", name="time_silu")(t_emb)

    x = LiftingConv2D(widths[0], n, kernel_size=kernel_size, max_frequency=max_frequency,
                      use_bias=False, taper=taper(int(kernel_size)), name="lift")(x_in)
    if use_up:
        up_in = keras.Input((), name="up_degrees")
        inputs.append(up_in)
        u = UpEncoding(n, name="up_encoding")(up_in)
        u = keras.layers.Reshape((1, 1, n), name="up_reshape")(u)
        u = GroupConv2D(widths[0], n, kernel_size=1, use_bias=False, name="up_fields")(u)
        x = keras.layers.Add(name="add_up")([x, u])
    x = act(norm(x))
    x = double_conv(x, widths[0])
    skips = [x]
    for i in range(1, levels + 1):
        x = AliasFreeDownsample(2, **filt, name=uid("af_down"))(x)
        x = double_conv(x, widths[i - 1], residual=True)
        x = double_conv(x, widths[i])
        x = add_time(x, t_act, widths[i])
        if i < levels:
            skips.append(x)
    x = double_conv(x, bott)
    x = double_conv(x, bott)
    x = double_conv(x, widths[levels])
    for k in range(1, levels + 1):
        x = AliasFreeUpsample(2, **filt, name=uid("af_up"))(x)
        # whole fields side by side: the layout (field-major, orientation-fastest) is kept
        x = keras.layers.Concatenate(axis=-1, name=uid("concat"))([skips[levels - k], x])
        fin = int(x.shape[-1]) // n
        out = widths[max(levels - k - 1, 0)]
        x = double_conv(x, fin, residual=True)
        x = double_conv(x, out, mid=max(fin // 2, 1))
        x = add_time(x, t_act, out)
    x = OrientationPool(n, pool, name="orientation_pool")(x)
    out = keras.layers.Conv2D(channels, 1, name="output_conv", dtype="float32")(x)
    config = dict(architecture="equivariant", config=f"E{n}", image_size=[h, w],
                  channels=channels, base_width=base, group_order=n,
                  kernel_size=int(kernel_size), max_frequency=int(max_frequency),
                  channel_mults=list(channel_mults), bottleneck_mult=bottleneck_mult,
                  time_dim=time_dim, use_up=bool(use_up), activation=activation, pool=pool,
                  filters=spec.get_config())
    if kernel_taper is not None:  # absent from the configs of untapered models, as before
        config["kernel_taper"] = kernel_taper
    return inputs, out, config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class EquivariantUNet(BuildArgsModel):
    """The orientation-equivariant UNet as a functional ``keras.Model``; see
    :func:`build_equivariant_unet`, whose arguments are its constructor's and its config.

    Example:
        >>> m = EquivariantUNet(8, base_width=1, channel_mults=(1, 2), bottleneck_mult=1,
        ...                     time_dim=8, use_up=False)
        >>> len(m.inputs), EquivariantUNet(**m.unet_config).count_params() == m.count_params()
        (2, True)
    """

    def __init__(self, image_size=32, channels=1, base_width=None, group_order=4, kernel_size=5,
                 max_frequency=2, channel_mults=(1, 2, 4, 4), bottleneck_mult=8, time_dim=256,
                 use_up=True, activation="gelu", pool="mean", filters=None, kernel_taper=None,
                 name=None, architecture="equivariant", config=None, **kwargs):
        if architecture != "equivariant":
            raise ValueError(f"an EquivariantUNet config has architecture 'equivariant', got "
                             f"{architecture!r}")
        if config is not None and equivariant_group_order(config) != int(group_order):
            raise ValueError(f"config name {config!r} does not match group_order={group_order}")
        inputs, output, config = _graph(
            image_size, channels, base_width, group_order, kernel_size, max_frequency,
            tuple(channel_mults), bottleneck_mult, time_dim, use_up, activation, pool, filters,
            kernel_taper)
        super().__init__(inputs, output, name=name or f"equivariant_unet_c{config['group_order']}",
                         **kwargs)
        self._unet_config_json = json.dumps(config)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


__all__ = ["ACTIVATIONS", "EquivariantUNet", "build_equivariant_unet", "equivariant_group_order"]
