"""What breaks a UNet's rotation equivariance: each factor of the paper's UNet switched on and off.

EQ-R (dB) of the noise prediction at t = 100 and 500, with the exact rotation of
:func:`keras_aliasfree.metrics.eq_rotation_exact` (MNIST test images noised to t, windowed to a disc,
disc-band-limited; the identity measured the same way is shown as "floor"). Untrained networks (random init, two seeds,
mean): this isolates the architecture from what training learns. Trained checkpoints given with
``--checkpoint`` are measured the same way (their EMA weights, band limit and prediction target:
what the sampler uses).

Factors: the downsampler/upsampler (max-pool + bilinear vs the jinc filters), the activation (GELU
vs filtered GELU), the filter's passband (8x8 beta 1 of D-1N vs 12x12 beta 4), the learned 3x3
convolutions (free vs isotropic), self-attention.

Scenarios: ``floors``, ``untrained``, ``trained`` (with ``--checkpoint``).

Usage:
    python benchmarks/equivariance_factors.py [--checkpoint RUN ...]   # writes the page
    python benchmarks/equivariance_factors.py --quick                  # a smoke run
"""

from __future__ import annotations

import sys

import numpy as np

from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, progress, succeeded

VARIANTS = [  # (label, config, build kwargs)
    ("A (max-pool, bilinear, GELU)", "A", {}),
    ("B-1N (jinc resampling)", "B-1N", {}),
    ("C-1N (filtered GELU)", "C-1N", {}),
    ("D-1N (both; 8x8 beta 1)", "D-1N", {}),
    ("D, 12x12 beta 4 (flat passband)", "D", {"filters": {"kernel_size": 12}}),
    ("A, isotropic convs", "A", {"conv": "isotropic"}),
    ("B-1N, isotropic convs", "B-1N", {"conv": "isotropic"}),
    ("C-1N, isotropic convs", "C-1N", {"conv": "isotropic"}),
    ("D-1N, isotropic convs", "D-1N", {"conv": "isotropic"}),
    ("D 12x12 beta 4, isotropic convs", "D", {"filters": {"kernel_size": 12}, "conv": "isotropic"}),
    ("D 12x12 beta 4, isotropic convs, attention", "D",
     {"filters": {"kernel_size": 12}, "conv": "isotropic", "attention": True}),
]
TIMESTEPS = (100, 500)


def _images(n):
    from keras_aliasfree.data import load_dataset

    batch = next(iter(load_dataset("mnist", split="test", image_size=32, batch_size=n,
                                   shuffle=False)))
    return np.asarray(batch[0] if isinstance(batch, tuple) else batch)


def untrained_rows(images, seeds=(0, 1), variants=VARIANTS):
    import keras

    from keras_aliasfree.metrics import equivariance as EQ
    from keras_aliasfree.unet import build_unet

    rows = []
    for label, config, kw in variants:
        kw = dict(kw)
        attention = kw.pop("attention", False)
        scores = {t: [] for t in TIMESTEPS}
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            net = build_unet(config, image_size=32, base_width=8, attention=attention, **kw)
            for t in TIMESTEPS:
                xt = EQ.noisy_inputs(images, t, seed=seed)
                scores[t].append(EQ.eq_rotation_exact(EQ.denoiser_fn(net, t), xt))
        rows.append((label, int(net.count_params()),
                     {t: float(np.mean(v)) for t, v in scores.items()}))
        progress(f"{label}: " + ", ".join(f"t={t} {np.mean(v):.2f}" for t, v in scores.items()))
    return rows


def trained_rows(images, checkpoints):
    from keras_aliasfree.diffusion import DiffusionModel
    from keras_aliasfree.metrics.evaluation import noise_equivariance

    rows = []
    for ck in checkpoints:
        model = DiffusionModel.from_checkpoint(ck)
        r = noise_equivariance(model, images, timesteps=TIMESTEPS)
        rows.append((ck, int(model.denoiser.count_params()),
                     {t: float(r[f"eq_r_exact_t{t}"]) for t in TIMESTEPS}))
        progress(f"{ck}: " + ", ".join(f"t={t} {r[f'eq_r_exact_t{t}']:.2f}" for t in TIMESTEPS))
    return rows


def floors(args):
    from keras_aliasfree.metrics import equivariance as EQ

    images = _images(args.num)
    return {t: EQ.eq_rotation_exact(lambda v: v, EQ.noisy_inputs(images, t, seed=0))
            for t in TIMESTEPS}


def untrained(args):
    return untrained_rows(_images(args.num), (0,) if args.quick else (0, 1),
                          VARIANTS[:2] if args.quick else VARIANTS)


def trained(args):
    return trained_rows(_images(args.num), args.checkpoint)


def render(results, args):
    cols = [f"EQ-R t={t} (dB)" for t in TIMESTEPS]
    parts = []
    for b, rows in succeeded(results, "untrained").items():
        fl = succeeded(results, "floors").get(b, {})
        parts += [f"## {b}",
                  f"{args.num} MNIST test images, base width 8, no attention unless said. "
                  "EQ-R of the noise prediction with the exact rotation "
                  "(`metrics.eq_rotation_exact`: angles 17/37/53/71 degrees, inputs windowed to a "
                  "disc and band-limited to it, rotated on a zero-padded canvas). Floor = the "
                  "identity measured the same way: "
                  + ", ".join(f"t={t}: {v:.1f} dB" for t, v in fl.items()) + ".",
                  "### Untrained (random init, mean of the seeds)",
                  md_table(["network", "parameters"] + cols,
                           [[label, f"{n:,}"] + [f"{s[str(t)]:.2f}" for t in TIMESTEPS]
                            for label, n, s in rows])]
        tr = succeeded(results, "trained").get(b)
        if tr:
            parts += ["### Trained checkpoints (EMA weights, eps_hat as the sampler uses it)",
                      md_table(["checkpoint", "parameters"] + cols,
                               [[ck, f"{n:,}"] + [f"{s[str(t)]:.2f}" for t in TIMESTEPS]
                                for ck, n, s in tr])]
    return "\n\n".join(parts)


def add_arguments(p):
    p.add_argument("--checkpoint", action="append", default=[])
    p.add_argument("--num", type=int, default=8, help="test images per measurement (default 8)")


BENCHMARK = Benchmark(
    "equivariance_factors", "What breaks a UNet's rotation equivariance",
    lambda args: [Scenario("floors", floors), Scenario("untrained", untrained)]
    + ([Scenario("trained", trained)] if args.checkpoint else []), render, add_arguments,
    backends=("tensorflow",), quick={"num": 2})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
