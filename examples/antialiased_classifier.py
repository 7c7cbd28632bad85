"""Plain vs alias-free small CNN classifier: accuracy, shift/rotation consistency, and cost.

Two versions of the same small VGG-style network that differ only in the swapped layers:

* ``plain``:      ``ReLU()``                     and ``MaxPooling2D(2)``;
* ``aliasfree``:  ``FilteredActivation("relu")`` and ``AliasFreeDownsample(2)`` (default filters).

The swapped layers have no weights, so both versions have the same parameters (asserted), and with
the same seed they start from the same initial weights and see the same batches. Both are trained
with the same budget (no data augmentation) on MNIST and on the CIFAR-10 subset, for several seeds,
and then measured on the test set (docs/METRICS.md, "Classifier consistency"):

* test accuracy;
* consistency (Zhang, ICML 2019): the fraction of test images whose predicted class is the same
  under two random transforms -- circular integer shifts, band-limited sub-pixel shifts, and
  band-limited (FFT) rotations;
* accuracy on the shifted / rotated test sets;
* training and inference time per image.

Budget (the same for both versions; small on purpose, to fit ~20 minutes on two CPU cores):
MNIST -- the first 6,000 training images (zero-padded to 32x32), 3 epochs, tested on the first
2,000 test images; CIFAR-10 -- the 10,000-image training subset, 5 epochs, tested on the 1,000
test images; batch 64, Adam 1e-3, seeds 0 and 1. ``--quick``: 2,000 training and 500 test images,
2 epochs (a few minutes). The models are far from converged, CIFAR-10 especially.

Run (the full run and its figures: docs/benchmarks/classifier.md)::

    KERAS_ALIASFREE_DATA_DIR=../shared/data python examples/antialiased_classifier.py --quick

The metric functions (``integer_shift_batch``, ``shift_consistency``, ``rotation_consistency``,
``evaluate_classifier``) take any ``predict(x) -> class ids`` callable; the tests import them
(tests/test_classifier_example.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import keras
import numpy as np

from keras_aliasfree import AliasFreeDownsample, FilteredActivation
from keras_aliasfree import transforms

VARIANTS = ("plain", "aliasfree")
DATASETS = ("mnist", "cifar10")
MAX_SHIFT = 4       # pixels: 1/8 of a 32-pixel image (StyleGAN3's EQ-T range, docs/METRICS.md)
MAX_ANGLE = 15.0    # degrees: small enough that a digit or an object keeps its class


# ----------------------------------------------------------------------------------- the models


def build_classifier(variant, input_shape=(32, 32, 1), num_classes=10, widths=(16, 32, 64),
                     convs_per_stage=2):
    """A small VGG-style CNN that returns logits.

    Per stage: ``convs_per_stage`` x (Conv 3x3, BatchNorm, activation), then a x2 downsampling;
    then global average pooling and a Dense head. ``variant="plain"`` uses ``ReLU`` and
    ``MaxPooling2D(2)``; ``variant="aliasfree"`` uses ``FilteredActivation("relu")`` and
    ``AliasFreeDownsample(2)`` with their default filters. Nothing else differs: the weights are
    the same (same shapes, same order), so the same seed gives the same initial weights.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    plain = variant == "plain"
    inputs = keras.Input(input_shape)
    x = inputs
    for stage, width in enumerate(widths):
        for i in range(convs_per_stage):
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                    name=f"conv{stage}_{i}")(x)
            # momentum 0.9 (Keras' default is 0.99): the moving statistics settle within the
            # few hundred steps of these short runs
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{stage}_{i}")(x)
            act = keras.layers.ReLU() if plain else FilteredActivation("relu")
            x = act(x)
        down = keras.layers.MaxPooling2D(2) if plain else AliasFreeDownsample(2)
        x = down(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"{variant}_cnn")


def build_pair(input_shape=(32, 32, 1), num_classes=10, **kwargs):
    """Both variants; raises if their parameter counts differ."""
    models = {v: build_classifier(v, input_shape, num_classes, **kwargs) for v in VARIANTS}
    counts = {v: m.count_params() for v, m in models.items()}
    assert len(set(counts.values())) == 1, f"parameter counts differ: {counts}"
    return models


def compile_classifier(model, learning_rate=1e-3):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def predictor(model, batch_size=250):
    """``predict(x) -> class ids`` (numpy int array) for a Keras model that returns logits/probs."""
    def predict(x):
        return np.argmax(model.predict(np.asarray(x, "float32"), batch_size=batch_size, verbose=0),
                         axis=-1)
    return predict


# ------------------------------------------------------------------------------------ the metrics


def integer_shift_batch(x, dy, dx):
    """Circular shift of image ``i`` by ``(dy[i], dx[i])`` whole pixels (``transforms.integer_shift``,
    an exact roll, applied to each group of images sharing a shift). Returns numpy."""
    x = np.asarray(x)
    dy = np.asarray(dy, dtype=int)
    dx = np.asarray(dx, dtype=int)
    out = np.empty_like(x)
    pairs = np.stack([dy, dx], axis=1)
    for sy, sx in np.unique(pairs, axis=0):
        idx = np.flatnonzero((dy == sy) & (dx == sx))
        out[idx] = keras.ops.convert_to_numpy(transforms.integer_shift(x[idx], int(sy), int(sx)))
    return out


def _chunked(fn, x, *params, chunk=500):
    """``fn(x[a:b], *[p[a:b] for p in params])`` over chunks of ``chunk`` images, as numpy."""
    parts = []
    for a in range(0, len(x), chunk):
        parts.append(keras.ops.convert_to_numpy(fn(x[a:a + chunk], *[p[a:a + chunk] for p in params])))
    return np.concatenate(parts, axis=0)


def fractional_shift_batch(x, dy, dx):
    """Band-limited (FFT phase ramp, periodic) shift of image ``i`` by ``(dy[i], dx[i])`` pixels."""
    return _chunked(transforms.fractional_shift, np.asarray(x, "float32"),
                    np.asarray(dy, "float32"), np.asarray(dx, "float32"))


def rotate_batch(x, degrees):
    """Band-limited rotation (``transforms.rotate(method="fft")``) of image ``i`` by ``degrees[i]``."""
    return _chunked(lambda a, d: transforms.rotate(a, d, method="fft"),
                    np.asarray(x, "float32"), np.asarray(degrees, "float32"))


def _agreement(predict, xa, xb, y=None):
    pa, pb = predict(xa), predict(xb)
    out = {"consistency": float(np.mean(pa == pb))}
    if y is not None:
        y = np.asarray(y)
        out["accuracy"] = float((np.mean(pa == y) + np.mean(pb == y)) / 2)
    return out


def shift_consistency(predict, x, y=None, max_shift=MAX_SHIFT, fractional=False, seed=0):
    """Consistency under two random shifts per image (Zhang 2019), and accuracy on the shifted sets.

    Each image gets two independent shifts ``(dy, dx)``, each coordinate uniform in
    ``[-max_shift, max_shift]``: integers (a circular roll, ``fractional=False``) or real numbers
    (band-limited FFT shift, ``fractional=True``). ``consistency`` is the fraction of images whose
    predicted class is the same for the two copies; ``accuracy`` (with labels ``y``) is the mean
    accuracy over the two shifted copies.

    Args:
        predict: callable, image batch (N, H, W, C) -> predicted class ids (N,).
        x: images (N, H, W, C); y: labels (N,) or None.
        seed: the shifts' random seed (the same seed gives the same shifts, so two models are
            compared on the same transformed images).

    Returns:
        ``{"consistency": float, "accuracy": float}`` (no ``accuracy`` without ``y``).
    """
    rng = np.random.default_rng(seed)
    n = len(x)
    if fractional:
        s = rng.uniform(-max_shift, max_shift, size=(4, n))
        xa, xb = fractional_shift_batch(x, s[0], s[1]), fractional_shift_batch(x, s[2], s[3])
    else:
        s = rng.integers(-max_shift, max_shift + 1, size=(4, n))
        xa, xb = integer_shift_batch(x, s[0], s[1]), integer_shift_batch(x, s[2], s[3])
    return _agreement(predict, xa, xb, y)


def rotation_consistency(predict, x, y=None, max_angle=MAX_ANGLE, seed=0):
    """Consistency under two random rotations per image, and accuracy on the rotated sets.

    As :func:`shift_consistency`, with two independent angles per image, uniform in
    ``[-max_angle, max_angle]`` degrees, applied with the band-limited three-shear FFT rotation
    (``transforms.rotate(method="fft")``, periodic border).
    """
    rng = np.random.default_rng(seed)
    a = rng.uniform(-max_angle, max_angle, size=(2, len(x)))
    return _agreement(predict, rotate_batch(x, a[0]), rotate_batch(x, a[1]), y)


def evaluate_classifier(predict, x, y, max_shift=MAX_SHIFT, max_angle=MAX_ANGLE, seed=0):
    """All metrics of one classifier on one test set, as a flat dict (fractions in [0, 1])."""
    out = {"accuracy": float(np.mean(predict(x) == np.asarray(y)))}
    for name, m in (
        ("int_shift", shift_consistency(predict, x, y, max_shift, False, seed)),
        ("frac_shift", shift_consistency(predict, x, y, max_shift, True, seed + 1)),
        ("rotation", rotation_consistency(predict, x, y, max_angle, seed + 2)),
    ):
        out[f"consistency_{name}"] = m["consistency"]
        out[f"accuracy_{name}"] = m["accuracy"]
    return out


# ------------------------------------------------------------------------------------- the run


class _EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t0)


def load_data(name, train_limit, test_limit):
    """Train and test arrays in [-1, 1], 32x32 (MNIST zero-padded from 28x28, not resampled)."""
    from keras_aliasfree.data import load_numpy
    kw = dict(image_size=32, channels=1, resize="pad") if name == "mnist" else \
        dict(image_size=32, channels=3)
    x_train, y_train = load_numpy(name, "train", limit=train_limit, **kw)
    x_test, y_test = load_numpy(name, "test", limit=test_limit, **kw)
    return (x_train, y_train.astype("int64")), (x_test, y_test.astype("int64"))


def run_one(variant, data, seed, epochs, batch_size, widths, eval_seed=1234):
    """Train one model and measure it; returns a dict of metrics and timings."""
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)  # same seed -> same initial weights and batches for both
    model = build_classifier(variant, x_train.shape[1:], 10, widths=widths)
    compile_classifier(model)
    timer = _EpochTimer()
    t0 = time.perf_counter()
    hist = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True,
                     verbose=0, callbacks=[timer])
    train_s = time.perf_counter() - t0
    # steady-state training time: epochs after the first (which also traces/compiles)
    steady = timer.times[1:] if len(timer.times) > 1 else timer.times
    train_ms = 1000 * float(np.median(steady)) / len(x_train)

    predict_raw = predictor(model)
    predict_raw(x_test[:250])  # warm-up (tracing)
    infer = {"s": 0.0, "n": 0}

    def predict(x):
        t = time.perf_counter()
        out = predict_raw(x)
        infer["s"] += time.perf_counter() - t
        infer["n"] += len(x)
        return out

    metrics = evaluate_classifier(predict, x_test, y_test, seed=eval_seed)
    metrics.update(
        params=int(model.count_params()),
        train_loss=float(hist.history["loss"][-1]),
        train_accuracy=float(hist.history["accuracy"][-1]),
        train_seconds=train_s,
        epoch_seconds=[float(t) for t in timer.times],
        train_ms_per_image=train_ms,
        infer_ms_per_image=1000 * infer["s"] / infer["n"],
    )
    return metrics


CONFIGS = {
    # per dataset: train images, test images, epochs
    "full": {"mnist": (6000, 2000, 3), "cifar10": (10000, 1000, 5)},
    "quick": {"mnist": (2000, 500, 2), "cifar10": (2000, 500, 2)},
}
COLUMNS = [
    ("accuracy", "test acc"),
    ("consistency_int_shift", "cons. int shift"),
    ("consistency_frac_shift", "cons. sub-px shift"),
    ("consistency_rotation", "cons. rotation"),
    ("accuracy_int_shift", "acc. int shift"),
    ("accuracy_frac_shift", "acc. sub-px shift"),
    ("accuracy_rotation", "acc. rotation"),
]


def summarise(runs):
    """Mean and sample std over seeds of every numeric metric."""
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    out = {}
    for k in keys:
        vals = np.array([r[k] for r in runs], dtype=float)
        out[k] = {"mean": float(vals.mean()),
                  "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                  "values": vals.tolist()}
    return out


def format_table(results):
    """The markdown table: mean ± std over seeds, percentages for the fractions."""
    head = ["dataset", "model", "params"] + [c for _, c in COLUMNS] + ["train ms/img", "infer ms/img"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for ds, by_variant in results["datasets"].items():
        for variant, entry in by_variant.items():
            s = entry["summary"]
            cells = [ds, variant, f"{int(s['params']['mean']):,}"]
            cells += [f"{100 * s[k]['mean']:.1f} ± {100 * s[k]['std']:.1f}" for k, _ in COLUMNS]
            cells += [f"{s['train_ms_per_image']['mean']:.2f}", f"{s['infer_ms_per_image']['mean']:.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small subsets, one epoch (a few minutes)")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--widths", nargs="+", type=int, default=[16, 32, 64])
    p.add_argument("--out", default="runs/antialiased_classifier.json", help="JSON results file")
    args = p.parse_args(argv)
    if len(args.seeds) < 1:
        p.error("give at least one seed")
    config = CONFIGS["quick" if args.quick else "full"]
    widths = tuple(args.widths)

    results = {
        "command": "python examples/antialiased_classifier.py" + (" --quick" if args.quick else ""),
        "argv": list(sys.argv[1:] if argv is None else argv),
        "backend": keras.backend.backend(), "keras": keras.__version__,
        "python": platform.python_version(), "cpu_count": os.cpu_count(),
        "load_average_start": list(os.getloadavg()),
        "seeds": args.seeds, "batch_size": args.batch_size, "widths": list(widths),
        "max_shift": MAX_SHIFT, "max_angle": MAX_ANGLE, "optimizer": "Adam 1e-3",
        "augmentation": "none", "datasets": {},
    }
    t_start = time.perf_counter()
    for ds in args.datasets:
        n_train, n_test, epochs = config[ds]
        data = load_data(ds, n_train, n_test)
        models = build_pair(data[0][0].shape[1:], 10, widths=widths)  # asserts equal params
        results["datasets"][ds] = {}
        for variant in VARIANTS:
            runs = []
            for seed in args.seeds:
                m = run_one(variant, data, seed, epochs, args.batch_size, widths)
                m["seed"] = seed
                runs.append(m)
                print(f"{ds:8s} {variant:9s} seed {seed}: acc {m['accuracy']:.4f}, "
                      f"cons int {m['consistency_int_shift']:.4f} frac {m['consistency_frac_shift']:.4f} "
                      f"rot {m['consistency_rotation']:.4f}, train {m['train_seconds']:.0f} s",
                      flush=True)
            results["datasets"][ds][variant] = {
                "train_images": int(len(data[0][0])), "test_images": int(len(data[1][0])),
                "epochs": epochs, "params": models[variant].count_params(),
                "runs": runs, "summary": summarise(runs)}
    results["total_seconds"] = time.perf_counter() - t_start
    results["load_average_end"] = list(os.getloadavg())
    table = format_table(results)
    results["table"] = table
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print()
    print(table)
    print(f"\n{len(args.seeds)} seeds (mean ± std), backend {keras.backend.backend()}, "
          f"{results['total_seconds'] / 60:.1f} min; wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
