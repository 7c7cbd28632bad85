"""What breaks a UNet's rotation equivariance: each factor of the paper's UNet switched on and off.

EQ-R (dB) of the noise prediction at t = 100 and 500, with the exact rotation of
:func:`keras_aliasfree.metrics.eq_rotation_exact` (MNIST test images noised to t, windowed to a disc,
disc-band-limited; ceiling ~50 dB, shown as "floor"). Untrained networks (random init, two seeds,
mean): this isolates the architecture from what training learns. Trained checkpoints given with
``--checkpoint`` are measured the same way (their EMA weights, band limit and prediction target:
what the sampler uses).

Factors: the downsampler/upsampler (max-pool + bilinear vs the jinc filters), the activation (GELU
vs filtered GELU), the filter's passband (8x8 beta 1 of D-1N vs 12x12 beta 4), the learned 3x3
convolutions (free vs isotropic), self-attention.

Usage:
    python benchmarks/equivariance_factors.py [--checkpoint RUN ...] [--no-write]
        (writes docs/benchmarks/equivariance_factors.md; ~2 min on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

VARIANTS = [  # (label, config, build kwargs)
    ("A (max-pool, bilinear, GELU)", "A", {}),
    ("B-1N (jinc resampling)", "B-1N", {}),
    ("C-1N (filtered GELU)", "C-1N", {}),
    ("D-1N (both; 8x8 beta 1)", "D-1N", {}),
    ("D, 12x12 beta 4 (flat passband)", "D", {"kernel_size": 12}),
    ("A, isotropic convs", "A", {"conv": "isotropic"}),
    ("B-1N, isotropic convs", "B-1N", {"conv": "isotropic"}),
    ("C-1N, isotropic convs", "C-1N", {"conv": "isotropic"}),
    ("D-1N, isotropic convs", "D-1N", {"conv": "isotropic"}),
    ("D 12x12 beta 4, isotropic convs", "D", {"kernel_size": 12, "conv": "isotropic"}),
    ("D 12x12 beta 4, isotropic convs, attention", "D",
     {"kernel_size": 12, "conv": "isotropic", "attention": True}),
]
TIMESTEPS = (100, 500)


def _images(n):
    from keras_aliasfree.data import load_dataset

    batch = next(iter(load_dataset("mnist", split="test", image_size=32, batch_size=n,
                                   shuffle=False)))
    return np.asarray(batch[0] if isinstance(batch, tuple) else batch)


def untrained_rows(images, seeds=(0, 1)):
    import keras

    from keras_aliasfree.metrics import equivariance as EQ
    from keras_aliasfree.unet import build_unet

    rows = []
    for label, config, kw in VARIANTS:
        kw = dict(kw)
        attention = kw.pop("attention", False)
        scores = {t: [] for t in TIMESTEPS}
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            net = build_unet(config, image_size=32, base_width=8, attention=attention, **kw)
            for t in TIMESTEPS:
                xt = EQ.noisy_inputs(images, t, seed=seed)
                scores[t].append(EQ.eq_rotation_exact(EQ.denoiser_fn(net, t), xt))
        rows.append((label, net.count_params(), {t: float(np.mean(v)) for t, v in scores.items()}))
        print(f"  {label}: " + ", ".join(f"t={t} {np.mean(v):.2f}" for t, v in scores.items()),
              flush=True)
    return rows


def trained_rows(images, checkpoints):
    from keras_aliasfree.diffusion import DiffusionModel
    from keras_aliasfree.metrics.evaluation import noise_equivariance

    rows = []
    for ck in checkpoints:
        model = DiffusionModel.from_checkpoint(ck)
        r = noise_equivariance(model, images, timesteps=TIMESTEPS)
        rows.append((ck, model.denoiser.count_params(),
                     {t: r[f"eq_r_exact_t{t}"] for t in TIMESTEPS}))
        print(f"  {ck}: " + ", ".join(f"t={t} {r[f'eq_r_exact_t{t}']:.2f}" for t in TIMESTEPS),
              flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", action="append", default=[])
    p.add_argument("--num", type=int, default=8, help="test images per measurement (default 8)")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    import keras

    from keras_aliasfree.metrics import equivariance as EQ

    t0 = time.time()
    images = _images(args.num)
    floors = {t: EQ.eq_rotation_exact(lambda v: v, EQ.noisy_inputs(images, t, seed=0))
              for t in TIMESTEPS}
    print("untrained (random init, mean of 2 seeds):", flush=True)
    rows = untrained_rows(images)
    trained = trained_rows(images, args.checkpoint) if args.checkpoint else []
    head = "| {} | parameters | " + " | ".join(f"EQ-R t={t} (dB)" for t in TIMESTEPS) + " |"
    sep = "|---|---:|" + "---:|" * len(TIMESTEPS)
    lines = ["# What breaks a UNet's rotation equivariance", "",
             f"Command: `python benchmarks/equivariance_factors.py"
             + "".join(f" --checkpoint {c}" for c in args.checkpoint) + "`", "",
             f"Backend {keras.backend.backend()}, {platform.machine()}, {args.num} MNIST test "
             f"images, base width 8, no attention unless said; {time.time() - t0:.0f} s.", "",
             "EQ-R of the noise prediction with the exact rotation (`metrics.eq_rotation_exact`: "
             "angles 17/37/53/71 degrees, inputs windowed to a disc and band-limited to it, "
             "rotated on a zero-padded canvas). Floor = the identity measured the same way: "
             + ", ".join(f"t={t}: {v:.1f} dB" for t, v in floors.items()) + ".", "",
             "## Untrained (random init, mean of seeds 0 and 1)", "",
             head.format("network"), sep]
    for label, n, s in rows:
        lines.append(f"| {label} | {n:,} | " + " | ".join(f"{s[t]:.2f}" for t in TIMESTEPS) + " |")
    if trained:
        lines += ["", "## Trained checkpoints (EMA weights, eps_hat as the sampler uses it)", "",
                  head.format("checkpoint"), sep]
        for ck, n, s in trained:
            lines.append(f"| {ck} | {n:,} | " + " | ".join(f"{s[t]:.2f}" for t in TIMESTEPS)
                         + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "benchmarks",
                            "equivariance_factors.md")
        with open(path, "w") as f:
            f.write(text)
        print(f"wrote {os.path.normpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
