"""``FilterSpec``: the one object that carries a low-pass filter's options through the library.

The layers take these options as constructor arguments; :func:`~keras_aliasfree.build_unet`, the
UNet's config and the ``train`` command carry them as one ``FilterSpec`` (or its dict, the
``filters`` entry of a UNet config), so adding an option touches this class and the layers only.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from keras_aliasfree import filters as _filters

#: How a resampling is computed (see :mod:`keras_aliasfree.ops`): the precomputed matrix plans
#: and ``"ref"``, the textbook algorithm they are all tested against.
IMPLS = ("auto", "axes", "banded", "dense", "kron", "ref")


@dataclasses.dataclass(frozen=True)
class FilterSpec:
    """The options of an alias-free layer's low-pass filter, and how it is computed.

    Args:
        kernel_size: int or ``None``. Taps per side; ``None`` takes the preset's (``4 * factor``
            for ``"default"``, 3 for ``"paper"``).
        cutoff: float or ``None``. Radians per sample on the grid where the filter runs (the
            upsampled grid); ``None`` is ``pi / factor``.
        beta: float or ``None``. Kaiser window parameter; ``None`` takes the preset's (4 for
            ``"default"``, 0 for ``"paper"``).
        normalize: bool, default ``True``. Scale the kernel to sum 1 (the ``N`` of a UNet config
            name such as ``D-1N``).
        preset: ``"default"`` (a circular jinc with a radial Kaiser window, long enough to be a
            real low-pass) or ``"paper"`` (the paper's 3x3 jinc, separable window).
        window: ``"radial"``, ``"separable"`` or ``None`` (the preset's).
        rank: int or ``None``. Separable terms of the kernel kept; ``None`` takes the preset's
            rule (:func:`keras_aliasfree.filters.design_filter`).
        impl: how the resampling is computed, one of :data:`IMPLS`; ``"auto"`` picks the fastest
            plan for the image size, ``"ref"`` is the slow textbook algorithm.

    Example:
        >>> spec = FilterSpec(beta=1.0)
        >>> spec.kernel(2).shape, FilterSpec.from_config(spec.get_config()) == spec
        ((8, 8), True)
        >>> FilterSpec(preset="fancy")
        Traceback (most recent call last):
        ...
        ValueError: preset must be one of ('default', 'paper'), got 'fancy'
    """

    kernel_size: int | None = None
    cutoff: float | None = None
    beta: float | None = None
    normalize: bool = True
    preset: str = "default"
    window: str | None = None
    rank: int | None = None
    impl: str = "auto"

    def __post_init__(self):
        if self.preset not in _filters.PRESETS:
            raise ValueError(f"preset must be one of {_filters.PRESETS}, got {self.preset!r}")
        if self.window is not None and self.window not in _filters.WINDOWS:
            raise ValueError(f"window must be one of {_filters.WINDOWS} or None, "
                             f"got {self.window!r}")
        if self.impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {self.impl!r}")
        for name in ("kernel_size", "rank"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) != value
                                      or int(value) < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
            if value is not None:
                object.__setattr__(self, name, int(value))
        for name in ("cutoff", "beta"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "normalize", bool(self.normalize))

    def kernel(self, factor: int) -> np.ndarray:
        """The 2-D kernel for resampling by ``factor`` (numpy float64).

        Example:
            >>> FilterSpec(preset="paper", beta=2.0).kernel(2).shape
            (3, 3)
        """
        return _filters.design_filter(factor, kernel_size=self.kernel_size, cutoff=self.cutoff,
                                      beta=self.beta, normalize=self.normalize,
                                      preset=self.preset, window=self.window, rank=self.rank)

    def replace(self, **changes) -> "FilterSpec":
        """A copy with ``changes`` applied (validated).

        Example:
            >>> FilterSpec().replace(impl="ref").impl
            'ref'
        """
        return dataclasses.replace(self, **changes)

    def get_config(self) -> dict:
        """The constructor arguments, JSON-ready (what a UNet config stores as ``filters``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config) -> "FilterSpec":
        """A ``FilterSpec`` from ``None`` (the defaults), a dict of arguments, or a ``FilterSpec``.

        Unknown keys raise a ``ValueError`` naming them.

        Example:
            >>> FilterSpec.from_config({"kernel_size": 12}).kernel_size
            12
        """
        if config is None:
            return cls()
        if isinstance(config, cls):
            return config
        if not isinstance(config, dict):
            raise TypeError(f"filters must be a FilterSpec, a dict or None, got {config!r}")
        unknown = sorted(set(config) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown filter options {unknown}; expected some of "
                             f"{[f.name for f in dataclasses.fields(cls)]}")
        return cls(**config)


__all__ = ["FilterSpec", "IMPLS"]
