"""UNet configurations A-D (paper naming) and the functional UNet builder.

Config names follow the paper: a letter, then for B-D an optional filter suffix ``-<beta>[N]``:

* ``A``   -- baseline: max-pool down, bilinear up (align-corners, as the reference code), plain GELU;
* ``B-*`` -- A with :class:`~keras_aliasfree.AliasFreeDownsample` / :class:`AliasFreeUpsample`;
* ``C-*`` -- A with :class:`~keras_aliasfree.FilteredActivation` around every GELU of the conv blocks;
* ``D-*`` -- B + C.

The suffix gives the Kaiser ``beta`` and ``N`` = kernel normalised to sum 1 (``D-1N``, ``B-0``,
``C-2N``). A bare ``B``/``C``/``D`` uses the filter preset's own beta, normalised. No config adds
trainable parameters: the filters are fixed, so A, B, C and D at the same widths have identical
parameter counts (the reference code has 5,896,513 at 32x32x1; this builder has the same).

The default architecture is the paper's reference UNet: DoubleConv blocks (3x3 conv without bias,
GroupNorm(1), GELU, 3x3 conv, GroupNorm(1); residual blocks add the input and apply GELU), an input
block, three down stages (resample, residual DoubleConv, DoubleConv, + time embedding), multi-head
self-attention (4 heads) after each stage, a three-block bottleneck, three up stages with skip
concatenation, a 256-wide sinusoidal time embedding projected (SiLU + Dense) into every stage, and
a 1x1 output convolution. Base width = image size (as in the reference).

Only ``channels_last`` is supported by the builder.
"""

from __future__ import annotations

import dataclasses
import json
import re

import keras

from keras_aliasfree.filter_spec import FilterSpec
from keras_aliasfree.layers import AliasFreeDownsample, AliasFreeUpsample, FilteredActivation
from keras_aliasfree.unet_layers import (BilinearUpsample, BuildArgsModel, IsotropicConv2D,
                                         SinusoidalEmbedding, SpatialSelfAttention, _check_size)

_PACKAGE = "keras_aliasfree"
_CONFIG_RE = re.compile(r"^([A-D])(?:-(\d+(?:\.\d+)?)(N?))?$")
CONV_TYPES = ("free", "isotropic")
_VALID_FORMS = ("'A', or 'B'/'C'/'D' optionally followed by '-<beta>' and 'N' for a normalised "
                "kernel, e.g. 'A', 'B-0', 'C-2N', 'D-1N', 'D-0.5N'")


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    """A parsed config name such as ``"D-1N"``.

    Attributes:
        letter: ``"A"``-``"D"``.
        beta: Kaiser window beta from the name, or ``None`` (A, or a bare letter: preset's value).
        normalize: kernel normalised to sum 1 (the ``N`` suffix; True for a bare letter).
        name: the canonical name.

    Example:
        >>> c = parse_config("D-1N")
        >>> c.letter, c.beta, c.normalize, c.alias_free_resampling, c.filtered_activation
        ('D', 1.0, True, True, True)
    """

    letter: str
    beta: float | None = None
    normalize: bool = True
    name: str = ""

    @property
    def alias_free_resampling(self) -> bool:
        return self.letter in ("B", "D")

    @property
    def filtered_activation(self) -> bool:
        return self.letter in ("C", "D")


def parse_config(name) -> UNetConfig:
    """Parse a config name (``"A"``, ``"B-0"``, ``"C-2N"``, ``"D-1N"``) into a :class:`UNetConfig`.

    Raises ``ValueError`` listing the valid forms for anything else (``"E"``, ``"D-x"``,
    ``"B-1Q"``, ``"A-1N"``).

    Example:
        >>> parse_config("B-0")
        UNetConfig(letter='B', beta=0.0, normalize=False, name='B-0')
    """
    if isinstance(name, UNetConfig):
        return name
    if not isinstance(name, str):
        raise ValueError(f"config must be a string such as 'D-1N'; got {name!r}")
    text = name.strip().upper()
    m = _CONFIG_RE.match(text)
    if not m:
        raise ValueError(f"invalid UNet config {name!r}; expected {_VALID_FORMS}")
    letter, beta, norm = m.groups()
    if letter == "A":
        if beta is not None:
            raise ValueError(f"invalid UNet config {name!r}: config 'A' has no filters and takes no "
                             f"suffix; expected {_VALID_FORMS}")
        return UNetConfig("A", None, False, "A")
    if beta is None:
        return UNetConfig(letter, None, True, letter)
    return UNetConfig(letter, float(beta), norm == "N", text)


# ----------------------------------------------------------------------------- builder

def _attention_flags(attention, n):
    if isinstance(attention, bool):
        return (attention,) * (2 * n)
    flags = tuple(bool(a) for a in attention)
    if len(flags) != 2 * n:
        raise ValueError(f"attention must be a bool or {2 * n} flags (after each of the {n} down "
                         f"and {n} up stages), got {attention!r}")
    return flags


def build_unet(config="D-1N", image_size=32, channels=1, base_width=None,
               channel_mults=(1, 2, 4, 4), bottleneck_mult=8, attention=True, num_heads=4,
               time_dim=256, filters=None, conv="free", name=None) -> "UNet":
    """Build the paper's noise-prediction UNet for config ``A``/``B-*``/``C-*``/``D-*``.

    Args:
        config: config name (see :func:`parse_config`) or a :class:`UNetConfig`.
        image_size: int or (height, width); must be divisible by ``2**(len(channel_mults)-1)``.
        channels: image channels (input and predicted noise).
        base_width: width of the first block; default = image height (as the reference code).
        channel_mults: widths of the input block and each down stage, in units of ``base_width``
            (reference: 1, 2, 4, 4 -- three down stages).
        bottleneck_mult: bottleneck width in units of ``base_width`` (reference: 8).
        attention: self-attention after every stage (True), none (False), or ``2*levels`` flags
            (after each down stage, then after each up stage).
        num_heads: attention heads (reference: 4).
        time_dim: sinusoidal time-embedding width (reference: 256).
        filters: a :class:`~keras_aliasfree.FilterSpec` (or its dict) for every alias-free layer:
            preset, kernel size, cutoff, window, rank, impl. Its ``beta`` and ``normalize`` are
            replaced by the config name's (``D-1N``: beta 1, normalised). ``None``: the
            defaults.
        conv: the conv blocks' 3x3 convolutions: ``"free"`` (the paper's ``Conv2D``, nine weights
            per channel pair) or ``"isotropic"`` (:class:`IsotropicConv2D`: two weights per pair,
            a kernel with no preferred direction; any config letter). Every other part of the
            UNet (alias-free filters, GELU, GroupNorm, attention without position encoding, the
            time embedding, 1x1 output) already treats all directions alike, so ``"isotropic"``
            leaves only the grid and the borders to break rotation equivariance.

    Returns:
        A :class:`UNet` (a functional ``keras.Model``) with inputs ``[noisy_images (B,H,W,C),
        timesteps (B,)]`` and output the predicted noise ``(B,H,W,C)`` (float32). Its config is
        these arguments, so it survives ``model.save("x.keras")`` / ``keras.saving.load_model``.

    Example:
        >>> m = build_unet("D-1N", image_size=16, channels=1, base_width=8, attention=False)
        >>> tuple(m.output.shape)
        (None, 16, 16, 1)
    """
    return UNet(config=config, image_size=image_size, channels=channels, base_width=base_width,
                channel_mults=channel_mults, bottleneck_mult=bottleneck_mult, attention=attention,
                num_heads=num_heads, time_dim=time_dim, filters=filters, conv=conv, name=name)


def _unet_graph(config, image_size, channels, base_width, channel_mults, bottleneck_mult,
                attention, num_heads, time_dim, filters, conv):
    """The UNet's functional graph: ``(inputs, output, unet_config)``."""
    cfg = parse_config(config)
    if conv not in CONV_TYPES:
        raise ValueError(f"conv must be one of {CONV_TYPES}, got {conv!r}")
    levels = len(channel_mults) - 1
    if levels < 1:
        raise ValueError(f"channel_mults needs at least 2 entries, got {channel_mults!r}")
    h, w = _check_size(image_size, levels)
    channels = int(channels)
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    base = int(h if base_width is None else base_width)
    widths = [int(base * m) for m in channel_mults]
    bott = int(base * bottleneck_mult)
    att = _attention_flags(attention, levels)
    spec = FilterSpec.from_config(filters)
    filt = spec.replace(beta=cfg.beta, normalize=cfg.normalize).get_config()
    counter = {"n": 0}

    def uid(prefix):
        counter["n"] += 1
        return f"{prefix}_{counter['n']}"

    def act(x):
        if cfg.filtered_activation:
            return FilteredActivation("gelu", **filt, name=uid("filtered_gelu"))(x)
        return keras.layers.Activation("gelu", name=uid("gelu"))(x)

    def conv3(x, width):
        if conv == "isotropic":
            return IsotropicConv2D(width, name=uid("iso_conv"))(x)
        return keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=uid("conv"))(x)

    def double_conv(x, out, mid=None, residual=False):
        mid = out if mid is None else mid
        y = conv3(x, mid)
        y = keras.layers.GroupNormalization(1, epsilon=1e-5, name=uid("gn"))(y)
        y = act(y)
        y = conv3(y, out)
        y = keras.layers.GroupNormalization(1, epsilon=1e-5, name=uid("gn"))(y)
        if residual:
            y = act(keras.layers.Add(name=uid("res"))([x, y]))
        return y

    def add_time(x, t_act, width):
        e = keras.layers.Dense(width, name=uid("time_proj"))(t_act)
        e = keras.layers.Reshape((1, 1, width), name=uid("time_reshape"))(e)
        return keras.layers.Add(name=uid("add_time"))([x, e])

    def down(x):
        if cfg.alias_free_resampling:
            return AliasFreeDownsample(2, **filt, name=uid("af_down"))(x)
        return keras.layers.MaxPooling2D(2, name=uid("maxpool"))(x)

    def up(x):
        if cfg.alias_free_resampling:
            return AliasFreeUpsample(2, **filt, name=uid("af_up"))(x)
        return BilinearUpsample(2, name=uid("bilinear_up"))(x)

    def attend(x, flag):
        if not flag:
            return x
        return SpatialSelfAttention(num_heads, name=uid("attention"))(x)

    x_in = keras.Input((h, w, channels), name="noisy_images")
    t_in = keras.Input((), name="timesteps")
    t_emb = SinusoidalEmbedding(time_dim, name="time_embedding")(t_in)
    t_act = keras.layers.Activation("silu", name="time_silu")(t_emb)

    x = double_conv(x_in, widths[0])
    skips = [x]
    for i in range(1, levels + 1):
        x = down(x)
        x = double_conv(x, widths[i - 1], residual=True)
        x = double_conv(x, widths[i])
        x = add_time(x, t_act, widths[i])
        x = attend(x, att[i - 1])
        if i < levels:
            skips.append(x)
    x = double_conv(x, bott)
    x = double_conv(x, bott)
    x = double_conv(x, widths[levels])
    for k in range(1, levels + 1):
        skip = skips[levels - k]
        x = up(x)
        x = keras.layers.Concatenate(axis=-1, name=uid("concat"))([skip, x])
        cin = int(x.shape[-1])
        out = widths[max(levels - k - 1, 0)]
        x = double_conv(x, cin, residual=True)
        x = double_conv(x, out, mid=cin // 2)
        x = add_time(x, t_act, out)
        x = attend(x, att[levels + k - 1])
    out = keras.layers.Conv2D(channels, 1, name="output_conv", dtype="float32")(x)
    unet_config = dict(
        config=cfg.name, image_size=[h, w], channels=channels, base_width=base,
        channel_mults=list(channel_mults), bottleneck_mult=bottleneck_mult,
        attention=list(att), num_heads=num_heads, time_dim=time_dim,
        filters=spec.get_config(), conv=conv)
    return [x_in, t_in], out, unet_config




@keras.saving.register_keras_serializable(package=_PACKAGE)
class UNet(BuildArgsModel):
    """The paper's noise-prediction UNet as a functional ``keras.Model``; see :func:`build_unet`.

    The constructor takes :func:`build_unet`'s arguments and ``get_config`` returns them (as the
    canonical :attr:`unet_config`), so ``.keras`` files store the recipe and rebuild the graph on
    load rather than serialising every layer.

    Example:
        >>> m = UNet("A", image_size=8, base_width=4, channel_mults=(1, 2), bottleneck_mult=2,
        ...          attention=False, time_dim=8)
        >>> m.unet_config["config"], m.count_params() == UNet(**m.unet_config).count_params()
        ('A', True)
    """

    def __init__(self, config="D-1N", image_size=32, channels=1, base_width=None,
                 channel_mults=(1, 2, 4, 4), bottleneck_mult=8, attention=True, num_heads=4,
                 time_dim=256, filters=None, conv="free", name=None, **kwargs):
        inputs, output, unet_config = _unet_graph(
            config, image_size, channels, base_width, tuple(channel_mults), bottleneck_mult,
            attention if isinstance(attention, bool) else tuple(attention), num_heads, time_dim,
            filters, conv)
        name = name or f"unet_{unet_config['config'].replace('-', '_')}"
        super().__init__(inputs, output, name=name, **kwargs)
        self._unet_config_json = json.dumps(unet_config)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**migrate_unet_config(config))


def unet_from_config(unet_config: dict) -> keras.Model:
    """Rebuild a UNet from the ``unet_config`` dict a built model carries (and checkpoints store).

    Example:
        >>> m = build_unet("A", image_size=16, base_width=8, attention=False)
        >>> unet_from_config(m.unet_config).count_params() == m.count_params()
        True
    """
    if unet_config.get("architecture") == "equivariant":
        from keras_aliasfree.equivariant_unet import EquivariantUNet

        return EquivariantUNet(**unet_config)
    kw = migrate_unet_config(unet_config)
    kw["image_size"] = tuple(kw["image_size"])
    return UNet(**kw)


#: The filter options a UNet config held as separate keys before they became one ``filters``
#: entry, and their :class:`FilterSpec` names.
_LEGACY_FILTER_KEYS = {"kernel_size": "kernel_size", "cutoff": "cutoff",
                       "filter_preset": "preset", "window": "window", "filter_rank": "rank"}


def migrate_unet_config(unet_config: dict) -> dict:
    """A UNet config in the current form: legacy separate filter keys become ``filters``.

    The one place older UNet configs (in checkpoints, exports and ``.keras`` files) are read.

    Example:
        >>> migrate_unet_config({"config": "D-1N", "filter_preset": "paper"})["filters"]["preset"]
        'paper'
    """
    kw = dict(unet_config)
    if kw.get("architecture") == "equivariant":  # newer than the separate filter keys
        return kw
    legacy = {new: kw.pop(old) for old, new in _LEGACY_FILTER_KEYS.items() if old in kw}
    if legacy:
        if "filters" in kw:
            raise ValueError(f"UNet config has both 'filters' and the older keys {sorted(legacy)}")
        kw["filters"] = FilterSpec.from_config(legacy).get_config()
    return kw


__all__ = ["CONV_TYPES", "IsotropicConv2D", "UNetConfig", "UNet", "parse_config", "build_unet",
           "migrate_unet_config", "unet_from_config", "SinusoidalEmbedding", "BilinearUpsample",
           "SpatialSelfAttention"]
