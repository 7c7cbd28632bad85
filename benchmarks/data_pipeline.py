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

Scenarios: ``pipelines`` and ``step`` (TensorFlow: the tf.data path needs it).

Usage:
    python benchmarks/data_pipeline.py --data-dir ../shared/data
    python benchmarks/data_pipeline.py --only pipelines        # pipeline only
    python benchmarks/data_pipeline.py --quick                 # a smoke run
"""

from __future__ import annotations

import sys
import time

from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, median_time, succeeded


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


def pipelines(args):
    from keras_aliasfree.data import resolve_data_dir

    data_dir = str(resolve_data_dir(args.data_dir))
    return [bench_source(s.strip(), data_dir, args) for s in args.sources.split(",") if s.strip()]


def step(args):
    import keras
    import numpy as np

    from keras_aliasfree.unet import build_unet

    size = 16 if args.quick else 32
    model = build_unet("A", image_size=size, channels=1,
                       **({"base_width": 8, "attention": False} if args.quick else {}))
    model.compile(optimizer=keras.optimizers.AdamW(3e-4), loss="mse", jit_compile=args.jit)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, size, size, 1)).astype("float32")
    t = rng.integers(0, 1000, 16).astype("int32")
    noise = rng.standard_normal((16, size, size, 1)).astype("float32")
    s = median_time(lambda: model.train_on_batch([x, t], noise), args.steps,
                    warmup=args.step_warmup)
    return {"s": s, "params": int(model.count_params())}


def render(results, args) -> str:
    parts = [f"Data folder: `{args.data_dir or '$KERAS_ALIASFREE_DATA_DIR'}`. Batches of 16 at "
             f"32x32, shuffled with reshuffling every epoch, timed for >= {args.seconds:g} s after "
             f"{args.warmup} warm-up batches. tf.data: `load_dataset(source, 'train', "
             "batch_size=16)` repeated; PyDataset: `NumpyImageDataset.from_source(...)` indexed "
             "batch by batch (what `model.fit` does). Load = reading the files, decoding, building "
             f"the pipeline and the first batch. Training step: median of {args.steps} "
             "`train_on_batch` calls of the paper-size config A UNet (noise-prediction MSE, AdamW "
             "3e-4) after warm-up; the diffusion model's own step adds only the noising "
             "arithmetic to this. The full diffusion training step on every backend: "
             "[train_step.md](train_step.md)."]
    for b, rows in succeeded(results, "pipelines").items():
        consume = [("reference PyTorch step (config A, `--reference-step-s`)", args.reference_step_s)]
        st = succeeded(results, "step").get(b)
        if st:
            consume.insert(0, (f"our config A step, measured in this run ({st['params']:,} params, "
                               f"{b}{', XLA' if args.jit else ''})", st["s"]))
        fastest = min(s for _, s in consume)
        ratio = min(r["tf_rate"] for r in rows) * fastest
        parts += [md_table(["source", "batch shape", "load + first batch (s)", "tf.data batches/s",
                            "PyDataset batches/s", "tf.data / step rate"],
                           [[f"{r['source']} (train)", "x".join(map(str, r["shape"])),
                             f"{r['load_s']:.2f}", f"{r['tf_rate']:,.0f}", f"{r['py_rate']:,.0f}",
                             f"{r['tf_rate'] * fastest:,.0f}x"] for r in rows], left=2),
                  md_table(["training step (batch 16)", "s/step", "batches/s consumed"],
                           [[n, f"{s:.3f}", f"{1 / s:.2f}"] for n, s in consume]),
                  f"Slowest pipeline delivers {ratio:,.0f}x the batches the fastest training step "
                  f"above consumes (requirement: >= 10x): {'PASS' if ratio >= 10 else 'FAIL'}."]
    return "\n\n".join(parts)


def add_arguments(p):
    p.add_argument("--data-dir", default=None, help="data folder (default $KERAS_ALIASFREE_DATA_DIR)")
    p.add_argument("--sources", default="mnist,cifar10")
    p.add_argument("--warmup", type=int, default=50, help="batches discarded before timing")
    p.add_argument("--seconds", type=float, default=3.0, help="time each pipeline at least this long")
    p.add_argument("--max-batches", type=int, default=20000)
    p.add_argument("--steps", type=int, default=8, help="timed training steps (median reported)")
    p.add_argument("--step-warmup", type=int, default=2)
    p.add_argument("--jit", action="store_true", help="compile the step with XLA (jit_compile=True)")
    p.add_argument("--reference-step-s", type=float, default=1.0,
                   help="reference PyTorch step time on this machine (s/step, config A)")


BENCHMARK = Benchmark("data_pipeline", "Input pipeline benchmark",
                      [Scenario("pipelines", pipelines), Scenario("step", step)], render,
                      add_arguments, backends=("tensorflow",),
                      quick={"warmup": 2, "seconds": 0.2, "max_batches": 100, "steps": 1,
                             "step_warmup": 1})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
