"""Setting up a training run: the learning-rate schedule, the run's length, and a model resumed
from a checkpoint with its optimizer (what ``keras-aliasfree train`` calls; usable directly).

Example:
    >>> total_steps(epochs=3, num_images=100, batch_size=32)
    9
"""

from __future__ import annotations

import os

import keras

from keras_aliasfree.diffusion.checkpoint import read_checkpoint_config, read_training_state
from keras_aliasfree.diffusion.model import DiffusionModel

LR_SCHEDULES = ("constant", "cosine")


def total_steps(epochs: int, num_images: int, batch_size: int, steps_per_epoch=None) -> int:
    """Optimizer steps of a whole run: ``epochs`` x steps per epoch (``steps_per_epoch``, or one
    pass over ``num_images`` in full batches of ``batch_size``, as ``train`` feeds them).

    Example:
        >>> total_steps(2, 10, 4), total_steps(2, 10, 4, steps_per_epoch=7)
        (4, 14)
    """
    per_epoch = steps_per_epoch or int(num_images) // int(batch_size)
    return int(epochs) * int(per_epoch)


def learning_rate(lr, schedule="constant", warmup_steps=0, steps=None):
    """``lr`` as a float or a Keras ``LearningRateSchedule``: linear warmup from 0 over
    ``warmup_steps``, then constant or cosine decay to 0 at step ``steps``.

    Args:
        lr: float > 0, the peak learning rate.
        schedule: ``"constant"`` or ``"cosine"``.
        warmup_steps: int >= 0.
        steps: the run's total optimizer steps (needed by ``"cosine"``).

    Raises:
        ValueError: on a non-positive ``lr``, a negative warmup, an unknown schedule or a cosine
            schedule with no steps after the warmup.

    Example:
        >>> sched = learning_rate(1e-3, "cosine", warmup_steps=10, steps=110)
        >>> [round(float(sched(s)), 6) for s in (0, 5, 10, 60, 110)]
        [0.0, 0.0005, 0.001, 0.0005, 0.0]
        >>> learning_rate(1e-3)
        0.001
    """
    if not lr > 0:
        raise ValueError(f"the learning rate must be > 0, got {lr}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"the learning-rate schedule must be one of {LR_SCHEDULES}, "
                         f"got {schedule!r}")
    if schedule == "constant" and not warmup_steps:
        return float(lr)
    steps = int(steps or 0)
    if schedule == "cosine" and steps <= warmup_steps:
        raise ValueError(f"a cosine schedule needs more steps ({steps}) than warmup steps "
                         f"({warmup_steps})")
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else float(lr),
        decay_steps=max(steps - warmup_steps, 1), alpha=1.0 if schedule == "constant" else 0.0,
        warmup_target=float(lr) if warmup_steps else None, warmup_steps=int(warmup_steps))


def resumable_model(checkpoint, seed=None, default_optimizer=None):
    """The model stored in ``checkpoint`` and the optimizer to compile it with, for resuming.

    The model is rebuilt from the checkpoint's config (weights are restored after ``compile``
    by :meth:`DiffusionModel.restore_training_state`); the optimizer from its stored config
    (``default_optimizer()`` where the checkpoint has none), unwrapped from a loss-scale
    wrapper, which ``compile`` adds again under ``mixed_float16``.

    Returns:
        ``(model, optimizer, config)``; ``config`` is the checkpoint's (migrated) config.

    Example:
        >>> # model, opt, cfg = resumable_model("runs/x/checkpoints/epoch_0003", seed=0)
        >>> # model.compile(optimizer=opt); model.restore_training_state(...)
    """
    config = read_checkpoint_config(checkpoint)
    state = read_training_state(checkpoint)
    model = DiffusionModel.from_config({**config, "seed": seed})
    if "optimizer" in state:
        optimizer = keras.optimizers.deserialize(state["optimizer"])
    elif default_optimizer is not None:
        optimizer = default_optimizer()
    else:
        raise ValueError(f"{os.fspath(checkpoint)} stores no optimizer; pass default_optimizer")
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = optimizer.inner_optimizer
    return model, optimizer, config


__all__ = ["LR_SCHEDULES", "learning_rate", "resumable_model", "total_steps"]
