"""``load_numpy`` (any backend), ``load_dataset`` (tf.data, TensorFlow only) and ``NumpyImageDataset``."""

from __future__ import annotations

import logging
import math

import numpy as np

from keras_aliasfree.data import _image, _sources
from keras_aliasfree.data._sources import MissingDataError

logger = logging.getLogger("keras_aliasfree.data")


def _check_common(image_size, channels, limit, resize):
    size = _image._size_pair(image_size)
    _image.check_channels(channels)
    if resize not in _image.RESIZE_METHODS:
        raise ValueError(f"resize must be one of {_image.RESIZE_METHODS}, got {resize!r}")
    if limit is not None and (not isinstance(limit, (int, np.integer)) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    return size


def _read_raw(source, split, size, channels, limit, data_dir, resize, download) -> _sources.RawData:
    spec = _sources.parse_source(source, split)
    _sources.check_split(split, spec.kind)
    if spec.kind in _sources.NAMED_SOURCES:
        raw = _sources.read_named(spec.kind, split, data_dir, download, size, channels, resize)
    elif spec.kind == "tfds":
        raw = _read_tfds_numpy(spec.arg, split, data_dir, limit, download)
    else:
        raw = _sources.read_path(spec, split, size, channels, resize)
    if len(raw.x) == 0:
        raise ValueError(f"{raw.origin}: the {split!r} split holds no images")
    if limit is not None and limit < len(raw.x):
        raw.x = raw.x[:limit]
        raw.y = None if raw.y is None else raw.y[:limit]
    return raw


def load_numpy(
    source,
    split="train",
    image_size=32,
    channels=None,
    limit=None,
    data_dir=None,
    *,
    with_labels=True,
    resize="bilinear",
    download="auto",
):
    """Load a whole split into memory as numpy: ``(x, y)``. Works without TensorFlow on any backend.

    Args:
        source: ``"mnist"``, ``"cifar10"``, ``"mnist_m"``, ``"tfds:NAME"`` (needs TensorFlow and
            tensorflow-datasets) or a path: a folder of images, a ``.csv`` (label + pixels per
            row) or a ``.npz``. See ``load_dataset`` for details.
        split: ``"train"`` or ``"test"`` (tfds: any tfds split string such as ``"train[:10%]"``).
        image_size: output size, an int (square) or (height, width). Default 32 as in the paper.
        channels: 1 (grayscale), 3 (RGB) or None to keep the source's own.
        limit: keep only the first ``limit`` images (before any shuffling).
        data_dir: the data folder (default ``$KERAS_ALIASFREE_DATA_DIR`` or ``~/.keras/datasets``).
        with_labels: return the labels as ``y`` (int64, shape (N,)); ``y`` is None when the source
            has none or when False.
        resize: ``"bilinear"`` (antialiased, default) or ``"pad"`` (centre pad/crop).
        download: ``"auto"`` (download MNIST/CIFAR-10/tfds data only when it is missing and the
            server answers within 3 s), True, or False (never).

    Returns:
        ``x`` float32 (N, H, W, C) in [-1, 1] and ``y`` (N,) int64 or None.

    Example:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "toy.npz")
        >>> np.savez(p, x=np.zeros((5, 28, 28), np.uint8), y=np.arange(5))
        >>> x, y = load_numpy(p)
        >>> x.shape, float(x.min()), y.tolist()
        ((5, 32, 32, 1), -1.0, [0, 1, 2, 3, 4])
    """
    size = _check_common(image_size, channels, limit, resize)
    raw = _read_raw(source, split, size, channels, limit, data_dir, resize, download)
    x = _image.process(raw.x, size, channels, resize)
    return x, (raw.y if with_labels else None)


# ---------------------------------------------------------------------------------------- tfds
def _tfds_builder(name, data_dir):
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:  # pragma: no cover - tfds is a dependency
        raise ImportError("source 'tfds:NAME' needs tensorflow-datasets: pip install tensorflow-datasets") from e
    # tfds keeps its own cache layout; an explicit data_dir is handed to it, otherwise tfds'
    # default ($TFDS_DATA_DIR or ~/tensorflow_datasets) applies.
    tfds_dir = None if data_dir is None else str(_sources.resolve_data_dir(data_dir))
    try:
        builder = tfds.builder(name, data_dir=tfds_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(f"source 'tfds:{name}': tensorflow-datasets has no dataset called {name!r}") from None
    return tfds, builder, tfds_dir


def _tfds_features(builder, name):
    import tensorflow_datasets as tfds

    feats = builder.info.features
    items = dict(feats.items()) if hasattr(feats, "items") else {}
    image_key = "image" if isinstance(items.get("image"), tfds.features.Image) else None
    image_key = image_key or next((k for k, v in items.items() if isinstance(v, tfds.features.Image)), None)
    if image_key is None:
        raise ValueError(f"source 'tfds:{name}': no Image feature (features: {list(items)}); not an image dataset")
    label_key = "label" if isinstance(items.get("label"), tfds.features.ClassLabel) else None
    label_key = label_key or next((k for k, v in items.items() if isinstance(v, tfds.features.ClassLabel)), None)
    return image_key, label_key, items[image_key].shape


def _tfds_as_dataset(name, split, data_dir, download):
    tfds, builder, tfds_dir = _tfds_builder(name, data_dir)
    try:
        ds = builder.as_dataset(split=split, shuffle_files=False)
    except AssertionError as e:  # tfds: "could not find data in ..."
        if not _sources.may_download(download):
            where = tfds_dir or "tfds' default folder ($TFDS_DATA_DIR or ~/tensorflow_datasets)"
            raise MissingDataError(
                f"source 'tfds:{name}': the prepared dataset is not in {where} and no download was attempted "
                f"({'download=False' if download in (False, None) else 'offline'}). Prepare it elsewhere with "
                f"`tfds build {name}` (or tfds.load('{name}')) and copy the '{builder.name}' folder into {where}."
            ) from e
        logger.info("tfds:%s not prepared; downloading and preparing", name)
        builder.download_and_prepare()
        ds = builder.as_dataset(split=split, shuffle_files=False)
    except ValueError as e:  # unknown split
        raise ValueError(f"source 'tfds:{name}': bad split {split!r} ({e})") from None
    image_key, label_key, shape = _tfds_features(builder, name)
    return ds, image_key, label_key, shape


def _read_tfds_numpy(name, split, data_dir, limit, download) -> _sources.RawData:
    ds, image_key, label_key, _ = _tfds_as_dataset(name, split, data_dir, download)
    if limit is not None:
        ds = ds.take(limit)
    xs, ys = [], []
    for ex in ds.as_numpy_iterator():
        xs.append(ex[image_key])
        if label_key is not None:
            ys.append(ex[label_key])
    if not xs:
        raise ValueError(f"source 'tfds:{name}': split {split!r} is empty")
    shapes = {a.shape for a in xs}
    if len(shapes) > 1:
        raise ValueError(
            f"source 'tfds:{name}': images have different sizes {sorted(shapes)[:3]}...; use load_dataset "
            f"(which resizes each image) instead of load_numpy"
        )
    x = np.stack(xs)
    if x.dtype == np.uint16:
        x = x.astype(np.float32) * (255.0 / 65535.0)
    x = _image.to_nhwc_uint8_range(x, f"tfds:{name}")
    y = np.asarray(ys, np.int64) if ys else None
    return _sources.RawData(x, y, f"tfds:{name}[{split}]")


def _tf_process(tf, x, size, channels, method):
    """TensorFlow twin of ``_image.process`` for a batch (B, H, W, C) of raw [0, 255] pixels."""
    x = tf.cast(x, tf.float32)
    c = x.shape[-1]
    if c in (2, 4):
        x = x[..., : c - 1]
        c -= 1
    if channels == 3 and c == 1:
        x = tf.repeat(x, 3, axis=-1)
    elif channels == 1 and c == 3:
        x = tf.tensordot(x, tf.constant(_image.LUMA_WEIGHTS), axes=[[3], [0]])[..., None]
    h, w = x.shape[1], x.shape[2]
    if h is not None and w is not None:
        if (h, w) != tuple(size):
            if method == "pad":
                x = tf.image.resize_with_crop_or_pad(x, size[0], size[1])
            else:
                rh = tf.constant(_image.resize_matrix(h, size[0]))
                rw = tf.constant(_image.resize_matrix(w, size[1]))
                # two plain contractions (a broadcast batched matmul crashed TF's CPU kernel here)
                x = tf.einsum("oh,bhwc->bowc", rh, x)
                x = tf.einsum("pw,bowc->bopc", rw, x)
    elif method == "pad":
        x = tf.image.resize_with_crop_or_pad(x, size[0], size[1])
    else:  # dynamic size (tfds images of varying size): TF's antialiased bilinear, same kernel
        x = tf.image.resize(x, size, method="bilinear", antialias=True)
    return x / 127.5 - 1.0


# ------------------------------------------------------------------------------------ tf.data
def load_dataset(
    source,
    split="train",
    image_size=32,
    channels=None,
    batch_size=16,
    shuffle=True,
    cache=True,
    limit=None,
    seed=None,
    data_dir=None,
    *,
    with_labels=False,
    drop_remainder=False,
    resize="bilinear",
    download="auto",
    shuffle_buffer=None,
):
    """A ``tf.data.Dataset`` of float32 image batches (B, H, W, C) in [-1, 1]. TensorFlow only.

    Sources (the strings ``keras-aliasfree train --data`` accepts):

    * ``"mnist"``: the four idx files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
      ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``; gzipped or not) in
      ``<data_dir>/mnist/``, ``<data_dir>/MNIST/raw/`` or ``<data_dir>/``; or Keras' ``mnist.npz``.
    * ``"cifar10"``: ``cifar-10-batches-py`` pickles (any subset of ``data_batch_1..5``;
      ``test_batch``) in ``<data_dir>/cifar-10-batches-py/`` or ``<data_dir>/cifar10/``, or
      ``.npz`` files with arrays ``x``/``y`` whose name contains the split (``*train*.npz``).
    * ``"mnist_m"``: ``.npz`` files (``x``, ``y``) whose name contains the split in
      ``<data_dir>/mnist_m/``, or the original release's ``mnist_m_<split>/`` folder plus
      ``mnist_m_<split>_labels.txt``.
    * ``"tfds:NAME"``: any tensorflow-datasets image dataset (``NAME`` may carry a config or
      version, ``split`` any tfds split string); an explicit ``data_dir`` is passed to tfds.
    * a path: a folder of images (png/jpg/..., recursive; ``<folder>/<split>/`` is used when
      present; class sub-folders give labels), a ``.csv`` (label + pixels per row, the paper's
      MNIST CSV) or a ``.npz``. ``{split}`` in the path is replaced by the split.

    The data folder is ``data_dir``, else ``$KERAS_ALIASFREE_DATA_DIR``, else ``~/.keras/datasets``.
    Missing MNIST/CIFAR-10 files are downloaded through ``keras.datasets`` only when
    ``download`` allows it (``"auto"``: if the server answers within 3 s); otherwise a
    ``MissingDataError`` names the files to put where. Images are resized to ``image_size``
    (antialiased bilinear by default; ``resize="pad"`` centre-pads) and converted to ``channels``.

    Args:
        source, split, image_size, channels, limit, data_dir, resize, download: as in ``load_numpy``.
        batch_size: images per batch.
        shuffle: shuffle (reshuffled every epoch; ``seed`` makes the order reproducible).
        cache: cache decoded images in memory (matters for tfds sources; the other sources are
            read into memory anyway).
        seed: shuffle seed.
        with_labels: yield ``(images, labels)`` (int64) instead of images alone.
        drop_remainder: drop the last partial batch (static batch dimension).
        shuffle_buffer: shuffle buffer size (default: the whole split for in-memory sources,
            10,000 for tfds).

    Example:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "toy.npz")
        >>> np.savez(p, x=np.zeros((20, 28, 28), np.uint8), y=np.arange(20))
        >>> ds = load_dataset(p, batch_size=8, seed=0)
        >>> [tuple(b.shape) for b in ds]
        [(8, 32, 32, 1), (8, 32, 32, 1), (4, 32, 32, 1)]
    """
    import tensorflow as tf

    size = _check_common(image_size, channels, limit, resize)
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    spec = _sources.parse_source(source, split)
    _sources.check_split(split, spec.kind)
    autotune = tf.data.AUTOTUNE

    if spec.kind == "tfds":
        ds, image_key, label_key, _ = _tfds_as_dataset(spec.arg, split, data_dir, download)
        if with_labels and label_key is None:
            raise ValueError(f"source 'tfds:{spec.arg}' has no ClassLabel feature; use with_labels=False")
        if limit is not None:
            ds = ds.take(limit)

        def prep(ex):
            img = ex[image_key]
            if img.shape.rank == 2:
                img = img[..., None]
            if img.dtype == tf.uint16:  # 16-bit images: to the 8-bit range
                img = tf.cast(img, tf.float32) * (255.0 / 65535.0)
            img = _tf_process(tf, img[None], size, channels, resize)[0]
            return (img, ex[label_key]) if with_labels else img

        ds = ds.map(prep, num_parallel_calls=autotune)
        if cache:
            ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(shuffle_buffer or 10_000, seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=autotune)
        return ds.prefetch(autotune)

    raw = _read_raw(source, split, size, channels, limit, data_dir, resize, download)
    if with_labels and raw.y is None:
        raise ValueError(f"{raw.origin}: this source has no labels; use with_labels=False")
    n = len(raw.x)
    # Pixels stay in memory at the source resolution (uint8 where the source is uint8) and each
    # batch is converted/resized/scaled by the same matrices as the numpy path.
    x = raw.x
    if raw.at_target_size:
        x = x.astype(np.float32, copy=False)
    if channels is None:
        channels = 1 if x.shape[-1] in (1, 2) else 3
    tensors = (x, raw.y) if with_labels else x
    # already in memory: a .cache() here would only hold a second copy, so `cache` has no effect
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        ds = ds.shuffle(min(shuffle_buffer or n, n), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def prep_batch(*batch):
        img = _tf_process(tf, batch[0], size, channels, resize)
        return (img, batch[1]) if with_labels else img

    ds = ds.map(prep_batch, num_parallel_calls=autotune)
    return ds.prefetch(autotune)


# ---------------------------------------------------------------------------------- PyDataset
def _pydataset_base():
    import keras

    return keras.utils.PyDataset


class NumpyImageDataset(_pydataset_base()):
    """A ``keras.utils.PyDataset`` over in-memory images: batches for ``model.fit`` on any backend.

    Yields ``x`` batches (float32 numpy, (B, H, W, C)), or ``(x, y)`` when ``y`` is given.
    Shuffles at construction and at every epoch end with a ``numpy`` generator seeded by ``seed``.

    Args:
        x: images, e.g. from ``load_numpy`` (float32 in [-1, 1]).
        y: optional labels (N,).
        batch_size: images per batch.
        shuffle: shuffle each epoch.
        seed: seed of the shuffling generator (None: fresh entropy).
        drop_remainder: drop the last partial batch.
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size`` (see PyDataset).

    Example:
        >>> import numpy as np
        >>> ds = NumpyImageDataset(np.zeros((10, 32, 32, 1), np.float32), batch_size=4, seed=0)
        >>> len(ds), ds[2].shape
        (3, (2, 32, 32, 1))
    """

    def __init__(self, x, y=None, batch_size=16, shuffle=True, seed=None, drop_remainder=False, **kwargs):
        super().__init__(**kwargs)
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"x must be images shaped (N, H, W, C), got shape {x.shape}")
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(x):
                raise ValueError(f"x has {len(x)} images but y has {len(y)} labels")
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if drop_remainder and len(x) < batch_size:
            raise ValueError(f"drop_remainder=True with {len(x)} images < batch_size {batch_size} leaves no batch")
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(x))
        if self.shuffle:
            self._rng.shuffle(self._order)

    @classmethod
    def from_source(
        cls,
        source,
        split="train",
        image_size=32,
        channels=None,
        batch_size=16,
        shuffle=True,
        limit=None,
        seed=None,
        data_dir=None,
        *,
        with_labels=False,
        drop_remainder=False,
        resize="bilinear",
        download="auto",
        **kwargs,
    ):
        """``load_numpy`` + ``NumpyImageDataset``: the no-TensorFlow twin of ``load_dataset``.

        Example:
            >>> import numpy as np, tempfile, os
            >>> p = os.path.join(tempfile.mkdtemp(), "toy.npz")
            >>> np.savez(p, x=np.zeros((6, 28, 28), np.uint8))
            >>> NumpyImageDataset.from_source(p, batch_size=4)[0].shape
            (4, 32, 32, 1)
        """
        x, y = load_numpy(
            source, split, image_size, channels, limit, data_dir,
            with_labels=with_labels, resize=resize, download=download,
        )
        if with_labels and y is None:
            raise ValueError(f"source {source!r} has no labels; use with_labels=False")
        return cls(x, y if with_labels else None, batch_size, shuffle, seed, drop_remainder, **kwargs)

    def __len__(self):
        n = len(self.x)
        return n // self.batch_size if self.drop_remainder else math.ceil(n / self.batch_size)

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        idx = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        xb = self.x[idx]
        return xb if self.y is None else (xb, self.y[idx])

    def on_epoch_end(self):
        if self.shuffle:
            self._rng.shuffle(self._order)
