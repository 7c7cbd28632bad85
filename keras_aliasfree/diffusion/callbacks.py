"""Keras callbacks for training a :class:`~keras_aliasfree.DiffusionModel`."""

from __future__ import annotations

import os
import shutil
import sys

import keras
import numpy as np
from keras import ops

from keras_aliasfree.diffusion.checkpoint import latest_checkpoint_or_none
from keras_aliasfree.diffusion.saving import write_latest
from keras_aliasfree.diffusion.schedule import DEFAULT_DDIM_STEPS


class TrainingCheckpoint(keras.callbacks.Callback):
    """Atomic checkpoints (per epoch and every N steps), stop on a signal, NaN guard and sample
    grids for a ``DiffusionModel``.

    After each epoch whose loss is finite it writes ``run_dir/checkpoints/epoch_NNNN`` (atomic:
    temp directory + rename) and then points ``run_dir/checkpoints/latest`` at it (atomic
    ``os.replace``), keeping the newest ``keep`` checkpoints. With ``checkpoint_every=N`` it also
    writes one after every N-th global step inside an epoch, named
    ``epoch_EEEE_step_SSSSSSSS`` (E epochs finished, S steps trained in all; the names sort in
    training order). A ``kill -9`` therefore loses at most the steps since the last checkpoint.
    With ``stop`` (a :class:`~keras_aliasfree.diffusion.preemption.StopSignals`), a signal ends
    training after the step it arrived in, with a checkpoint of that step (``self.stopped_by``
    records the signal). ``steps_per_epoch`` and ``initial_step`` (the global step training
    starts from) default to ``fit``'s steps and ``initial_epoch`` x steps; a resume inside an
    epoch must pass both. Each checkpoint's ``training_state.json`` records ``epoch`` (finished),
    ``steps_in_epoch``, ``batches`` (global step) and ``steps_per_epoch``. When a batch loss is
    NaN/inf it stops
    training at once and never writes that epoch, so the last checkpoint stays the last good one
    (``self.nan_epoch`` records where it happened). Every ``sample_every`` epochs it samples a grid
    with the EMA weights, saves ``run_dir/samples/epoch_NNNN.png`` and, when TensorFlow is
    installed, logs it to TensorBoard (``run_dir/logs/samples``; TF-only part).

    Example:
        >>> import os, tempfile, numpy as np, keras
        >>> from keras_aliasfree import DiffusionModel, NoiseSchedule, build_unet
        >>> net = build_unet("A", image_size=8, base_width=4, channel_mults=(1, 2),
        ...                  bottleneck_mult=2, attention=False, time_dim=8)
        >>> dm = DiffusionModel(net, NoiseSchedule(10), seed=0)
        >>> dm.compile(optimizer=keras.optimizers.AdamW(1e-3))
        >>> run = tempfile.mkdtemp()
        >>> cb = TrainingCheckpoint(run, verbose=0)
        >>> _ = dm.fit(np.zeros((4, 8, 8, 1), "float32"), batch_size=4, epochs=2, verbose=0,
        ...            callbacks=[cb])
        >>> sorted(os.listdir(os.path.join(run, "checkpoints")))
        ['epoch_0001', 'epoch_0002', 'latest']
    """

    def __init__(self, run_dir, keep=2, sample_every=0, sample_num=16, sample_sampler="ddim",
                 sample_steps=DEFAULT_DDIM_STEPS, sample_seed=0, extra_state=None, verbose=1,
                 checkpoint_every=None, steps_per_epoch=None, initial_step=None, stop=None):
        super().__init__()
        if checkpoint_every is not None and int(checkpoint_every) < 1:
            raise ValueError(f"checkpoint_every must be >= 1 step, got {checkpoint_every}")
        self.checkpoint_every = int(checkpoint_every) if checkpoint_every else None
        self.steps_per_epoch = int(steps_per_epoch) if steps_per_epoch else None
        self.step = None if initial_step is None else int(initial_step)
        self.stop = stop
        self.stopped_by = None  # the signal that ended training, if one did
        self.run_dir = os.path.abspath(os.fspath(run_dir))
        self.ckpt_dir = os.path.join(self.run_dir, "checkpoints")
        self.keep = max(1, int(keep))
        self.sample_every = int(sample_every or 0)
        self.sample_num = int(sample_num)
        self.sample_sampler = sample_sampler
        self.sample_steps = sample_steps
        self.sample_seed = sample_seed
        self.extra_state = dict(extra_state or {})
        self.verbose = verbose
        self.nan_epoch = None
        self.last_checkpoint = None
        self._writer = None
        self._epoch = 0

    @staticmethod
    def _finite(logs):
        loss = (logs or {}).get("loss")
        if loss is None:
            return True
        return bool(np.all(np.isfinite(np.asarray(ops.convert_to_numpy(loss), "float64"))))

    def on_train_begin(self, logs=None):
        if self.steps_per_epoch is None:
            self.steps_per_epoch = (self.params or {}).get("steps")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.step is None:
            self.step = epoch * (self.steps_per_epoch or 0)

    def _in_epoch(self):
        """Steps of the current epoch done (0 at an epoch's end)."""
        spe = self.steps_per_epoch
        return self.step - self._epoch * spe if spe else None

    def on_train_batch_end(self, batch, logs=None):
        self.step = (self.step or 0) + 1
        if not self._finite(logs):
            self.nan_epoch = self._epoch + 1
            self.model.stop_training = True
            return
        in_epoch = self._in_epoch()
        if in_epoch is not None and in_epoch >= self.steps_per_epoch:
            return  # the epoch's last step: on_epoch_end writes (and stops on a signal)
        signalled = self.stop is not None and self.stop.received is not None
        if signalled or (self.checkpoint_every and self.step % self.checkpoint_every == 0):
            self._write(f"epoch_{self._epoch:04d}_step_{self.step:08d}", self._epoch,
                        in_epoch, logs)
        if signalled:
            self.stopped_by = self.stop.received
            self.model.stop_training = True

    def _write(self, name, epochs_done, in_epoch, logs):
        state = dict(self.extra_state, epoch=epochs_done, steps_in_epoch=in_epoch or 0,
                     batches=self.step, steps_per_epoch=self.steps_per_epoch,
                     loss=float(np.asarray(ops.convert_to_numpy((logs or {}).get("loss",
                                                                                 np.nan)))))
        os.makedirs(self.ckpt_dir, exist_ok=True)
        path = self.model.save_checkpoint(os.path.join(self.ckpt_dir, name), state)
        write_latest(self.ckpt_dir, name)
        self.last_checkpoint = path
        self._prune()
        if self.verbose:
            print(f"\ncheckpoint: {path}")
        return path

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped_by is not None:
            return  # stopped inside the epoch: its checkpoint is written, the epoch unfinished
        if self.nan_epoch is not None or not self._finite(logs):
            self.nan_epoch = self.nan_epoch or epoch + 1
            self.model.stop_training = True
            last = self.last_good_checkpoint()
            print(f"\nNaN/inf loss in epoch {self.nan_epoch}: training stopped; epoch "
                  f"{self.nan_epoch} was not saved. Last good checkpoint: "
                  f"{last or 'none (no epoch finished)'}", file=sys.stderr)
            return
        self._write(f"epoch_{epoch + 1:04d}", epoch + 1, 0, logs)
        last = epoch + 1 >= (self.params or {}).get("epochs", float("inf"))
        if self.stop is not None and self.stop.received is not None and not last:
            self.stopped_by = self.stop.received  # arrived in the epoch's last step
            self.model.stop_training = True
            return
        if self.sample_every and (epoch + 1) % self.sample_every == 0:
            self._sample(epoch + 1)

    def last_good_checkpoint(self):
        """The checkpoint this run wrote last, or the run's newest intact one, or None."""
        return self.last_checkpoint or latest_checkpoint_or_none(self.ckpt_dir)

    def _prune(self):
        names = sorted(d for d in os.listdir(self.ckpt_dir) if d.startswith("epoch_"))
        for d in names[:-self.keep]:
            shutil.rmtree(os.path.join(self.ckpt_dir, d), ignore_errors=True)

    def _sample(self, epoch):
        from keras_aliasfree.images import make_grid, save_grid

        from keras_aliasfree.diffusion.samplers import Sampler, sampler_from_options

        sampler = self.sample_sampler if isinstance(self.sample_sampler, Sampler) else \
            sampler_from_options(self.sample_sampler, self.sample_steps)
        imgs = self.model.sample(self.sample_num, sampler=sampler, seed=self.sample_seed,
                                 verbose=0)
        path = os.path.join(self.run_dir, "samples", f"epoch_{epoch:04d}.png")
        save_grid(imgs, path)
        try:  # TensorBoard image summary: TensorFlow only
            import tensorflow as tf

            if self._writer is None:
                self._writer = tf.summary.create_file_writer(
                    os.path.join(self.run_dir, "logs", "samples"))
            grid = make_grid(imgs)[None].astype("float32") / 255.0
            with self._writer.as_default():
                tf.summary.image("samples", grid, step=epoch)
            self._writer.flush()
        except ImportError:
            pass
        if self.verbose:
            print(f"samples: {path}")


__all__ = ["TrainingCheckpoint"]
