"""``keras-aliasfree sample``: images (optionally rotated) from a trained checkpoint.

Example:
    $ keras-aliasfree sample --checkpoint runs/mnist_d1n --num 64 --rotation 45 --out grid.png
    $ keras-aliasfree sample --checkpoint mnist-d --num 16 --steps 20 --eta 1 --out grid.png
    $ keras-aliasfree sample --checkpoint mnist-d --num 16 --sampler dpm++2m --steps 10
    $ keras-aliasfree sample --checkpoint runs/mnist_d1n --num 16 --rotation 90 --frames 9 \\
          --out sweep.gif
    $ keras-aliasfree sample --checkpoint runs/mnist_d1n --num 4 --rotation 90 --frames 7 \\
          --out strip.png       # a row per image, a column per angle (-90, -60, ..., 90)
"""

from __future__ import annotations

import math
import os
import sys

from keras_aliasfree.commands import add_rotation_mode_argument
from keras_aliasfree.constants import (DEFAULT_DDIM_STEPS, DEFAULT_ROTATION_METHOD,
                                       DEFAULT_SAMPLER, DEFAULT_SAMPLER_STEPS,
                                       ROTATION_METHODS, SAMPLER_NAMES)


def register(subparsers):
    p = subparsers.add_parser(
        "sample", help="generate images from a checkpoint (optionally rotated by --rotation)",
        description="Generate an image grid (PNG) from a training checkpoint or run directory; "
                    "--rotation turns the images during the reverse process (rotation-aware "
                    "sampling); --frames K writes a GIF sweeping the rotation from -phi to phi "
                    "(or, with a .png --out, one strip: a row per image, a column per frame).")
    p.add_argument("--checkpoint", required=True,
                   help="preset name (`keras-aliasfree presets`), SavedModel export, checkpoint "
                        "directory or training run directory (its latest checkpoint)")
    p.add_argument("--num", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--rotation", type=float, default=0.0, help="rotation in degrees (default 0)")
    p.add_argument("--rotation-method", default=DEFAULT_ROTATION_METHOD, choices=ROTATION_METHODS,
                   help="rotation of x_t at each step (default %(default)s; fft is the "
                        "band-limited three-shear)")
    add_rotation_mode_argument(p)
    p.add_argument("--sampler", default=DEFAULT_SAMPLER, choices=SAMPLER_NAMES,
                   help="heun (default: the best at <= 20 network evaluations on the shipped "
                        "models; --steps), ddim (--steps, --eta), dpm++2m, euler (--steps) or "
                        "ddpm (all T steps); docs/SAMPLING.md")
    p.add_argument("--steps", type=int, default=None,
                   help=f"sampler steps (default {DEFAULT_SAMPLER_STEPS} for heun, which "
                        f"evaluates the model 2 steps - 1 times, {DEFAULT_DDIM_STEPS} for the "
                        "others; ddpm runs all T)")
    p.add_argument("--eta", type=float, default=0.0,
                   help="DDIM noise level: 0 = deterministic (default), 1 = DDPM-like")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--frames", type=int, default=0,
                   help="write a GIF of K frames sweeping the rotation from -phi to phi (a .png "
                   "--out: the frames side by side, a row per image, a column per frame)")
    p.add_argument("--raw-weights", action="store_true",
                   help="sample with the raw trained weights instead of the EMA copy")
    p.add_argument("--nrow", type=int, default=None, help="images per grid row (default sqrt)")
    p.add_argument("--out", default="samples.png", help="output PNG (or GIF with --frames)")
    p.set_defaults(func=run)
    return p


def check_output_path(path, gif=False):
    """What is wrong with an output image path, or None (checked before any sampling work).

    Example:
        >>> check_output_path("grid.png"), check_output_path("grid.jpgg")[:31]
        (None, "--out grid.jpgg: unknown image")
    """
    if os.path.isdir(path):
        return f"--out {path} is a directory; give a file name such as {path}/samples.png"
    ext = os.path.splitext(path)[1].lower()
    if gif and ext not in (".gif", ".png"):
        return (f"--out {path}: --frames writes a GIF or a strip PNG, so the name must end in "
                ".gif (the animation) or .png (the frames side by side)")
    from PIL import Image

    if ext not in Image.registered_extensions():
        return (f"--out {path}: unknown image extension {ext or '(none)'!r}; use .png "
                "(or .gif with --frames)")
    return None


def run(args):
    import numpy as np

    from keras_aliasfree.commands import resolve_model_announced
    from keras_aliasfree.diffusion import DiffusionModel
    from keras_aliasfree.diffusion.samplers import sampler_from_options
    from keras_aliasfree.presets import PresetError
    from keras_aliasfree.images import make_grid, save_grid, to_pil

    problem = check_output_path(args.out, gif=bool(args.frames and args.frames > 0))
    if problem is None and args.num < 1:
        problem = f"--num must be >= 1, got {args.num}"
    if problem is None and not math.isfinite(args.rotation):
        problem = f"--rotation must be a finite number of degrees, got {args.rotation}"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        sampler = sampler_from_options(args.sampler, args.steps, args.eta)
        ckpt = resolve_model_announced(args.checkpoint)
        model = DiffusionModel.from_preset(ckpt)
        sampler.tables(model.schedule)  # checks --steps against the schedule before sampling
    except (FileNotFoundError, ValueError, PresetError) as e:  # CheckpointError: a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    kw = dict(sampler=sampler, seed=args.seed, rotation_method=args.rotation_method,
              use_ema=not args.raw_weights, rotation_mode=args.rotation_mode)
    print(f"checkpoint: {ckpt}; sampler {sampler!r}, {sampler.nfe(model.schedule)} NFE")
    if args.frames and args.frames > 0:
        angles = np.linspace(-args.rotation, args.rotation, args.frames) if args.frames > 1 \
            else np.array([args.rotation])
        frames = []
        for k, phi in enumerate(angles):
            print(f"frame {k + 1}/{len(angles)}: rotation {phi:+.1f} deg")
            frames.append(model.sample(args.num, rotation=float(phi), **kw))
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        if args.out.lower().endswith(".png"):  # image i of frame k at row i, column k
            save_grid(np.stack(frames, axis=1).reshape(-1, *frames[0].shape[1:]), args.out,
                      len(frames))
            print(f"wrote {args.out} ({args.num} rows x {len(frames)} frames)")
            return 0
        frames = [to_pil(make_grid(imgs, args.nrow)) for imgs in frames]
        frames[0].save(args.out, save_all=True, append_images=frames[1:], duration=200, loop=0)
        print(f"wrote {args.out} ({len(frames)} frames)")
        return 0
    imgs = model.sample(args.num, rotation=args.rotation, **kw)
    save_grid(imgs, args.out, args.nrow)
    print(f"wrote {args.out} ({args.num} images, rotation {args.rotation} deg)")
    return 0
