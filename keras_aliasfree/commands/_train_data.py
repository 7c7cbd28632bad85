"""The training images of ``keras-aliasfree train``: loading (``--data``) and the endless batch
stream of ``--steps-per-epoch`` (and of full global batches under ``--distribute``).

Example:
    $ keras-aliasfree train --data images.npz --image-size 28 --out runs/npz
"""

from __future__ import annotations

import os


def _load_npz(path):
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        for key in ("x", "images", "x_train", "arr_0"):
            if key in data.files:
                return np.asarray(data[key])
        return np.asarray(data[data.files[0]])


def _normalise(x, image_size, channels):
    """Arrays from an .npz: uint8 [0,255] or float [0,1]/[-1,1] -> float32 [-1,1] NHWC."""
    import numpy as np

    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (N, H, W[, C]), got {x.shape}")
    if x.dtype == np.uint8 or x.max() > 1.5:
        x = x.astype("float32") / 127.5 - 1.0
    elif x.min() >= 0.0:
        x = x.astype("float32") * 2.0 - 1.0
    x = x.astype("float32")
    if channels is not None and x.shape[-1] != channels:
        if channels == 3 and x.shape[-1] == 1:
            x = np.repeat(x, 3, axis=-1)
        elif channels == 1 and x.shape[-1] == 3:
            x = x.mean(-1, keepdims=True)
        else:
            raise ValueError(f"cannot convert {x.shape[-1]} channels to {channels}")
    if x.shape[1] != image_size or x.shape[2] != image_size:
        raise ValueError(f"the .npz images are {x.shape[1]}x{x.shape[2]} but --image-size is "
                         f"{image_size}; nothing is resized silently (pass --image-size "
                         f"{x.shape[1]} or use the data loaders)")
    return x


def load_training_data(args):
    """Returns ``(data, channels)``: a numpy array (N,H,W,C) or a tf.data.Dataset of batches."""
    src = args.data
    if src is None:
        raise ValueError("--data is required (mnist, cifar10, mnist_m, tfds:NAME or a path)")
    if src.endswith(".npz") and os.path.isfile(src):
        try:
            from keras_aliasfree.data import load_numpy

            x, _ = load_numpy(src, split=args.split, image_size=args.image_size,
                              channels=args.channels, limit=args.limit, data_dir=args.data_dir,
                              with_labels=False)
        except ImportError:
            x = _normalise(_load_npz(src), args.image_size, args.channels)
            if args.limit:
                x = x[:args.limit]
        return x, int(x.shape[-1])
    from keras_aliasfree.data import load_numpy

    x, _ = load_numpy(src, split=args.split, image_size=args.image_size, channels=args.channels,
                      limit=args.limit, data_dir=args.data_dir, with_labels=False)
    return x, int(x.shape[-1])


def _repeating_batches(x, batch_size, seed=0):
    """Endless ``(batch,)`` tuples of full batches of ``x``, reshuffled every pass
    (``--steps-per-epoch``).

    Example:
        >>> import numpy as np
        >>> it = _repeating_batches(np.arange(10).reshape(10, 1), 4)
        >>> [next(it)[0].shape for _ in range(5)]
        [(4, 1), (4, 1), (4, 1), (4, 1), (4, 1)]
    """
    import numpy as np

    if batch_size > len(x):
        raise ValueError(f"--batch-size {batch_size} is larger than the {len(x)} training images")
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(x))
        for i in range(0, len(x) - batch_size + 1, batch_size):
            yield (x[order[i:i + batch_size]],)
