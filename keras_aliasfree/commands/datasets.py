"""``keras-aliasfree datasets``: where the data sources are found, and what a source holds.

Example:
    $ keras-aliasfree datasets --data-dir ../shared/data
    $ keras-aliasfree datasets --inspect mnist --split test
    $ keras-aliasfree datasets --build-mnist-m photos/ --split train --out mnist_m/mnistm_train.npz
"""

from __future__ import annotations

import sys


def register(subparsers):
    p = subparsers.add_parser(
        "datasets",
        help="list the data sources found in the data folder, or inspect one",
        description="Without --inspect: for mnist, cifar10 and mnist_m (train and test), show the files "
        "found in the data folder or what is missing and where to put it. With --inspect SOURCE: load "
        "it (mnist | cifar10 | mnist_m | tfds:NAME | PATH) and print count, shape, value range and "
        "label counts.",
    )
    p.add_argument("--data-dir", default=None,
                   help="data folder (default $KERAS_ALIASFREE_DATA_DIR, else ~/.keras/datasets)")
    p.add_argument("--inspect", metavar="SOURCE", default=None, help="load this source and describe it")
    p.add_argument("--split", default="train")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--channels", type=int, choices=(1, 3), default=None)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--no-download", action="store_true", help="never try to download missing files")
    p.add_argument("--build-mnist-m", metavar="PHOTOS", default=None,
                   help="build MNIST-M from the MNIST --split digits and the colour photos in folder "
                   "PHOTOS (Ganin & Lempitsky 2015: |patch - digit|); writes --out")
    p.add_argument("--out", default=None, help="output .npz for --build-mnist-m (arrays x, y)")
    p.add_argument("--seed", type=int, default=0, help="seed for --build-mnist-m")
    p.set_defaults(func=run)


def run(args) -> int:
    from keras_aliasfree.data import MissingDataError, describe_sources, load_numpy, resolve_data_dir

    if args.build_mnist_m is not None:
        return _build_mnist_m(args)
    if args.inspect is None:
        print(f"data folder: {resolve_data_dir(args.data_dir)}")
        for source, split, where in describe_sources(args.data_dir):
            print(f"  {source:8s} {split:5s}  {where}")
        print("other sources: tfds:NAME (tensorflow-datasets), or a path: image folder, .csv, .npz")
        return 0
    import numpy as np

    try:
        x, y = load_numpy(args.inspect, args.split, args.image_size, args.channels, args.limit,
                          args.data_dir, download=False if args.no_download else "auto")
    except (MissingDataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"source {args.inspect!r} split {args.split!r}: {len(x)} images, shape {x.shape[1:]}, "
          f"{x.dtype}, range [{x.min():.3f}, {x.max():.3f}], mean {x.mean():.4f}")
    if y is None:
        print("labels: none")
    else:
        counts = np.bincount(y - y.min()) if len(y) else []
        print(f"labels: {len(np.unique(y))} classes, counts (from label {y.min()}) {list(map(int, counts))}")
    return 0


def _build_mnist_m(args) -> int:
    from pathlib import Path

    import numpy as np

    from keras_aliasfree.data import MissingDataError, build_mnist_m
    from keras_aliasfree.data._sources import read_named

    if not args.out:
        print("error: --build-mnist-m needs --out FILE.npz", file=sys.stderr)
        return 2
    try:
        raw = read_named("mnist", args.split, args.data_dir, download=False if args.no_download else "auto")
    except (MissingDataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    x, y = raw.x, raw.y
    if args.limit is not None:
        x, y = x[: args.limit], (None if y is None else y[: args.limit])
    try:
        m = build_mnist_m(x, args.build_mnist_m, seed=args.seed)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, x=m, y=np.zeros(len(m), np.uint8) if y is None else y.astype(np.uint8))
    print(f"wrote {out}: {len(m)} images {m.shape[1:]} from MNIST {args.split} over photos in {args.build_mnist_m}")
    return 0
