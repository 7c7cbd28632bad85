"""Forward+backward speed of the alias-free ops against their plain counterparts, per backend.

Everything in one backend is timed side by side in one process (interleaved rounds, median), and
reported as ratios:

* ``FilteredActivation("gelu")`` vs plain GELU on (16, 32, 32, 64) float32;
* ``AliasFreeUpsample`` / ``AliasFreeDownsample`` (kernel 3, 6, 12) vs the plain algorithm (zero
  insertion + full depthwise 'same' convolution; convolution then decimation) and vs
  ``UpSampling2D(interpolation="bilinear")`` / ``MaxPooling2D``.

Functions are compiled the way training compiles them: ``tf.function(jit_compile=True)`` on
TensorFlow, ``jax.jit`` on JAX, eager on PyTorch (Keras' default for torch).

Usage:
    keras-aliasfree bench                        # all backends installed, prints the tables
    keras-aliasfree bench --backend jax          # one backend
    python benchmarks/ops.py                     # all backends, also writes docs/benchmarks/ops.md
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time

SHAPE = (16, 32, 32, 64)


@contextlib.contextmanager
def resampling_plans(banded=True, kron=True):
    """Restrict ``impl="auto"`` for layers built inside the block (benchmarks' reference variants).

    ``banded=False`` keeps every axis dense; ``kron=False`` never folds both axes into one matrix.
    Layers fix their plans when built, so a model built inside keeps them afterwards.

    Example:
        >>> from keras_aliasfree import filters, ops
        >>> with resampling_plans(kron=False):
        ...     ops.gemm_operands(filters.design_filter(2), 8, 8, 2, "up").impl
        'dense'
        >>> ops.gemm_operands(filters.design_filter(2), 8, 8, 2, "up").impl
        'kron'
    """
    from keras_aliasfree import ops as O

    saved = O.AUTO_RATIO, O.KRON_AUTO_PIXELS, O.KRON_AUTO_MAC_RATIO
    if not banded:
        O.AUTO_RATIO = 10 ** 9
    if not kron:
        O.KRON_AUTO_PIXELS, O.KRON_AUTO_MAC_RATIO = 0, {}
    O._cached_gemm_operands.cache_clear()
    try:
        yield
    finally:
        O.AUTO_RATIO, O.KRON_AUTO_PIXELS, O.KRON_AUTO_MAC_RATIO = saved
        O._cached_gemm_operands.cache_clear()


def _value_and_grad(fn):
    """Return f(x) -> (sum(fn(x)), dfn/dx) compiled for the current backend."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(fn(x) ** 2)
            return y, tape.gradient(y, x)

        return lambda x: [t.numpy() for t in step(x)]
    if backend == "jax":
        import jax

        g = jax.jit(jax.value_and_grad(lambda x: (fn(x) ** 2).sum()))
        return lambda x: jax.block_until_ready(g(x))
    import torch

    def step(x):
        x = x.detach().requires_grad_(True)
        y = (fn(x) ** 2).sum()
        y.backward()
        return y.item(), x.grad

    return step


def _naive_up(factor, kernel):
    """Zero insertion + full depthwise convolution (the plain algorithm), keras.ops."""
    import keras
    import numpy as np

    from keras_aliasfree import ops as O

    n = kernel.shape[0]
    s = O.phase_offset(n, factor)
    p0 = int(round((n - 1) / 2 + s))
    p1 = n - 1 - p0
    k = (kernel * factor * factor)[:, :, None, None].astype("float32")

    def f(x):
        b, h, w, c = x.shape
        z = keras.ops.reshape(x, (b, h, 1, w, 1, c))
        z = keras.ops.pad(z, [(0, 0), (0, 0), (0, factor - 1), (0, 0), (0, factor - 1), (0, 0)])
        z = keras.ops.reshape(z, (b, h * factor, w * factor, c))
        z = keras.ops.pad(z, [(0, 0), (p0, p1), (p0, p1), (0, 0)])
        kk = keras.ops.convert_to_tensor(np.tile(k, (1, 1, c, 1)))
        return keras.ops.depthwise_conv(z, kk, padding="valid")

    return f


def _naive_down(factor, kernel):
    import keras
    import numpy as np

    from keras_aliasfree import ops as O

    n = kernel.shape[0]
    s = O.phase_offset(n, factor)
    p0 = int(round((n - 1) / 2 - s))
    k = kernel[:, :, None, None].astype("float32")

    def f(x):
        c = x.shape[-1]
        z = keras.ops.pad(x, [(0, 0), (p0, n - 1 - p0), (p0, n - 1 - p0), (0, 0)])
        kk = keras.ops.convert_to_tensor(np.tile(k, (1, 1, c, 1)))
        full = keras.ops.depthwise_conv(z, kk, padding="valid")
        return full[:, ::factor, ::factor, :]

    return f


def _time(fns: dict, x, rounds: int, inner: int) -> dict:
    """Median seconds per call of each function, interleaved so machine noise hits all alike."""
    import numpy as np

    for f in fns.values():  # compile + warm up
        f(x)
        f(x)
    samples = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t = time.perf_counter()
            for _ in range(inner):
                f(x)
            samples[k].append((time.perf_counter() - t) / inner)
    return {k: float(np.median(v)) for k, v in samples.items()}


def measure(rounds: int = 5, inner: int = 3) -> dict:
    import keras
    import numpy as np

    from keras_aliasfree import AliasFreeDownsample, AliasFreeUpsample, FilteredActivation
    from keras_aliasfree import filters as F

    x = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=SHAPE).astype("float32"))
    res = {"backend": keras.backend.backend(), "shape": SHAPE}
    fa = FilteredActivation("gelu")
    fns = {"gelu": _value_and_grad(keras.activations.gelu),
           "filtered_gelu": _value_and_grad(fa)}
    res["activation"] = _time(fns, x, rounds, inner)
    rows = []
    for size in (3, 6, 12):
        kernel = F.jinc_lowpass(size, np.pi / 2, 4.0, window="radial")
        up = AliasFreeUpsample(kernel_size=size, beta=4.0)
        down = AliasFreeDownsample(kernel_size=size, beta=4.0)
        fns = {
            "up": _value_and_grad(up),
            "up_naive": _value_and_grad(_naive_up(2, kernel)),
            "bilinear": _value_and_grad(keras.layers.UpSampling2D(2, interpolation="bilinear")),
            "down": _value_and_grad(down),
            "down_naive": _value_and_grad(_naive_down(2, kernel)),
            "maxpool": _value_and_grad(keras.layers.MaxPooling2D(2)),
        }
        t = _time(fns, x, rounds, inner)
        t["kernel_size"] = size
        rows.append(t)
    res["resample"] = rows
    return res


def table(r: dict) -> str:
    a = r["activation"]
    lines = [f"### {r['backend']}", "",
             f"Input {tuple(r['shape'])} float32, forward + backward, median of interleaved rounds.", "",
             "| op | ms | ratio |", "|---|---|---|",
             f"| GELU | {a['gelu'] * 1e3:.2f} | 1.00 |",
             f"| FilteredActivation(gelu) | {a['filtered_gelu'] * 1e3:.2f} | "
             f"**{a['filtered_gelu'] / a['gelu']:.2f}x GELU** (target <= 6) |", "",
             "| kernel | up ms | naive up ms | up speed-up vs naive (target >= 3) | up / bilinear (target <= 2) "
             "| down ms | naive down ms | down speed-up vs naive | down / maxpool (target <= 2) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for t in r["resample"]:
        lines.append(
            f"| {t['kernel_size']} | {t['up'] * 1e3:.2f} | {t['up_naive'] * 1e3:.2f} | "
            f"{t['up_naive'] / t['up']:.1f}x | {t['up'] / t['bilinear']:.2f} | {t['down'] * 1e3:.2f} | "
            f"{t['down_naive'] * 1e3:.2f} | {t['down_naive'] / t['down']:.1f}x | {t['down'] / t['maxpool']:.2f} |")
    return "\n".join(lines)


def run_all(backends, out=None, rounds=5) -> int:
    sections = []
    for backend in backends:
        proc = _child(backend, ["--json", "--rounds", str(rounds)], capture=True)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode
        sections.append(table(json.loads(proc.stdout.strip().splitlines()[-1])))
        print(sections[-1] + "\n", flush=True)
    if out:
        doc = "\n".join([
            "# Alias-free ops: speed against plain counterparts",
            "",
            f"Made by `python benchmarks/ops.py` (= `keras-aliasfree bench`) on {platform.machine()}, {os.cpu_count()} CPU cores "
            f"(Python {platform.python_version()}). Ratios are measured side by side in one process per "
            "backend; absolute times are context only (this machine is shared and noisy).",
            "",
            *[s + "\n" for s in sections],
        ])
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write(doc)
        print(f"wrote {out}")
    return 0


def step_stamps():
    """``(callback, stamps)``: a Keras callback that appends ``time.perf_counter()`` to the list
    ``stamps`` after every training batch, once the step's loss is computed (so asynchronous
    backends have finished it). Step times are ``np.diff(stamps)``.

    Example:
        >>> cb, stamps = step_stamps()
        >>> cb.on_train_batch_end(0, {"loss": 1.0}); len(stamps)
        1
    """
    import keras

    stamps = []

    class _Stamp(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float(keras.ops.convert_to_numpy(logs["loss"]))  # wait for the step to finish
            stamps.append(time.perf_counter())

    return _Stamp(), stamps


def installed_backends():
    import importlib.util

    names = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
    return tuple(b for b, mod in names.items() if importlib.util.find_spec(mod) is not None)


def add_arguments(parser):
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"],
                        help="measure one backend in this process (default: every installed backend)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (median)")
    parser.add_argument("--out", default=None, help="also write the tables to this Markdown file")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def _child(backend, extra, capture):
    """Run this module for one backend in a fresh process (Keras fixes its backend at import)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "keras_aliasfree.bench", "--backend", backend, *extra],
                          capture_output=capture, text=True, env=env)


def run(args) -> int:
    if args.backend:
        import keras

        if keras.backend.backend() != args.backend:
            # keras was imported (with another backend) before we could choose: measure in a child
            extra = ["--rounds", str(args.rounds)] + (["--json"] if args.json else [])
            return _child(args.backend, extra, capture=False).returncode
        r = measure(rounds=args.rounds)
        print(json.dumps(r) if args.json else table(r))
        return 0
    return run_all(installed_backends(), args.out, args.rounds)


if __name__ == "__main__":
    sys.exit(main())
