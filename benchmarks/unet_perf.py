"""UNet training and sampling speed per backend: config D-1N against config A, side by side.

Paper size (batch 16, 32x32x1, default widths, AdamW 3e-4, noise-prediction MSE through
``DiffusionModel``; ``jit_compile`` on TF/JAX, eager on torch). Scenarios:

* ``train``: training step seconds of A, D-1N and ``--configs``, with the plain-PyTorch config A
  UNet of ``benchmarks/reference_torch.py`` (``--no-ref`` to skip), interleaved rounds in one
  process; a config ``NAME-k<N>`` has N x N rank-2 filters, ``NAME:<impl>`` is built with that
  resampling impl (e.g. ``D-1N:axes``: never the one-matrix plan);
* ``sampling``: seconds per reverse step, plain (rotation 0) against rotation-aware (45 deg),
  DDIM and DDPM, interleaved; images/s for DDIM-50 and DDPM-1000 scaled from the per-step cost;
* ``probe``: ``FilteredActivation`` (D-1N filters) vs GELU on (16, 32, 32, 64), to estimate how
  much of D's extra step time its filtered GELUs account for;
* ``rotation``: the sampler's per-step rotation alone, in its own process;
* ``rss-A``, ``rss-D-1N``, ``rss-ref``: peak RSS of a process training that model a few steps,
  each its own process (``rss-ref`` on torch only; it also times the reference alone).

Usage:
    python benchmarks/unet_perf.py                                   # every installed backend
    python benchmarks/unet_perf.py --backends jax --quick
    python benchmarks/unet_perf.py --only train --no-ref --configs D-1N:axes,D-6N-k12 \\
        --out docs/benchmarks/unet_step.md
"""

from __future__ import annotations

import math
import resource
import statistics
import sys
import time
from pathlib import Path

from keras_aliasfree.benchmarking import (Benchmark, Scenario, interleave, md_table, medians,
                                          progress, succeeded, time_grads)

BATCH, SIZE, LR = 16, 32, 3e-4
DEFAULTS = {"steps": 6, "sample_steps": 5, "ddpm_steps": 5, "sample_repeats": 3, "rss_steps": 2}
QUICK = {"steps": 2, "sample_steps": 2, "ddpm_steps": 2, "sample_repeats": 2, "rss_steps": 1}


def _size(args):
    return 16 if args.quick else SIZE


def _data(args):
    import numpy as np

    s = _size(args)
    return np.random.default_rng(0).uniform(-1, 1, (BATCH, s, s, 1)).astype("float32")


def _build(config, args):
    import keras

    from keras_aliasfree.benchmarking import unet
    from keras_aliasfree.diffusion import DiffusionModel

    config, _, impl = config.partition(":")
    name, _, k = config.partition("-k")
    extra = {"filters": {"kernel_size": int(k), "rank": 2}} if k else {}
    if args.quick:
        extra.update(base_width=8, attention=False)
    net = unet(name, impl=impl or "auto", image_size=_size(args), channels=1, **extra)
    dm = DiffusionModel(net, seed=0)
    dm.compile(optimizer=keras.optimizers.AdamW(LR),
               jit_compile=keras.backend.backend() != "torch")
    return dm


_MODELS = {}  # built once per child process, shared by its scenarios


def _models_for(args):
    if not _MODELS:
        configs = ["A", "D-1N"] + [c for c in args.configs.split(",") if c not in ("", "A", "D-1N")]
        _MODELS.update({c: _build(c, args) for c in configs})
    return _MODELS


def _torch_reference(args):
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import reference_torch as ref

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = ref.UNetA(_size(args), 1)
    step = ref.make_step(model, lr=LR)
    x0 = torch.from_numpy(_data(args).transpose(0, 3, 1, 2).copy())
    return (lambda: step(x0)), ref.count_params(model)


def train(args):
    from keras_aliasfree.layers import FilteredActivation

    x, dms = _data(args), _models_for(args)
    fns = {c: (lambda dm=dm: dm.train_on_batch(x)) for c, dm in dms.items()}
    params = {c: int(dm.denoiser.count_params()) for c, dm in dms.items()}
    if not args.no_ref:
        fns["ref"], params["ref"] = _torch_reference(args)
    first = {}
    for name, fn in fns.items():
        t = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - t
    times = interleave(fns, args.steps, warmup=1, budget=120, rotate=True)
    progress("train medians: " + ", ".join(f"{k} {v:.3f} s" for k, v in medians(times).items()))
    fa = [layer for layer in dms["D-1N"].denoiser.layers if type(layer) is FilteredActivation]
    elements = sum(math.prod(layer.input.shape[1:]) for layer in fa)
    return {"params": params, "first_call_s": first, "times": times,
            "census_D": {"filtered_act": len(fa), "elements": elements}}


def sampling(args):
    from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule

    k, out = args.sample_steps, {}
    for cfg in ("A", "D-1N"):
        dm = _models_for(args)[cfg]
        short = DiffusionModel(dm.denoiser, NoiseSchedule(args.ddpm_steps), ema_decay=0.0, seed=0)
        runs = {"plain": lambda dm=dm: dm.sample(BATCH, steps=k, sampler="ddim", rotation=0.0,
                                                 seed=0, verbose=0),
                "rotation": lambda dm=dm: dm.sample(BATCH, steps=k, sampler="ddim", rotation=45.0,
                                                    seed=0, verbose=0),
                "ddpm": lambda s=short: s.sample(BATCH, sampler="ddpm", seed=0, verbose=0)}
        per = interleave(runs, args.sample_repeats, warmup=1, budget=60, rotate=True)
        steps = {"plain": k, "rotation": k, "ddpm": args.ddpm_steps}
        out[cfg] = {n: statistics.median(v) / steps[n] for n, v in per.items()}
        progress(f"{cfg} sampling s/step: " + ", ".join(f"{n} {v:.4f}" for n, v in out[cfg].items()))
    return out


def probe(args):
    import keras
    import numpy as np

    from keras_aliasfree.layers import FilteredActivation

    shape = (2, 16, 16, 8) if args.quick else (16, 32, 32, 64)
    x = keras.ops.convert_to_tensor(np.random.default_rng(1).standard_normal(shape).astype("float32"))
    fns = {"gelu": keras.activations.gelu,
           "filtered_gelu": FilteredActivation("gelu", beta=1.0, normalize=True)}
    t = time_grads(fns, x, 2 if args.quick else 5)
    return {"shape": list(shape), **t}


def rotation(args):
    import keras
    import numpy as np

    from keras_aliasfree.benchmarking import median_time
    from keras_aliasfree.transforms import rotate

    f = lambda x, a: rotate(x, a, method="fft")  # noqa: E731
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        jf = jax.jit(f)
        g = lambda x, a: jax.block_until_ready(jf(x, a))  # noqa: E731
    elif backend == "tensorflow":
        import tensorflow as tf
        tf_f = tf.function(f, autograph=False)
        g = lambda x, a: tf_f(x, a).numpy()  # noqa: E731
    else:
        import torch
        g = torch.no_grad()(f)
    x = keras.ops.convert_to_tensor(
        np.random.default_rng(0).standard_normal((BATCH, _size(args), _size(args), 1)).astype("float32"))
    a = keras.ops.convert_to_tensor(0.9, "float32")
    return {"rotate_s": median_time(lambda: g(x, a), 3 if args.quick else 30, warmup=3)}


def _rss(config):
    def run(args):
        def rss_mib():
            with open("/proc/self/status") as f:
                return next(int(ln.split()[1]) / 1024 for ln in f if ln.startswith("VmRSS:"))

        if config == "ref":
            import torch  # noqa: F401
            base = rss_mib()
            fn = _torch_reference(args)[0]
        else:
            import keras_aliasfree.diffusion  # noqa: F401  (imports the framework)
            base = rss_mib()
            dm, x = _build(config, args), _data(args)
            fn = lambda: dm.train_on_batch(x)  # noqa: E731
        for _ in range(args.rss_steps):
            fn()
        res = {"base_mib": base, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        if config == "ref":  # the reference alone, in a process of its own
            res["times"] = interleave({"ref": fn}, args.steps, warmup=0)["ref"]
        return res
    return run


def scenarios(args):
    found = [Scenario("train", train), Scenario("sampling", sampling), Scenario("probe", probe),
             Scenario("rotation", rotation, "rotation"),
             Scenario("rss-A", _rss("A"), "rss-A"), Scenario("rss-D-1N", _rss("D-1N"), "rss-D-1N")]
    return found + ([] if args.no_ref else [Scenario("rss-ref", _rss("ref"), "rss-ref", ("torch",))])


def _ok(flag):
    return "yes" if flag else "**no**"


def render(results, args) -> str:
    med = statistics.median
    size = _size(args)
    parts = [f"Batch {BATCH}, {size}x{size}x1, {'base width 8, no attention' if args.quick else 'default widths'}, "
             f"AdamW lr {LR}, MSE on the noise, `DiffusionModel.train_on_batch` on one fixed batch; "
             "`ref` = the plain PyTorch config A UNet of `benchmarks/reference_torch.py` (eager, 2 "
             "threads) in the same process, interleaved.", "## Training step (median seconds/step)"]
    train_ok = succeeded(results, "train")
    rows = []
    for b, s in train_ok.items():
        tt, p = s["times"], s["params"]
        a, d = med(tt["A"]), med(tt["D-1N"])
        ref = med(tt["ref"]) if "ref" in tt else None
        rows.append([b, f"{p['A']:,} / {p['D-1N']:,} / {p.get('ref', 0):,}", len(tt["A"]),
                     f"{a:.3f}", f"{d:.3f}", f"{d / a:.2f} ({_ok(d / a <= 1.3)})",
                     f"{ref:.3f}" if ref else "–", f"{d / ref:.2f} ({_ok(d / ref < 1)})" if ref else "–"])
    parts.append(md_table(["backend", "params A / D / ref", "steps", "A", "D-1N",
                           "**D/A** (target ≤ 1.3)", "ref A (torch)", "**D-1N / ref** (target < 1)"],
                          rows, left=2))
    notes = []
    if "tensorflow" in train_ok and "jax" in train_ok:
        r = med(train_ok["jax"]["times"]["A"]) / med(train_ok["tensorflow"]["times"]["A"])
        notes.append(f"JAX's A step / TensorFlow's: {r:.2f} (target ≤ 1.25, {_ok(r <= 1.25)}; two "
                     "processes one after the other, so machine load weighs here).")
    for b, pr in succeeded(results, "probe").items():
        if b not in train_ok:
            continue
        tt, c = train_ok[b]["times"], train_ok[b]["census_D"]
        scale = BATCH * c["elements"] / math.prod(pr["shape"])
        extra = scale * (pr["filtered_gelu"] - pr["gelu"])
        notes.append(f"{b}: FilteredActivation (D-1N filters) / GELU on {tuple(pr['shape'])}: "
                     f"{pr['filtered_gelu'] / pr['gelu']:.1f}x; D-1N's {c['filtered_act']} filtered "
                     f"GELUs see {scale:.1f}x those elements per batch, about {extra:.2f} s of extra "
                     f"work = {extra / med(tt['A']):.2f} of A's step (measured D - A: "
                     f"{(med(tt['D-1N']) - med(tt['A'])) / med(tt['A']):.2f}).")
    for b, s in train_ok.items():
        other = {c: v for c, v in s["times"].items() if c not in ("A", "D-1N", "ref")}
        if other:
            notes.append(f"{b}, other configs in the same rounds: " + ", ".join(
                f"{c} {med(v):.3f} s ({med(v) / med(s['times']['A']):.2f}x A)" for c, v in other.items()))
    alone = succeeded(results, "rss-ref").get("torch", {}).get("times")
    if alone:
        notes.append(f"The reference alone in its own process: median {med(alone):.3f} s/step; "
                     "each backend's D-1N step over it: " + ", ".join(
                         f"{b} {med(s['times']['D-1N']) / med(alone):.2f}" for b, s in train_ok.items()))
    parts += notes
    mem = [[b, f"{succeeded(results, 'rss-A')[b]['peak_mib']:.0f}",
            f"{succeeded(results, 'rss-D-1N')[b]['peak_mib']:.0f}"]
           for b in results if b in succeeded(results, "rss-A") and b in succeeded(results, "rss-D-1N")]
    if mem:
        for row in mem:
            a, d = (succeeded(results, k)[row[0]] for k in ("rss-A", "rss-D-1N"))
            row += [f"{d['peak_mib'] / a['peak_mib']:.2f} ({_ok(d['peak_mib'] / a['peak_mib'] <= 1.5)})",
                    f"{(d['peak_mib'] - d['base_mib']) / (a['peak_mib'] - a['base_mib']):.2f}"]
        parts += ["## Peak memory of a training process (RSS, MiB)",
                  f"Each model in its own process, {args.rss_steps} training steps; baseline = RSS "
                  "after importing the framework and the library.",
                  md_table(["backend", "A peak", "D-1N peak", "**D/A peak** (target ≤ 1.5)",
                            "D/A above baseline"], mem)]
    samp = succeeded(results, "sampling")
    if samp:
        rows = [[b, cfg, f"{s['plain']:.4f}", f"{s['rotation']:.4f}",
                 f"{100 * (s['rotation'] / s['plain'] - 1):+.1f}% ({_ok(s['rotation'] / s['plain'] <= 1.05)})",
                 f"{BATCH / (50 * s['plain']):.3f}", f"{BATCH / (1000 * s['ddpm']):.4f}"]
                for b, per in samp.items() for cfg, s in per.items()]
        parts += ["## Sampling",
                  f"Batch of {BATCH}, EMA weights, `DiffusionModel.sample`; seconds per reverse "
                  f"step of DDIM-{args.sample_steps} runs (plain and `rotation=45`) and of DDPM "
                  f"runs of a {args.ddpm_steps}-step schedule; images/s scaled to DDIM-50 and "
                  "DDPM-1000 from the per-step cost.",
                  md_table(["backend", "config", "plain s/step", "rotation s/step",
                            "**rotation overhead** (target ≤ 5%)", "DDIM-50 images/s",
                            "DDPM-1000 images/s"], rows, left=2)]
        rot = [f"{b} {r['rotate_s'] * 1e3:.1f} ms = {100 * r['rotate_s'] / samp[b]['D-1N']['plain']:.1f}% "
               "of D-1N's plain step" for b, r in succeeded(results, "rotation").items() if b in samp]
        if rot:
            parts.append("The rotation alone (one FFT three-shear rotation of the batch, compiled as "
                         "in the sampler, its own process): " + "; ".join(rot) + ".")
    return "\n\n".join(parts)


def add_arguments(p):
    for name, default in DEFAULTS.items():
        p.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    p.add_argument("--no-ref", action="store_true", help="skip the PyTorch reference")
    p.add_argument("--configs", default="A,D-1N",
                   help="configs of the training rounds besides A and D-1N: a -k<N> suffix builds "
                        "N x N rank-2 filters, a :<impl> suffix that resampling impl")


BENCHMARK = Benchmark("unet_perf", "UNet training and sampling speed: config D-1N vs config A",
                      scenarios, render, add_arguments, quick=QUICK)

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
