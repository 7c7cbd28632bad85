"""Rotation consistency of rotation-aware sampling: FFT three-shear vs bilinear rotation of x_t.

For configs A and D, a tiny UNet is trained briefly on MNIST (or, without the data, on generated
blobs), then for each angle phi and each rotation method the same seed is sampled twice:

    turned = model.sample(N, rotation=phi, seed=s, rotation_method=m)
    target = rotate(model.sample(N, rotation=0, seed=s), phi)      (exact np.rot90 for 90 deg)

and the PSNR(target, turned) over the central disc (peak 2, images in [-1, 1]) is reported, with
the standard deviation over the N images. Higher = the sampler turned the image instead of
producing a different one. Small models and a short schedule keep the whole run to minutes of
CPU; the figures describe that setting, not the paper-size models.

Usage:
    KERAS_ALIASFREE_DATA_DIR=../shared/data python benchmarks/rotation_sampling.py  # TensorFlow
    python benchmarks/rotation_sampling.py --backends jax torch
    python benchmarks/rotation_sampling.py --quick                                  # a smoke run
Writes docs/benchmarks/rotation_sampling.md (``--out -`` to print only).
"""

from __future__ import annotations

import sys
import time

from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, progress, succeeded


def training_images(args):
    import numpy as np

    try:
        from keras_aliasfree.data import load_numpy

        x, _ = load_numpy("mnist", "train", image_size=args.image_size, channels=1,
                          limit=args.train_images, with_labels=False, download=False)
        return x, f"MNIST train[:{len(x)}] resized to {args.image_size}x{args.image_size}"
    except Exception as e:  # no data folder: generated blobs
        print(f"note: MNIST not available ({e}); using generated blobs", file=sys.stderr)
        rng = np.random.default_rng(0)
        s = args.image_size
        yy, xx = np.mgrid[0:s, 0:s]
        c = rng.uniform(s * 0.25, s * 0.75, size=(args.train_images, 2))
        r2 = (yy[None] - c[:, :1, None]) ** 2 + (xx[None] - c[:, 1:, None]) ** 2
        x = (2 * np.exp(-r2 / (s / 4) ** 2) - 1)[..., None].astype("float32")
        return x, f"{len(x)} generated Gaussian blobs, {s}x{s}"


def consistency(args):
    import keras
    import numpy as np

    from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
    from keras_aliasfree.discs import disc_mask, psnr
    from keras_aliasfree.transforms import rotate
    from keras_aliasfree.unet import build_unet

    x, data_desc = training_images(args)
    s = args.image_size
    mask = disc_mask(s, s)
    t_start = time.time()
    results, losses = {}, {}
    for config in args.configs:
        keras.utils.set_random_seed(args.seed)
        net = build_unet(config, image_size=s, channels=1, base_width=args.base_width,
                         channel_mults=(1, 2, 2), bottleneck_mult=2,
                         attention=(False, True, False, False), time_dim=64)
        dm = DiffusionModel(net, NoiseSchedule(args.timesteps), ema_decay=0.99, seed=args.seed)
        dm.compile(optimizer=keras.optimizers.AdamW(1e-3),
                   jit_compile=keras.backend.backend() != "torch")
        hist = dm.fit(x, batch_size=32, epochs=args.epochs, verbose=0)
        losses[config] = float(hist.history["loss"][-1])
        steps = args.steps if args.sampler == "ddim" else None
        plain = dm.sample(args.num, sampler=args.sampler, steps=steps, seed=args.seed, verbose=0)
        for phi in args.angles:
            if phi % 90 == 0:
                target = np.rot90(plain, int(phi // 90) % 4, axes=(1, 2))
            else:
                target = np.asarray(keras.ops.convert_to_numpy(rotate(plain, phi, method="fft")))
            for method in args.methods:
                turned = dm.sample(args.num, sampler=args.sampler, steps=steps, seed=args.seed,
                                   rotation=phi, rotation_method=method, verbose=0)
                per = [psnr(target[i:i + 1], turned[i:i + 1], mask=mask, peak=2.0)
                       for i in range(args.num)]
                key = f"{config} {phi:g} {method}"
                results[key] = (float(psnr(target, turned, mask=mask, peak=2.0)), float(np.std(per)))
                progress(f"{key}: {results[key][0]:.2f} dB")
    return {"psnr": results, "loss": losses, "data": data_desc, "minutes": (time.time() - t_start) / 60,
            "args": {k: getattr(args, k) for k in ("configs", "angles", "methods", "image_size",
                                                   "base_width", "epochs", "timesteps", "num")}}


def render(results, args) -> str:
    parts = ["PSNR between `sample(rotation=phi, seed)` and `rotate(sample(0, seed), phi)`: how "
             "well turning x_t by phi/steps at every reverse step turns the generated image instead "
             "of changing it. `fft` = band-limited three-shear rotation (keeps the noise variance), "
             "`bilinear` = interpolating rotation as in the paper's reference code (scipy spline "
             "there; it blurs x_t a little at every step)."]
    for b, r in succeeded(results, "consistency").items():
        a = r["args"]
        cols = [(phi, m) for phi in a["angles"] for m in a["methods"]]
        parts += [f"## {b}",
                  f"Data: {r['data']}. Models: config UNets at base width {a['base_width']}, "
                  f"channel mults (1, 2, 2), one attention block, {a['epochs']} epochs of batch 32, "
                  f"AdamW 1e-3, T = {a['timesteps']} linear schedule, EMA 0.99. Sampling: "
                  f"{args.sampler.upper()} ({'all T' if args.sampler == 'ddpm' else args.steps} "
                  f"steps), {a['num']} images, seed {args.seed}. PSNR in dB over the central disc "
                  "(peak 2), pooled over the images, +- the standard deviation of the per-image "
                  "PSNR. Target: np.rot90 of the unrotated sample for multiples of 90 deg, else its "
                  f"FFT rotation; {r['minutes']:.1f} min.",
                  md_table(["config", "final loss"] + [f"{phi:g} deg {m}" for phi, m in cols],
                           [[c, f"{r['loss'][c]:.4f}"] + [
                               "{:.2f} +- {:.2f}".format(*r["psnr"][f"{c} {phi:g} {m}"])
                               for phi, m in cols] for c in a["configs"]])]
    parts.append("These are tiny, briefly trained models (minutes of CPU), not the paper's 32x32 "
                 "models trained for 100 epochs; the comparison between methods and configs is side "
                 "by side in one run, the absolute values are specific to this setting.")
    return "\n\n".join(parts)


def add_arguments(ap):
    ap.add_argument("--configs", nargs="+", default=["A", "D-1N"])
    ap.add_argument("--methods", nargs="+", default=["fft", "bilinear"])
    ap.add_argument("--angles", nargs="+", type=float, default=[90.0, 45.0])
    ap.add_argument("--image-size", type=int, default=16)
    ap.add_argument("--base-width", type=int, default=16)
    ap.add_argument("--train-images", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--timesteps", type=int, default=200)
    ap.add_argument("--sampler", default="ddpm", choices=("ddpm", "ddim"))
    ap.add_argument("--steps", type=int, default=None, help="DDIM steps")
    ap.add_argument("--num", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)


BENCHMARK = Benchmark("rotation_sampling", "Rotation-aware sampling: rotation consistency",
                      [Scenario("consistency", consistency)], render, add_arguments,
                      backends=("tensorflow",),
                      quick={"angles": [90.0], "methods": ["fft"], "image_size": 8,
                             "base_width": 8, "train_images": 64, "epochs": 1, "timesteps": 10,
                             "num": 2})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
