"""How the alias-free ops and UNets scale with image size, per backend.

Scenarios (forward + backward, interleaved rounds, median; batch 2 x 16 channels unless said):

* ``sizes``: at 32, 64, 128 and 256 px, plain GELU, ``FilteredActivation("gelu")`` as the
  library runs it (``impl="auto"``) and with the dense plan (to 128 px), ``AliasFreeUpsample``
  vs bilinear ``UpSampling2D``, ``AliasFreeDownsample`` vs ``AveragePooling2D``: time per pixel,
  FA / GELU, FA's time per pixel over its time per pixel at 32 px.
* ``kernels``: ``FilteredActivation("gelu")`` at 32 and 128 px with the default kernel (8x8,
  rank 2), D-1N's (beta 1, rank 4) and the flat-passband 12x12 rank-2 one.
* ``paper``: at the paper's (16, 32, 32, 64), FA / GELU with the plan ``"auto"`` takes there
  against banded plans with small windows (``block_out`` 16 and 8 output samples).
* ``small``: FA at a paper-size UNet's low levels ((16, 4, 4, 256), (16, 8, 8, 128),
  (16, 16, 16, 64)), default and D-1N kernels, one-matrix plan (``impl="kron"``) against the
  dense axis-wise one, and which one ``"auto"`` takes.
* ``reference``: at 128 and 256 px, up and down with the library's plan and with
  ``impl=--baseline`` (default ``"ref"``: zero insertion, direct convolution, decimation),
  against average pooling and bilinear resize.
* ``unet``: UNets at 64 and 128 px (base width 16, no attention, batch 2, v-prediction), A, D-1N
  and D-1N built with ``impl="dense"``; training steps interleaved, and a 2-step DDIM sample each.

Usage:
    python benchmarks/resample_scaling.py                        # every installed backend
    python benchmarks/resample_scaling.py --backends jax --only sizes,paper
    python benchmarks/resample_scaling.py --quick                # a smoke run
"""

from __future__ import annotations

import sys
import time

from keras_aliasfree.benchmarking import (Benchmark, Scenario, interleave, md_table, medians,
                                          progress, succeeded, time_grads)

BATCH, CHANNELS = 2, 16
DENSE_MAX = 128          # the dense plan is timed up to this size (quadratic beyond)
PAPER_SHAPE = (16, 32, 32, 64)
KERNELS = (("default 8x8, beta 4", {}), ("D-1N's 8x8, beta 1", {"beta": 1.0}),
           ("12x12, beta 6, rank 2", {"kernel_size": 12, "beta": 6.0, "rank": 2}))


def _sizes(args, full, quick):
    return quick if args.quick else full


def _x(shape):
    import keras
    import numpy as np

    return keras.ops.convert_to_tensor(
        np.random.default_rng(0).normal(size=shape).astype("float32"))


def _fa(up, down):
    import keras

    from keras_aliasfree import ops as O

    return lambda t: O.filtered_activation_with(t, keras.activations.gelu, up, down,
                                                "channels_last")


def sizes(args):
    import keras

    from keras_aliasfree import filters
    from keras_aliasfree import ops as O

    kernel, rows = filters.design_filter(2), []
    for s in _sizes(args, (32, 64, 128, 256), (16, 32)):
        fns = {"gelu": keras.activations.gelu}
        for impl in ("auto", "dense") if s <= DENSE_MAX else ("auto",):
            fns[f"fa_{impl}"] = _fa(O.gemm_operands(kernel, s, s, 2, "up", impl),
                                    O.gemm_operands(kernel, 2 * s, 2 * s, 2, "down", impl))
        fns.update(up=lambda t: O.upsample_2d(t, kernel),
                   bilinear=keras.layers.UpSampling2D(2, interpolation="bilinear"),
                   down=lambda t: O.downsample_2d(t, kernel),
                   avgpool=keras.layers.AveragePooling2D(2))
        t = time_grads(fns, _x((BATCH, s, s, CHANNELS)), args.rounds)
        rows.append({"size": s, "impl": O.gemm_operands(kernel, s, s, 2, "up").impl, **t})
        progress(f"{s}px: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in t.items()))
    return rows


def kernels(args):
    from keras_aliasfree import FilteredActivation

    rows = []
    for s in _sizes(args, (32, 128), (16,)):
        x = _x((BATCH, s, s, CHANNELS))
        layers = {name: FilteredActivation("gelu", **kw) for name, kw in KERNELS}
        t = time_grads(layers, x, args.rounds)
        for name, layer in layers.items():
            g = layer._operands_for(x)[0]
            rows.append({"size": s, "kernel": name, "s": t[name], "rank": g.r,
                         "window_up": g.w.length, "impl": g.impl})
    return rows


def paper(args):
    import keras

    from keras_aliasfree import filters
    from keras_aliasfree import ops as O

    kernel = filters.design_filter(2)
    shape = (2, 32, 32, 8) if args.quick else PAPER_SHAPE
    s = shape[1]
    plans = {"auto": (O.gemm_operands(kernel, s, s, 2, "up"),
                      O.gemm_operands(kernel, 2 * s, 2 * s, 2, "down"))}
    for b in (16, 8):
        plans[f"banded {b}"] = (O.gemm_operands(kernel, s, s, 2, "up", "banded", b),
                                O.gemm_operands(kernel, 2 * s, 2 * s, 2, "down", "banded", b))
    t = time_grads({"gelu": keras.activations.gelu, **{n: _fa(*p) for n, p in plans.items()}},
              _x(shape), args.rounds)
    return {"shape": list(shape), "gelu_s": t["gelu"],
            "rows": [{"plan": n, "impl": up.impl, "s": t[n], "window_up": up.w.length,
                      "window_down": down.w.length} for n, (up, down) in plans.items()]}


def small(args):
    import keras

    from keras_aliasfree import filters
    from keras_aliasfree import ops as O

    rows = []
    for shape in _sizes(args, ((16, 4, 4, 256), (16, 8, 8, 128), (16, 16, 16, 64)),
                        ((2, 4, 4, 16), (2, 8, 8, 8))):
        s = shape[1]
        fns = {"gelu": keras.activations.gelu}
        for kname, kernel in (("default", filters.design_filter(2)),
                              ("D-1N", filters.design_filter(2, beta=1.0))):
            for impl in ("dense", "kron"):
                fns[f"{kname} {impl}"] = _fa(O.gemm_operands(kernel, s, s, 2, "up", impl),
                                             O.gemm_operands(kernel, 2 * s, 2 * s, 2, "down", impl))
        t = time_grads(fns, _x(shape), args.rounds, inner=2)
        rows.append({"shape": list(shape), **t,
                     "auto": O.gemm_operands(filters.design_filter(2), s, s, 2, "up").impl})
    return rows


def reference(args):
    import keras

    from keras_aliasfree import filters
    from keras_aliasfree import ops as O

    kernel, base, rows = filters.design_filter(2), args.baseline, []
    for s in _sizes(args, (128, 256), (32,)):
        fns = {"avgpool": keras.layers.AveragePooling2D(2),
               "down": lambda t: O.downsample_2d(t, kernel),
               "down_base": lambda t: O.downsample_2d(t, kernel, impl=base),
               "bilinear": keras.layers.UpSampling2D(2, interpolation="bilinear"),
               "up": lambda t: O.upsample_2d(t, kernel),
               "up_base": lambda t: O.upsample_2d(t, kernel, impl=base)}
        rows.append({"size": s, **time_grads(fns, _x((BATCH, s, s, CHANNELS)), args.rounds)})
    return rows


def unet(args):
    import keras
    import numpy as np

    from keras_aliasfree.benchmarking import unet as build
    from keras_aliasfree.diffusion import DiffusionModel

    backend, rows = keras.backend.backend(), []
    for s in _sizes(args, (64, 128), (16,)):
        x = np.random.default_rng(0).uniform(-1, 1, (BATCH, s, s, 1)).astype("float32")
        dms = {}
        for name, config, impl in (("A", "A", "auto"), ("D-1N", "D-1N", "auto"),
                                   ("D-1N dense", "D-1N", "dense")):
            net = build(config, impl=impl, image_size=s, channels=1, base_width=16,
                        attention=False)
            dms[name] = DiffusionModel(net, prediction="v", seed=0)
            dms[name].compile(optimizer=keras.optimizers.AdamW(1e-3),
                              jit_compile=backend != "torch")
        first = {}
        for name, dm in dms.items():
            t = time.perf_counter()
            dm.train_on_batch(x)
            first[name] = time.perf_counter() - t
        steps = interleave({k: (lambda dm=dm: dm.train_on_batch(x)) for k, dm in dms.items()},
                           args.unet_steps, warmup=1, rotate=True)
        sample = {}
        for name in ("A", "D-1N"):
            t = time.perf_counter()
            img = keras.ops.convert_to_numpy(
                dms[name].sample(1, steps=2, sampler="ddim", seed=0, verbose=0))
            sample[name] = {"s": time.perf_counter() - t, "finite": bool(np.isfinite(img).all())}
        rows.append({"size": s, "first_s": first, "sample": sample, "step_s": medians(steps)})
        progress(f"UNet {s}px step: " + ", ".join(f"{k} {v:.3f} s" for k, v in
                                                  rows[-1]["step_s"].items()))
    return rows


def _mark(ok):
    return "✓" if ok else "✗"


def render(results, args) -> str:
    parts = ["Forward + backward, float32, median of interleaved rounds; everything in one table "
             "is measured side by side. Targets: FA time per pixel at 256 px within 1.5x of "
             "its time per pixel at 32 px; up within 2x of bilinear and down within 2x of "
             "average pooling at every size."]
    summary = []
    for b, rows in succeeded(results, "sizes").items():
        per_px = {r["size"]: r["fa_auto"] / r["size"] ** 2 for r in rows}
        growth = per_px[rows[-1]["size"]] / per_px[rows[0]["size"]]
        ups = [r["up"] / r["bilinear"] for r in rows]
        downs = [r["down"] / r["avgpool"] for r in rows]
        summary.append([b, f"{growth:.2f} {_mark(growth <= 1.5)}",
                        f"{min(ups):.2f}–{max(ups):.2f} {_mark(max(ups) <= 2)}",
                        f"{min(downs):.2f}–{max(downs):.2f} {_mark(max(downs) <= 2)}",
                        f"{rows[0]['fa_auto'] / rows[0]['gelu']:.1f}"])
    if summary:
        parts.append(md_table(["backend", "FA per-pixel largest / smallest size (≤ 1.5)",
                               "up / bilinear (≤ 2)", "down / avg-pool (≤ 2)",
                               "FA / GELU, smallest size"], summary))
    base = args.baseline
    for b in results:
        parts.append(f"## {b}")
        rows = succeeded(results, "sizes").get(b)
        if rows:
            p0 = rows[0]["fa_auto"] / rows[0]["size"] ** 2
            parts.append(md_table(
                ["size", "up plan", "GELU ms", "FA ms (auto)", "FA ns/px", "FA per px / smallest",
                 "FA / GELU", "FA dense ms", "dense / auto", "up / bilinear", "down / avg-pool"],
                [[r["size"], r["impl"], f"{r['gelu'] * 1e3:.2f}", f"{r['fa_auto'] * 1e3:.2f}",
                  f"{r['fa_auto'] / r['size'] ** 2 / BATCH / CHANNELS * 1e9:.1f}",
                  f"{r['fa_auto'] / r['size'] ** 2 / p0:.2f}", f"{r['fa_auto'] / r['gelu']:.1f}",
                  *((f"{r['fa_dense'] * 1e3:.2f}", f"{r['fa_dense'] / r['fa_auto']:.2f}")
                    if "fa_dense" in r else ("–", "–")),
                  f"{r['up'] / r['bilinear']:.2f}", f"{r['down'] / r['avgpool']:.2f}"]
                 for r in rows], left=2))
        rows = succeeded(results, "kernels").get(b)
        if rows:
            ref = {k["size"]: k["s"] for k in rows if k["kernel"] == KERNELS[0][0]}
            parts += ["FilteredActivation per kernel (the layer's own operands, `impl=\"auto\"`):",
                      md_table(["size", "kernel", "SVD rank", "up window (inputs)", "plan", "FA ms",
                                "/ default kernel"],
                               [[k["size"], k["kernel"], k["rank"], k["window_up"], k["impl"],
                                 f"{k['s'] * 1e3:.2f}", f"{k['s'] / ref[k['size']]:.2f}"]
                                for k in rows], left=2)]
        p = succeeded(results, "paper").get(b)
        if p:
            g, auto = p["gelu_s"], p["rows"][0]["s"]
            parts += [f"FilteredActivation at {tuple(p['shape'])} (GELU {g * 1e3:.2f} ms):",
                      md_table(["plan", "up / down window (inputs)", "FA ms", "FA / GELU", "/ auto"],
                               [[f"{q['plan']} ({q['impl']})",
                                 f"{q['window_up']} / {q['window_down']}", f"{q['s'] * 1e3:.2f}",
                                 f"{q['s'] / g:.1f}", f"{q['s'] / auto:.2f}"] for q in p["rows"]],
                               left=2)]
        rows = succeeded(results, "small").get(b)
        if rows:
            ks = ("default", "D-1N")
            parts += ["Small images: the one-matrix plan (`kron`) against the dense axis-wise "
                      "one (ms):",
                      md_table(["shape", "`auto` takes", "GELU"]
                               + [f"{k} {c}" for k in ks for c in ("dense", "kron", "kron / dense")],
                               [[str(tuple(q["shape"])), q["auto"], f"{q['gelu'] * 1e3:.2f}"]
                                + [v for k in ks for v in (
                                    f"{q[k + ' dense'] * 1e3:.2f}", f"{q[k + ' kron'] * 1e3:.2f}",
                                    f"{q[k + ' kron'] / q[k + ' dense']:.2f}")] for q in rows],
                               left=2)]
        rows = succeeded(results, "reference").get(b)
        if rows:
            parts += [f"The library's plan against `impl=\"{base}\"`, ratios to the plain op:",
                      md_table(["size", "down / avg-pool", f"down {base} / avg-pool",
                                "up / bilinear", f"up {base} / bilinear"],
                               [[q["size"]] + [f"{q[a] / q[c]:.2f}" for a, c in (
                                   ("down", "avgpool"), ("down_base", "avgpool"),
                                   ("up", "bilinear"), ("up_base", "bilinear"))] for q in rows])]
        rows = succeeded(results, "unet").get(b)
        if rows:
            lines = []
            for u in rows:
                st, ok = u["step_s"], all(v["finite"] for v in u["sample"].values())
                lines.append([u["size"], f"{st['A']:.3f}", f"{st['D-1N']:.3f}",
                              f"{st['D-1N dense']:.3f}", f"{st['D-1N'] / st['A']:.2f}",
                              f"{st['D-1N dense'] / st['D-1N']:.2f}",
                              f"{u['first_s']['A']:.0f} / {u['first_s']['D-1N']:.0f}",
                              f"{u['sample']['A']['s']:.1f} / {u['sample']['D-1N']['s']:.1f}"
                              + ("" if ok else " (not finite!)")])
            parts += ["UNets (base width 16, no attention, batch 2, v-prediction; `D-1N dense` "
                      "is built with `impl=\"dense\"`):",
                      md_table(["size", "A s/step", "D-1N s/step", "D-1N dense s/step", "D / A",
                                "dense / auto", "first step A / D (s)", "DDIM-2 sample A / D (s)"],
                               lines)]
    return "\n\n".join(parts)


def add_arguments(p):
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--unet-steps", type=int, default=4)
    p.add_argument("--baseline", default="ref", help="impl of the reference scenario (default: ref)")


BENCHMARK = Benchmark("resample_scaling", "Resampling cost against image size",
                      [Scenario(f.__name__, f) for f in (sizes, kernels, paper, small, reference,
                                                         unet)],
                      render, add_arguments, quick={"rounds": 1, "unet_steps": 1})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
