"""Equivariance report: EQ-T, EQ-T_frac and EQ-R (dB) of single layers and of whole UNets.

Part 1 -- per layer: our three alias-free layers (default filters and the paper's 3x3 settings)
against their naive counterparts (max pooling / average pooling / stride-2 subsampling, bilinear /
nearest upsampling, plain GELU), on band-limited random input.
Part 2 -- per UNet config (A, B, C, D; default and paper filter presets): the noise-prediction UNet
at timestep t on noisy inputs, untrained (random init, same seed) and from checkpoints given with
``--checkpoint``.

Measures are those of :mod:`keras_aliasfree.metrics.equivariance` (StyleGAN3 style: PSNR in dB of
f(T x) against T f(x); integer and band-limited fractional translation up to 1/8 of the size,
band-limited rotation by a random angle per image, central disc).

Scenarios: ``rotation`` (the rotation methods themselves), ``layers``, ``unet``.

Usage:
    python benchmarks/equivariance.py                      # writes docs/benchmarks/equivariance.md
    python benchmarks/equivariance.py --checkpoint runs/mnist_d1n --checkpoint runs/mnist_a
    python benchmarks/equivariance.py --only layers --out -
    python benchmarks/equivariance.py --quick              # a smoke run
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from keras_aliasfree.benchmarking import Benchmark, Scenario, progress, succeeded


def band_limited_images(n, size, channels, max_freq=0.5, seed=0):
    """Random images whose spectrum is limited to |w| <= max_freq * pi (radially), faded to zero
    towards the border by a smooth radial window (so periodic transforms see no seam), unit std.

    Example:
        >>> band_limited_images(2, 32, 3).shape
        (2, 32, 32, 3)
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, size, size, channels))
    f = np.fft.fft2(z, axes=(1, 2))
    k = np.fft.fftfreq(size) * 2  # in units of pi
    kr = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    f *= (kr <= max_freq)[None, :, :, None]
    x = np.fft.ifft2(f, axes=(1, 2)).real
    c = (size - 1) / 2
    r = np.hypot(*np.mgrid[0:size, 0:size] - c) / size
    win = np.clip((0.45 - r) / 0.15, 0, 1)
    win = 0.5 - 0.5 * np.cos(np.pi * win)
    x = x * win[None, :, :, None]
    return (x / x.std()).astype(np.float32)


def rotation_rows(size=32, num=4, steps=1000, total=90.0, seed=0):
    """Variance of white noise kept after ``steps`` successive rotations summing to ``total``
    degrees, and PSNR of one 30-degree rotation of a band-limited pattern, per rotation method."""
    from keras import ops

    from keras_aliasfree import discs as DS
    from keras_aliasfree import transforms as T

    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(num, size, size, 1)).astype(np.float32)
    pattern = band_limited_images(num, size, 1, max_freq=0.4, seed=seed)
    mask = DS.disc_mask(size, size)
    rows = []
    for method in T.ROTATION_METHODS:
        t0 = time.time()
        y = ops.convert_to_tensor(noise)
        for _ in range(steps):
            y = T.rotate(y, total / steps, method=method)
        kept = float(np.var(ops.convert_to_numpy(y)) / np.var(noise))
        back = ops.convert_to_numpy(T.rotate(T.rotate(pattern, 30.0, method=method), -30.0,
                                             method=method))
        rows.append((method, kept, DS.psnr(pattern, back, mask), time.time() - t0))
        progress(f"rotation {method:9s} kept {kept:.3f}  there-and-back {rows[-1][2]:.2f} dB")
    return rows


def _measure(fn, x, seed=0):
    from keras_aliasfree import metrics

    return (metrics.eq_translation(fn, x, fractional=False, seed=seed),
            metrics.eq_translation(fn, x, fractional=True, seed=seed),
            metrics.eq_rotation(fn, x, seed=seed))


def layer_rows(size=64, channels=8, num=8, seed=0):
    import keras

    from keras_aliasfree.layers import AliasFreeDownsample, AliasFreeUpsample, FilteredActivation

    x = band_limited_images(num, size, channels, seed=seed)
    paper = [(f"paper 3x3, beta {b}, N", dict(preset="paper", beta=float(b), normalize=True))
             for b in (0, 1, 2)]

    def subsample(v):
        return v[:, ::2, ::2]

    groups = [
        ("downsample x2", [
            ("AliasFreeDownsample (default 8x8 jinc)", AliasFreeDownsample(2)),
            *[(f"AliasFreeDownsample ({name})", AliasFreeDownsample(2, **kw))
              for name, kw in paper],
            ("MaxPooling2D(2) (config A)", keras.layers.MaxPooling2D(2)),
            ("AveragePooling2D(2)", keras.layers.AveragePooling2D(2)),
            ("stride-2 subsampling", subsample),
        ]),
        ("upsample x2", [
            ("AliasFreeUpsample (default 8x8 jinc)", AliasFreeUpsample(2)),
            *[(f"AliasFreeUpsample ({name})", AliasFreeUpsample(2, **kw)) for name, kw in paper],
            ("UpSampling2D bilinear", keras.layers.UpSampling2D(2, interpolation="bilinear")),
            ("UpSampling2D nearest", keras.layers.UpSampling2D(2, interpolation="nearest")),
        ]),
        ("activation", [
            ("FilteredActivation gelu (default)", FilteredActivation("gelu")),
            *[(f"FilteredActivation gelu ({name})", FilteredActivation("gelu", **kw))
              for name, kw in paper],
            ("plain GELU (config A)", keras.activations.gelu),
            ("plain ReLU", keras.activations.relu),
        ]),
    ]
    rows = []
    for group, items in groups:
        for name, fn in items:
            rows.append((group, name) + _measure(fn, x, seed))
            progress(f"{group:14s} {name:48s} " + " ".join(f"{v:7.2f}" for v in rows[-1][2:]))
    return rows


def _unet_inputs(num, size, timestep, seed, data_dir):
    from keras_aliasfree import metrics

    source = "band-limited noise"
    clean = None
    if data_dir or os.environ.get("KERAS_ALIASFREE_DATA_DIR"):
        try:
            from keras_aliasfree.metrics.classifier import load_real_images

            clean, _ = load_real_images("mnist", "test", size, 1, num, data_dir,
                                        with_labels=False)
            source = f"first {num} MNIST test images"
        except Exception as e:  # noqa: BLE001 - report and fall back
            progress(f"(MNIST not loaded: {e}; using band-limited noise)")
    if clean is None:
        clean = np.clip(band_limited_images(num, size, 1, seed=seed) * 0.5, -1, 1)
    return metrics.noisy_inputs(clean, timestep, seed=seed), source


def unet_rows(configs, checkpoints, timestep=500, num=8, size=32, seed=0, data_dir=None):
    import keras

    from keras_aliasfree.metrics import denoiser_fn
    from keras_aliasfree.unet import build_unet

    x, source = _unet_inputs(num, size, timestep, seed, data_dir)
    rows = []
    for cfg, preset in configs:
        keras.utils.set_random_seed(seed)
        t0 = time.time()
        net = build_unet(cfg, image_size=size, channels=1, filters={"preset": preset})
        vals = _measure(denoiser_fn(net, timestep), x, seed)
        label = cfg if cfg == "A" else f"{cfg} ({preset} filters)"
        rows.append((label, "untrained (seed %d)" % seed) + vals)
        progress(f"{label:28s} untrained " + " ".join(f"{v:7.2f}" for v in vals)
                 + f"  ({time.time() - t0:.0f} s)")
    for ck in checkpoints:
        from keras_aliasfree.metrics.evaluation import _ema_denoiser

        net, directory = _ema_denoiser(ck)
        cfg = getattr(net, "unet_config", None) or {}
        label = str(cfg.get("config", "?")) if isinstance(cfg, dict) else "?"
        vals = _measure(denoiser_fn(net, timestep), x, seed)
        from keras_aliasfree.diffusion import read_training_state

        steps = read_training_state(directory).get("ema_updates")
        width = cfg.get("base_width") if isinstance(cfg, dict) else None
        desc = f"trained: {os.path.basename(os.path.dirname(os.path.dirname(directory)))}/" \
               f"{os.path.basename(directory)}, {steps} steps, base width {width}, EMA"
        rows.append((label, desc) + vals)
        progress(f"{label:28s} {directory} " + " ".join(f"{v:7.2f}" for v in vals))
    return rows, source


def _fmt(v):
    return "inf" if np.isinf(v) else f"{v:.2f}"


def render(results, args):
    rot = succeeded(results, "rotation")
    layer = succeeded(results, "layers")
    unet = succeeded(results, "unet")
    out = ["Each figure is the PSNR (dB) of f(T x) against T f(x), pooled over the batch "
           "(higher = more equivariant; an exactly equivariant f gives inf): EQ-T = integer "
           "translation, EQ-T_frac = band-limited sub-pixel translation (both up to 1/8 of the "
           "size, per-image random; the wrapped band and a 1/16 border are masked), EQ-R = "
           "band-limited FFT rotation by a random angle in [-180, 180) per image, central disc. "
           "For resolution-changing layers the transform is scaled to the output grid (an odd "
           "integer shift becomes a half-pixel shift after x2 down). See docs/METRICS.md.", ""]
    for backend in results:
        out += _sections(backend, rot.get(backend), layer.get(backend), unet.get(backend), args)
    return "\n".join(out)


def _sections(backend, rot, layer, unet, args):
    out = [f"## {backend}", ""]
    if rot:
        out += ["### Rotation methods (keras_aliasfree.transforms.rotate)", "",
                f"Variance of 4 images of 32x32 white noise kept after {args.rotation_steps} successive rotations "
                f"by {90 / args.rotation_steps:g} degrees (90 in all), and PSNR (central disc) of a band-limited random "
                "image (|w| <= 0.4 pi, faded at the border) rotated by 30 degrees and back.", "",
                "| method | variance kept | 30 deg there and back (dB) |", "|---|---:|---:|"]
        out += [f"| {m} | {k * 100:.1f}% | {_fmt(b)} |" for m, k, b, _ in rot]
        out.append("")
    if layer:
        out += ["Reading the layer rows: integer shifts commute exactly with any pointwise "
                "function and with x2 upsampling (EQ-T = inf). The paper's 3x3 kernels are odd, "
                "so their x2 downsampler cannot be centred (output pixel j sits on input pixel "
                "2j, half an input pixel off the centred grid, like stride-2 subsampling); EQ-R, "
                "which rotates about the image centre on both grids, counts that offset.", ""]
        out += [f"### Layers ({args.layer_num} band-limited random images, "
                f"{args.layer_size}x{args.layer_size}x{args.layer_channels}, |w| <= pi/2, "
                "faded to 0 at the border)", "",
                "| kind | layer | EQ-T | EQ-T_frac | EQ-R |", "|---|---|---:|---:|---:|"]
        out += [f"| {g} | {n} | {_fmt(a)} | {_fmt(b)} | {_fmt(c)} |" for g, n, a, b, c in layer]
        out.append("")
    if unet:
        unet, unet_source = unet["rows"], unet["source"]
        out += [f"### UNet denoiser at t = {args.timestep} ({args.unet_num} noisy inputs: "
                f"{unet_source} noised to t; 32x32x1, full paper widths)", "",
                "| config | weights | EQ-T | EQ-T_frac | EQ-R |", "|---|---|---:|---:|---:|"]
        out += [f"| {c} | {w} | {_fmt(a)} | {_fmt(b)} | {_fmt(r)} |" for c, w, a, b, r in unet]
        out += ["", "Reading the UNet rows: with random weights the 3x3 convolutions are not "
                "rotation-symmetric, so an untrained network's EQ-R is bounded by its "
                "convolutions whatever its resampling; EQ-T/EQ-T_frac of a whole UNet are bounded "
                "by its global operations (self-attention, GroupNorm over the whole image) that "
                "see the content wrapped around by the periodic shift. Differences between "
                "configs are meaningful only for trained checkpoints (`--checkpoint`).", ""]
    return out


DEFAULT_CONFIGS = [("A", "default"), ("B-1N", "default"), ("C-1N", "default"),
                   ("D-1N", "default"), ("B-1N", "paper"), ("C-1N", "paper"), ("D-0N", "paper"),
                   ("D-1N", "paper"), ("D-2N", "paper")]


def rotation(args):
    return rotation_rows(steps=args.rotation_steps, seed=args.seed)


def layers(args):
    return layer_rows(args.layer_size, args.layer_channels, args.layer_num, args.seed)


def unet(args):
    configs = [tuple(c.split(":")) if ":" in c else (c, "default")
               for c in args.configs.split(",") if c]
    rows, source = unet_rows(configs, args.checkpoint, args.timestep, args.unet_num,
                             size=16 if args.quick else 32, seed=args.seed, data_dir=args.data_dir)
    return {"rows": rows, "source": source}


def add_arguments(p):
    p.add_argument("--checkpoint", action="append", default=[],
                   help="checkpoint/run directory to add (repeatable)")
    p.add_argument("--configs", default=",".join(f"{c}:{p_}" for c, p_ in DEFAULT_CONFIGS),
                   help="UNet configs as NAME:PRESET, comma separated")
    p.add_argument("--timestep", type=int, default=500)
    p.add_argument("--unet-num", type=int, default=8)
    p.add_argument("--layer-num", type=int, default=8)
    p.add_argument("--layer-size", type=int, default=64)
    p.add_argument("--layer-channels", type=int, default=8)
    p.add_argument("--rotation-steps", type=int, default=1000)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seed", type=int, default=0)


BENCHMARK = Benchmark(
    "equivariance", "Equivariance of layers and UNet configs (EQ-T, EQ-T_frac, EQ-R in dB)",
    [Scenario("rotation", rotation), Scenario("layers", layers), Scenario("unet", unet)], render,
    add_arguments, backends=("tensorflow",),
    quick={"rotation_steps": 10, "layer_size": 16, "layer_num": 2, "unet_num": 2,
           "configs": "A,D-1N"})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
