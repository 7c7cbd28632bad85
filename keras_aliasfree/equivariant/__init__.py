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

import keras  # noqa: F401  (the example uses keras.ops)

from keras_aliasfree.equivariant.basis import steerable_basis, turn_fields, up_encoding
from keras_aliasfree.equivariant.convs import GroupConv2D, LiftingConv2D
from keras_aliasfree.equivariant.fields import (POOL_MODES, FieldBroadcast, FieldGroupNorm,
                                                OrientationPool, UpEncoding)

__all__ = ["LiftingConv2D", "GroupConv2D", "OrientationPool", "FieldBroadcast", "UpEncoding",
           "FieldGroupNorm", "steerable_basis", "up_encoding", "turn_fields", "POOL_MODES"]
