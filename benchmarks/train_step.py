"""Seconds per training step (and per sample) of the diffusion UNets, configs side by side.

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
    python benchmarks/train_step.py --shipped --only sampling --configs A D-1N E \
        --backends tensorflow --out docs/benchmarks/sample_cost_shipped.md

Scenario ``sampling``: milliseconds per sample of ``DiffusionModel.sample`` (DDIM ``--sample-steps``
steps, eta 1, ``--sample-num`` images per call, untrained weights: the cost does not depend on
them), upright and rotation-aware at 45 degrees in the mode each model serves (E: the noise
turned once; the others: the paper's progressive turn), all configs built first and timed in
interleaved rounds after one compiling call each.
"""

from __future__ import annotations

import sys
import time

from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, step_stamps, succeeded


#: ``--configs`` suffixes: E+aug is trained with (x, up) turned, E+aug+eq adds the equivariance term
E_OPTIONS = {"aug": {"up_augment": 0.5}, "eq": {"equivariance_weight": 1.0}}


def _model(config, args):
    """``(DiffusionModel, base config name, options, jit)`` of a ``--configs`` entry."""
    import keras

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
    size = 16 if args.quick else 32
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
    return dm, config, options, jit


def _config(config, args):
    import numpy as np

    dm, config, options, jit = _model(config, args)
    net, size, warmup, steps = dm.denoiser, dm.image_shape[0], args.warmup, args.steps
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


def sampling(args):
    import numpy as np

    from keras_aliasfree.diffusion.samplers import DDIM

    models = [_model(c, args) for c in args.configs]
    kinds = [("upright", 0.0), ("rotated 45", 45.0)]

    def call(dm, angle):
        mode = "once" if dm.takes_up else "progressive"
        t0 = time.perf_counter()
        out = dm.sample(args.sample_num, sampler=DDIM(args.sample_steps, eta=1.0), seed=0,
                        rotation=angle, rotation_mode=mode, verbose=0)
        np.asarray(out)  # the result read back: asynchronous dispatch hides nothing
        return time.perf_counter() - t0

    compile_s = [[call(dm, a) for _, a in kinds] for dm, *_ in models]
    times = [[[] for _ in kinds] for _ in models]
    for _ in range(args.sample_repeats):
        for i, (dm, *_) in enumerate(models):
            for j, (_, a) in enumerate(kinds):
                times[i][j].append(call(dm, a))
    return [dict(config="+".join([c, *o]), params=int(dm.denoiser.count_params()), jit=jit,
                 mode="once" if dm.takes_up else "progressive",
                 ms={k: 1000 * float(np.median(t)) / args.sample_num
                     for (k, _), t in zip(kinds, ts)},
                 first_s=[float(f) for f in fs])
            for (dm, c, o, jit), ts, fs in zip(models, times, compile_s)]


def render(results, args) -> str:
    what = ("batch 32, 32x32x1, the shipped presets' networks (base width 8, no attention; E: "
            "4 fields of 4), v-prediction, min-SNR, AdamW 1e-3" if args.shipped else
            f"batch 16, {'16x16x1, base width 8' if args.quick else '32x32x1, paper widths'}, "
            "AdamW 3e-4")
    parts = []
    if succeeded(results, "steps"):
        parts.append(f"Seconds per `DiffusionModel.fit` step ({what}, filter preset "
                     f"{args.filter_preset}), configs one after another in one process per "
                     f"backend; {args.warmup} warm-up + {args.steps} timed steps per config.")
    for b, rows in succeeded(results, "steps").items():
        base = rows[0]["median"]
        parts += [f"## {b} (jit_compile={rows[0]['jit']})", md_table(
            ["config", "parameters", "s/step (median)", "mean", "min", "x first config",
             "warm-up steps incl. compile (s)"],
            [[r["config"], f"{r['params']:,}", f"{r['median']:.3f}", f"{r['mean']:.3f}",
              f"{r['min']:.3f}", f"{r['median'] / base:.2f}", f"{r['warmup_s']:.1f}"]
             for r in rows])]
    for b, rows in succeeded(results, "sampling").items():
        base = rows[0]["ms"]["upright"]
        nfe = args.sample_steps
        parts += [f"## {b}: per sample", f"`DiffusionModel.sample`, DDIM {nfe} steps (eta 1), "
                  f"{args.sample_num} images per call, median of {args.sample_repeats} "
                  "interleaved rounds after one compiling call per model and angle.", md_table(
            ["config", "parameters", "ms per sample, upright", "per sample and NFE",
             "x first config", "ms per sample, 45° (mode)", "first calls incl. compile (s)"],
            [[r["config"], f"{r['params']:,}", f"{r['ms']['upright']:.1f}",
              f"{r['ms']['upright'] / nfe:.2f}", f"{r['ms']['upright'] / base:.2f}",
              f"{r['ms']['rotated 45']:.1f} ({r['mode']})",
              " / ".join(f"{f:.1f}" for f in r["first_s"])] for r in rows])]
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
    ap.add_argument("--sample-num", type=int, default=50, help="images per sample call")
    ap.add_argument("--sample-steps", type=int, default=20, help="DDIM steps of a sample call")
    ap.add_argument("--sample-repeats", type=int, default=3, help="timed rounds (sampling)")
    ap.add_argument("--filter-preset", default="default", choices=("default", "paper"))
    ap.add_argument("--jit", dest="jit", action="store_true", default=None)
    ap.add_argument("--no-jit", dest="jit", action="store_false")


BENCHMARK = Benchmark("train_step", "Training step and sampling time of the UNets",
                      [Scenario("steps", steps), Scenario("sampling", sampling)], render,
                      add_arguments,
                      quick={"warmup": 1, "steps": 2, "sample_num": 2, "sample_steps": 2,
                             "sample_repeats": 1})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
