"""Image grids: turn sample batches into uint8 tiles and PNG files (numpy + Pillow).

Example:
    >>> import numpy as np
    >>> make_grid(np.zeros((4, 8, 8, 1))).shape   # 2x2 tiles of 8 pixels, padding 2
    (22, 22, 1)
"""

from __future__ import annotations

import math
import os

import numpy as np


def to_uint8(images):
    """[-1, 1] float images -> uint8 (rounded, clipped).

    Example:
        >>> to_uint8(np.array([-1.0, 0.0, 1.0])).tolist()
        [0, 128, 255]
    """
    return np.clip(np.round((np.asarray(images, "float32") + 1.0) * 127.5), 0, 255).astype("uint8")


def tile(images, nrow=None, pad=2, scale=1):
    """Tile uint8 images ``(N, H, W, C)`` into one ``(H', W', C)`` uint8 grid (white padding).

    ``scale`` repeats every pixel ``scale`` times along both axes (nearest-neighbour zoom).

    Example:
        >>> tile(np.zeros((3, 8, 8, 1), "uint8"), nrow=3).shape
        (12, 32, 1)
    """
    x = np.asarray(images)
    if x.ndim != 4 or x.dtype != np.uint8:
        raise ValueError(f"tile expects uint8 images (N, H, W, C), got {x.dtype} {x.shape}")
    if scale > 1:
        x = x.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w, c = x.shape
    nrow = int(nrow or math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / nrow))
    grid = np.full((rows * h + (rows + 1) * pad, nrow * w + (nrow + 1) * pad, c), 255, np.uint8)
    for k in range(n):
        r, q = divmod(k, nrow)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h,
             pad + q * (w + pad):pad + q * (w + pad) + w] = x[k]
    return grid


def make_grid(images, nrow=None, pad=2):
    """Tile ``(N, H, W, C)`` images in [-1, 1] into one uint8 ``(H', W', C)`` grid (C = 1 or 3)."""
    return tile(to_uint8(images), nrow=nrow, pad=pad)


def to_pil(grid):
    """A uint8 ``(H, W, 1|3)`` array as a Pillow image (greyscale or RGB)."""
    from PIL import Image

    grid = np.asarray(grid)
    return Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)


def save_grid(images, path, nrow=None):
    """Save images in [-1, 1] as a PNG grid; returns ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    to_pil(make_grid(images, nrow)).save(path)
    return path


__all__ = ["to_uint8", "tile", "make_grid", "to_pil", "save_grid"]
