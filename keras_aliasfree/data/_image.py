"""Numpy image helpers shared by every source: channel conversion, resizing, scaling to [-1, 1].

No TensorFlow here, so the numpy / ``PyDataset`` path works on every Keras backend.

Resizing ("bilinear", the default) is antialiased bilinear interpolation with half-pixel
centres, written as two small matrices applied along H and W. When enlarging (MNIST 28 -> 32)
this is plain bilinear interpolation, the same as ``torchvision.transforms.Resize(32)`` on a
tensor (what the paper's reference code does to its MNIST CSV) and as
``tf.image.resize(..., "bilinear")``; when shrinking, the triangle kernel is widened by the
scale factor (``antialias=True`` in TensorFlow and PyTorch), so no aliasing is introduced.
The weights are non-negative and sum to one, so values stay inside the input range.
"pad" centre-pads with zeros (black, i.e. -1 after scaling) or centre-crops instead: the
LeNet convention for 28 -> 32 that keeps every MNIST pixel unchanged.
"""

from __future__ import annotations

import functools

import numpy as np

RESIZE_METHODS = ("bilinear", "pad")

# ITU-R BT.601 luma weights: the ones tf.image.rgb_to_grayscale and PIL's "L" mode use.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@functools.lru_cache(maxsize=64)
def resize_matrix(in_size: int, out_size: int) -> np.ndarray:
    """Matrix ``R`` (out_size, in_size) with ``R @ signal`` = antialiased bilinear resize.

    Pixel ``i`` sits at ``i + 0.5``; output pixel ``o`` samples the input at
    ``(o + 0.5) * in_size / out_size``. The triangle kernel has half-width
    ``max(1, in_size / out_size)`` and each row is normalised to sum 1, which also handles
    the borders (equivalent to edge clamping when enlarging).

    Example:
        >>> R = resize_matrix(28, 32)
        >>> R.shape, bool(np.allclose(R.sum(axis=1), 1.0))
        ((32, 28), True)
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"resize sizes must be >= 1, got {in_size} -> {out_size}")
    scale = in_size / out_size
    width = max(1.0, scale)
    centres = (np.arange(out_size, dtype=np.float64) + 0.5) * scale
    pos = np.arange(in_size, dtype=np.float64) + 0.5
    w = np.maximum(0.0, 1.0 - np.abs(pos[None, :] - centres[:, None]) / width)
    w /= w.sum(axis=1, keepdims=True)
    return w.astype(np.float32)


def _check_method(method: str) -> None:
    if method not in RESIZE_METHODS:
        raise ValueError(f"resize must be one of {RESIZE_METHODS}, got {method!r}")


def pad_offsets(in_size: int, out_size: int) -> tuple[int, int]:
    """(pad_before, crop_before) for centring ``in_size`` in ``out_size`` (TF's convention)."""
    if out_size >= in_size:
        return (out_size - in_size) // 2, 0
    return 0, (in_size - out_size) // 2


def resize_images(x: np.ndarray, size: tuple[int, int], method: str = "bilinear") -> np.ndarray:
    """Resize float images (N, H, W, C) to ``size`` = (h, w).

    Example:
        >>> resize_images(np.ones((2, 28, 28, 1), np.float32), (32, 32)).shape
        (2, 32, 32, 1)
    """
    _check_method(method)
    x = np.asarray(x, dtype=np.float32)
    n, h, w, c = x.shape
    oh, ow = size
    if (h, w) == (oh, ow):
        return x
    if method == "pad":
        out = np.zeros((n, oh, ow, c), np.float32)
        ph, ch = pad_offsets(h, oh)
        pw, cw = pad_offsets(w, ow)
        hh, ww = min(h, oh), min(w, ow)
        out[:, ph : ph + hh, pw : pw + ww] = x[:, ch : ch + hh, cw : cw + ww]
        return out
    rh, rw = resize_matrix(h, oh), resize_matrix(w, ow)
    # batched matrix products on (N, C, H, W): Rh @ x @ Rw^T
    y = rh @ np.moveaxis(x, -1, 1) @ rw.T
    return np.ascontiguousarray(np.moveaxis(y, 1, -1), dtype=np.float32)


def convert_channels(x: np.ndarray, channels: int | None) -> np.ndarray:
    """Convert (N, H, W, C) float images to ``channels`` (1 or 3; None keeps C, dropping alpha).

    RGB -> gray uses the BT.601 luma weights; gray -> RGB repeats the channel; an alpha channel
    (C = 2 or 4) is dropped.

    Example:
        >>> convert_channels(np.zeros((1, 4, 4, 1), np.float32), 3).shape
        (1, 4, 4, 3)
    """
    c = x.shape[-1]
    if c == 2:  # gray + alpha
        x, c = x[..., :1], 1
    elif c == 4:  # RGBA
        x, c = x[..., :3], 3
    if c not in (1, 3):
        raise ValueError(f"images must have 1, 2, 3 or 4 channels (last axis), got shape {x.shape}")
    if channels is None or channels == c:
        return x
    if channels == 3:
        return np.repeat(x, 3, axis=-1)
    if channels == 1:
        return np.tensordot(x.astype(np.float32), LUMA_WEIGHTS, axes=([-1], [0]))[..., None]
    raise ValueError(f"channels must be 1, 3 or None, got {channels!r}")


def check_channels(channels) -> None:
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 (grayscale), 3 (RGB) or None (the source's own), got {channels!r}")


def process(
    x: np.ndarray,
    image_size: int | tuple[int, int],
    channels: int | None,
    method: str = "bilinear",
    chunk: int = 4096,
) -> np.ndarray:
    """Raw pixels in [0, 255] (N, H, W, C) -> float32 in [-1, 1] at ``image_size``, ``channels``.

    Works in chunks so a 60,000-image uint8 array never needs a float copy at the source size.

    Example:
        >>> x = np.full((3, 28, 28, 1), 255, np.uint8)
        >>> y = process(x, 32, 3)
        >>> y.shape, float(y.min()), float(y.max())
        ((3, 32, 32, 3), 1.0, 1.0)
    """
    _check_method(method)
    check_channels(channels)
    size = _size_pair(image_size)
    n = x.shape[0]
    c_out = channels or (1 if x.shape[-1] in (1, 2) else 3)
    out = np.empty((n, size[0], size[1], c_out), np.float32)
    for s in range(0, n, chunk):
        part = convert_channels(np.asarray(x[s : s + chunk], np.float32), channels)
        part = resize_images(part, size, method)
        np.divide(part, 127.5, out=out[s : s + chunk])
    out -= 1.0
    return out


def _size_pair(image_size) -> tuple[int, int]:
    if isinstance(image_size, (tuple, list)):
        if len(image_size) != 2:
            raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}")
        h, w = int(image_size[0]), int(image_size[1])
    else:
        h = w = int(image_size)
    if h < 1 or w < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    return h, w


def to_nhwc_uint8_range(x: np.ndarray, what: str) -> np.ndarray:
    """Normalise an image array to NHWC with values in [0, 255] (uint8 kept as is).

    Accepts (N, H, W), (N, H, W, C) with C in 1..4, or channels-first (N, C, H, W) with C in
    {1, 3} when the last axis is not a channel axis. Integer arrays must lie in [0, 255]; float
    arrays are read by range: within [0, 1] -> scaled by 255; within [-1, 1] with negatives ->
    mapped from [-1, 1]; within [0, 255] -> taken as is; anything else is an error.
    """
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"{what}: expected images shaped (N, H, W) or (N, H, W, C), got shape {x.shape}")
    if x.shape[-1] not in (1, 2, 3, 4) and x.shape[1] in (1, 3):
        x = np.transpose(x, (0, 2, 3, 1))
    if x.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"{what}: expected 1-4 channels on the last axis, got shape {x.shape}")
    if x.dtype == np.uint8:
        return x
    if x.size == 0:
        return x.astype(np.uint8)
    lo, hi = float(x.min()), float(x.max())
    if np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
        if lo < 0 or hi > 255:
            raise ValueError(f"{what}: integer pixels must lie in [0, 255], got [{lo}, {hi}]")
        return x.astype(np.uint8)
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise ValueError(f"{what}: pixel values must be finite")
    if lo >= 0 and hi <= 1:
        return x.astype(np.float32) * 255.0
    if lo >= -1 and hi <= 1:
        return (x.astype(np.float32) + 1.0) * 127.5
    if lo >= 0 and hi <= 255:
        return x.astype(np.float32)
    raise ValueError(
        f"{what}: float pixels must lie in [0, 1], [-1, 1] or [0, 255], got [{lo:.4g}, {hi:.4g}]"
    )
