"""A small CNN classifier used as an offline feature extractor (penultimate layer = features).

No ImageNet InceptionV3 weights can be obtained offline, so FD/KID/IS can also be computed with a
classifier trained on the real data (``keras-aliasfree train-classifier``). Absolute values from
different extractors are not comparable; only differences between models measured with the *same*
extractor are.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

FEATURES_LAYER = "features"
LOGITS_LAYER = "logits"


def build_classifier(image_size=32, channels=1, num_classes=10, width=16, feature_dim=128,
                     dropout=0.3):
    """Build the small classifier: 4 conv layers, global average pooling, a ``features`` dense
    layer (the embedding FD/KID use), ``logits`` and a softmax output (IS probabilities).

    Inputs are images in [-1, 1], ``(N, image_size, image_size, channels)``.

    Example:
        >>> m = build_classifier(32, 1)
        >>> m.output_shape, m.get_layer("features").units
        ((None, 10), 128)
    """
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, channels), name="images")
    x = inputs
    for i, filters in enumerate((width, width, 2 * width, 2 * width)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        if i % 2 == 1:
            x = layers.MaxPooling2D(2, name=f"pool{i // 2}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(feature_dim, activation="relu", name=FEATURES_LAYER)(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(num_classes, name=LOGITS_LAYER)(x)
    probs = layers.Activation("softmax", name="probs", dtype="float32")(logits)
    return keras.Model(inputs, probs, name="feature_classifier")


def _read_idx_gz(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _resize_bilinear_np(x, size):
    """(N, H, W, C) float -> (N, size, size, C), separable antialiased-free bilinear (half-pixel)."""
    n, h, w, c = x.shape
    if (h, w) == (size, size):
        return x

    def matrix(n_in, n_out):
        m = np.zeros((n_out, n_in))
        pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        pos = np.clip(pos, 0, n_in - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        f = pos - lo
        m[np.arange(n_out), lo] += 1 - f
        m[np.arange(n_out), hi] += f
        return m

    a, b = matrix(h, size), matrix(w, size)
    return np.einsum("ph,nhwc,qw->npqc", a, x, b).astype(np.float32)


def load_real_images(dataset, split="train", image_size=32, channels=None, limit=None,
                     data_dir=None, with_labels=True):
    """Real images in [-1, 1] NHWC float32 and int labels, via ``keras_aliasfree.data.load_numpy``
    when available (MNIST, CIFAR-10, MNIST-M, paths, tfds). A minimal MNIST idx reader is the
    fallback when the data module is missing.

    Example:
        >>> # x, y = load_real_images("mnist", "test", limit=100)   # needs the MNIST files
    """
    try:
        from keras_aliasfree.data import load_numpy
    except ImportError:
        load_numpy = None
    if load_numpy is not None:
        return load_numpy(dataset, split=split, image_size=image_size, channels=channels,
                          limit=limit, data_dir=data_dir, with_labels=with_labels)
    if dataset != "mnist":
        raise RuntimeError(f"loading {dataset!r} needs keras_aliasfree.data, which is not installed")
    root = Path(data_dir or os.environ.get("KERAS_ALIASFREE_DATA_DIR", "~/.keras/datasets"))
    root = root.expanduser() / "mnist"
    prefix = "train" if split == "train" else "t10k"
    img_path = root / f"{prefix}-images-idx3-ubyte.gz"
    if not img_path.exists():
        raise FileNotFoundError(f"MNIST {split} images not found at {img_path}; set "
                                "KERAS_ALIASFREE_DATA_DIR or pass data_dir")
    x = _read_idx_gz(img_path)[:limit].astype(np.float32)[..., None] / 127.5 - 1.0
    x = _resize_bilinear_np(x, image_size)
    if channels == 3:
        x = np.repeat(x, 3, axis=-1)
    y = _read_idx_gz(root / f"{prefix}-labels-idx1-ubyte.gz")[:limit].astype(np.int64)
    return x, (y if with_labels else None)
