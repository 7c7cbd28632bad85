"""Feature extractors for FD/KID/IS and the on-disk cache of reference statistics.

Two kinds of extractor, both returning ``(features, probabilities)`` for images in [-1, 1]:

* **InceptionV3** (``keras.applications``): features = the 2048-d global-average-pool output
  ("pool3" in the FID literature), probabilities = softmax of the 1000 ImageNet logits. Images are
  quantised to 256 levels (as a saved PNG would be), grayscale is tiled to 3 channels, and the batch
  is resized to 299x299 with **bilinear interpolation, half-pixel centres, no antialiasing**
  (``keras.ops.image.resize(..., "bilinear", antialias=False)``, the same as TF2's
  ``tf.image.resize``; torch-fidelity's FID-Inception resizes bilinearly too). The weights come
  from a file you give, or from the Keras cache (``~/.keras/models/inception_v3_weights_tf_dim_
  ordering_tf_kernels.h5``); only with ``allow_download=True`` may Keras fetch them. The FID
  numbers of papers use torch-fidelity's port of the TF1 graph, whose weights differ slightly from
  ``keras.applications``: values are close to, not identical with, published FIDs.
* **A small classifier trained on the real data** (:mod:`keras_aliasfree.metrics.classifier`,
  ``keras-aliasfree train-classifier``): features = its 128-d penultimate layer, probabilities = its
  softmax. The MNIST one ships as the preset ``mnist-classifier`` (:mod:`keras_aliasfree.presets`;
  ``saved_models/mnist-classifier`` in the repository). Its features are multiplied
  by the fixed ``feature_scale`` stored in ``classifier.json`` (chosen at training time so that the
  mean square feature of the real test images is 1), which keeps the cubic KID kernel in its usual
  range; the scale is part of the extractor's name. It works offline; FD computed
  with it is *not* FID and is not comparable with Inception values or with another classifier.

Reference statistics (features of real images) are cached on disk in ``cache_dir`` (default
``$KERAS_ALIASFREE_CACHE_DIR`` or ``~/.cache/keras_aliasfree``), one ``.npz`` per (dataset, split,
count, image size, channels, extractor[, rotation]).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

INCEPTION_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
INCEPTION_SIZE = 299
#: the preset :func:`load_classifier_extractor` loads when given no path
DEFAULT_CLASSIFIER = "mnist-classifier"


def _check_images(images, what="images"):
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"{what} must be a rank-4 batch (N, H, W, C) in [-1, 1], got shape "
                         f"{x.shape}")
    if x.shape[-1] not in (1, 3):
        raise ValueError(f"{what} must have 1 or 3 channels (channels last), got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{what} is empty")
    return x


def quantize(images):
    """Round images in [-1, 1] to the 256 levels of an 8-bit file (values stay in [-1, 1]).

    Example:
        >>> round(float(quantize(np.array([0.001]))[0]) * 127.5, 4)   # one 8-bit level up
        0.5
    """
    x = np.clip(np.asarray(images, np.float32), -1.0, 1.0)
    return np.round((x + 1.0) * 127.5) / 127.5 - 1.0


class FeatureExtractor:
    """Wraps a Keras model ``images -> [features, probabilities]`` with its input conventions.

    Call it on images in [-1, 1] ``(N, H, W, C)``: it quantises (optional), converts channels,
    resizes to the model's input size, runs in batches with a progress bar and returns numpy
    ``(features (N, D), probs (N, K))``.

    Attributes:
        name: identifies the extractor (used in cache keys and printed by ``evaluate``).
        description: one line for reports.

    Example:
        >>> # ext = load_classifier_extractor()            # the shipped MNIST classifier
        >>> # feats, probs = ext(images, batch_size=256)
    """

    def __init__(self, model, name, description, input_size, channels, resize_method="bilinear",
                 quantize_inputs=True, feature_scale=1.0):
        self.model = model
        self.feature_scale = float(feature_scale)
        self.name = name
        self.description = description
        self.input_size = int(input_size)
        self.channels = int(channels)
        self.resize_method = resize_method
        self.quantize_inputs = bool(quantize_inputs)

    def __repr__(self):
        return f"FeatureExtractor({self.name!r})"

    def preprocess(self, images):
        """numpy [-1, 1] batch -> model input batch (float32 numpy)."""
        from keras import ops

        x = _check_images(images).astype(np.float32)
        if self.quantize_inputs:
            x = quantize(x)
        if x.shape[-1] != self.channels:
            x = np.repeat(x, 3, axis=-1) if self.channels == 3 else x.mean(-1, keepdims=True)
        if x.shape[1:3] != (self.input_size, self.input_size):
            x = ops.convert_to_numpy(ops.image.resize(
                x, (self.input_size, self.input_size), interpolation=self.resize_method,
                antialias=False, data_format="channels_last"))
        return x

    def __call__(self, images, batch_size=256, verbose=True):
        import keras

        images = _check_images(images)
        n = images.shape[0]
        bar = keras.utils.Progbar(n, unit_name="image") if verbose else None
        feats, probs = [], []
        for s in range(0, n, int(batch_size)):
            x = self.preprocess(images[s:s + int(batch_size)])
            f, p = self.model(x, training=False)
            feats.append(keras.ops.convert_to_numpy(f).astype(np.float32) * self.feature_scale)
            probs.append(keras.ops.convert_to_numpy(p).astype(np.float64))
            if bar is not None:
                bar.update(min(n, s + int(batch_size)))
        return np.concatenate(feats), np.concatenate(probs)


def _file_digest(path, n=10):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:n]


def load_classifier_extractor(path=None):
    """Load a classifier saved by ``keras-aliasfree train-classifier`` as a :class:`FeatureExtractor`.

    Args:
        path: a classifier preset name (:func:`keras_aliasfree.presets.list_presets`), a folder
            holding ``classifier.keras`` (+ ``classifier.json``) or a ``.keras`` file; default:
            the shipped MNIST classifier, the preset ``mnist-classifier``.

    Example:
        >>> ext = load_classifier_extractor()
        >>> ext.name.startswith("mnist-classifier"), ext.input_size
        (True, 32)
    """
    import keras

    from keras_aliasfree.metrics.classifier import FEATURES_LAYER

    from keras_aliasfree.presets import list_presets, resolve_preset

    name = DEFAULT_CLASSIFIER if path is None else os.fspath(path)
    if name in list_presets() or not name.endswith(".keras"):
        path = Path(resolve_preset(name, kind="classifier"))
    else:
        path = Path(name)
    if path.is_dir():
        folder, file = path, path / "classifier.keras"
    else:
        folder, file = path.parent, path
    if not file.exists():
        raise FileNotFoundError(f"no classifier at {file}; train one with `keras-aliasfree "
                                "train-classifier --data mnist --out DIR`")
    info = {}
    if (folder / "classifier.json").exists():
        info = json.loads((folder / "classifier.json").read_text())
    model = keras.saving.load_model(file, compile=False, safe_mode=True)
    fmodel = keras.Model(model.input, [model.get_layer(FEATURES_LAYER).output, model.output])
    dataset = info.get("dataset", file.stem)
    scale = float(info.get("feature_scale", 1.0))
    name = f"{dataset}-classifier-{_file_digest(file)}"
    if scale != 1.0:
        name += f"-s{scale:.4g}"
    acc = info.get("test_accuracy")
    desc = (f"{dataset} classifier {file} ({model.get_layer(FEATURES_LAYER).units}-d features"
            + (f", test accuracy {acc:.4f}" if acc is not None else "") + ")")
    _, h, _, c = model.input_shape
    return FeatureExtractor(fmodel, name, desc, h, c, resize_method="bilinear",
                            feature_scale=scale)


def keras_cache_dir():
    """The Keras cache folder (``$KERAS_HOME`` or ``~/.keras``)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def inception_weights_path():
    """Path of the InceptionV3 ImageNet weights in the Keras cache, or None when absent.

    Example:
        >>> p = inception_weights_path()   # None on a machine that never downloaded them
    """
    p = keras_cache_dir() / "models" / INCEPTION_WEIGHTS_FILE
    return p if p.exists() else None


def inception_extractor(weights="imagenet", allow_download=False, seed=0):
    """InceptionV3 as a :class:`FeatureExtractor` (2048-d pool3 features, ImageNet class probs).

    Args:
        weights: ``"imagenet"`` (from the Keras cache; downloaded only when ``allow_download``),
            a path to a weights file (``.h5`` / ``.weights.h5``), or ``None`` for random weights
            (only for testing the pipeline: such features mean nothing).
        allow_download: let Keras download the ImageNet weights when they are not cached.
        seed: seeds the random initialisation when ``weights=None``.

    Example:
        >>> # ext = inception_extractor(weights=None)      # random weights, pipeline tests only
        >>> # feats, probs = ext(images)                 # (N, 2048), (N, 1000)
    """
    import keras

    if weights == "imagenet":
        cached = inception_weights_path()
        if cached is None and not allow_download:
            raise FileNotFoundError(
                f"InceptionV3 ImageNet weights not found in the Keras cache "
                f"({keras_cache_dir() / 'models' / INCEPTION_WEIGHTS_FILE}); pass a weights path, "
                "allow the download, or use the offline classifier extractor")
        source = str(cached) if cached is not None else "imagenet"
        name = "inception_v3-imagenet"
    elif weights is None:
        keras.utils.set_random_seed(int(seed))
        source = None
        name = f"inception_v3-random{int(seed)}"
    else:
        p = Path(weights)
        if not p.exists():
            raise FileNotFoundError(f"InceptionV3 weights file {p} does not exist")
        source = str(p)
        name = f"inception_v3-{_file_digest(p)}"
    base = keras.applications.InceptionV3(include_top=True, weights=source,
                                          classifier_activation=None,
                                          input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))
    pool = base.get_layer("avg_pool").output
    logits = base.output
    probs = keras.layers.Activation("softmax", dtype="float32")(logits)
    fmodel = keras.Model(base.input, [pool, probs])
    desc = (f"InceptionV3 ({'random weights - pipeline test only' if weights is None else source}),"
            " pool3 2048-d, inputs resized to 299 bilinear")
    return FeatureExtractor(fmodel, name, desc, INCEPTION_SIZE, 3, resize_method="bilinear")


def get_extractor(spec="auto", allow_download=False, verbose=True):
    """Resolve an extractor spec: ``"auto"`` (Inception when its ImageNet weights are cached, else
    the shipped MNIST classifier), ``"inception"``, ``"inception-random"``, ``"classifier"`` (the
    shipped one), a classifier preset name, or a path to a classifier folder / ``.keras`` file /
    Inception weights ``.h5``.

    Example:
        >>> get_extractor("classifier").name.startswith("mnist-classifier")
        True
    """
    if isinstance(spec, FeatureExtractor):
        return spec
    if spec == "auto":
        if inception_weights_path() is not None:
            return inception_extractor("imagenet")
        if verbose:
            print("InceptionV3 ImageNet weights not found in the Keras cache: using the offline "
                  "MNIST classifier as feature extractor (values are not FID/KID/IS-Inception).")
        return load_classifier_extractor()
    if spec == "inception":
        return inception_extractor("imagenet", allow_download=allow_download)
    if spec == "inception-random":
        return inception_extractor(None)
    if spec == "classifier":
        return load_classifier_extractor()
    from keras_aliasfree.presets import list_presets

    if str(spec) in list_presets("classifier"):
        return load_classifier_extractor(str(spec))
    p = Path(str(spec))
    if p.is_dir() or p.suffix == ".keras":
        return load_classifier_extractor(p)
    if p.suffix == ".h5":
        return inception_extractor(str(p))
    raise ValueError(f"unknown extractor {spec!r}: expected 'auto', 'inception', "
                     "'inception-random', 'classifier', a classifier preset "
                     f"({', '.join(list_presets('classifier'))}) or a path to a classifier / "
                     "weights file")


# ------------------------------------------------------------------------------ statistics cache


def cache_dir(path=None):
    """Folder of cached reference statistics: ``path``, ``$KERAS_ALIASFREE_CACHE_DIR`` or
    ``~/.cache/keras_aliasfree``.

    Example:
        >>> cache_dir("/tmp/x").name
        'x'
    """
    if path is not None:
        return Path(path)
    env = os.environ.get("KERAS_ALIASFREE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "keras_aliasfree"


def _cache_file(folder, dataset, split, count, image_size, channels, extractor_name, rotation):
    key = f"{dataset}_{split}_{count}_{image_size}px_{channels}c_{extractor_name}"
    if rotation:
        key += f"_rot{float(rotation):g}"
    key = re.sub(r"[^A-Za-z0-9_.+-]", "-", key)
    return Path(folder) / f"refstats_{key}.npz"


def reference_features(dataset, extractor, split="train", count=2000, image_size=32, channels=1,
                       data_dir=None, cache=None, rotation=0.0, rotation_method="fft",
                       batch_size=256, verbose=True, use_cache=True):
    """Features and probabilities of ``count`` real images, cached on disk.

    Images are the first ``count`` of ``split`` (``keras_aliasfree.data.load_numpy``), at
    ``image_size``/``channels``, optionally rotated by ``rotation`` degrees
    (:func:`keras_aliasfree.transforms.rotate`) for comparisons with rotated samples.

    Returns:
        dict with ``features``, ``probs``, ``mu``, ``sigma`` and ``cached`` (True if read from disk).

    Example:
        >>> # ref = reference_features("mnist", load_classifier_extractor(), "test", 1000)
    """
    from keras_aliasfree.metrics.distances import feature_statistics

    path = _cache_file(cache_dir(cache), dataset, split, count, image_size, channels,
                       extractor.name, rotation)
    if use_cache and path.exists():
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
        out["cached"] = True
        out["path"] = str(path)
        return out
    from keras_aliasfree.metrics.classifier import load_real_images

    x, _ = load_real_images(dataset, split, image_size, channels, count, data_dir,
                            with_labels=False)
    if len(x) < count:
        raise ValueError(f"{dataset} {split} has {len(x)} images, fewer than the {count} asked")
    if rotation:
        from keras import ops

        from keras_aliasfree.transforms import rotate

        x = np.concatenate([ops.convert_to_numpy(rotate(x[s:s + 512], rotation,
                                                        method=rotation_method))
                            for s in range(0, len(x), 512)])
    if verbose:
        print(f"reference features: {count} {dataset}/{split} images with {extractor.name}")
    feats, probs = extractor(x, batch_size=batch_size, verbose=verbose)
    mu, sigma = feature_statistics(feats)
    out = {"features": feats, "probs": probs, "mu": mu, "sigma": sigma}
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, **out)
        os.replace(tmp, path)
    out["cached"] = False
    out["path"] = str(path)
    return out
