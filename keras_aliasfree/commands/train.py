"""``keras-aliasfree train``: train a UNet config (A, B-*, C-*, D-*) as a diffusion model.

Example:
    $ KERAS_ALIASFREE_DATA_DIR=../shared/data keras-aliasfree train --config D-1N --data mnist \\
          --epochs 100 --batch-size 16 --out runs/mnist_d1n
    $ keras-aliasfree train --out runs/mnist_d1n --epochs 120 --resume   # continue the run
    $ keras-aliasfree train --data mnist --out runs/dp --distribute mirrored --cpu-devices 2

``--distribute`` trains data-parallel with the backend's own engine (tf.distribute on TensorFlow,
keras.distribution on JAX) and ``--mixed-precision`` sets the dtype policy; see
docs/DISTRIBUTED.md.

Writes ``OUT/checkpoints/epoch_NNNN/`` atomically after each epoch (``OUT/checkpoints/latest``
names the newest), TensorBoard logs in ``OUT/logs`` (loss; a sample grid every
``--sample-every`` epochs, also saved as ``OUT/samples/epoch_NNNN.png``) and the arguments in
``OUT/train_args.json``. A NaN/inf loss stops the run with exit code 3 and keeps the last good
checkpoint; ``--checkpoint-every N`` adds step checkpoints, and SIGTERM / SIGINT save the running
step and exit 143 / 130 (``commands/_resume.py``). See docs/TRAINING.md.
"""

from __future__ import annotations

import os
import sys

from keras_aliasfree.commands._resume import (_config_name, _note_stored_settings,
                                              _stored_mixed_precision, _write_args,
                                              add_preemption_args)
from keras_aliasfree.commands._train_data import load_training_data
from keras_aliasfree.constants import DEFAULT_DDIM_STEPS, LOSS_WEIGHTINGS, PREDICTION_TYPES
from keras_aliasfree.distribute import DISTRIBUTE_MODES, MIXED_PRECISION

EXIT_NAN = 3
# What `train` builds without --config: the config that measured best (FD/IS on the shipped MNIST
# classifier at 1,500 to 18,000 steps; no alias-free config was more rotation-equivariant with free
# 3x3 convolutions). docs/TRAINING.md, "Which config", has the figures; saved_models/README.md the
# longest runs.
DEFAULT_CONFIG = "A"
#: ``--recipe``: the prediction target and loss weighting of a new run (flags override them)
RECIPES = {"default": {"prediction": "v", "loss_weighting": "min_snr"},
           "paper": {"prediction": "epsilon", "loss_weighting": "uniform"}}


def register(subparsers):
    p = subparsers.add_parser(
        "train", help="train a diffusion UNet (configs A-D, E) with model.fit",
        description="Train a UNet config (A, B-<beta>[N], C-..., D-..., E) as a DDPM noise predictor "
                    "with model.fit on the current Keras backend; atomic per-epoch checkpoints, "
                    "--resume, TensorBoard logs.")
    p.add_argument("--config", default=None,
                   help=f"UNet config name: A, or B/C/D[-<beta>[N]] (default {DEFAULT_CONFIG}: the "
                        "config that measured best at every budget tried on MNIST, "
                        "docs/TRAINING.md, 'Which config'); for B/C/D the kernel is this "
                        "library's 8x8 radial jinc (cutoff pi/2) with that Kaiser beta unless "
                        "--kernel-size/--cutoff say otherwise, so D-1N is NOT the paper's 3x3: "
                        "add --filter-preset paper for the paper's filters; E (or E8): the "
                        "orientation-equivariant UNet over C_4 (C_8) with an 'up' input "
                        "(docs/EQUIVARIANT.md). With --resume the checkpoint's config is used")
    p.add_argument("--data", default=None,
                   help="mnist | cifar10 | mnist_m | tfds:NAME | a path (.npz with an image "
                        "array 'x'/'images'/first array, image folder, .csv)")
    p.add_argument("--data-dir", default=None,
                   help="data folder (default $KERAS_ALIASFREE_DATA_DIR or ~/.keras/datasets)")
    p.add_argument("--split", default="train")
    p.add_argument("--limit", type=int, default=None, help="use only the first N images")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--channels", type=int, default=None, help="1 or 3 (default: the data's own)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="batches per epoch (default: one pass over the data)")
    p.add_argument("--lr", type=float, default=3e-4, help="AdamW learning rate (default 3e-4)")
    p.add_argument("--lr-schedule", default="constant", choices=("constant", "cosine"),
                   help="after --warmup-steps: keep --lr (default) or decay it to 0 by the last "
                        "step (cosine)")
    p.add_argument("--warmup-steps", type=int, default=0,
                   help="linear learning-rate warmup from 0 over this many steps (default 0)")
    p.add_argument("--recipe", default="default", choices=tuple(RECIPES),
                   help="default: v-prediction with min-SNR-5 loss weighting, the recipe that "
                        "measured best (docs/benchmarks/recipe.md; the paper's drew blobs at CPU "
                        "budgets); paper: the paper's epsilon-prediction with uniform weighting. "
                        "--prediction / --loss-weighting override either")
    p.add_argument("--prediction", default=None, choices=PREDICTION_TYPES,
                   help="network target: epsilon (the noise; the paper), v (Salimans & Ho 2022; "
                        "the default recipe) or x0 (the clean image)")
    p.add_argument("--loss-weighting", default=None, choices=LOSS_WEIGHTINGS,
                   help="uniform MSE on the target (the paper) or min_snr (Hang et al. 2023; the "
                        "default recipe)")
    p.add_argument("--snr-gamma", type=float, default=5.0, help="gamma of min_snr (default 5)")
    p.add_argument("--weight-decay", type=float, default=0.01,
                   help="AdamW weight decay (default 0.01, PyTorch's AdamW default)")
    p.add_argument("--timesteps", type=int, default=1000)
    p.add_argument("--schedule", default="linear", choices=("linear", "cosine"))
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--base-width", type=int, default=None,
                   help="UNet base width (default = image size, as the paper); for E configs "
                        "in fields of N channels (default image size / N)")
    p.add_argument("--no-attention", action="store_true", help="drop all self-attention blocks")
    p.add_argument("--no-up", action="store_true",
                   help="E configs: no 'up' input (the network is then equivariant in the image "
                        "alone and samples a rotation-invariant mix)")
    p.add_argument("--up-augment", type=float, default=0.0, metavar="P",
                   help="E configs: turn this fraction of the training images by a uniform random "
                        "angle, 'up' turned with them (default 0: upright data only)")
    p.add_argument("--equivariance-weight", type=float, default=0.0, metavar="W",
                   help="E configs: weight of a loss term that compares the denoiser on x_t "
                        "turned by a random angle (up turned with it) with its output turned "
                        "afterwards; teaches the angles between quarter turns (default 0: off; "
                        "about 2x the step time)")
    p.add_argument("--equivariance-timesteps", type=_timestep_pair, default=None,
                   metavar="LOW:HIGH",
                   help="E configs: spend the equivariance term on timesteps drawn uniformly in "
                        "LOW..HIGH-1 (250:750: where rotation-aware sampling loses the digit, "
                        "docs/EQUIVARIANT.md), one more forward pass per step; default: the main "
                        "loss's timesteps")
    p.add_argument("--kernel-taper", type=float, default=None, metavar="PIXELS",
                   help="E configs: window every steerable kernel with a raised cosine reaching "
                        "this far beyond its outer ring (1.5: the best margin the layer benchmark "
                        "tried, docs/benchmarks/steerable_basis_taper.md); default: square "
                        "kernels")
    p.add_argument("--filter-preset", default="default", choices=("default", "paper"))
    p.add_argument("--filter-rank", type=int, default=None,
                   help="separable terms kept of every filter (default: the preset's rule); e.g. "
                        "--config D-6N --kernel-size 12 --filter-rank 2 is flat to 0.5 pi at the "
                        "default kernel's cost")
    p.add_argument("--conv", default="free", choices=("free", "isotropic"),
                   help="the conv blocks' 3x3 convolutions: free (the paper's) or isotropic "
                        "(two weights per channel pair, no preferred direction)")
    p.add_argument("--kernel-size", type=int, default=None)
    p.add_argument("--cutoff", type=float, default=None, help="filter cutoff in radians")
    p.add_argument("--band-limit", default="auto", choices=("auto", "disc", "none"),
                   help="treat the data as band-limited to the disc of a rotation (closed-form "
                        "noise prediction outside it); auto = disc for configs C/D with the "
                        "default filters (see DiffusionModel)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT's latest checkpoint (epoch, optimizer, EMA, RNG); the "
                        "stored model and optimizer settings win over the flags given now")
    p.add_argument("--init-from", default=None, metavar="CHECKPOINT",
                   help="fine-tune: start a new run from this checkpoint's network and weights "
                        "(raw and EMA; its schedule, prediction and band limit), trained with "
                        "the flags given now (network flags such as --base-width are ignored, "
                        "with a note); the optimizer and the step count start afresh. A preset "
                        "name (mnist-e) or an export folder works too: its EMA weights start "
                        "both the raw and the EMA copy")
    p.add_argument("--allow-older-checkpoint", action="store_true",
                   help="with --resume: when the newest checkpoint is damaged, resume from the "
                        "newest intact one (later epochs are retrained and their checkpoint "
                        "replaced); without it such a resume is refused")
    p.add_argument("--keep", type=int, default=2, help="checkpoints to keep (default 2)")
    add_preemption_args(p)
    p.add_argument("--sample-every", type=int, default=5,
                   help="sample a grid every K epochs (0 = never; default 5)")
    p.add_argument("--sample-steps", type=int, default=DEFAULT_DDIM_STEPS,
                   help="DDIM steps for the grid (default %(default)s)")
    p.add_argument("--seed", type=int, default=None, help="seed (weights, noise, data order)")
    p.add_argument("--no-jit", action="store_true",
                   help="compile(jit_compile=False); default \"auto\" (XLA on TF/JAX, eager "
                        "torch; never XLA under a tf.distribute strategy)")
    p.add_argument("--verbose", type=int, default=1, help="Keras fit verbosity (0, 1, 2)")
    p.add_argument("--distribute", default="none", choices=DISTRIBUTE_MODES,
                   help="data-parallel engine: mirrored (TensorFlow MirroredStrategy, one host), "
                        "multi-worker (TensorFlow MultiWorkerMirroredStrategy via TF_CONFIG; JAX "
                        "keras.distribution.initialize), data-parallel (JAX "
                        "keras.distribution.DataParallel); --batch-size is the global batch. "
                        "See docs/DISTRIBUTED.md")
    p.add_argument("--mixed-precision", default="float32", choices=MIXED_PRECISION,
                   help="compute dtype: float32 (default), bfloat16 (mixed_bfloat16) or float16 "
                        "(mixed_float16 with loss scaling); weights, EMA and schedule stay float32")
    p.add_argument("--cpu-devices", type=int, default=None,
                   help="split the CPU into N logical devices (TensorFlow logical devices, JAX "
                        "host platform device count; accelerators unused) to try --distribute "
                        "without GPUs")
    p.set_defaults(func=run)
    return p


def run(args):
    """Set up devices, the distribution engine and the dtype policy, then train (see _train)."""
    from keras_aliasfree import distribute

    out = os.path.abspath(args.out)
    problem = _check_args(args, out)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:  # before the backend touches a device: logical CPUs, then the strategy
        distribute.check_supported(args.distribute)
        if args.distribute == "multi-worker" and args.seed is None:
            raise ValueError("--distribute multi-worker needs --seed (every worker must shuffle "
                             "the data and initialise the same way)")
        if args.cpu_devices:
            distribute.set_cpu_devices(args.cpu_devices)
        dist = distribute.get_distribution(args.distribute)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.batch_size % dist.num_replicas:
        print(f"error: --batch-size {args.batch_size} (the global batch) must be a multiple of "
              f"the {dist.num_replicas} replicas", file=sys.stderr)
        return 2
    import keras

    policy = keras.config.dtype_policy()
    try:
        return _train(args, dist)
    finally:
        keras.config.set_dtype_policy(policy)  # in-process callers get their policy back


def _train(args, dist):
    import keras

    from keras_aliasfree._io import remove_stale_temps
    from keras_aliasfree.commands import find_checkpoint_announced
    from keras_aliasfree.diffusion.checkpoint import CheckpointError
    from keras_aliasfree.distribute import set_mixed_precision
    config_given = args.config is not None
    if not config_given:
        args.config = DEFAULT_CONFIG
    out = os.path.abspath(args.out)
    chief = dist.is_chief  # only the chief of a multi-worker job writes checkpoints and logs
    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)

    resume_from = None
    if args.resume:
        if chief:
            remove_stale_temps(os.path.join(out, "checkpoints"))
        try:
            resume_from = find_checkpoint_announced(
                out, allow_older=args.allow_older_checkpoint, for_resume=True)
        except FileNotFoundError:
            print(f"--resume: no checkpoint in {out}; starting a new run", file=sys.stderr)
        except CheckpointError as e:
            print(f"error: cannot resume: {e}", file=sys.stderr)
            return 2
    elif chief and os.path.isdir(os.path.join(out, "checkpoints")) and \
            any(d.startswith("epoch_") for d in os.listdir(os.path.join(out, "checkpoints"))):
        print(f"error: {out} already has checkpoints; pass --resume to continue it or choose "
              "another --out", file=sys.stderr)
        return 2

    try:
        _config_name(args.config)
        x, _ = load_training_data(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.batch_size > len(x):
        print(f"error: --batch-size {args.batch_size} is larger than the {len(x)} training "
              "images", file=sys.stderr)
        return 2

    if resume_from:
        args.mixed_precision = _stored_mixed_precision(args, out)
    print(f"{dist.describe()}, global batch {args.batch_size} "
          f"({args.batch_size // dist.num_replicas} per replica), mixed precision "
          f"{set_mixed_precision(args.mixed_precision)}")
    with dist.scope():  # variables, optimizer and steps placed by the engine
        try:
            model, net, initial_epoch = _build(args, dist, x, resume_from, out, config_given)
        except CheckpointError as e:
            print(f"error: cannot resume: {e}", file=sys.stderr)
            return 2
        except (ValueError, FileNotFoundError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    if initial_epoch >= args.epochs:
        print(f"nothing to do: the run already has {initial_epoch} epochs (--epochs {args.epochs})")
        return 0
    return _fit(args, dist, model, net, x, initial_epoch, resume_from, out)


def _build(args, dist, x, resume_from, out, config_given=True):
    """The compiled (and, on --resume, restored) model, its UNet and the first epoch.

    Raises ``ValueError`` (or ``CheckpointError``) on settings or a checkpoint that cannot be
    used; :func:`_train` reports them."""
    import keras

    from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
    from keras_aliasfree.diffusion.exported import is_export
    from keras_aliasfree.diffusion.training import resumable_model
    from keras_aliasfree.filter_spec import FilterSpec
    from keras_aliasfree.equivariant_unet import build_equivariant_unet, equivariant_group_order
    from keras_aliasfree.unet import build_unet

    if resume_from:
        model, optimizer, cfg = resumable_model(
            resume_from, seed=args.seed,
            default_optimizer=lambda: keras.optimizers.AdamW(args.lr,
                                                             weight_decay=args.weight_decay))
        _note_stored_settings(args, cfg, out, config_given)
    elif args.init_from:
        model, optimizer = _fine_tuned(args, x, config_given)
    else:
        recipe = RECIPES[args.recipe]
        args.prediction = args.prediction or recipe["prediction"]
        args.loss_weighting = args.loss_weighting or recipe["loss_weighting"]
        filters = FilterSpec(kernel_size=args.kernel_size, cutoff=args.cutoff,
                             preset=args.filter_preset, rank=args.filter_rank)
        group_order = equivariant_group_order(args.config)
        if group_order:
            net = build_equivariant_unet(args.image_size, int(x.shape[-1]), args.base_width,
                                         group_order, filters=filters, use_up=not args.no_up,
                                         kernel_taper=args.kernel_taper)
        else:
            if (args.no_up or args.up_augment or args.equivariance_weight
                    or args.equivariance_timesteps or args.kernel_taper is not None):
                raise ValueError("--no-up, --up-augment, --equivariance-weight, "
                                 "--equivariance-timesteps and --kernel-taper apply to the "
                                 "equivariant configs (E, E8) only")
            net = build_unet(args.config, image_size=args.image_size, channels=int(x.shape[-1]),
                             base_width=args.base_width, attention=not args.no_attention,
                             filters=filters, conv=args.conv)
        model = DiffusionModel(net, NoiseSchedule(args.timesteps, kind=args.schedule),
                               ema_decay=args.ema_decay, seed=args.seed,
                               band_limit=args.band_limit, prediction=args.prediction,
                               loss_weighting=args.loss_weighting, snr_gamma=args.snr_gamma,
                               up_augment=args.up_augment,
                               equivariance_weight=args.equivariance_weight,
                               equivariance_timesteps=args.equivariance_timesteps)
        optimizer = _optimizer(args, x)
    if tuple(x.shape[1:]) != model.image_shape:
        raise ValueError(f"data images are {tuple(x.shape[1:])} but the model expects "
                         f"{model.image_shape}")
    # "auto": XLA on TensorFlow/JAX; PyTorch stays eager (torch.compile is slow to build here)
    model.compile(optimizer=optimizer,
                  jit_compile=dist.jit_compile(False if args.no_jit else "auto"))
    initial_epoch = 0
    if args.init_from and not resume_from:
        if is_export(args.init_from):  # the export's weights were loaded into the denoiser
            print(f"fine-tuning {args.init_from} (its EMA weights as raw and EMA; a fresh "
                  "optimizer)")
        else:
            model.load_weights_from_checkpoint(args.init_from)
            print(f"fine-tuning {args.init_from} (raw and EMA weights; a fresh optimizer)")
    if resume_from:
        state = model.restore_training_state(resume_from)
        if not os.path.isfile(os.path.join(resume_from, "optimizer.npz")):
            print(f"warning: {resume_from} has no optimizer.npz: the optimizer starts afresh "
                  "(moments reset)", file=sys.stderr)
        initial_epoch = int(state.get("epoch", 0))
        print(f"resumed from {resume_from}: epoch {initial_epoch}, step {state.get('step')}")
    return model, model.denoiser, initial_epoch


def _optimizer(args, x):
    import keras

    from keras_aliasfree.diffusion.training import learning_rate, total_steps

    steps = total_steps(args.epochs, len(x), args.batch_size, args.steps_per_epoch)
    lr = learning_rate(args.lr, args.lr_schedule, args.warmup_steps, steps)
    return keras.optimizers.AdamW(lr, weight_decay=args.weight_decay)


# flags that shape the network, with their defaults: a fine-tune takes the checkpoint's network
_NETWORK_FLAGS = {"base_width": None, "no_attention": False, "no_up": False,
                  "conv": "free", "kernel_size": None, "cutoff": None, "filter_preset": "default",
                  "filter_rank": None, "kernel_taper": None}


def _fine_tuned(args, x, config_given=True):
    """``--init-from``: the checkpoint's (or export's) network, schedule, prediction and band
    limit with this run's training options (a checkpoint's weights are loaded after
    ``compile``; an export's are in the denoiser it rebuilds)."""
    from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
    from keras_aliasfree.unet import unet_from_config

    cfg, denoiser = _init_source(args)
    if args.prediction not in (None, cfg["prediction"]):
        print(f"note: --init-from keeps the checkpoint's prediction {cfg['prediction']!r} "
              f"(given {args.prediction!r})", file=sys.stderr)
    args.prediction = cfg["prediction"]
    ignored = [f"--{k.replace('_', '-')}" for k, default in _NETWORK_FLAGS.items()
               if getattr(args, k, default) != default]
    if config_given and _config_name(args.config) != cfg["unet"]["config"]:
        ignored.insert(0, "--config")
    if ignored:
        print(f"note: --init-from keeps the checkpoint's network ({cfg['unet']['config']}); "
              f"ignored: {' '.join(ignored)}", file=sys.stderr)
    args.loss_weighting = args.loss_weighting or RECIPES[args.recipe]["loss_weighting"]
    args.config = cfg["unet"]["config"]
    if denoiser is None:
        denoiser = unet_from_config(cfg["unet"])
    model = DiffusionModel(denoiser, NoiseSchedule(**cfg["schedule"]),
                           ema_decay=args.ema_decay, seed=args.seed,
                           band_limit=cfg["band_limit"], prediction=cfg["prediction"],
                           loss_weighting=args.loss_weighting, snr_gamma=args.snr_gamma,
                           up_augment=args.up_augment,
                           equivariance_weight=args.equivariance_weight,
                           equivariance_timesteps=args.equivariance_timesteps)
    return model, _optimizer(args, x)


def _timestep_pair(text):
    """``--equivariance-timesteps LOW:HIGH`` as ``[low, high]`` (a list: as JSON stores it, so
    ``--resume`` compares it with the stored setting as equal)."""
    import argparse

    low, sep, high = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return [int(low), int(high)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH (two integers, e.g. 250:750), got "
                                         f"{text!r}") from None


def _init_source(args):
    """``(config, denoiser)`` of ``--init-from``: a checkpoint or run directory (denoiser
    ``None``: built from the config, weights loaded later), or a preset name or export folder
    (the UNet rebuilt with the export's EMA weights). Sets ``args.init_from`` to the folder."""
    from keras_aliasfree.diffusion.checkpoint import (MODEL_DEFAULTS, find_checkpoint,
                                                      read_checkpoint_config)
    from keras_aliasfree.diffusion.exported import denoiser_from_export, is_export
    from keras_aliasfree.presets import PresetError, resolve_preset

    try:
        path = resolve_preset(args.init_from, kind="diffusion")
    except PresetError as e:
        raise ValueError(f"--init-from {args.init_from}: {e.args[0]}") from None
    if is_export(path):
        args.init_from = path
        info, denoiser = denoiser_from_export(path)
        cfg = {"unet": info.get("unet"), "schedule": info["schedule"],
               "band_limit": info.get("band_limit"),
               "prediction": info.get("prediction", MODEL_DEFAULTS["prediction"])}
        return cfg, denoiser
    args.init_from = find_checkpoint(path)
    cfg = read_checkpoint_config(args.init_from)
    if not cfg.get("unet"):
        raise ValueError(f"--init-from {args.init_from}: not a UNet checkpoint of this library")
    return cfg, None


def _fit(args, dist, model, net, x, initial_epoch, resume_from, out):
    import keras

    from keras_aliasfree.commands._resume import _data_seed, report_stop
    from keras_aliasfree.diffusion import TrainingCheckpoint, read_training_state
    from keras_aliasfree.diffusion.preemption import (StopOnSignal, StopSignals, fit_from_step,
                                                      resume_step)

    chief = dist.is_chief
    record = {**vars(args), "func": None, "backend": keras.backend.backend(),
              "num_images": int(x.shape[0]), "params": int(net.count_params()),
              "band_limit_resolved": model.band_limit, "num_replicas": dist.num_replicas}
    if chief:
        os.makedirs(out, exist_ok=True)
        _write_args(out, record, resume_from)
    print(f"config {model.denoiser.unet_config['config']}: {net.count_params():,} parameters, "
          f"band limit {model.band_limit}, prediction {model.prediction}, loss weighting "
          f"{model.loss_weighting}, "
          f"{x.shape[0]} images {model.image_shape}, backend {keras.backend.backend()}, "
          f"{dist.num_replicas} replica{'s' if dist.num_replicas > 1 else ''} train")
    stop, state = StopSignals(), (read_training_state(resume_from) if resume_from else {})
    spe = args.steps_per_epoch or len(x) // args.batch_size  # full (global) batches only
    start, data_seed = resume_step(state, spe), _data_seed(state, args)
    callbacks = [StopOnSignal(stop)]  # workers stop with the chief (docs/DISTRIBUTED.md)
    ckpt_cb = TrainingCheckpoint(out, keep=args.keep, sample_every=args.sample_every,
                                 sample_steps=args.sample_steps, sample_seed=0,
                                 extra_state={"config": model.denoiser.unet_config["config"],
                                              "mixed_precision": args.mixed_precision,
                                              "data_seed": data_seed},
                                 verbose=args.verbose, checkpoint_every=args.checkpoint_every,
                                 steps_per_epoch=spe, initial_step=start, stop=stop)
    if chief:
        callbacks = [ckpt_cb]
        try:
            import tensorflow  # noqa: F401  (TensorBoard writer: TF only)

            callbacks.append(keras.callbacks.TensorBoard(os.path.join(out, "logs"),
                                                         update_freq="epoch", write_graph=False))
        except ImportError:
            print("note: TensorFlow is not installed; no TensorBoard logs", file=sys.stderr)
    x, batch = dist.local_share(x, args.batch_size)  # JAX multi-process: this process's share
    with stop, dist.fit_scope():  # the batch of each step is fixed by (data seed, step)
        fit_from_step(model, x, batch, args.epochs, spe, data_seed, start, callbacks,
                      args.verbose)
    if stop.received is not None and model.stop_training:
        return report_stop(args, stop, ckpt_cb, chief, dist)
    if ckpt_cb.nan_epoch is not None:
        kept = ckpt_cb.last_good_checkpoint()
        where = (f"the last good checkpoint is {kept}" if kept else
                 "no epoch finished, so there is no checkpoint; lower --lr or check the data")
        print(f"error: training stopped at epoch {ckpt_cb.nan_epoch} because the loss became "
              f"NaN/inf; {where}", file=sys.stderr)
        return EXIT_NAN
    print(f"done: {ckpt_cb.last_checkpoint}" if chief else
          f"done: worker {dist.worker_index} (the chief writes the checkpoints)")
    return 0


def _check_args(args, out):
    """One line saying what is wrong with the numeric arguments, or None."""
    import math

    if os.path.exists(out) and not os.path.isdir(out):
        return f"--out {out} is a file, not a run directory"
    for name in ("epochs", "batch_size", "timesteps", "image_size"):
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}"
    for name in ("steps_per_epoch", "checkpoint_every"):
        if getattr(args, name, None) is not None and getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}"
    if not (math.isfinite(args.lr) and args.lr > 0):
        return f"--lr must be a positive number, got {args.lr}"
    if not 0.0 <= args.ema_decay < 1.0:
        return f"--ema-decay must be in [0, 1), got {args.ema_decay}"
    return None
