"""Seconds per training step of the paper-size diffusion UNet, configs side by side.

Paper setting: batch 16, 32x32x1 images, the paper's widths (base 32; 5,896,513 parameters), AdamW
lr 3e-4, T = 1000, ``DiffusionModel.fit`` with ``jit_compile`` (TensorFlow/JAX; PyTorch eager
unless ``--jit``). For each config it trains one epoch of ``warmup + steps`` batches and times
every batch end (the loss is read back, so asynchronous dispatch cannot hide work); the first
``warmup`` steps (compilation) are reported separately. Configs run one after another in the same
process, so their ratio is taken side by side.

Usage:
    KERAS_BACKEND=jax python benchmarks/train_step.py                   # A and D-1N
    KERAS_BACKEND=tensorflow python benchmarks/train_step.py --configs A B-1N C-1N D-1N
Writes docs/benchmarks/train_step.md (``--no-write`` to skip).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def bench(config, args):
    import keras
    import numpy as np

    from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
    from keras_aliasfree.unet import build_unet

    keras.utils.set_random_seed(0)
    net = build_unet(config, image_size=32, channels=1, filter_preset=args.filter_preset)
    dm = DiffusionModel(net, NoiseSchedule(1000), seed=0)
    jit = args.jit if args.jit is not None else keras.backend.backend() != "torch"
    dm.compile(optimizer=keras.optimizers.AdamW(3e-4), jit_compile=jit)
    n = args.warmup + args.steps
    x = np.tanh(np.random.default_rng(0).normal(size=(16 * n, 32, 32, 1))).astype("float32")
    from keras_aliasfree.bench import step_stamps

    stamp, stamps = step_stamps()

    t0 = time.perf_counter()
    dm.fit(x, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[stamp])
    first = stamps[args.warmup - 1] - t0
    per = np.diff(np.asarray(stamps[args.warmup - 1:]))
    return dict(config=config, params=net.count_params(), warmup_s=first,
                median=float(np.median(per)), mean=float(np.mean(per)),
                min=float(np.min(per)), steps=len(per), jit=jit)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=["A", "D-1N"])
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps (compile) per config")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per config")
    ap.add_argument("--filter-preset", default="default", choices=("default", "paper"))
    ap.add_argument("--jit", dest="jit", action="store_true", default=None)
    ap.add_argument("--no-jit", dest="jit", action="store_false")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" /
                                         "benchmarks" / "train_step.md"))
    args = ap.parse_args(argv)

    import keras

    backend = keras.backend.backend()
    load0 = os.getloadavg()[0]
    rows = [bench(c, args) for c in args.configs]
    load1 = os.getloadavg()[0]
    base = rows[0]["median"]
    header = ("| config | parameters | s/step (median) | mean | min | x first config | "
              "first {w} steps incl. compile (s) |".format(w=args.warmup))
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['params']:,} | {r['median']:.3f} | {r['mean']:.3f} | "
                     f"{r['min']:.3f} | {r['median'] / base:.2f} | {r['warmup_s']:.1f} |")
    table = "\n".join(lines)
    cmd = "KERAS_BACKEND={} python benchmarks/train_step.py {}".format(
        backend, " ".join(argv if argv is not None else sys.argv[1:]))
    info = (f"backend {backend} (jit_compile={rows[0]['jit']}), keras {keras.__version__}, "
            f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPU "
            f"cores, load average {load0:.1f} -> {load1:.1f}; batch 16, 32x32x1, AdamW 3e-4, "
            f"filter preset {args.filter_preset}; {args.warmup} warm-up + {args.steps} timed steps "
            "per config")
    print(info)
    print(table)
    if not args.no_write:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        section = (f"## backend: {backend}\n\n`{cmd.strip()}`\n\n{info}.\n\n{table}\n")
        text = out.read_text() if out.exists() else ""
        intro = ("# Training step time, paper-size UNet\n\nSeconds per `DiffusionModel.fit` step "
                 "(batch 16, 32x32x1, paper widths, AdamW 3e-4) for configs A and D side by side "
                 "in one run per backend. Produced by `benchmarks/train_step.py`; each backend "
                 "section is replaced when the script is rerun on that backend. The reference "
                 "PyTorch code takes about 1.0 s (A) and 1.3 s (D) per step on this machine "
                 "(DESIGN.md). Timings on this shared 2-core machine vary with its load (the "
                 "load average is recorded).\n\n")
        sections = {}
        for chunk in text.split("## backend: ")[1:]:
            sections[chunk.split("\n", 1)[0].strip()] = "## backend: " + chunk.rstrip() + "\n"
        sections[backend] = section
        out.write_text(intro + "\n".join(sections[k] for k in sorted(sections)))
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
