"""``keras-aliasfree train``: what a resumed run keeps of its first start, step-level checkpoints,
and what the command says when a signal stops it (the library side is
:mod:`keras_aliasfree.diffusion.preemption`).

Exit status of a run stopped by a signal: 143 for SIGTERM, 130 for SIGINT (128 + the signal
number), after one line on stderr naming the checkpoint written and the command that resumes.

Example:
    $ keras-aliasfree train --data mnist --out runs/m --checkpoint-every 200   # then SIGTERM:
    stopped by SIGTERM after step 437 (epoch 1, step 437 of 3750): checkpoint
    runs/m/checkpoints/epoch_0000_step_00000437; resume with: keras-aliasfree train --data mnist
    --out runs/m --checkpoint-every 200 --resume
"""

from __future__ import annotations

import json
import os
import shlex
import sys


def add_preemption_args(p):
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                   help="also write a checkpoint every N optimizer steps inside an epoch "
                        "(default: at epoch ends only); a kill -9 then loses at most N steps. "
                        "SIGTERM/SIGINT always finish the current step, write a checkpoint and "
                        "exit with 143/130 (docs/TRAINING.md, 'Preemption')")


def _data_seed(state, args):
    """The data-order seed: the checkpoint's on --resume, else --seed, else a fresh one."""
    from keras_aliasfree.diffusion.preemption import new_data_seed

    if "data_seed" in state:
        return int(state["data_seed"])
    return int(args.seed) if args.seed is not None else new_data_seed()


def resume_command(args) -> str:
    """The command line that continues this run: the one given, with ``--resume`` added."""
    argv = getattr(args, "argv", None)
    if argv is None:  # called without the command line (run(args) from Python)
        argv = ["train", "--data", str(args.data), "--out", str(args.out),
                "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
        for flag in ("data_dir", "split", "limit", "image_size", "channels", "steps_per_epoch",
                     "checkpoint_every", "seed"):
            if getattr(args, flag, None) is not None:
                argv += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    argv = list(argv)
    if "--resume" not in argv:
        argv.append("--resume")
    return shlex.join(["keras-aliasfree", *argv])


def report_stop(args, stop, ckpt_cb, chief, dist):
    """One line on stderr (where the checkpoint is, how to resume); returns the exit status."""
    if not chief:
        print(f"stopped by {stop.name}: worker {dist.worker_index} (the chief writes the "
              "checkpoint)", file=sys.stderr)
        return stop.exit_code
    step, spe = ckpt_cb.step, ckpt_cb.steps_per_epoch
    epoch, in_epoch = divmod(step, spe) if spe else (None, None)
    where = (f"epoch {epoch + 1}, step {in_epoch} of {spe}" if in_epoch else
             f"end of epoch {epoch}")
    print(f"stopped by {stop.name} after step {step} ({where}): checkpoint "
          f"{ckpt_cb.last_checkpoint}; resume with: {resume_command(args)}", file=sys.stderr)
    return stop.exit_code


# settings fixed by a run's first start; on --resume the stored ones win
_STORED = ("config", "lr", "lr_schedule", "warmup_steps", "weight_decay", "timesteps", "schedule",
           "ema_decay", "base_width", "no_attention", "filter_preset", "kernel_size", "cutoff",
           "band_limit", "prediction", "loss_weighting", "snr_gamma", "image_size", "up_augment",
           "equivariance_weight", "equivariance_timesteps", "kernel_taper")


def _config_name(name):
    """The canonical name of a ``--config`` (``"d-1n"`` -> ``"D-1N"``, ``"E"`` -> ``"E4"``);
    ``ValueError`` for one that is neither a UNet config nor an equivariant one."""
    from keras_aliasfree.equivariant_unet import equivariant_group_order
    from keras_aliasfree.unet import parse_config

    n = equivariant_group_order(name)
    try:
        return f"E{n}" if n else parse_config(name).name
    except ValueError as e:
        raise ValueError(f"{e}, or E / E<N> (the orientation-equivariant UNet over C_N)") from None


def _note_stored_settings(args, cfg, out, config_given=True):
    """On --resume, say which given flags differ from the run's stored settings (they lose): those
    in ``train_args.json``, and the checkpoint's UNet config (``cfg``), which is the one resumed.
    ``--config`` counts only when it was given (``config_given``): the default is no choice."""
    path = os.path.join(out, "train_args.json")
    try:
        with open(path) as f:
            stored = json.load(f)
    except (OSError, ValueError):
        stored = {}
    stored.pop("config", None)
    given = {k: getattr(args, k) for k in _STORED if hasattr(args, k)}
    if config_given:
        stored["config"] = cfg["unet"]["config"]
        given["config"] = _config_name(args.config)
    differ = [f"--{k.replace('_', '-')} {stored[k]!r} (given {given[k]!r})"
              for k in _STORED if k in stored and given.get(k) is not None
              and stored[k] != given[k]]
    if differ:
        print("note: --resume keeps the run's stored settings; ignored flags: "
              + ", ".join(differ) + f" (from {path} and the checkpoint). Start a new --out to "
              "change them.", file=sys.stderr)


def _write_args(out, record, resume_from):
    args_path = os.path.join(out, "train_args.json")
    if resume_from and os.path.isfile(args_path):
        try:  # the settings that a resume ignores stay as the run was started
            with open(args_path) as f:
                first = json.load(f)
            record.update({k: first[k] for k in _STORED if k in first})
        except (OSError, ValueError):
            pass
    with open(args_path, "w") as f:
        json.dump(record, f, indent=2)


def _stored_mixed_precision(args, out):
    """On --resume the run's stored --mixed-precision wins (the optimizer state depends on it)."""
    try:
        with open(os.path.join(out, "train_args.json")) as f:
            stored = json.load(f).get("mixed_precision", "float32")
    except (OSError, ValueError):
        return args.mixed_precision
    if stored != args.mixed_precision:
        print(f"note: --resume keeps the run's --mixed-precision {stored} (given "
              f"{args.mixed_precision})", file=sys.stderr)
    return stored
