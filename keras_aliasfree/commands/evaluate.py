"""``keras-aliasfree evaluate``: FD/KID/IS, denoiser equivariance and rotation consistency of a
trained checkpoint, printed as one table and written as JSON. See docs/METRICS.md.

Example:
    $ keras-aliasfree evaluate --checkpoint runs/mnist_d1n --data mnist --num 2000
    $ keras-aliasfree evaluate --checkpoint mnist-d --extractor mnist-classifier --num 1000 \\
          --steps 20 --eta 1
"""

from __future__ import annotations

from keras_aliasfree.commands import add_rotation_mode_argument
from keras_aliasfree.constants import (AGREEMENT_ANGLES, DEFAULT_DDIM_STEPS,
                                       DEFAULT_ROTATION_METHOD, ROTATION_METHODS,
                                       SAMPLER_NAMES)


def _floats(text):
    text = text.strip()
    return tuple(float(v) for v in text.split(",") if v.strip()) if text else ()


def _methods(text):
    import argparse

    methods = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [m for m in methods if m not in ROTATION_METHODS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown rotation method(s) {', '.join(bad)}; "
                                         f"expected some of {', '.join(ROTATION_METHODS)}")
    return methods


def register(subparsers):
    p = subparsers.add_parser(
        "evaluate", help="FD/KID/IS, EQ-T/EQ-T_frac/EQ-R and rotation consistency of a checkpoint",
        description="Evaluate a trained checkpoint: FD/KID/IS of generated images against real "
        "data (InceptionV3 when its ImageNet weights are in the Keras cache, else the shipped "
        "offline MNIST classifier - the table says which), equivariance of the denoiser in dB, "
        "and rotation consistency of the rotation-aware sampler. Prints a table, writes JSON.")
    p.add_argument("--checkpoint", required=True,
                   help="preset name (`keras-aliasfree presets`), SavedModel export, checkpoint "
                        "or run directory")
    p.add_argument("--data", default="mnist", help="reference data (default mnist)")
    p.add_argument("--split", default="train", help="reference split (default train)")
    p.add_argument("--data-dir", default=None, help="data folder (default $KERAS_ALIASFREE_DATA_DIR)")
    p.add_argument("--num", type=int, default=2000, help="generated and real images (default 2000)")
    p.add_argument("--extractor", default="auto",
                   help="auto | inception | classifier | PRESET (a classifier preset, e.g. "
                   "mnist-classifier) | PATH (classifier folder/.keras or Inception .h5 weights)")
    p.add_argument("--allow-download", action="store_true",
                   help="with --extractor inception: let Keras download the ImageNet weights")
    p.add_argument("--sampler", default="ddim", choices=SAMPLER_NAMES,
                   help="ddim (default; --steps, --eta), dpm++2m, euler, heun (--steps) or ddpm "
                        "(all T steps); docs/SAMPLING.md")
    p.add_argument("--steps", type=int, default=DEFAULT_DDIM_STEPS,
                   help="sampler steps (default %(default)s; DDPM uses all T)")
    p.add_argument("--eta", type=float, default=0.0,
                   help="DDIM noise level: 0 = deterministic (default), 1 = DDPM-like")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--angles", type=_floats, default=(30.0, 60.0, 90.0),
                   help="rotation-consistency sweep in degrees, comma separated ('' skips)")
    p.add_argument("--rotation-num", type=int, default=16, help="images per sweep angle")
    p.add_argument("--rotated-fd-angle", type=float, default=45.0,
                   help="FD/KID of samples rotated by this angle vs rotated data (0 skips)")
    p.add_argument("--rotated-num", type=int, default=None, help="images for it (default --num)")
    p.add_argument("--eq-num", type=int, default=16, help="images for the denoiser's EQ figures")
    p.add_argument("--eq-timestep", type=int, default=500,
                   help="timestep of the raw UNet output's EQ figures (default 500)")
    p.add_argument("--eq-timesteps", type=_floats, default=(100.0, 500.0, 900.0),
                   help="timesteps of the EQ figures of eps_hat on the disc, comma separated "
                        "(default 100,500,900; '' skips)")
    p.add_argument("--rotation-method", default=DEFAULT_ROTATION_METHOD,
                   choices=ROTATION_METHODS)
    add_rotation_mode_argument(p)
    p.add_argument("--agreement-angles", type=_floats, default=AGREEMENT_ANGLES,
                   help="angles of the rotation agreement (kept class, turned-back PSNR); "
                        "'' skips it (default 15,45,90,180)")
    p.add_argument("--agreement-num", type=int, default=200,
                   help="seeds per agreement angle (default 200)")
    p.add_argument("--consistency-methods", type=_methods, default=(),
                   help="rotation methods of the rotation-consistency sweep, comma separated "
                   "(e.g. fft,bilinear; default: --rotation-method only); each other than "
                   "--rotation-method adds rotation_consistency_<method>")
    p.add_argument("--save-samples", default=None, metavar="PATH.npz",
                   help="write the --num unrotated samples scored by FD/KID/IS as uint8 'x' "
                   "(N, H, W, C) to this compressed .npz")
    p.add_argument("--kid-subsets", type=int, default=100)
    p.add_argument("--kid-subset-size", type=int, default=1000)
    p.add_argument("--cache-dir", default=None,
                   help="reference statistics cache (default $KERAS_ALIASFREE_CACHE_DIR or "
                   "~/.cache/keras_aliasfree)")
    p.add_argument("--json", default=None,
                   help="output JSON (default <checkpoint dir>/evaluation.json)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    import sys

    from keras_aliasfree.commands import resolve_model_announced
    from keras_aliasfree.diffusion import is_checkpoint
    from keras_aliasfree.metrics import evaluation
    from keras_aliasfree.metrics.extractors import get_extractor
    from keras_aliasfree.presets import PresetError

    try:  # a missing or damaged checkpoint, an unknown preset: one line before any work
        checkpoint = resolve_model_announced(args.checkpoint)
    except (FileNotFoundError, ValueError, PresetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.save_samples is not None and not args.save_samples.endswith(".npz"):
        print(f"error: --save-samples {args.save_samples}: the name must end in .npz",
              file=sys.stderr)
        return 2
    ext = args.extractor
    if ext == "inception" and args.allow_download:
        ext = get_extractor("inception", allow_download=True)
    try:
        options = evaluation.EvaluationOptions(
            data=args.data, num=args.num, split=args.split, extractor=ext,
            sampler=args.sampler, steps=args.steps, eta=args.eta, batch_size=args.batch_size,
            seed=args.seed, angles=args.angles, rotation_num=args.rotation_num,
            rotated_fd_angle=args.rotated_fd_angle, rotated_num=args.rotated_num,
            eq_num=args.eq_num, eq_timestep=args.eq_timestep, eq_timesteps=args.eq_timesteps,
            rotation_method=args.rotation_method, rotation_mode=args.rotation_mode,
            agreement_angles=args.agreement_angles, agreement_num=args.agreement_num,
            consistency_methods=args.consistency_methods or (), kid_subsets=args.kid_subsets,
            kid_subset_size=args.kid_subset_size, data_dir=args.data_dir, cache=args.cache_dir,
            save_samples=args.save_samples, verbose=not args.quiet)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    report = evaluation.evaluate_checkpoint(checkpoint, options)
    meta = report.meta
    print(f"\n{meta['checkpoint']} (UNet {meta['unet']}), {meta['num']} samples, "
          f"{meta['sampler']} {meta['steps'] or ''} steps, extractor {meta['extractor']}")
    print(evaluation.format_table(report))
    # beside a training checkpoint; an export (a preset, perhaps inside site-packages) is not
    # written into: the current folder
    path = args.json or (os.path.join(meta["checkpoint"], "evaluation.json")
                         if is_checkpoint(meta["checkpoint"])
                         else f"evaluation-{os.path.basename(meta['checkpoint'])}.json")
    evaluation.write_json(report, path)
    print(f"wrote {path}")
    return 0
