"""Where a backend spends a UNet training step: forward + backward of each layer kind, per backend.

Issue 16 asks why JAX's config-A step at paper size is ~2.4x TensorFlow's (docs/benchmarks/
unet_perf.md). This takes the paper-size A UNet (batch 16, 32x32x1, default widths, attention)
and times, in one subprocess per backend (compiled as in training: ``jax.jit`` /
``tf.function(jit_compile=True)``; torch eager):

* the whole UNet, forward + backward (gradient of ``sum(y**2)`` with respect to the input and
  every weight);
* every layer alone, the same way, on an input of the shape it sees in the UNet; layers of the same
  kind, input shape and settings are timed once and counted as many times as they occur; the sum
  per kind (Conv2D, GroupNormalization, attention, ...) is its share of the step.
* for every distinct 3x3 convolution: the forward alone and the gradients with respect to the
  input and to the kernel separately (a backend whose kernel gradient is slow shows here).

``jax-keras-attention`` is JAX with the UNet's attention forced to Keras' own layer
(``keras_aliasfree.attention.IMPL = "keras"``; what every JAX run used before 2026-12-02), so the
effect of the JAX attention path shows side by side.

Each figure is the median of ``--repeats`` calls after two warm-up calls. Layers are timed one
after another, not interleaved, so the machine's load drifts between rows: read the kinds' shares
and the backends' ratios, not single milliseconds. The sum of the layers exceeds the whole UNet's
time wherever the compiler fuses across layers.

Writes docs/benchmarks/backend_profile.md (the exact command, the machine's load).

Usage:
    python benchmarks/backend_profile.py                          # tensorflow, jax, torch
    python benchmarks/backend_profile.py --backends jax tensorflow --repeats 10
    python benchmarks/backend_profile.py --backends tensorflow jax jax-keras-attention
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
RESULT = "BACKEND_PROFILE_RESULT "
BATCH, SIZE = 16, 32


def _timer(fn, repeats):
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def _grad_fn(backend, call, variables, x):
    """A no-argument function running forward + backward of ``call(variables, x)``."""
    import keras
    import numpy as np

    if backend == "jax":
        import jax
        import jax.numpy as jnp

        tv = [v.value for v in variables]
        # differentiate with respect to the weights and the (first) float input; the rest of a
        # list input (the UNet's integer timesteps) is held fixed
        xf, rest = (x[0], x[1:]) if isinstance(x, list) else (x, None)

        @jax.jit
        def step(tv, xf, rest):
            def loss(tv, xf):
                y = call(tv, xf if rest is None else [xf, *rest])
                return jnp.sum(jnp.square(y.astype("float32")))
            return jax.grad(loss, argnums=(0, 1))(tv, xf)
        xf = jnp.asarray(xf)
        rest = None if rest is None else [jnp.asarray(a) for a in rest]
        return lambda: jax.block_until_ready(step(tv, xf, rest))
    if backend == "tensorflow":
        import tensorflow as tf

        xs = tf.nest.map_structure(tf.constant, x)

        @tf.function(jit_compile=True)
        def step():
            with tf.GradientTape() as tape:
                tape.watch(xs)
                y = call(None, xs)
                loss = tf.reduce_sum(tf.square(tf.cast(y, "float32")))
            return tape.gradient(loss, [xs] + list(variables))
        return lambda: [g.numpy() for g in tf.nest.flatten(step()) if g is not None]
    import torch

    xs = [torch.tensor(np.asarray(a), requires_grad=np.asarray(a).dtype.kind == "f")
          for a in (x if isinstance(x, list) else [x])]
    xs = xs if isinstance(x, list) else xs[0]

    def step():
        for v in variables:
            v.value.grad = None
        y = call(None, xs)
        torch.sum(torch.square(y.float())).backward()
    return step


def _layer_call(backend, layer):
    if backend == "jax":
        ntv = [v.value for v in layer.non_trainable_variables]
        return lambda tv, x: layer.stateless_call(tv, ntv, x)[0]
    return lambda tv, x: layer(x)


def _conv_parts(backend, layer, x, repeats):
    """ms of the forward, the input gradient and the kernel gradient of one Conv2D alone."""
    import numpy as np
    from keras import ops

    k = layer.kernel
    strides, pad = layer.strides, layer.padding
    dy = np.random.default_rng(1).standard_normal(
        tuple(layer.compute_output_shape(x.shape))).astype("float32")
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        kv, xv, dyv = k.value, jnp.asarray(x), jnp.asarray(dy)
        conv = lambda xx, kk: ops.conv(xx, kk, strides=strides, padding=pad)  # noqa: E731
        fwd = jax.jit(conv)
        gx = jax.jit(lambda xx, kk: jax.vjp(lambda a: conv(a, kk), xx)[1](dyv)[0])
        gk = jax.jit(lambda xx, kk: jax.vjp(lambda b: conv(xx, b), kk)[1](dyv)[0])
        return {part: _timer(lambda f=f: f(xv, kv).block_until_ready(), repeats)
                for part, f in (("forward", fwd), ("input grad", gx), ("kernel grad", gk))}
    if backend == "tensorflow":
        import tensorflow as tf

        xv, dyv = tf.constant(x), tf.constant(dy)
        conv = lambda xx, kk: ops.conv(xx, kk, strides=strides, padding=pad)  # noqa: E731

        @tf.function(jit_compile=True)
        def fwd():
            return conv(xv, k)

        @tf.function(jit_compile=True)
        def gx():
            with tf.GradientTape() as tape:
                tape.watch(xv)
                y = conv(xv, k)
            return tape.gradient(y, xv, output_gradients=dyv)

        @tf.function(jit_compile=True)
        def gk():
            with tf.GradientTape() as tape:
                y = conv(tf.stop_gradient(xv), k)
            return tape.gradient(y, k.value, output_gradients=dyv)
        return {part: _timer(lambda f=f: f().numpy(), repeats)
                for part, f in (("forward", fwd), ("input grad", gx), ("kernel grad", gk))}
    import torch

    xv, dyv = torch.tensor(x), torch.tensor(dy)
    kv = k.value.detach()

    def run(part):
        a = xv.clone().requires_grad_(part == "input grad")
        b = kv.clone().requires_grad_(part == "kernel grad")
        y = ops.conv(a, b, strides=strides, padding=pad)
        if part != "forward":
            y.backward(dyv)
    with torch.no_grad():
        fwd_ms = _timer(lambda: ops.conv(xv, kv, strides=strides, padding=pad), repeats)
    return {"forward": fwd_ms, "input grad": _timer(lambda: run("input grad"), repeats),
            "kernel grad": _timer(lambda: run("kernel grad"), repeats)}


def worker(args):
    import keras
    import numpy as np

    from keras_aliasfree import attention
    from keras_aliasfree.unet import build_unet

    backend = keras.backend.backend()
    attention.IMPL = args.attention
    if backend == "torch":
        import torch
        torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    unet = build_unet("A", image_size=SIZE, channels=1)
    x = rng.standard_normal((BATCH, SIZE, SIZE, 1)).astype("float32")
    t = rng.integers(0, 1000, (BATCH,)).astype("int32")
    out = {"backend": backend if args.attention == "auto" else f"{backend}-{args.attention}-attention",
           "attention": attention.layer_impl(), "params": int(unet.count_params())}
    out["unet_ms"] = _timer(_grad_fn(backend, _layer_call(backend, unet), unet.trainable_variables,
                                     [x, t]), args.repeats)
    groups = {}
    for layer in unet.layers:
        inp = layer.input
        if isinstance(inp, (list, tuple)) or type(layer).__name__ in ("InputLayer",):
            continue
        shape = (BATCH,) + tuple(inp.shape[1:])
        if inp.dtype not in ("float32",):
            continue
        cfg = layer.get_config()
        cfg.pop("name", None)
        key = (type(layer).__name__, shape, json.dumps(cfg, sort_keys=True, default=str))
        groups.setdefault(key, []).append(layer)
    kinds, convs = {}, []
    for (kind, shape, _), layers in groups.items():
        layer = layers[0]
        xin = rng.standard_normal(shape).astype("float32")
        ms = _timer(_grad_fn(backend, _layer_call(backend, layer), layer.trainable_variables, xin),
                    args.repeats)
        k = kinds.setdefault(kind, {"count": 0, "ms": 0.0})
        k["count"] += len(layers)
        k["ms"] += ms * len(layers)
        if kind == "Conv2D" and tuple(layer.kernel_size) == (3, 3):
            parts = _conv_parts(backend, layer, xin, args.repeats)
            convs.append({"shape": list(shape), "filters": int(layer.filters),
                          "count": len(layers), "fwd_bwd": ms, **parts})
    out["kinds"] = kinds
    out["convs"] = convs
    print(RESULT + json.dumps(out), flush=True)


def _child(name, argv, timeout):
    backend, attention = (name.split("-")[0], "keras") if name.endswith("-keras-attention") \
        else (name, "auto")
    env = dict(os.environ, KERAS_BACKEND=backend)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--attention", attention,
           *argv]
    try:
        p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"backend": name, "error": f"timed out after {timeout} s"}
    for line in p.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    return {"backend": name, "error": (p.stderr or p.stdout)[-2000:]}


def render(results, command, started, wall):
    ok = [r for r in results if "error" not in r]
    lines = [
        "# Where a UNet training step's time goes, per backend (issue 16)", "",
        f"Command: `{command}` ({wall:.0f} s). Started {started} UTC on {platform.node()}, "
        f"{os.cpu_count()} CPUs, load average at the end "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())}.", "",
        f"Paper-size config A UNet: batch {BATCH}, {SIZE}x{SIZE}x1, default widths, attention. "
        "Forward + backward (gradient of sum(y^2) with respect to the input and every weight), "
        "jit-compiled on TensorFlow (XLA) and JAX, eager on PyTorch; median ms. Each layer is "
        "timed alone on an input of the shape it sees in the UNet; a kind's row sums its layers. "
        "Rows are timed one after another, so compare shares and backends, not single "
        "milliseconds (benchmarks/backend_profile.py says more).", ""]
    for r in results:
        if "error" in r:
            lines += [f"* {r['backend']}: failed: `{r['error'][-300:]!r}`", ""]
    if not ok:
        return "\n".join(lines) + "\n"
    names = [r["backend"] for r in ok]
    lines += ["Attention path of each column (keras_aliasfree.attention.layer_impl): " + ", ".join(
        f"{r['backend']}: {r.get('attention', '?')}" for r in ok) + ".", ""]
    ref = next((r for r in ok if r["backend"] == "tensorflow"), None)
    head = "| | " + " | ".join(f"{n} ms" for n in names) + " |"
    if ref:
        head += " " + " | ".join(f"{n} / tensorflow" for n in names if n != "tensorflow") + " |"
    ncol = len(names) + (len(names) - 1 if ref else 0)
    lines += [head, "|---|" + "---:|" * ncol]

    def row(label, get):
        vals = [get(r) for r in ok]
        cells = [f"{v:.1f}" if v is not None else "–" for v in vals]
        if ref:
            base = get(ref)
            cells += [f"{get(r) / base:.2f}" if base and get(r) is not None else "–"
                      for r in ok if r["backend"] != "tensorflow"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("whole UNet", lambda r: r["unet_ms"])
    kinds = sorted({k for r in ok for k in r["kinds"]},
                   key=lambda k: -max(r["kinds"].get(k, {}).get("ms", 0) for r in ok))
    for k in kinds:
        count = max(r["kinds"].get(k, {}).get("count", 0) for r in ok)
        row(f"{k} ×{count} (sum of layers alone)", lambda r, k=k: r["kinds"].get(k, {}).get("ms"))
    row("sum of all layers alone", lambda r: sum(v["ms"] for v in r["kinds"].values()))
    lines += ["", "Every distinct 3x3 convolution of the UNet alone (ms of one call; count = how "
              "many the UNet has):", "",
              "| input shape | filters | count | " + " | ".join(
                  f"{n}: fwd / d input / d kernel" for n in names) + " |",
              "|---|---:|---:|" + "---|" * len(names)]
    for i, c in enumerate(ok[0]["convs"]):
        cells = []
        for r in ok:
            cc = r["convs"][i] if i < len(r["convs"]) else None
            cells.append(f"{cc['forward']:.2f} / {cc['input grad']:.2f} / {cc['kernel grad']:.2f}"
                         if cc else "–")
        lines.append(f"| {tuple(c['shape'])} | {c['filters']} | {c['count']} | "
                     + " | ".join(cells) + " |")
    tot = {r["backend"]: {p: sum(c[p] * c["count"] for c in r["convs"])
                          for p in ("forward", "input grad", "kernel grad")} for r in ok}
    lines += ["", "All 3x3 convolutions, weighted by count (ms): " + "; ".join(
        f"{n} forward {v['forward']:.1f}, input grad {v['input grad']:.1f}, kernel grad "
        f"{v['kernel grad']:.1f}" for n, v in tot.items()) + ".", "",
        "Raw results:", "", "```json", json.dumps(results, indent=1), "```"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", nargs="+",
                   default=["tensorflow", "jax", "jax-keras-attention", "torch"],
                   help="tensorflow, jax, torch, or <backend>-keras-attention (Keras' own "
                        "attention layer instead of the library's choice)")
    p.add_argument("--attention", default="auto", help=argparse.SUPPRESS)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--timeout", type=int, default=1200, help="seconds per backend")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "backend_profile.md"))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return
    started, t0 = time.strftime("%Y-%m-%d %H:%M", time.gmtime()), time.time()
    results = []
    for b in args.backends:
        print(f"{b} ...", flush=True)
        results.append(_child(b, ["--repeats", str(args.repeats)], args.timeout))
        print(json.dumps(results[-1])[:300], flush=True)
    command = "python benchmarks/backend_profile.py " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith("--out"))
    text = render(results, command.strip(), started, time.time() - t0)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
