"""Step time and images/s of data-parallel training: 1 vs N logical CPU devices.

For each backend (TensorFlow: ``tf.distribute.MirroredStrategy``; JAX:
``keras.distribution.DataParallel``) and each device count, a fresh process splits the CPU into
that many logical devices (``keras_aliasfree.distribute.set_cpu_devices``), builds a small UNet as
a ``DiffusionModel`` under the engine (1 device: no engine), and trains one epoch of
``warmup + steps`` global batches with ``fit`` (XLA on JAX; TensorFlow's graph without XLA,
which Keras cannot use under a ``tf.distribute`` strategy), timing every batch end
(the loss is read back). The first ``warmup`` steps (compilation) are reported apart.

Logical CPU devices share the same cores: on a 2-core machine two of them cannot double the
throughput; the table shows what data parallelism costs there (per-replica batches, all-reduce),
not what it gains on real accelerators.

Each device count is a scenario (``x1``, ``x2``, ...) with a process of its own.

Usage:
    python benchmarks/distributed.py                          # TF and JAX, 1 and 2 devices
    python benchmarks/distributed.py --backends jax --devices 1 2 4 --batch 32
    python benchmarks/distributed.py --backends jax --devices 1 2 4 8 --accelerators  # GPUs
    python benchmarks/distributed.py --quick                  # a smoke run
Writes docs/benchmarks/distributed.md (``--out -`` to print only).
"""

from __future__ import annotations

import sys
import time

from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, step_stamps, succeeded

MODES = {"tensorflow": "mirrored", "jax": "data-parallel"}


def _measure(devices):
    def run(args):
        from keras_aliasfree.distribute import get_distribution, set_cpu_devices

        if not args.accelerators:
            set_cpu_devices(devices)
        import keras
        import numpy as np

        from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
        from keras_aliasfree.unet import build_unet

        backend = keras.backend.backend()
        dist = get_distribution(MODES[backend] if devices > 1 else "none")
        if args.accelerators and devices > 1:  # the first N accelerators
            dist = _first_devices(dist, backend, devices)
        keras.utils.set_random_seed(0)
        warmup, steps = args.warmup, args.steps
        with dist.scope():
            net = build_unet(args.config, image_size=args.image_size, base_width=args.base_width,
                             channel_mults=(1, 2, 2), bottleneck_mult=2, attention=False)
            dm = DiffusionModel(net, NoiseSchedule(1000), seed=0)
            # XLA on JAX; TensorFlow without (Keras cannot XLA-compile a tf.distribute step), on
            # one device too, so that the two rows compare like with like
            dm.compile(optimizer=keras.optimizers.AdamW(3e-4), jit_compile=backend == "jax")
        x = np.tanh(np.random.default_rng(0).normal(
            size=(args.batch * (warmup + steps), args.image_size, args.image_size, 1))).astype("float32")
        stamp, stamps = step_stamps()
        t0 = time.perf_counter()
        with dist.fit_scope():
            dm.fit(x, batch_size=args.batch, epochs=1, verbose=0, shuffle=False, callbacks=[stamp])
        per = np.diff(np.asarray(stamps[warmup - 1:]))
        median = float(np.median(per))
        return dict(devices=devices, replicas=dist.num_replicas, engine=dist.describe(),
                    params=int(net.count_params()), warmup_s=stamps[warmup - 1] - t0,
                    median_s=median, images_per_s=args.batch / median, steps=len(per))
    return run


def _first_devices(dist, backend, n):
    from keras_aliasfree.distribute import Distribution

    if backend == "jax":
        import keras

        devices = keras.distribution.list_devices()[:n]
        return Distribution(dist.mode, keras.distribution.DataParallel(devices=devices), n)
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_logical_devices("GPU")][:n]
    strategy = tf.distribute.MirroredStrategy(gpus)
    return Distribution(dist.mode, strategy, strategy.num_replicas_in_sync)


def render(results, args):
    rows, params = [], None
    for backend in results:
        ok = [r for n in args.devices if (r := succeeded(results, f"x{n}").get(backend))]
        for r in ok:
            params = r["params"]
            rows.append([backend, r["engine"], r["devices"], args.batch // r["replicas"],
                         f"{r['median_s'] * 1e3:.1f}", f"{r['images_per_s']:.1f}",
                         f"{r['images_per_s'] / ok[0]['images_per_s']:.2f}x",
                         f"{r['warmup_s']:.1f}"])
    return "\n\n".join([
        f"Config {args.config}, {args.image_size}x{args.image_size}x1, base width "
        f"{args.base_width}, channel mults (1, 2, 2), no attention ({params or 0:,} parameters), "
        "AdamW (XLA on JAX, TensorFlow graph without XLA); global batch "
        f"{args.batch}, median step after the warm-up steps, "
        f"{'accelerators' if args.accelerators else 'logical CPU devices'}. Logical devices "
        "share the same cores: N of them cannot beat what the cores give; the ratio shows the "
        "overhead of per-replica batches and the all-reduce, against what one device leaves of "
        "the cores unused (see docs/DISTRIBUTED.md).",
        md_table(["backend", "engine", "devices", "per-replica batch", "step (ms)", "images/s",
                  "vs fewest devices", "compile + warm-up (s)"], rows, left=2)])


def add_arguments(ap):
    ap.add_argument("--devices", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--config", default="A")
    ap.add_argument("--image-size", type=int, default=16)
    ap.add_argument("--base-width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16, help="global batch (default 16)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--accelerators", action="store_true",
                    help="use the first N GPUs/TPUs instead of N logical CPU devices")


BENCHMARK = Benchmark(
    "distributed", "Data-parallel training: 1 vs N logical CPU devices",
    lambda args: [Scenario(f"x{n}", _measure(n), f"x{n}") for n in args.devices], render,
    add_arguments, backends=tuple(MODES), quick={"warmup": 1, "steps": 2})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
