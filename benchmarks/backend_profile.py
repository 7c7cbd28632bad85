"""Where a backend spends a UNet training step: forward + backward of each layer kind, per backend.

Takes the config-A UNet at paper size (batch 16, 32x32x1, default widths, attention) and times,
compiled as in training (``jax.jit`` / ``tf.function(jit_compile=True)``; torch eager):

* the whole UNet, forward + backward (gradient of ``sum(y**2)`` with respect to the input and
  every weight);
* every layer alone, the same way, on an input of the shape it sees in the UNet; layers of the same
  kind, input shape and settings are timed once and counted as many times as they occur; the sum
  per kind (Conv2D, GroupNormalization, attention, ...) is its share of the step;
* for every distinct 3x3 convolution: the forward alone and the gradients with respect to the
  input and to the kernel separately (a backend whose kernel gradient is slow shows here).

Scenarios: ``profile`` (every backend) and ``keras-attention`` (JAX only, its own process: the
same UNet with Keras' own ``MultiHeadAttention`` inside its attention blocks, so the effect of
the library's JAX attention path shows side by side).

Each figure is the median of ``--repeats`` calls after two warm-up calls. Layers are timed one
after another, not interleaved: read the kinds' shares and the backends' ratios, not single
milliseconds. The sum of the layers exceeds the whole UNet's time wherever the compiler fuses
across layers.

Usage:
    python benchmarks/backend_profile.py                          # every installed backend
    python benchmarks/backend_profile.py --backends jax tensorflow --repeats 10
    python benchmarks/backend_profile.py --quick                  # a smoke run
"""

from __future__ import annotations

import json
import os
import sys

from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, median_time, succeeded

BATCH, SIZE = 16, 32


def _timer(fn, repeats):
    return median_time(fn, repeats) * 1e3


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


def _keras_attention(layer):
    """The UNet's attention block rebuilt with Keras' own MultiHeadAttention (``unet(replace=)``)."""
    import keras

    from keras_aliasfree.unet_layers import SpatialSelfAttention

    class KerasAttentionBlock(SpatialSelfAttention):
        def build(self, input_shape):
            c, seq = int(input_shape[-1]), (input_shape[0], None, int(input_shape[-1]))
            self.ln = keras.layers.LayerNormalization(epsilon=1e-5, name="ln")
            self.mha = keras.layers.MultiHeadAttention(self.num_heads, c // self.num_heads,
                                                       name="mha")
            self.ff_ln = keras.layers.LayerNormalization(epsilon=1e-5, name="ff_ln")
            self.ff1 = keras.layers.Dense(c, name="ff1")
            self.ff2 = keras.layers.Dense(c, name="ff2")
            for part in (self.ln, self.ff_ln, self.ff1, self.ff2):
                part.build(seq)
            self.mha.build(seq, seq, seq)

    if isinstance(layer, SpatialSelfAttention):
        return KerasAttentionBlock.from_config(layer.get_config())
    return None


def _profile(keras_attention):
    def run(args):
        import keras
        import numpy as np

        from keras_aliasfree import attention
        from keras_aliasfree.benchmarking import unet

        backend = keras.backend.backend()
        if backend == "torch":
            import torch
            torch.set_num_threads(os.cpu_count() or 1)
        rng = np.random.default_rng(0)
        (batch, size), repeats = ((2, 16) if args.quick else (BATCH, SIZE)), args.repeats
        net = unet("A", replace=_keras_attention if keras_attention else None, image_size=size,
                   channels=1, **({"base_width": 8} if args.quick else {}))
        x = rng.standard_normal((batch, size, size, 1)).astype("float32")
        t = rng.integers(0, 1000, (batch,)).astype("int32")
        out = {"attention": "keras" if keras_attention else attention.layer_impl(),
               "params": int(net.count_params()), "batch": batch, "size": size,
               "unet_ms": _timer(_grad_fn(backend, _layer_call(backend, net),
                                          net.trainable_variables, [x, t]), repeats)}
        groups = {}
        for layer in net.layers:
            inp = layer.input
            if isinstance(inp, (list, tuple)) or type(layer).__name__ == "InputLayer" \
                    or inp.dtype != "float32":
                continue
            cfg = layer.get_config()
            cfg.pop("name", None)
            key = (type(layer).__name__, (batch,) + tuple(inp.shape[1:]),
                   json.dumps(cfg, sort_keys=True, default=str))
            groups.setdefault(key, []).append(layer)
        kinds, convs = {}, []
        for (kind, shape, _), layers in groups.items():
            layer = layers[0]
            xin = rng.standard_normal(shape).astype("float32")
            ms = _timer(_grad_fn(backend, _layer_call(backend, layer), layer.trainable_variables,
                                 xin), repeats)
            k = kinds.setdefault(kind, {"count": 0, "ms": 0.0})
            k["count"] += len(layers)
            k["ms"] += ms * len(layers)
            if kind == "Conv2D" and tuple(layer.kernel_size) == (3, 3):
                convs.append({"shape": list(shape), "filters": int(layer.filters),
                              "count": len(layers), "fwd_bwd": ms,
                              **_conv_parts(backend, layer, xin, repeats)})
        return {**out, "kinds": kinds, "convs": convs}
    return run


def _columns(results):
    """``{column: result}``: each backend's profile, and JAX's with Keras' attention."""
    cols = {}
    for b, r in succeeded(results, "profile").items():
        cols[b] = r
    for b, r in succeeded(results, "keras-attention").items():
        cols[f"{b}-keras-attention"] = r
    return cols


def render(results, args):
    cols = _columns(results)
    if not cols:
        return ""
    first = next(iter(cols.values()))
    lines = [f"Config A UNet: batch {first['batch']}, {first['size']}x{first['size']}x1, "
             f"{first['params']:,} parameters, attention. Forward + backward (gradient of sum(y^2) "
             "with respect to the input and every weight), jit-compiled on TensorFlow (XLA) and "
             "JAX, eager on PyTorch; median ms. Each layer is timed alone on an input of the "
             "shape it sees in the UNet; a kind's row sums its layers. Rows are timed one after "
             "another, so compare shares and backends, not single milliseconds.", "",
             "Attention path of each column: " + ", ".join(
                 f"{n}: {r['attention']}" for n, r in cols.items()) + ".", ""]
    names, ref = list(cols), cols.get("tensorflow")
    others = [n for n in names if n != "tensorflow"] if ref else []

    def row(label, get):
        cells = [f"{get(r):.1f}" if get(r) is not None else "–" for r in cols.values()]
        cells += [f"{get(cols[n]) / get(ref):.2f}" if get(ref) and get(cols[n]) is not None
                  else "–" for n in others]
        return [label] + cells

    kinds = sorted({k for r in cols.values() for k in r["kinds"]},
                   key=lambda k: -max(r["kinds"].get(k, {}).get("ms", 0) for r in cols.values()))
    rows = [row("whole UNet", lambda r: r["unet_ms"])]
    rows += [row(f"{k} ×{max(r['kinds'].get(k, {}).get('count', 0) for r in cols.values())} "
                 "(sum of layers alone)", lambda r, k=k: r["kinds"].get(k, {}).get("ms"))
             for k in kinds]
    rows.append(row("sum of all layers alone", lambda r: sum(v["ms"] for v in r["kinds"].values())))
    lines += [md_table([""] + [f"{n} ms" for n in names] + [f"{n} / tensorflow" for n in others],
                       rows), "",
              "Every distinct 3x3 convolution alone (ms of one call; count = how many the UNet "
              "has):", ""]
    convs = []
    for i, c in enumerate(first["convs"]):
        cells = []
        for r in cols.values():
            cc = r["convs"][i] if i < len(r["convs"]) else None
            cells.append(f"{cc['forward']:.2f} / {cc['input grad']:.2f} / {cc['kernel grad']:.2f}"
                         if cc else "–")
        convs.append([str(tuple(c["shape"])), c["filters"], c["count"], *cells])
    lines.append(md_table(["input shape", "filters", "count"]
                          + [f"{n}: fwd / d input / d kernel" for n in names], convs))
    tot = {n: {p: sum(c[p] * c["count"] for c in r["convs"])
               for p in ("forward", "input grad", "kernel grad")} for n, r in cols.items()}
    lines += ["", "All 3x3 convolutions, weighted by count (ms): " + "; ".join(
        f"{n} forward {v['forward']:.1f}, input grad {v['input grad']:.1f}, kernel grad "
        f"{v['kernel grad']:.1f}" for n, v in tot.items()) + ".", "",
        "Raw results:", "", "```json", json.dumps(cols, indent=1), "```"]
    return "\n".join(lines)


BENCHMARK = Benchmark(
    "backend_profile", "Where a UNet training step's time goes, per backend",
    [Scenario("profile", _profile(False)),
     Scenario("keras-attention", _profile(True), "keras-attention", ("jax",))], render,
    add_arguments=lambda p: p.add_argument("--repeats", type=int, default=10), quick={"repeats": 1})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
