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

Usage:
    python benchmarks/distributed.py                          # TF and JAX, 1 and 2 devices
    python benchmarks/distributed.py --backends jax --devices 1 2 4 --batch 32
    python benchmarks/distributed.py --backends jax --devices 1 2 4 8 --accelerators  # GPUs
Writes docs/benchmarks/distributed.md (``--no-write`` to skip).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = {"tensorflow": "mirrored", "jax": "data-parallel"}


def worker(args):
    """One measurement in this (fresh) process; prints a ``RESULT {json}`` line."""
    from keras_aliasfree.distribute import get_distribution, set_cpu_devices

    if not args.accelerators:
        set_cpu_devices(args.devices)
    import keras
    import numpy as np

    from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
    from keras_aliasfree.unet import build_unet

    backend = keras.backend.backend()
    dist = get_distribution(MODES[backend] if args.devices > 1 else "none")
    if args.accelerators and args.devices > 1:  # the first N accelerators
        dist = _first_devices(dist, backend, args.devices)
    keras.utils.set_random_seed(0)
    with dist.scope():
        net = build_unet(args.config, image_size=args.image_size, base_width=args.base_width,
                         channel_mults=(1, 2, 2), bottleneck_mult=2, attention=False)
        dm = DiffusionModel(net, NoiseSchedule(1000), seed=0)
        # XLA on JAX; TensorFlow without (Keras cannot XLA-compile a tf.distribute step), on
        # one device too, so that the two rows compare like with like
        dm.compile(optimizer=keras.optimizers.AdamW(3e-4), jit_compile=backend == "jax")
    n = args.warmup + args.steps
    x = np.tanh(np.random.default_rng(0).normal(
        size=(args.batch * n, args.image_size, args.image_size, 1))).astype("float32")
    from keras_aliasfree.bench import step_stamps

    stamp, stamps = step_stamps()

    t0 = time.perf_counter()
    with dist.fit_scope():
        dm.fit(x, batch_size=args.batch, epochs=1, verbose=0, shuffle=False, callbacks=[stamp])
    per = np.diff(np.asarray(stamps[args.warmup - 1:]))
    median = float(np.median(per))
    print("RESULT " + json.dumps(dict(
        backend=backend, devices=args.devices, replicas=dist.num_replicas,
        engine=dist.describe(), params=int(net.count_params()), batch=args.batch,
        warmup_s=stamps[args.warmup - 1] - t0, median_s=median, min_s=float(np.min(per)),
        images_per_s=args.batch / median, steps=len(per))))


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


def run_one(backend, devices, args):
    cmd = [sys.executable, __file__, "--worker", "--devices", str(devices)]
    if args.accelerators:
        cmd.append("--accelerators")
    for k in ("config", "image_size", "base_width", "batch", "warmup", "steps"):
        cmd += [f"--{k.replace('_', '-')}", str(getattr(args, k))]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{backend} x{devices} failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backends", nargs="+", default=["tensorflow", "jax"], choices=list(MODES))
    ap.add_argument("--devices", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--config", default="A")
    ap.add_argument("--image-size", type=int, default=16)
    ap.add_argument("--base-width", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16, help="global batch (default 16)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--accelerators", action="store_true",
                    help="use the first N GPUs/TPUs instead of N logical CPU devices")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        args.devices = args.devices[0]
        return worker(args)
    t0 = time.time()
    load_before = load_average()
    rows = []
    for backend in args.backends:
        for n in args.devices:
            r = run_one(backend, n, args)
            rows.append(r)
            print(f"{backend:10s} x{n}: {r['median_s'] * 1e3:8.1f} ms/step  "
                  f"{r['images_per_s']:7.1f} img/s  (compile+warmup {r['warmup_s']:.1f} s)",
                  flush=True)
    load_after = load_average()
    base = {r["backend"]: r for r in rows if r["devices"] == min(args.devices)}
    lines = [
        "# Data-parallel training: 1 vs N logical CPU devices",
        "",
        f"`python benchmarks/distributed.py{' ' + ' '.join(argv) if argv else ''}` "
        f"({time.strftime('%Y-%m-%d', time.gmtime())}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"{'accelerators' if args.accelerators else 'logical CPU devices'}; load average "
        f"{load_before:.1f} before, {load_after:.1f} after; {time.time() - t0:.0f} s in all).",
        "",
        f"Config {args.config}, {args.image_size}x{args.image_size}x1, base width "
        f"{args.base_width}, channel mults (1, 2, 2), no attention "
        f"({rows[0]['params']:,} parameters), AdamW (XLA on JAX, TensorFlow graph without XLA); "
        f"global batch {args.batch}, median of {args.steps} steps after {args.warmup} warm-up "
        "steps. Logical devices share the same cores: N of them cannot beat what the cores give; "
        "the ratio shows the overhead of per-replica batches and the all-reduce, against what "
        "one device leaves of the cores unused (see docs/DISTRIBUTED.md).",
        "",
        "| backend | engine | devices | per-replica batch | step (ms) | images/s | vs 1 device "
        "| compile + warm-up (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        b = base[r["backend"]]
        lines.append(f"| {r['backend']} | {r['engine']} | {r['devices']} | "
                     f"{r['batch'] // r['replicas']} | {r['median_s'] * 1e3:.1f} | "
                     f"{r['images_per_s']:.1f} | {r['images_per_s'] / b['images_per_s']:.2f}x | "
                     f"{r['warmup_s']:.1f} |")
    if load_before > (os.cpu_count() or 1) * 0.5:
        lines += ["", f"The machine was shared (load average {load_before:.1f} on "
                      f"{os.cpu_count()} cores): the figures are contended and noisy."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        out = ROOT / "docs" / "benchmarks" / "distributed.md"
        out.write_text(text)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
