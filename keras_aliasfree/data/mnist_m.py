"""Build MNIST-M the way Ganin & Lempitsky (2015) describe it.

"MNIST-M ... is obtained by blending digits from the original set over patches randomly
extracted from color photos from BSDS500": out(i, j, k) = |patch(i, j, k) - digit(i, j)|
(Ganin & Lempitsky, "Unsupervised Domain Adaptation by Backpropagation", ICML 2015, sec. 5).
Any folder of colour photos can stand in for BSDS500.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from keras_aliasfree.data import _io
from keras_aliasfree.data._image import resize_images, to_nhwc_uint8_range


def _load_backgrounds(backgrounds):
    if isinstance(backgrounds, (str, Path)):
        folder = Path(backgrounds)
        if not folder.is_dir():
            raise FileNotFoundError(f"backgrounds: {folder} is not a folder of images")
        files = _io.list_images(folder)
        if not files:
            raise ValueError(f"backgrounds: no image files under {folder}")
        out = []
        for f in files:
            try:
                a = _io.decode_image(f)
            except Exception:  # noqa: BLE001 - skip unreadable photos, as image folders do
                continue
            out.append(np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a)
        if not out:
            raise ValueError(f"backgrounds: none of the {len(files)} files under {folder} could be read")
        if len(out) < len(files):
            _io.logger.warning("backgrounds: skipped %d unreadable file(s) under %s", len(files) - len(out), folder)
        return out
    if isinstance(backgrounds, np.ndarray) and backgrounds.ndim == 4:
        backgrounds = list(backgrounds)
    out = []
    for i, b in enumerate(backgrounds):
        b = np.asarray(b)
        if b.ndim == 2:
            b = b[..., None]
        if b.ndim != 3 or b.shape[-1] not in (1, 3, 4):
            raise ValueError(f"backgrounds[{i}]: expected an (H, W, 3) colour image, got shape {b.shape}")
        b = to_nhwc_uint8_range(b[None], f"backgrounds[{i}]")[0]
        b = np.round(b).astype(np.uint8) if b.dtype != np.uint8 else b
        b = b[..., :3] if b.shape[-1] == 4 else b
        out.append(np.repeat(b, 3, axis=-1) if b.shape[-1] == 1 else b)
    if not out:
        raise ValueError("backgrounds: need at least one background image")
    return out


def build_mnist_m(mnist_images, backgrounds, seed=None):
    """Blend MNIST digits into random crops of colour photos: ``|patch - digit|`` per channel.

    Args:
        mnist_images: digits, uint8 (N, H, W) or (N, H, W, 1) in [0, 255] (e.g. MNIST 28x28).
        backgrounds: a folder of colour images (searched recursively; the paper used BSDS500)
            or a sequence of (h, w, 3) uint8 arrays. A photo smaller than a digit is first
            enlarged (bilinear) to cover it.
        seed: seed for the choice of photo and crop position (reproducible output).

    Returns:
        uint8 (N, H, W, 3): image i is digit i over its own random patch.

    Example:
        >>> import numpy as np
        >>> digits = np.zeros((2, 28, 28), np.uint8); digits[:, 10:18, 12:16] = 255
        >>> photos = [np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)]
        >>> m = build_mnist_m(digits, photos, seed=0)
        >>> m.shape, m.dtype
        ((2, 28, 28, 3), dtype('uint8'))
    """
    d = np.asarray(mnist_images)
    if d.ndim == 4 and d.shape[-1] == 1:
        d = d[..., 0]
    if d.ndim != 3:
        raise ValueError(f"mnist_images: expected (N, H, W) or (N, H, W, 1) grayscale digits, got shape {d.shape}")
    d = to_nhwc_uint8_range(d, "mnist_images")[..., 0]
    d = np.round(d).astype(np.int16) if d.dtype != np.uint8 else d.astype(np.int16)
    n, h, w = d.shape
    bgs = _load_backgrounds(backgrounds)
    for i, b in enumerate(bgs):
        bh, bw = b.shape[:2]
        if bh < h or bw < w:
            s = max(h / bh, w / bw)
            nh, nw = max(h, int(np.ceil(bh * s))), max(w, int(np.ceil(bw * s)))
            bgs[i] = np.round(resize_images(b[None].astype(np.float32), (nh, nw))[0]).astype(np.uint8)
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(bgs), size=n)
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        b = bgs[which[i]]
        top = rng.integers(0, b.shape[0] - h + 1)
        left = rng.integers(0, b.shape[1] - w + 1)
        patch = b[top : top + h, left : left + w].astype(np.int16)
        out[i] = np.abs(patch - d[i][..., None]).astype(np.uint8)
    return out
