"""Seconds per training step of the paper-size diffusion UNet, configs side by side.

Paper setting: batch 16, 32x32x1 images, the paper's widths (base 32), AdamW
lr 3e-4, T = 1000, ``DiffusionModel.fit`` with ``jit_compile`` (TensorFlow/JAX; PyTorch eager
unless ``--jit``). For each config it trains one epoch of ``warmup + steps`` batches and times
every batch end (the loss is read back, so asynchronous dispatch cannot hide work); the first
``warmup`` steps (compilation) are reported separately. Configs run one after another in the same
process, so their ratio is taken side by side.

Usage:
    python benchmarks/train_step.py                                      # every installed backend
    python benchmarks/train_step.py --backends tensorflow --configs A B-1N C-1N D-1N
    python benchmarks/train_step.py --quick                              # a smoke run
    python benchmarks/train_step.py --shipped --configs A E E+aug E+aug+eq --backends tensorflow
"""

from __future__ import annotations

import sys
import time

from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, step_stamps, succeeded


#: ``--configs`` suffixes: E+aug is trained with (x, up) turned, E+aug+eq adds the equivariance term
E_OPTIONS = {"aug": {"up_augment": 0.5}, "eq": {"equivariance_weight": 1.0}}


def _config(config, args):
    import keras
    import numpy as np

    from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
    from keras_aliasfree.equivariant_unet import build_equivariant_unet, equivariant_group_order
    from keras_aliasfree.unet import build_unet

    keras.utils.set_random_seed(0)
    config, *options = config.split("+")  # E+aug, E+aug+eq: the E training options
    unknown = set(options) - set(E_OPTIONS)
    if unknown or (options and not equivariant_group_order(config)):
        raise ValueError(f"config {config}+{'+'.join(options)}: the suffixes "
                         f"{'/'.join(E_OPTIONS)} apply to E configs only")
    extra = {k: v for o in options for k, v in E_OPTIONS[o].items()}
    size, warmup, steps = (16 if args.quick else 32), args.warmup, args.steps
    small = args.quick or args.shipped
    n = equivariant_group_order(config)
    if n:  # the shipped E: 4 fields (16 channels) in the first block
        net = build_equivariant_unet(size, 1, 4 if small else None, n,
                                     filters={"preset": args.filter_preset})
    else:
        net = build_unet(config, image_size=size, channels=1,
                         filters={"preset": args.filter_preset},
                         **({"base_width": 8, "attention": False} if small else {}))
    recipe = dict(prediction="v", loss_weighting="min_snr") if args.shipped else {}
    dm = DiffusionModel(net, NoiseSchedule(1000), seed=0, **recipe, **extra)
    jit = args.jit if args.jit is not None else keras.backend.backend() != "torch"
    dm.compile(optimizer=keras.optimizers.AdamW(1e-3 if args.shipped else 3e-4), jit_compile=jit)
    batch = 32 if args.shipped else 16
    x = np.tanh(np.random.default_rng(0).normal(size=(batch * (warmup + steps), size, size, 1)))
    stamp, stamps = step_stamps()

    t0 = time.perf_counter()
    dm.fit(x.astype("float32"), batch_size=batch, epochs=1, verbose=0, shuffle=False,
           callbacks=[stamp])
    first = stamps[warmup - 1] - t0
    per = np.diff(np.asarray(stamps[warmup - 1:]))
    return dict(config="+".join([config, *options]), params=int(net.count_params()), warmup_s=first,
                median=float(np.median(per)), mean=float(np.mean(per)),
                min=float(np.min(per)), steps=len(per), jit=jit)


def steps(args):
    return [_config(c, args) for c in args.configs]


def render(results, args) -> str:
    what = ("batch 32, 32x32x1, the shipped presets' networks (base width 8, no attention; E: "
            "4 fields of 4), v-prediction, min-SNR, AdamW 1e-3" if args.shipped else
            f"batch 16, {'16x16x1, base width 8' if args.quick else '32x32x1, paper widths'}, "
            "AdamW 3e-4")
    parts = [f"Seconds per `DiffusionModel.fit` step ({what}, filter preset "
             f"{args.filter_preset}), configs one after another in one "
             f"process per backend; {args.warmup} warm-up + {args.steps} timed steps per config."]
    for b, rows in succeeded(results, "steps").items():
        base = rows[0]["median"]
        parts += [f"## {b} (jit_compile={rows[0]['jit']})", md_table(
            ["config", "parameters", "s/step (median)", "mean", "min", "x first config",
             "warm-up steps incl. compile (s)"],
            [[r["config"], f"{r['params']:,}", f"{r['median']:.3f}", f"{r['mean']:.3f}",
              f"{r['min']:.3f}", f"{r['median'] / base:.2f}", f"{r['warmup_s']:.1f}"]
             for r in rows])]
    return "\n\n".join(parts)


def add_arguments(ap):
    ap.add_argument("--configs", nargs="+", default=["A", "D-1N"],
                    help="UNet configs, E / E8 included; E+aug: with --up-augment 0.5, "
                         "E+aug+eq: and --equivariance-weight 1 (default A D-1N)")
    ap.add_argument("--shipped", action="store_true",
                    help="the shipped presets' sizes and recipe (batch 32, base width 8, E: 4 "
                         "fields); write with --out docs/benchmarks/train_step_shipped.md")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps (compile) per config")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per config")
    ap.add_argument("--filter-preset", default="default", choices=("default", "paper"))
    ap.add_argument("--jit", dest="jit", action="store_true", default=None)
    ap.add_argument("--no-jit", dest="jit", action="store_false")


BENCHMARK = Benchmark("train_step", "Training step time, paper-size UNet",
                      [Scenario("steps", steps)], render, add_arguments,
                      quick={"warmup": 1, "steps": 2})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
