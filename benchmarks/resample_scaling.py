"""How the alias-free ops and UNets scale with image size, per backend (issue 16's targets).

For each backend (tensorflow, jax, torch), each in its own subprocess:

* **ops**, forward + backward, batch 2 x 16 channels at 32, 64, 128 and 256 px, timed side by side
  (interleaved rounds, median): plain GELU, ``FilteredActivation("gelu")`` as the library runs it
  (``impl="auto"``: the banded path on large axes) and with the dense reference path (to 128 px),
  ``AliasFreeUpsample`` vs bilinear ``UpSampling2D``, ``AliasFreeDownsample`` vs
  ``AveragePooling2D``; and FA with the banded product in its other form (``ops.BANDED_FORM =
  "transpose"``: the dense path's per-window transpose). Reported: time per pixel, FA / GELU, and FA's time per pixel at each size
  over its time per pixel at 32 px (target: <= 1.5 at 256); up / bilinear and down / avg-pool
  (target: <= 2 at every size).
* **kernels**: ``FilteredActivation("gelu")`` at 32 and 128 px with the default kernel (8x8,
  rank 2), D-1N's (beta 1, rank 4) and the flat-passband 12x12 rank-2 one: cost follows the rank
  and, on the banded path, the window length.
* **paper size, plans**: at the paper's (16, 32, 32, 64), FA / GELU with the plan ``"auto"``
  takes there (dense: every axis is short) against banded plans with small windows
  (``block_out`` 16 and 8 output samples): fewer multiplications by zero, more copies. This is
  issue 16's target 2 (FA <= 10x GELU) and why ``"auto"`` keeps 32-px axes dense.
* **small images**: the filtered activation at the low levels of a paper-size UNet ((16, 4, 4,
  256), (16, 8, 8, 128), (16, 16, 16, 64)), default and D-1N (beta 1, rank 4) kernels, with the
  one-matrix plan (``impl="kron"``) against the dense axis-wise one, and which one ``"auto"`` takes.
* **another primitive**: at 128 and 256 px, the resampling written as depthwise convolutions
  (``keras.ops.depthwise_conv``: down = a strided 1x8 then 8x1 pass per separable term, up = a
  polyphase pass with two 4-tap phases per axis, interleaved) against the library's GEMMs, average
  pooling and bilinear resize. A cost proxy: same taps per output, same shapes, random taps and
  plain zero padding (not the library's values or borders).
* **UNets** at 64x64 and 128x128 (base width 16, no attention, batch 2, v-prediction): one
  ``DiffusionModel`` each for A and D-1N, and D-1N with the dense reference resampling
  (``bench.resampling_plans(banded=False, kron=False)``: every axis dense); training steps timed interleaved, plus
  a 2-step DDIM sample to show each one samples.

Functions are compiled as training compiles them (``jit_compile`` on TF/JAX, eager on torch; see
``keras_aliasfree.bench``). Writes docs/benchmarks/resample_scaling.md with the command, machine
and load average. Quote the ratios, not the absolute times: the build machine is shared.

Usage:
    python benchmarks/resample_scaling.py                   # all installed backends
    python benchmarks/resample_scaling.py --backends jax --no-unet
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
RESULT = "RESAMPLE_SCALING_RESULT "
SIZES = (32, 64, 128, 256)
DENSE_MAX = 128          # the dense reference is timed up to this size (quadratic beyond)
BATCH, CHANNELS = 2, 16
UNET_SIZES = (64, 128)
PAPER_BLOCKS = (16, 8)
PRIMITIVE_SIZES = (128, 256)
SMALL_SHAPES = ((16, 4, 4, 256), (16, 8, 8, 128), (16, 16, 16, 64))   # banded windows of this many output samples, tried at paper size


def _with_form(form, fn, *args):
    """Call ``fn`` with ``ops.BANDED_FORM = form`` (read when traced, or per call in eager)."""
    from keras_aliasfree import ops as O

    old, O.BANDED_FORM = O.BANDED_FORM, form
    try:
        return fn(*args)
    finally:
        O.BANDED_FORM = old


def _ops_rows(rounds):
    import keras
    import numpy as np

    from keras_aliasfree import bench, filters
    from keras_aliasfree import ops as O

    gelu = keras.activations.gelu
    kernel = filters.design_filter(2)
    rows = []
    for s in SIZES:
        x = keras.ops.convert_to_tensor(
            np.random.default_rng(0).normal(size=(BATCH, s, s, CHANNELS)).astype("float32"))
        fns = {"gelu": gelu}
        impls = ("auto", "dense") if s <= DENSE_MAX else ("auto",)
        for impl in impls:
            up = O.gemm_operands(kernel, s, s, 2, "up", impl)
            down = O.gemm_operands(kernel, 2 * s, 2 * s, 2, "down", impl)
            fns[f"fa_{impl}"] = (lambda t, u=up, d=down:
                                 _with_form("left", O.filtered_activation_with, t, gelu, u, d,
                                            "channels_last"))
        up = O.gemm_operands(kernel, s, s, 2, "up")
        down = O.gemm_operands(kernel, 2 * s, 2 * s, 2, "down")
        if "banded" in (up.impl, down.impl):  # the other form of the banded product
            fns["fa_transpose_form"] = (lambda t, u=up, d=down:
                                        _with_form("transpose", O.filtered_activation_with, t,
                                                   gelu, u, d, "channels_last"))
        fns["up"] = lambda t: O.upsample_2d(t, kernel)
        fns["bilinear"] = keras.layers.UpSampling2D(2, interpolation="bilinear")
        fns["down"] = lambda t: O.downsample_2d(t, kernel)
        fns["avgpool"] = keras.layers.AveragePooling2D(2)
        t = bench._time({k: bench._value_and_grad(f) for k, f in fns.items()}, x, rounds, 1)
        t["size"] = s
        t["impl"] = O.gemm_operands(kernel, s, s, 2, "up").impl
        rows.append(t)
        print(f"[{keras.backend.backend()}] {s}px: " + ", ".join(
            f"{k} {v * 1e3:.1f} ms" for k, v in t.items() if isinstance(v, float)),
            file=sys.stderr, flush=True)
    return rows


KERNELS = (("default 8x8, beta 4", {}), ("D-1N's 8x8, beta 1", {"beta": 1.0}),
           ("12x12, beta 6, rank 2", {"kernel_size": 12, "beta": 6.0, "rank": 2}))


def _kernel_rows(rounds):
    """FA cost per kernel at 32 and 128 px: does a longer kernel cost more than its rank?"""
    import keras
    import numpy as np

    from keras_aliasfree import FilteredActivation, bench

    rows = []
    for s in (32, 128):
        x = keras.ops.convert_to_tensor(
            np.random.default_rng(0).normal(size=(BATCH, s, s, CHANNELS)).astype("float32"))
        layers = {name: FilteredActivation("gelu", **kw) for name, kw in KERNELS}
        t = bench._time({n: bench._value_and_grad(f) for n, f in layers.items()}, x, rounds, 1)
        for name, layer in layers.items():
            g = layer._operands_for(x)[0]
            rows.append({"size": s, "kernel": name, "s": t[name], "rank": g.r,
                         "window_up": g.w.length, "impl": g.impl})
    return rows


def _paper_rows(rounds):
    """FA / GELU at the paper's (16, 32, 32, 64): the ``auto`` (dense) plan vs small-window bands."""
    import keras
    import numpy as np

    from keras_aliasfree import bench, filters
    from keras_aliasfree import ops as O

    gelu = keras.activations.gelu
    kernel = filters.design_filter(2)
    n, s, _, c = bench.SHAPE
    x = keras.ops.convert_to_tensor(
        np.random.default_rng(0).normal(size=bench.SHAPE).astype("float32"))
    plans = {"auto": (O.gemm_operands(kernel, s, s, 2, "up"),
                      O.gemm_operands(kernel, 2 * s, 2 * s, 2, "down"))}
    for b in PAPER_BLOCKS:
        plans[f"banded {b}"] = (O.gemm_operands(kernel, s, s, 2, "up", "banded", b),
                                O.gemm_operands(kernel, 2 * s, 2 * s, 2, "down", "banded", b))
    fns = {"gelu": gelu}
    for name, (up, down) in plans.items():
        fns[name] = (lambda t, u=up, d=down:
                     _with_form("left", O.filtered_activation_with, t, gelu, u, d,
                                "channels_last"))
    t = bench._time({k: bench._value_and_grad(f) for k, f in fns.items()}, x, rounds, 1)
    rows = [{"plan": name, "impl": up.impl, "s": t[name],
             "window_up": up.w.length, "window_down": down.w.length} for name, (up, down) in
            plans.items()]
    print(f"[{keras.backend.backend()}] paper size: " + ", ".join(
        f"{k} {v * 1e3:.1f} ms" for k, v in t.items()), file=sys.stderr, flush=True)
    return {"gelu_s": t["gelu"], "rows": rows}


def _small_rows(rounds):
    """FA at a UNet's small levels: the one-matrix (kron) plan vs the dense axis-wise one."""
    import keras
    import numpy as np

    from keras_aliasfree import bench, filters
    from keras_aliasfree import ops as O

    gelu = keras.activations.gelu
    rows = []
    for shape in SMALL_SHAPES:
        s = shape[1]
        x = keras.ops.convert_to_tensor(
            np.random.default_rng(0).normal(size=shape).astype("float32"))
        fns = {"gelu": gelu}
        for kname, kernel in (("default", filters.design_filter(2)),
                              ("D-1N", filters.design_filter(2, beta=1.0))):
            for impl in ("dense", "kron"):
                up = O.gemm_operands(kernel, s, s, 2, "up", impl)
                down = O.gemm_operands(kernel, 2 * s, 2 * s, 2, "down", impl)
                fns[f"{kname} {impl}"] = (lambda t, u=up, d=down:
                                          O.filtered_activation_with(t, gelu, u, d,
                                                                     "channels_last"))
        t = bench._time({k: bench._value_and_grad(f) for k, f in fns.items()}, x, rounds, 2)
        t["shape"] = list(shape)
        t["auto"] = O.gemm_operands(filters.design_filter(2), s, s, 2, "up").impl
        rows.append(t)
        print(f"[{keras.backend.backend()}] small {shape}: " + ", ".join(
            f"{k} {v * 1e3:.2f} ms" for k, v in t.items() if isinstance(v, float)),
            file=sys.stderr, flush=True)
    return rows


def _depthwise_resamplers(taps, channels):
    """Down and up by 2 as depthwise convolutions with the separable ``taps (r, 8)`` (cost proxy)."""
    import numpy as np
    from keras import ops

    def kern(t, shape):
        return ops.convert_to_tensor(np.tile(np.reshape(t, shape), (1, 1, channels, 1)))

    def pad(t, axis, lo, hi):
        p = [(0, 0)] * 4
        p[axis] = (lo, hi)
        return ops.pad(t, p)

    def down(x):
        out = 0
        for t in taps:
            y = ops.depthwise_conv(pad(x, 2, 3, 4), kern(t, (1, 8, 1, 1)), strides=(1, 2))
            out = out + ops.depthwise_conv(pad(y, 1, 3, 4), kern(t, (8, 1, 1, 1)), strides=(2, 1))
        return out

    def up(x):
        b, h, w, c = x.shape
        out = 0
        for t in taps:
            phases = np.reshape(t, (4, 2)).T           # (2 phases, 4 taps)
            y = ops.depthwise_conv(pad(x, 2, 2, 1), kern(phases.T, (1, 4, 1, 2)))
            y = ops.reshape(ops.transpose(ops.reshape(y, (b, h, w, c, 2)), (0, 1, 2, 4, 3)),
                            (b, h, 2 * w, c))
            z = ops.depthwise_conv(pad(y, 1, 2, 1), kern(phases.T, (4, 1, 1, 2)))
            out = out + ops.reshape(ops.transpose(ops.reshape(z, (b, h, 2 * w, c, 2)),
                                                  (0, 1, 4, 2, 3)), (b, 2 * h, 2 * w, c))
        return out

    return down, up


def _primitive_rows(rounds):
    """The GEMM resampling vs the same taps as depthwise convolutions (see the module doc)."""
    import keras
    import numpy as np

    from keras_aliasfree import bench, filters
    from keras_aliasfree import ops as O

    kernel = filters.design_filter(2)
    taps = np.random.default_rng(1).normal(size=(2, 8)).astype("float32")
    dw_down, dw_up = _depthwise_resamplers(taps, CHANNELS)
    rows = []
    for s in PRIMITIVE_SIZES:
        x = keras.ops.convert_to_tensor(
            np.random.default_rng(0).normal(size=(BATCH, s, s, CHANNELS)).astype("float32"))
        fns = {"avgpool": keras.layers.AveragePooling2D(2),
               "down": lambda t: O.downsample_2d(t, kernel), "dw_down": dw_down,
               "bilinear": keras.layers.UpSampling2D(2, interpolation="bilinear"),
               "up": lambda t: O.upsample_2d(t, kernel), "dw_up": dw_up}
        t = bench._time({k: bench._value_and_grad(f) for k, f in fns.items()}, x, rounds, 1)
        t["size"] = s
        rows.append(t)
        print(f"[{keras.backend.backend()}] depthwise {s}px: " + ", ".join(
            f"{k} {v * 1e3:.1f} ms" for k, v in t.items() if isinstance(v, float)),
            file=sys.stderr, flush=True)
    return rows


def _unet_rows(steps):
    import keras
    import numpy as np

    from keras_aliasfree import bench
    from keras_aliasfree.diffusion import DiffusionModel
    from keras_aliasfree.unet import build_unet

    backend = keras.backend.backend()
    rows = []
    for s in UNET_SIZES:
        x = np.random.default_rng(0).uniform(-1, 1, (BATCH, s, s, 1)).astype("float32")
        dms = {}
        for name, config in (("A", "A"), ("D-1N", "D-1N"), ("D-1N dense", "D-1N")):
            dense = name.endswith("dense")  # every axis dense, no one-matrix plan: the reference
            with bench.resampling_plans(banded=not dense, kron=not dense):
                net = build_unet(config, image_size=s, channels=1, base_width=16, attention=False)
            dm = DiffusionModel(net, prediction="v", seed=0)
            dm.compile(optimizer=keras.optimizers.AdamW(1e-3), jit_compile=backend != "torch")
            dms[name] = dm
        first, times = {}, {k: [] for k in dms}
        for name, dm in dms.items():
            t = time.perf_counter()
            dm.train_on_batch(x)
            first[name] = time.perf_counter() - t
            dm.train_on_batch(x)
        order = list(dms)
        for i in range(steps):
            for name in order[i % len(order):] + order[:i % len(order)]:
                t = time.perf_counter()
                dms[name].train_on_batch(x)
                times[name].append(time.perf_counter() - t)
        sample = {}
        for name in ("A", "D-1N"):
            t = time.perf_counter()
            img = keras.ops.convert_to_numpy(
                dms[name].sample(1, steps=2, sampler="ddim", seed=0, verbose=0))
            sample[name] = {"s": time.perf_counter() - t, "shape": list(img.shape),
                            "finite": bool(np.isfinite(img).all())}
        row = {"size": s, "first_s": first, "sample": sample,
               "step_s": {k: float(np.median(v)) for k, v in times.items()},
               "params": {k: int(dm.denoiser.count_params()) for k, dm in dms.items()}}
        rows.append(row)
        print(f"[{backend}] UNet {s}px step: " + ", ".join(
            f"{k} {v:.3f} s" for k, v in row["step_s"].items()), file=sys.stderr, flush=True)
    return rows


def worker(args):
    import keras

    out = {"backend": keras.backend.backend(), "load_start": os.getloadavg()}
    out["ops"] = _ops_rows(args.rounds)
    out["kernels"] = _kernel_rows(args.rounds)
    out["paper"] = _paper_rows(args.rounds)
    out["small"] = _small_rows(args.rounds)
    out["primitive"] = _primitive_rows(args.rounds)
    if not args.no_unet:
        out["unet"] = _unet_rows(args.unet_steps)
    out["load_end"] = os.getloadavg()
    print(RESULT + json.dumps(out), flush=True)


def _child(backend, argv, timeout):
    env = dict(os.environ, KERAS_BACKEND=backend)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker"] + argv
    p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    sys.stderr.write("".join(line + "\n" for line in p.stderr.splitlines() if line.startswith("[")))
    for line in p.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    tail = "\n".join((p.stderr or "").splitlines()[-15:])
    raise RuntimeError(f"{backend} failed (rc {p.returncode}):\n{tail}")


def _md_table(intro, header, rows, left):
    """Markdown lines: ``intro``, a table whose first ``left`` columns are left-aligned, a blank."""
    align = ["---"] * left + ["---:"] * (len(header) - left)
    return ([intro, "", "| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
            + ["| " + " | ".join(row) + " |" for row in rows] + [""])


def bench_shape():
    from keras_aliasfree import bench

    return tuple(bench.SHAPE)


def _mark(ok):
    return "✓" if ok else "✗"


def render(results, command, started, wall):
    lines = ["# Resampling cost against image size (issue 16)", "",
             f"Made by `{command}` on {started} UTC, {platform.machine()}, {os.cpu_count()} CPU "
             f"cores, Python {platform.python_version()}, {wall / 60:.0f} min. Forward + backward, "
             f"batch {BATCH} x {CHANNELS} channels, float32, median of interleaved rounds; each "
             "backend in its own process, everything in one table measured side by side. "
             "Absolute times are context only (a shared machine): quote the ratios.", "",
             "Targets: FA time per pixel at 256 px within 1.5x of its time per pixel at 32 px; "
             "up within 2x of bilinear and down within 2x of average pooling at every size.", ""]
    summary = ["| backend | FA per-pixel 256 / 32 (≤ 1.5) | up / bilinear, 32–256 (≤ 2) | "
               "down / avg-pool, 32–256 (≤ 2) | FA / GELU at 32 px | load avg |",
               "|---|---|---|---|---|---|"]
    for r in results:
        ops = {row["size"]: row for row in r["ops"]}
        per_px = {s: row["fa_auto"] / s ** 2 for s, row in ops.items()}
        growth = per_px[SIZES[-1]] / per_px[SIZES[0]]
        ups = [row["up"] / row["bilinear"] for row in r["ops"]]
        downs = [row["down"] / row["avgpool"] for row in r["ops"]]
        summary.append(
            f"| {r['backend']} | {growth:.2f} {_mark(growth <= 1.5)} | "
            f"{min(ups):.2f}–{max(ups):.2f} {_mark(max(ups) <= 2)} | "
            f"{min(downs):.2f}–{max(downs):.2f} {_mark(max(downs) <= 2)} | "
            f"{ops[SIZES[0]]['fa_auto'] / ops[SIZES[0]]['gelu']:.1f} | "
            f"{r['load_start'][0]:.1f}→{r['load_end'][0]:.1f} |")
    lines += summary + [""]
    for r in results:
        lines += [f"## {r['backend']}", "",
                  "| size | up plan | GELU ms | FA ms (auto) | FA ns/px | FA per px / 32 px | "
                  "FA / GELU | FA dense ms | dense / auto | transpose form / auto | up / bilinear "
                  "| down / avg-pool |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        base = r["ops"][0]["fa_auto"] / r["ops"][0]["size"] ** 2
        for row in r["ops"]:
            s = row["size"]
            dense = row.get("fa_dense")
            lines.append(
                f"| {s} | {row['impl']} | {row['gelu'] * 1e3:.2f} | {row['fa_auto'] * 1e3:.2f} | "
                f"{row['fa_auto'] / s ** 2 / BATCH / CHANNELS * 1e9:.1f} | "
                f"{row['fa_auto'] / s ** 2 / base:.2f} | {row['fa_auto'] / row['gelu']:.1f} | "
                + (f"{dense * 1e3:.2f} | {dense / row['fa_auto']:.2f}" if dense else "– | –")
                + (f" | {row['fa_transpose_form'] / row['fa_auto']:.2f}"
                   if "fa_transpose_form" in row else " | –")
                + f" | {row['up'] / row['bilinear']:.2f} | {row['down'] / row['avgpool']:.2f} |")
        lines.append("")
        if r.get("kernels"):
            lines += ["FilteredActivation per kernel (the layer's own operands, `impl=\"auto\"`):",
                      "", "| size | kernel | SVD rank | up window (inputs) | plan | FA ms | "
                      "/ default kernel |", "|---:|---|---:|---:|---|---:|---:|"]
            base = {k["size"]: k["s"] for k in r["kernels"] if k["kernel"] == KERNELS[0][0]}
            for k in r["kernels"]:
                lines.append(f"| {k['size']} | {k['kernel']} | {k['rank']} | {k['window_up']} | "
                             f"{k['impl']} | {k['s'] * 1e3:.2f} | {k['s'] / base[k['size']]:.2f} |")
            lines.append("")
        if r.get("paper"):
            g = r["paper"]["gelu_s"]
            auto = r["paper"]["rows"][0]["s"]
            lines += _md_table(
                f"FilteredActivation at the paper's size {bench_shape()} (GELU {g * 1e3:.2f} ms; "
                "target 2 of issue 16: FA <= 10x GELU):",
                ["plan", "up / down window (inputs of 32 / 64)", "FA ms", "FA / GELU", "/ auto"],
                [[f"{p['plan']} ({p['impl']})", f"{p['window_up']} / {p['window_down']}",
                  f"{p['s'] * 1e3:.2f}", f"{p['s'] / g:.1f}", f"{p['s'] / auto:.2f}"]
                 for p in r["paper"]["rows"]], left=2)
        if r.get("small"):
            lines += _md_table(
                "Small images: FilteredActivation at a paper-size UNet's low levels, the "
                "one-matrix plan (`kron`) against the dense axis-wise one (ms, forward + backward):",
                ["shape", "`auto` takes", "GELU"] + [i if i.startswith("kron /") else f"{k} {i}"
                                                     for k in ("default", "D-1N")
                                                     for i in ("dense", "kron", "kron / dense")],
                [[str(tuple(q["shape"])), q["auto"], f"{q['gelu'] * 1e3:.2f}"]
                 + [v for k in ("default", "D-1N") for v in (
                     f"{q[k + ' dense'] * 1e3:.2f}", f"{q[k + ' kron'] * 1e3:.2f}",
                     f"{q[k + ' kron'] / q[k + ' dense']:.2f}")] for q in r["small"]], left=2)
        if r.get("primitive"):
            lines += _md_table(
                "The same taps as depthwise convolutions (a cost proxy, see the script), forward + "
                "backward, ratios to the plain op:",
                ["size", "down GEMM / avg-pool", "down depthwise / avg-pool", "up GEMM / bilinear",
                 "up depthwise / bilinear"],
                [[str(q["size"])] + [f"{q[a] / q[b]:.2f}" for a, b in (
                    ("down", "avgpool"), ("dw_down", "avgpool"), ("up", "bilinear"),
                    ("dw_up", "bilinear"))] for q in r["primitive"]], left=0)
        if r.get("unet"):
            lines += ["UNets (base width 16, no attention, batch 2, v-prediction; `D-1N dense` = "
                      "the dense reference resampling on every axis, no banded and no one-matrix "
                      "plan):", "",
                      "| size | A s/step | D-1N s/step | D-1N dense s/step | D / A | dense / auto "
                      "| first step A / D (s) | DDIM-2 sample A / D (s) |",
                      "|---:|---:|---:|---:|---:|---:|---|---|"]
            for u in r["unet"]:
                st = u["step_s"]
                ok = all(v["finite"] for v in u["sample"].values())
                lines.append(
                    f"| {u['size']} | {st['A']:.3f} | {st['D-1N']:.3f} | {st['D-1N dense']:.3f} | "
                    f"{st['D-1N'] / st['A']:.2f} | {st['D-1N dense'] / st['D-1N']:.2f} | "
                    f"{u['first_s']['A']:.0f} / {u['first_s']['D-1N']:.0f} | "
                    f"{u['sample']['A']['s']:.1f} / {u['sample']['D-1N']['s']:.1f}"
                    f"{'' if ok else ' (not finite!)'} |")
            lines.append("")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backends", default=None, help="comma list (default: every installed one)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--unet-steps", type=int, default=4)
    p.add_argument("--no-unet", action="store_true")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per backend")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "resample_scaling.md"))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    from keras_aliasfree import bench

    backends = args.backends.split(",") if args.backends else bench.installed_backends()
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    t0 = time.perf_counter()
    extra = ["--rounds", str(args.rounds), "--unet-steps", str(args.unet_steps)]
    extra += ["--no-unet"] if args.no_unet else []
    results = [_child(b, extra, args.timeout) for b in backends]
    command = "python benchmarks/resample_scaling.py" + (
        " " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    doc = render(results, command.rstrip(), started, time.perf_counter() - t0)
    Path(args.out).write_text(doc + "\n")
    print(doc)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
