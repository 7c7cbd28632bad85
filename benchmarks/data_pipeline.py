"""Input-pipeline speed: batches/s delivered by load_dataset (tf.data) and NumpyImageDataset,
against the rate the paper-size training step consumes them.

Measures, for MNIST (16x32x32x1) and CIFAR-10 (16x32x32x3) from the data folder:
  * load: seconds to read the files and build the pipeline (once per run);
  * tf.data: batches/s from ``load_dataset(...)`` (shuffled, reshuffled every epoch, repeated),
    after a warm-up;
  * PyDataset: batches/s from ``NumpyImageDataset.from_source(...)`` (the no-TensorFlow path),
    including the end-of-epoch reshuffles;
and, in the same run, the time of one paper-size training step (config A UNet, batch 16,
32x32x1, AdamW 3e-4, noise-prediction MSE) so the ratio "pipeline rate / step rate" is taken
side by side. Writes the table to docs/benchmarks/data_pipeline.md.

Usage:
    KERAS_BACKEND=tensorflow python benchmarks/data_pipeline.py --data-dir ../shared/data
    python benchmarks/data_pipeline.py --no-step        # pipeline only
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def time_iter(next_batch, warmup: int, seconds: float, max_batches: int):
    for _ in range(warmup):
        next_batch()
    n, t0 = 0, time.perf_counter()
    while n < max_batches and (n % 50 or time.perf_counter() - t0 < seconds):
        next_batch()
        n += 1
    return n / (time.perf_counter() - t0), n


def bench_source(source, data_dir, args):
    from keras_aliasfree.data import NumpyImageDataset, load_dataset

    t = time.perf_counter()
    ds = load_dataset(source, "train", image_size=32, batch_size=16, seed=0, data_dir=data_dir)
    it = iter(ds.repeat())
    first = next(it)
    load_s = time.perf_counter() - t
    shape = tuple(int(d) for d in first.shape)
    tf_rate, tf_n = time_iter(lambda: next(it), args.warmup, args.seconds, args.max_batches)

    t = time.perf_counter()
    pyds = NumpyImageDataset.from_source(source, "train", image_size=32, batch_size=16, seed=0, data_dir=data_dir)
    py_load_s = time.perf_counter() - t
    state = {"i": 0}

    def next_py():
        i = state["i"]
        if i == len(pyds):
            pyds.on_epoch_end()
            i = 0
        pyds[i]
        state["i"] = i + 1

    py_rate, py_n = time_iter(next_py, args.warmup, args.seconds, args.max_batches)
    return dict(source=source, shape=shape, load_s=load_s, tf_rate=tf_rate, tf_n=tf_n,
                py_load_s=py_load_s, py_rate=py_rate, py_n=py_n)


def bench_step(args):
    import keras
    import numpy as np

    from keras_aliasfree.unet import build_unet

    model = build_unet("A", image_size=32, channels=1)
    model.compile(optimizer=keras.optimizers.AdamW(3e-4), loss="mse", jit_compile=args.jit)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 32, 32, 1)).astype("float32")
    t = rng.integers(0, 1000, 16).astype("int32")
    noise = rng.standard_normal((16, 32, 32, 1)).astype("float32")
    for _ in range(args.step_warmup):
        model.train_on_batch([x, t], noise)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        model.train_on_batch([x, t], noise)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], model.count_params()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None, help="data folder (default $KERAS_ALIASFREE_DATA_DIR)")
    p.add_argument("--sources", default="mnist,cifar10")
    p.add_argument("--warmup", type=int, default=50, help="batches discarded before timing")
    p.add_argument("--seconds", type=float, default=3.0, help="time each pipeline at least this long")
    p.add_argument("--max-batches", type=int, default=20000)
    p.add_argument("--no-step", action="store_true", help="skip the training-step measurement")
    p.add_argument("--steps", type=int, default=8, help="timed training steps (median reported)")
    p.add_argument("--step-warmup", type=int, default=2)
    p.add_argument("--jit", action="store_true", help="compile the step with XLA (jit_compile=True)")
    p.add_argument("--reference-step-s", type=float, default=1.0,
                   help="reference PyTorch step time on this machine (DESIGN.md: ~1.0 s, config A)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "data_pipeline.md"))
    args = p.parse_args(argv)

    import keras
    import tensorflow as tf

    from keras_aliasfree.data import resolve_data_dir

    data_dir = str(resolve_data_dir(args.data_dir))
    rows = [bench_source(s.strip(), data_dir, args) for s in args.sources.split(",") if s.strip()]
    step_s = params = None
    if not args.no_step:
        step_s, params = bench_step(args)

    consume = [("reference PyTorch step (DESIGN.md, config A)", args.reference_step_s)]
    if step_s is not None:
        consume.insert(0, (f"our config A step, measured in this run ({params:,} params, "
                           f"{keras.backend.backend()}{', XLA' if args.jit else ''})", step_s))
    slowest = max(s for _, s in consume)
    fastest_step = min(s for _, s in consume)

    lines = []
    lines.append("| source | batch shape | load + first batch (s) | tf.data batches/s | PyDataset batches/s | "
                 "tf.data / step rate |")
    lines.append("|---|---|---:|---:|---:|---:|")
    for r in rows:
        lines.append(
            f"| {r['source']} (train) | {'x'.join(map(str, r['shape']))} | {r['load_s']:.2f} | "
            f"{r['tf_rate']:,.0f} | {r['py_rate']:,.0f} | {r['tf_rate'] * fastest_step:,.0f}x |"
        )
    lines.append("")
    lines.append("| training step (batch 16, 32x32x1) | s/step | batches/s consumed |")
    lines.append("|---|---:|---:|")
    for name, s in consume:
        lines.append(f"| {name} | {s:.3f} | {1 / s:.2f} |")
    table = "\n".join(lines)
    ratio_min = min(r["tf_rate"] for r in rows) * fastest_step
    verdict = (f"Slowest pipeline delivers {ratio_min:,.0f}x the batches the fastest training step above consumes "
               f"(requirement: >= 10x): {'PASS' if ratio_min >= 10 else 'FAIL'}.")
    print(table)
    print(verdict)

    cmd = "KERAS_BACKEND=" + keras.backend.backend() + " python benchmarks/data_pipeline.py " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:]))
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    md = [
        "# Input pipeline benchmark",
        "",
        f"Command: `{cmd.strip()}` (data folder: `{args.data_dir or '$KERAS_ALIASFREE_DATA_DIR'}`)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}"
        + (f"; load average at the end {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} (the cores are shared)" if load else ""),
        "",
        f"Batches of 16 at 32x32, shuffled with reshuffling every epoch, timed for >= {args.seconds:g} s after "
        f"{args.warmup} warm-up batches. tf.data: `load_dataset(source, 'train', batch_size=16)` repeated; "
        "PyDataset: `NumpyImageDataset.from_source(...)` indexed batch by batch (what `model.fit` does). "
        "Load = reading the files, decoding, building the pipeline and the first batch. "
        f"Training step: median of {args.steps} `train_on_batch` calls of the paper-size config A UNet "
        "(noise-prediction MSE, AdamW 3e-4) after warm-up; the diffusion model's own step adds only the "
        "noising arithmetic to this.",
        "",
        table,
        "",
        verdict,
        "",
    ]
    train_md = Path(args.out).parent / "train_step.md"
    if train_md.exists():
        md += [f"The full diffusion training step on all backends is measured in [train_step.md](train_step.md).", ""]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(md))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
