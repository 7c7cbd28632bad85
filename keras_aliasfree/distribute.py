"""Data-parallel training and mixed precision with the engines Keras already supports.

Nothing here implements distribution: it picks and configures the engine of the current backend.

* TensorFlow: ``tf.distribute.MirroredStrategy`` (several devices, one host, ``"mirrored"``) and
  ``tf.distribute.MultiWorkerMirroredStrategy`` (several hosts, ``TF_CONFIG``, ``"multi-worker"``).
* JAX: ``keras.distribution.DataParallel`` over a one-axis device mesh (``"data-parallel"``);
  ``"multi-worker"`` first calls ``keras.distribution.initialize()`` (the ``KERAS_DISTRIBUTION_*``
  environment variables) and then spreads the batch over the devices of every process.
* PyTorch: single device only; any other mode raises a ``ValueError`` that names the
  alternatives (see ``docs/DISTRIBUTED.md``).

:func:`set_cpu_devices` splits the host CPU into N logical devices (TensorFlow logical devices,
JAX's host platform device count), so data parallelism can be tried, and tested, without GPUs.
It must run before the backend initialises its devices.

Randomness. :class:`~keras_aliasfree.DiffusionModel` draws timesteps and noise from one
``SeedGenerator``. Under JAX's ``DataParallel`` the step is one global program: the draws have
the global batch's shape and each device holds its own rows. Under a ``tf.distribute`` strategy
every replica runs the step on its share of the batch with the same seed state, so every replica
draws the global batch's numbers and keeps its own rows (:func:`replica_rows`): no two replicas
share draws and the step equals a single-device step on the same global batch. The per-replica
loss is divided by the number of replicas (:func:`scale_loss_for_replicas`), because
``tf.distribute`` sums the replicas' gradients.

Example:
    >>> DISTRIBUTE_MODES
    ('none', 'mirrored', 'multi-worker', 'data-parallel')
    >>> policy_name("bfloat16"), policy_name("float32")
    ('mixed_bfloat16', 'float32')
"""

from __future__ import annotations

import contextlib
import os
import re

#: ``--distribute`` values of ``keras-aliasfree train``
DISTRIBUTE_MODES = ("none", "mirrored", "multi-worker", "data-parallel")
#: ``--mixed-precision`` values of ``keras-aliasfree train``
MIXED_PRECISION = ("float32", "bfloat16", "float16")
#: the modes each backend can run (the others raise a ValueError naming the alternative)
SUPPORTED = {"tensorflow": ("none", "mirrored", "multi-worker"),
             "jax": ("none", "data-parallel", "multi-worker"),
             "torch": ("none",), "numpy": ("none",)}


def _backend():
    import keras

    return keras.backend.backend()


def policy_name(mixed_precision):
    """The Keras dtype policy of a ``--mixed-precision`` value.

    Example:
        >>> [policy_name(m) for m in MIXED_PRECISION]
        ['float32', 'mixed_bfloat16', 'mixed_float16']
    """
    if mixed_precision not in MIXED_PRECISION:
        raise ValueError(f"mixed precision must be one of {MIXED_PRECISION}, "
                         f"got {mixed_precision!r}")
    return "float32" if mixed_precision == "float32" else f"mixed_{mixed_precision}"


def set_mixed_precision(mixed_precision):
    """Set Keras' global dtype policy (``float32``, ``bfloat16`` or ``float16``); returns its name.

    Call it before building the UNet. The weights, the EMA copy and the noise-schedule and
    band-limit maths stay float32; under ``float16`` ``compile`` wraps the optimizer in a
    ``keras.optimizers.LossScaleOptimizer`` (dynamic loss scaling).

    Example:
        >>> import keras
        >>> set_mixed_precision("bfloat16")
        'mixed_bfloat16'
        >>> keras.config.dtype_policy().compute_dtype
        'bfloat16'
        >>> set_mixed_precision("float32")
        'float32'
    """
    import keras

    name = policy_name(mixed_precision)
    keras.config.set_dtype_policy(name)
    return name


def check_supported(mode, backend=None):
    """Raise a ``ValueError`` saying what to use instead when ``backend`` cannot run ``mode``.

    Example:
        >>> check_supported("mirrored", "tensorflow")
        >>> check_supported("mirrored", "jax")
        Traceback (most recent call last):
        ...
        ValueError: --distribute mirrored is a TensorFlow strategy; on JAX use --distribute ...
    """
    backend = backend or _backend()
    if mode not in DISTRIBUTE_MODES:
        raise ValueError(f"--distribute must be one of {DISTRIBUTE_MODES}, got {mode!r}")
    if mode in SUPPORTED.get(backend, ("none",)):
        return
    if backend == "jax":
        raise ValueError(f"--distribute {mode} is a TensorFlow strategy; on JAX use --distribute "
                         "data-parallel (keras.distribution.DataParallel)")
    if backend == "tensorflow":
        raise ValueError(f"--distribute {mode} is JAX's keras.distribution.DataParallel; on "
                         "TensorFlow use --distribute mirrored (one host) or multi-worker")
    raise ValueError(f"--distribute {mode} is not supported on the {backend} backend: Keras' "
                     "PyTorch trainer runs model.fit on one device (it does not wrap the model "
                     "in torch DistributedDataParallel). Train data-parallel with "
                     "KERAS_BACKEND=jax (--distribute data-parallel) or tensorflow (--distribute "
                     "mirrored / multi-worker); the checkpoints load on PyTorch. See "
                     "docs/DISTRIBUTED.md")


def set_cpu_devices(n, backend=None):
    """Split the host CPU into ``n`` logical devices (accelerators are not used); returns ``n``.

    TensorFlow: ``tf.config.set_logical_device_configuration`` on the CPU (GPUs hidden). JAX:
    ``jax_num_cpu_devices`` (``XLA_FLAGS=--xla_force_host_platform_device_count`` for older JAX)
    and ``JAX_PLATFORMS=cpu``. Both must happen before the backend touches a device; when it
    already has, this only checks that ``n`` CPU devices exist and raises a ``RuntimeError``
    otherwise. PyTorch has no logical devices (``ValueError`` for ``n > 1``).

    Example:
        >>> set_cpu_devices(1, "torch")
        1
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"--cpu-devices must be >= 1, got {n}")
    backend = backend or _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.set_visible_devices([], "GPU")
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
        except RuntimeError:  # the runtime has started: accept it if it already has n CPUs
            have = len(tf.config.list_logical_devices("CPU"))
            if have != n:
                raise RuntimeError(f"TensorFlow is already initialised with {have} logical CPU "
                                   f"device(s); --cpu-devices {n} must act before any "
                                   "TensorFlow op") from None
        return n
    if backend == "jax":
        os.environ["JAX_PLATFORMS"] = "cpu"
        flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "",
                       os.environ.get("XLA_FLAGS", "")).strip()
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()
        import jax

        try:
            if jax.config.jax_num_cpu_devices != n:
                jax.config.update("jax_platforms", "cpu")
                jax.config.update("jax_num_cpu_devices", n)
        except (RuntimeError, ValueError, AttributeError):
            pass  # initialised already (checked below) or an older JAX (XLA_FLAGS does it)
        have = len(jax.devices("cpu"))
        if have != n:
            raise RuntimeError(f"JAX is already initialised with {have} CPU device(s); "
                               f"--cpu-devices {n} must act before any JAX operation (or set "
                               f"XLA_FLAGS=--xla_force_host_platform_device_count={n})")
        return n
    if n > 1:
        raise ValueError(f"--cpu-devices {n}: the {backend} backend has no logical CPU devices")
    return n


_STRATEGIES = {}  # TensorFlow strategies made by get_distribution, reused within a process


class Distribution:
    """The engine of one ``--distribute`` mode on the current backend.

    ``scope()`` is the context in which the model is built, compiled and restored, and
    ``fit_scope()`` the one of ``fit``; ``num_replicas`` is how many replicas train; ``is_chief``
    says whether this process writes checkpoints and logs (always, except the non-chief workers of a TensorFlow multi-worker job);
    ``engine`` is the ``tf.distribute`` strategy or the ``keras.distribution`` object (None for
    ``"none"``). Build it with :func:`get_distribution`.
    """

    def __init__(self, mode, engine=None, num_replicas=1, is_chief=True, worker_index=0,
                 feeding_processes=1):
        self.mode, self.engine = mode, engine
        self.num_replicas, self.is_chief, self.worker_index = int(num_replicas), is_chief, \
            int(worker_index)
        #: processes that each feed their own share of every global batch (JAX multi-process:
        #: Keras assembles the global batch from the processes' local batches; tf.distribute
        #: shards the input itself, so 1 there)
        self.feeding_processes = int(feeding_processes)

    def local_share(self, x, global_batch):
        """``(images, batch)`` this process feeds: all of them and the global batch, or, where
        several processes feed (JAX multi-process), every n-th image and ``global_batch / n``.

        Example:
            >>> import numpy as np
            >>> x, b = Distribution("none").local_share(np.arange(8), 4)
            >>> len(x), b
            (8, 4)
        """
        n = self.feeding_processes
        if n == 1:
            return x, global_batch
        return x[self.worker_index::n], global_batch // n

    def scope(self):
        """The context manager that places variables and steps (a no-op for ``"none"``)."""
        if self.engine is None:
            return contextlib.nullcontext()
        return self.engine.scope()

    def fit_scope(self):
        """The context of ``fit``: JAX's distribution must be active while fitting (it shards
        each batch); a ``tf.distribute`` model keeps its strategy, so ``fit`` runs outside the
        scope (where checkpoints can read the variables)."""
        if self.engine is None or _backend() == "tensorflow":
            return contextlib.nullcontext()
        return self.engine.scope()

    def jit_compile(self, requested="auto"):
        """The ``compile(jit_compile=...)`` to use: ``False`` under a ``tf.distribute`` strategy
        (Keras compiles the whole multi-replica step as one XLA cluster on the first device,
        which cannot reach the other replicas' variables), ``requested`` otherwise.

        Example:
            >>> Distribution("none").jit_compile("auto")
            'auto'
        """
        if self.engine is not None and _backend() == "tensorflow":
            return False
        return requested

    def describe(self):
        """One line for the training log.

        Example:
            >>> Distribution("none").describe()
            'distribute none: 1 replica'
        """
        s = "" if self.num_replicas == 1 else "s"
        name = type(self.engine).__name__ if self.engine is not None else None
        via = f" ({name})" if name else ""
        return f"distribute {self.mode}{via}: {self.num_replicas} replica{s}"


def get_distribution(mode="none", backend=None):
    """A :class:`Distribution` for ``mode`` on the current backend (see the module docs).

    ``"mirrored"`` uses every visible GPU, or every logical CPU device when there is no GPU
    (:func:`set_cpu_devices`). ``"multi-worker"`` reads ``TF_CONFIG`` (TensorFlow) or calls
    ``keras.distribution.initialize()`` (JAX). Create it before any other use of the backend.

    Example:
        >>> get_distribution("none").num_replicas
        1
    """
    backend = backend or _backend()
    check_supported(mode, backend)
    if mode == "none":
        return Distribution("none")
    if backend == "tensorflow":
        import tensorflow as tf

        if mode == "mirrored":
            gpus = tf.config.list_logical_devices("GPU")
            devices = tuple(d.name for d in (gpus or tf.config.list_logical_devices("CPU")))
            # one strategy per device set and process: two would share collective keys
            if devices not in _STRATEGIES:
                _STRATEGIES[devices] = tf.distribute.MirroredStrategy(list(devices))
            strategy = _STRATEGIES[devices]
            return Distribution(mode, strategy, strategy.num_replicas_in_sync)
        if "multi-worker" not in _STRATEGIES:  # TensorFlow allows one per process
            _STRATEGIES["multi-worker"] = tf.distribute.MultiWorkerMirroredStrategy()
        strategy = _STRATEGIES["multi-worker"]
        resolver = strategy.cluster_resolver
        task_type = getattr(resolver, "task_type", None)
        task_id = int(getattr(resolver, "task_id", 0) or 0)
        chief = task_type in (None, "chief") or (task_type == "worker" and task_id == 0 and
                                                 "chief" not in (resolver.cluster_spec().jobs))
        return Distribution(mode, strategy, strategy.num_replicas_in_sync, chief, task_id)
    import keras

    if mode == "multi-worker":
        keras.distribution.initialize()
    import jax

    devices = keras.distribution.list_devices()
    dist = keras.distribution.DataParallel(devices=devices)
    return Distribution(mode, dist, len(devices), jax.process_index() == 0, jax.process_index(),
                        jax.process_count())


# -- inside the training step (TensorFlow only; identity elsewhere) ------------------------------
def replica_context():
    """``(replica_id, num_replicas)`` of the running ``tf.distribute`` replica; ``(0, 1)`` outside
    a strategy and on JAX/PyTorch (JAX's ``DataParallel`` runs one global program).

    Example:
        >>> replica_context()
        (0, 1)
    """
    if _backend() != "tensorflow":
        return 0, 1
    import tensorflow as tf

    num = tf.distribute.get_strategy().num_replicas_in_sync
    ctx = tf.distribute.get_replica_context()
    if num == 1 or ctx is None:  # no strategy, or its cross-replica context (the whole batch)
        return 0, 1
    return ctx.replica_id_in_sync_group, num


def replica_rows(values, rows, replica_id):
    """Rows ``replica_id * rows ... + rows`` of ``values`` (the replica's share of a global draw).

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> ops.convert_to_numpy(replica_rows(np.arange(6), 2, 1)).tolist()
        [2, 3]
    """
    from keras import ops

    start = ops.cast(replica_id, "int32") * ops.cast(rows, "int32")
    return ops.take(values, start + ops.arange(rows, dtype="int32"), axis=0)


def scale_loss_for_replicas(loss, num_replicas):
    """``loss / num_replicas``: ``tf.distribute`` sums the replicas' gradients, so each replica's
    mean loss is scaled for the sum to be the global batch's mean (Keras' own losses do the same).

    Example:
        >>> float(scale_loss_for_replicas(3.0, 1)), float(scale_loss_for_replicas(3.0, 2))
        (3.0, 1.5)
    """
    if isinstance(num_replicas, int) and num_replicas == 1:
        return loss
    from keras import ops

    loss = ops.convert_to_tensor(loss)
    return loss * ops.cast(1.0 / num_replicas, loss.dtype)


def per_replica_logs(logs):
    """The step's logs, unchanged except under ``MultiWorkerMirroredStrategy``, where each becomes
    a shape ``(1,)`` tensor. TensorFlow only: Keras 3 reduces multi-worker logs with
    ``strategy.reduce("MEAN", v, axis=0)``, which fails on scalars ("Invalid reduction dimension
    0", tensorflow/tensorflow#72388); per-replica vectors of one value reduce to the scalar mean.

    Example:
        >>> per_replica_logs({"loss": 1.0})
        {'loss': 1.0}
    """
    if _backend() != "tensorflow":
        return logs
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or \
            tf.distribute.get_replica_context() is None:
        return logs
    return {k: tf.reshape(v, (1,)) for k, v in logs.items()}


__all__ = ["DISTRIBUTE_MODES", "MIXED_PRECISION", "SUPPORTED", "Distribution", "check_supported",
           "get_distribution", "per_replica_logs", "policy_name", "replica_context", "replica_rows",
           "scale_loss_for_replicas", "set_cpu_devices", "set_mixed_precision"]
