"""``keras-aliasfree export``: a training checkpoint -> TensorFlow SavedModel (serving signatures).

Example:
    $ keras-aliasfree export --checkpoint runs/mnist_d1n --out saved_models/mnist-d
    $ saved_model_cli show --all --dir saved_models/mnist-d

Signatures ``sample`` (= ``serving_default``) and ``denoise``; see docs/SERVING.md. The SavedModel
is traced with the TensorFlow backend; under JAX or PyTorch the command re-runs itself in a
subprocess with ``KERAS_BACKEND=tensorflow`` (checkpoint weights are backend-independent).
"""

from __future__ import annotations

import sys

from keras_aliasfree.commands import add_rotation_mode_argument
from keras_aliasfree.constants import (DEFAULT_DDIM_STEPS, DEFAULT_MAX_IMAGES,
                                       DEFAULT_ROTATION_METHOD, ROTATION_METHODS,
                                       SAMPLER_NAMES)


def register(subparsers):
    p = subparsers.add_parser(
        "export", help="export a checkpoint as a TensorFlow SavedModel (sample/denoise signatures)",
        description="Write a TensorFlow SavedModel whose signatures serve rotation-aware sampling "
                    "(sample: seed, num_images, rotation_degrees, steps -> uint8 images; "
                    "serving_default = sample) and the denoiser (denoise), with the EMA weights. "
                    "Loading it needs only TensorFlow.")
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint directory or training run directory (its latest checkpoint)")
    p.add_argument("--out", required=True, help="SavedModel directory to write")
    p.add_argument("--rotation-method", default=DEFAULT_ROTATION_METHOD, choices=ROTATION_METHODS,
                   help="rotation of x_t traced into sample (default %(default)s, the library's)")
    p.add_argument("--eta", type=float, default=0.0,
                   help="DDIM noise level of sample when steps < T, fixed in the export "
                        "(0 = deterministic DDIM, the default; 1 = DDPM-like fresh noise)")
    p.add_argument("--sampler", default=None, choices=SAMPLER_NAMES,
                   help="fix this sampler (with --steps) in the export: its tables become graph "
                        "constants and sample's steps input must be <= 0 or --steps (default: "
                        "none fixed; sample runs DDPM or DDIM with --eta for any run-time steps)")
    p.add_argument("--steps", type=int, default=DEFAULT_DDIM_STEPS,
                   help="the fixed sampler's steps (default %(default)s; with --sampler)")
    p.add_argument("--max-images", type=int, default=DEFAULT_MAX_IMAGES,
                   help="the most images one sample call may ask for (default %(default)s; a "
                        "larger num_images fails with InvalidArgumentError)")
    add_rotation_mode_argument(p, "`sample` (fixed in the export)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--no-verify", action="store_true",
                   help="skip reloading the SavedModel to check denoise against the Keras UNet")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=run)
    return p


def run(args):
    from keras_aliasfree.commands import find_checkpoint_announced
    from keras_aliasfree.diffusion.samplers import sampler_from_options
    from keras_aliasfree.export import export_saved_model

    try:
        sampler, eta = None, args.eta
        if args.sampler is not None:
            sampler, eta = sampler_from_options(args.sampler, args.steps, args.eta), 0.0
        checkpoint = find_checkpoint_announced(args.checkpoint)
        export_saved_model(checkpoint, args.out, rotation_method=args.rotation_method,
                           overwrite=args.overwrite, verify=not args.no_verify,
                           verbose=not args.quiet, eta=eta, max_images=args.max_images,
                           sampler=sampler, rotation_mode=args.rotation_mode)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
