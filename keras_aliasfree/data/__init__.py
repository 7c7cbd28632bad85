"""Image data for diffusion training: MNIST, CIFAR-10, MNIST-M, tfds, image folders, CSV, npz.

Two paths, same pixels:

* ``load_dataset(...)`` -> ``tf.data.Dataset`` of float32 batches in [-1, 1] (needs TensorFlow;
  works with ``model.fit`` on every Keras backend).
* ``load_numpy(...)`` -> ``(x, y)`` numpy arrays, and ``NumpyImageDataset`` (a
  ``keras.utils.PyDataset``) for JAX / PyTorch users without TensorFlow.

Example:
    >>> from keras_aliasfree.data import load_dataset, parse_source
    >>> parse_source("tfds:fashion_mnist").kind, parse_source("cifar-10").kind
    ('tfds', 'cifar10')
    >>> ds = load_dataset("mnist", split="test")  # doctest: +SKIP
    >>> next(iter(ds)).shape  # doctest: +SKIP
    TensorShape([16, 32, 32, 1])

See docs/DATA.md for the file layout each source expects.
"""

from keras_aliasfree.data._image import RESIZE_METHODS, resize_images, resize_matrix
from keras_aliasfree.data._io import UnsafeFileError, read_idx, safe_unpickle
from keras_aliasfree.data._pipeline import NumpyImageDataset, load_dataset, load_numpy
from keras_aliasfree.data._sources import (
    ENV_DATA_DIR,
    NAMED_SOURCES,
    MissingDataError,
    describe as describe_sources,
    parse_source,
    resolve_data_dir,
)
from keras_aliasfree.data.mnist_m import build_mnist_m

__all__ = [
    "ENV_DATA_DIR",
    "NAMED_SOURCES",
    "RESIZE_METHODS",
    "MissingDataError",
    "UnsafeFileError",
    "NumpyImageDataset",
    "build_mnist_m",
    "describe_sources",
    "load_dataset",
    "load_numpy",
    "parse_source",
    "read_idx",
    "resize_images",
    "resize_matrix",
    "resolve_data_dir",
    "safe_unpickle",
]
