"""Training that can stop at any step and continue as if it never stopped.

Three pieces, used by ``keras-aliasfree train`` and usable with any ``DiffusionModel``:

* :func:`step_batches` -- the training data as an endless stream in which the batch of global
  step ``s`` depends only on ``(data_seed, s)``: pass ``p = s // (N // batch)`` over the ``N``
  images is the permutation ``default_rng([data_seed, p])`` cut into full batches (the images
  left over by ``N % batch`` differ from pass to pass). A run restarted at step ``s`` therefore
  sees the same batches as one that never stopped.
* :func:`fit_from_step` -- ``model.fit`` from any global step: the rest of the interrupted epoch
  first, then whole epochs, so epoch numbers, the checkpoints written at epoch ends and the
  learning-rate schedule (driven by the optimizer's step counter, which the checkpoint restores)
  are those of an uninterrupted run.
* :class:`StopSignals` -- SIGTERM and SIGINT turned into a request that the training loop reads
  after each step: :class:`~keras_aliasfree.diffusion.TrainingCheckpoint` then writes a
  checkpoint and stops training; :class:`StopOnSignal` only stops (workers that do not write).
  A second signal acts at once (SIGINT raises ``KeyboardInterrupt``, SIGTERM kills).

What a checkpoint must hold for an exact resume (the model's ``SeedGenerator`` state, EMA
counter, optimizer variables, global step and data seed) is in its ``training_state.json``; see
docs/TRAINING.md, "Preemption".
"""

from __future__ import annotations

import os
import signal
import threading

import keras
import numpy as np

from keras_aliasfree.diffusion.callbacks import TrainingCheckpoint

#: exit status of a run stopped by a signal: 128 + the signal number, as a shell reports it
EXIT_CODES = {signal.SIGTERM: 128 + signal.SIGTERM, signal.SIGINT: 128 + signal.SIGINT}


def new_data_seed() -> int:
    """A fresh seed for the data order of a run started without ``--seed`` (kept in its
    checkpoints, so a resume continues the same order).

    Example:
        >>> 0 <= new_data_seed() < 2 ** 63
        True
    """
    return int(np.random.SeedSequence().entropy % (2 ** 63))


def pass_order(num_images, data_seed, pass_index):
    """The image order of pass ``pass_index`` over the data (a permutation of ``num_images``).

    Example:
        >>> pass_order(5, 0, 0).tolist() == pass_order(5, 0, 0).tolist()
        True
        >>> sorted(pass_order(5, 0, 1).tolist())
        [0, 1, 2, 3, 4]
    """
    return np.random.default_rng([int(data_seed), int(pass_index)]).permutation(int(num_images))


def step_batches(x, batch_size, data_seed, start_step=0):
    """Endless ``(batch,)`` tuples of full batches of ``x``; the batch of global step ``s`` is
    fixed by ``(data_seed, s)`` (see the module docs), the first one yielded is ``start_step``'s.

    Example:
        >>> import numpy as np
        >>> x = np.arange(10).reshape(10, 1)
        >>> a = step_batches(x, 4, data_seed=3)
        >>> first = [next(a)[0][:, 0].tolist() for _ in range(5)]
        >>> b = step_batches(x, 4, data_seed=3, start_step=3)
        >>> [next(b)[0][:, 0].tolist() for _ in range(2)] == first[3:]
        True
    """
    n = len(x)
    batch_size = int(batch_size)
    per_pass = n // batch_size
    if per_pass < 1:
        raise ValueError(f"batch size {batch_size} is larger than the {n} training images")
    step = int(start_step)
    cached = (None, None)
    while True:
        p, i = divmod(step, per_pass)
        if cached[0] != p:
            cached = (p, pass_order(n, data_seed, p))
        yield (x[cached[1][i * batch_size:(i + 1) * batch_size]],)
        step += 1


def step_indices(num_images, batch_size, data_seed, start_step, num_steps):
    """The image indices of steps ``start_step .. start_step + num_steps - 1`` of
    :func:`step_batches`, shape ``(num_steps, batch_size)``.

    Example:
        >>> import numpy as np
        >>> x = np.arange(10)
        >>> it = step_batches(x.reshape(10, 1), 4, data_seed=3, start_step=1)
        >>> [next(it)[0][:, 0].tolist() for _ in range(3)] == step_indices(10, 4, 3, 1, 3).tolist()
        True
    """
    per_pass = int(num_images) // int(batch_size)
    steps = np.arange(int(start_step), int(start_step) + int(num_steps))
    out = np.empty((len(steps), int(batch_size)), np.int64)
    for p in np.unique(steps // per_pass):
        order = pass_order(num_images, data_seed, p)[:per_pass * int(batch_size)]
        rows = steps // per_pass == p
        out[rows] = order.reshape(per_pass, int(batch_size))[steps[rows] % per_pass]
    return out


def _stream(x, batch_size, data_seed, start_step, num_steps):
    """What ``fit`` reads: the batches of those steps. On TensorFlow a ``tf.data.Dataset`` (what
    ``tf.distribute`` strategies shard, multi-worker included, and no Python generator thread);
    elsewhere :func:`step_batches`."""
    if keras.backend.backend() != "tensorflow":
        return step_batches(x, batch_size, data_seed, start_step)
    import tensorflow as tf

    idx = step_indices(len(x), batch_size, data_seed, start_step, num_steps)
    shape = (int(batch_size),) + tuple(x.shape[1:])

    def gather(i):
        images = tf.numpy_function(lambda j: x[j], [i], tf.as_dtype(x.dtype), stateful=False)
        images.set_shape(shape)
        # a bare tensor, not a 1-tuple: Keras reduces the first batch over the replicas to build
        # the model, which a multi-worker strategy cannot do for a tuple of per-replica values
        return images

    return tf.data.Dataset.from_tensor_slices(idx).map(gather).prefetch(2)


def resume_step(training_state, steps_per_epoch) -> int:
    """The global step a checkpoint's ``training_state.json`` continues from: its ``batches``
    (steps trained) when it was written with the same ``steps_per_epoch``; otherwise (a changed
    batch size or ``--steps-per-epoch``, or a checkpoint from before step-level checkpoints) the
    start of the epoch after its finished ones, so finished epochs stay finished and an
    interrupted one is trained again with the new batches.

    Example:
        >>> state = {"epoch": 2, "batches": 47, "steps_per_epoch": 20}
        >>> resume_step(state, 20), resume_step(state, 10), resume_step({"epoch": 2}, 20)
        (47, 20, 40)
    """
    spe = int(steps_per_epoch)
    if "batches" in training_state and training_state.get("steps_per_epoch") == spe:
        return int(training_state["batches"])
    return int(training_state.get("epoch", 0)) * spe


def fit_from_step(model, x, batch_size, epochs, steps_per_epoch, data_seed, start_step=0,
                  callbacks=None, verbose=1):
    """Train ``model`` on :func:`step_batches` from global step ``start_step`` to ``epochs`` epochs
    of ``steps_per_epoch`` steps (on TensorFlow the same batches as a ``tf.data.Dataset``, which
    ``tf.distribute`` strategies split over replicas and workers).

    A ``start_step`` inside an epoch first fits the rest of that epoch (a ``fit`` call of the
    remaining steps with that epoch's number), then the following epochs in one more ``fit``.
    Stops early when a callback sets ``model.stop_training``.

    Example:
        >>> import numpy as np, keras
        >>> from keras_aliasfree import DiffusionModel, NoiseSchedule, build_unet
        >>> net = build_unet("A", image_size=8, base_width=4, channel_mults=(1, 2),
        ...                  bottleneck_mult=2, attention=False, time_dim=8)
        >>> dm = DiffusionModel(net, NoiseSchedule(10), seed=0)
        >>> dm.compile(optimizer=keras.optimizers.AdamW(1e-3))
        >>> x = np.zeros((12, 8, 8, 1), "float32")
        >>> fit_from_step(dm, x, 4, epochs=2, steps_per_epoch=3, data_seed=0, start_step=2,
        ...               verbose=0)
        >>> int(keras.ops.convert_to_numpy(dm.optimizer.iterations))  # the rest of epoch 1, then 2
        4
    """
    spe = int(steps_per_epoch)
    step = int(start_step)
    first, done = divmod(step, spe)
    callbacks = list(callbacks or [])
    for cb in callbacks:  # a partial epoch's fit() does not know the epoch's length or the step
        if isinstance(cb, TrainingCheckpoint):
            cb.steps_per_epoch = cb.steps_per_epoch or spe
            cb.step = step if cb.step is None else cb.step
    while first < epochs:
        remaining = spe - done  # the rest of an interrupted epoch, then whole epochs
        last = first + 1 if done else int(epochs)
        model.fit(_stream(x, batch_size, data_seed, step, remaining * (last - first)),
                  epochs=last,
                  initial_epoch=first, steps_per_epoch=remaining, shuffle=False,
                  callbacks=callbacks, verbose=verbose)
        if model.stop_training:
            break
        step += remaining * (last - first)
        first, done = last, 0


class StopSignals:
    """While active (``with StopSignals() as stop:``), SIGTERM and SIGINT set ``stop.received``
    (the signal number) instead of ending the process; the training callbacks read it after each
    step. A second signal gets the previous behaviour at once (SIGINT: ``KeyboardInterrupt``,
    SIGTERM: the process ends). Outside the main thread (where Python cannot install handlers)
    it does nothing. The previous handlers come back on exit.

    Example:
        >>> import os, signal
        >>> with StopSignals() as stop:
        ...     os.kill(os.getpid(), signal.SIGTERM)
        ...     stop.received == signal.SIGTERM, stop.name
        (True, 'SIGTERM')
    """

    def __init__(self, signals=(signal.SIGTERM, signal.SIGINT)):
        self.signals = tuple(signals)
        self.received = None
        self._previous = {}

    @property
    def name(self):
        return None if self.received is None else signal.Signals(self.received).name

    @property
    def exit_code(self):
        return EXIT_CODES.get(self.received, 128 + int(self.received or 0))

    def _handle(self, signum, frame):
        if self.received is not None:
            return
        self.received = signum
        # a second signal: what it did before (Ctrl-C twice stops at once)
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
        msg = (f"\n{signal.Signals(signum).name} received: finishing this step and writing a "
               "checkpoint (send it again to stop at once)\n")
        os.write(2, msg.encode())  # not print(): a handler may interrupt a print to stderr

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in self.signals:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}
        return False


class StopOnSignal(keras.callbacks.Callback):
    """Stop training after the step in which ``stop`` (a :class:`StopSignals`) received a signal,
    without writing anything: for the workers of a distributed run whose chief writes."""

    def __init__(self, stop):
        super().__init__()
        self.stop = stop

    def on_train_batch_end(self, batch, logs=None):
        if self.stop is not None and self.stop.received is not None:
            self.model.stop_training = True


__all__ = ["EXIT_CODES", "StopSignals", "StopOnSignal", "fit_from_step", "new_data_seed",
           "pass_order", "resume_step", "step_batches", "step_indices"]
