"""``keras-aliasfree train-classifier``: train the small CNN used as an offline feature extractor.

Example:
    $ keras-aliasfree train-classifier --data mnist --out saved_models/mnist-classifier --epochs 3
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
import time
from pathlib import Path

DATASETS = {"mnist": 1, "cifar10": 3, "mnist_m": 3}
MODEL_FILE = "classifier.keras"
INFO_FILE = "classifier.json"


def register(subparsers):
    p = subparsers.add_parser(
        "train-classifier",
        help="train a small CNN on real data to serve as an offline FD/KID/IS feature extractor",
        description="Train a small CNN classifier on real data. Its penultimate layer gives the "
        "features for FD/KID and its softmax the probabilities for IS when InceptionV3 ImageNet "
        "weights are not available. Writes DIR/classifier.keras and DIR/classifier.json "
        "(test accuracy, command).")
    p.add_argument("--data", choices=sorted(DATASETS), default="mnist", help="dataset (default mnist)")
    p.add_argument("--out", default=None,
                   help="output folder (default saved_models/<data>-classifier)")
    p.add_argument("--data-dir", default=None, help="data folder (default $KERAS_ALIASFREE_DATA_DIR)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--width", type=int, default=16, help="filters of the first conv layers")
    p.add_argument("--feature-dim", type=int, default=128, help="size of the feature layer")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--train-split", default="train")
    p.add_argument("--test-split", default="test")
    p.add_argument("--holdout", type=float, default=None,
                   help="take the test set as this fraction of --train-split instead of reading "
                   "--test-split (for datasets with a single split, e.g. mnist_m here)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def train_classifier(data="mnist", out=None, data_dir=None, image_size=32, epochs=3, batch_size=128,
                     lr=2e-3, width=16, feature_dim=128, limit=None, train_split="train",
                     test_split="test", holdout=None, seed=0, verbose=1, command=None):
    """Train and save the classifier; returns the info dict written next to it.

    Example:
        >>> # info = train_classifier("mnist", "/tmp/clf", epochs=1, limit=2000)
    """
    import keras
    import numpy as np

    from keras_aliasfree.metrics.classifier import build_classifier, load_real_images

    if data not in DATASETS:
        raise ValueError(f"--data must be one of {sorted(DATASETS)}, got {data!r}")
    channels = DATASETS[data]
    out = Path(out or f"saved_models/{data}-classifier")
    keras.utils.set_random_seed(seed)
    x, y = load_real_images(data, train_split, image_size, channels, limit, data_dir)
    if y is None:
        raise ValueError(f"{data} {train_split}: the classifier needs labels")
    if holdout is not None:
        if not 0.0 < holdout < 1.0:
            raise ValueError(f"--holdout must be in (0, 1), got {holdout}")
        perm = np.random.default_rng(seed).permutation(len(x))
        n_test = int(round(holdout * len(x)))
        xt, yt = x[perm[:n_test]], y[perm[:n_test]]
        x, y = x[perm[n_test:]], y[perm[n_test:]]
        test_desc = f"{n_test} held out of {train_split}"
    else:
        xt, yt = load_real_images(data, test_split, image_size, channels, None, data_dir)
        test_desc = f"{test_split} split"
    num_classes = int(max(y.max(), yt.max())) + 1
    model = build_classifier(image_size, channels, num_classes, width, feature_dim)
    steps = epochs * int(np.ceil(len(x) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(lr, steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t0 = time.time()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, shuffle=True)
    train_s = time.time() - t0
    _, acc = model.evaluate(xt, yt, batch_size=512, verbose=0)
    # fixed feature scale: mean square feature of the real test images = 1 (keeps KID's cubic
    # kernel (x.y/d + 1)^3 in its usual range; stored in the JSON, applied by the extractor)
    fmodel = keras.Model(model.input, model.get_layer("features").output)
    f = np.concatenate([keras.ops.convert_to_numpy(fmodel(xt[s:s + 512], training=False))
                        for s in range(0, len(xt), 512)])
    feature_scale = float(1.0 / np.sqrt(np.mean(np.square(f.astype(np.float64)))))
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / MODEL_FILE)
    info = {
        "dataset": data,
        "image_size": image_size,
        "channels": channels,
        "num_classes": num_classes,
        "feature_dim": feature_dim,
        "feature_layer": "features",
        "feature_scale": round(feature_scale, 6),
        "input_range": [-1.0, 1.0],
        "test_accuracy": round(float(acc), 5),
        "test_set": f"{len(xt)} images ({test_desc})",
        "train_images": int(len(x)),
        "epochs": epochs,
        "params": int(model.count_params()),
        "train_seconds": round(train_s, 1),
        "command": command,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return info


def run(args) -> int:
    command = "keras-aliasfree " + " ".join(shlex.quote(a) for a in sys.argv[1:]) \
        if sys.argv and sys.argv[0].endswith("keras-aliasfree") else None
    if command is None:
        parts = ["keras-aliasfree train-classifier", f"--data {args.data}"]
        for name in ("out", "data_dir", "limit", "holdout"):
            v = getattr(args, name)
            if v is not None:
                parts.append(f"--{name.replace('_', '-')} {v}")
        parts += [f"--epochs {args.epochs}", f"--batch-size {args.batch_size}",
                  f"--seed {args.seed}"]
        command = " ".join(parts)
    info = train_classifier(
        data=args.data, out=args.out, data_dir=args.data_dir, image_size=args.image_size,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, width=args.width,
        feature_dim=args.feature_dim, limit=args.limit, train_split=args.train_split,
        test_split=args.test_split, holdout=args.holdout, seed=args.seed, command=command)
    out = args.out or f"saved_models/{args.data}-classifier"
    print(f"test accuracy {info['test_accuracy']:.4f} on {info['test_set']}; "
          f"{info['params']:,} parameters; saved {out}/{MODEL_FILE}")
    return 0
