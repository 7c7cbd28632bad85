"""Sample quality against network evaluations (NFE) for every sampler, on a shipped preset.

For each sampler and NFE budget: FD, KID x100 and IS on the offline classifier's features
(preset ``mnist-classifier``, :mod:`keras_aliasfree.metrics.evaluation`) against the first
``--num`` real images, seconds per image (after a compile-only warm-up), and a grid of the first
16 samples. DDPM with all T steps is the reference row. Writes a markdown table (and the grids
beside it) and prints it. One scenario, ``quality``, on the benchmark harness.

Usage:
    python benchmarks/sampler_quality.py                      # the full table, docs/benchmarks/
    python benchmarks/sampler_quality.py --quick --out -      # 64 images, 5 and 10 NFE, printed
    python benchmarks/sampler_quality.py --preset mnist-a --nfe 19 --no-ddpm \
        --samplers heun,heun-churn1,heun-churn4                # Heun with EDM's churn
    python benchmarks/sampler_quality.py --preset mnist-d --samplers ''   # the DDPM row alone

Heun evaluates the model ``2 steps - 1`` times: its budget ``n`` becomes ``(n + 1) // 2`` steps
and the table gives the NFE it really used.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, progress, succeeded

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRIDS = os.path.join(REPO, "docs", "benchmarks", "sampler_quality")
SAMPLERS = ("ddim", "ddim-eta1", "dpm++2m", "euler", "heun")


def make_sampler(name, nfe):
    """The sampler ``name`` at about ``nfe`` evaluations. ``heun-churnS`` is Heun with EDM's
    churn ``S`` (``s_tmin`` 0.05, ``s_tmax`` 50, ``s_noise`` 1.003: Karras et al. 2022's
    ImageNet-64 settings)."""
    from keras_aliasfree.diffusion import DDIM, DPMSolverMultistep, Euler, Heun

    if name.startswith("heun-churn"):
        return Heun((nfe + 1) // 2, s_churn=float(name[len("heun-churn"):]), s_tmin=0.05,
                    s_tmax=50.0, s_noise=1.003)
    return {"ddim": lambda: DDIM(nfe), "ddim-eta1": lambda: DDIM(nfe, eta=1.0),
            "dpm++2m": lambda: DPMSolverMultistep(nfe), "euler": lambda: Euler(nfe),
            "heun": lambda: Heun((nfe + 1) // 2)}[name]()


def measure(model, sampler, num, batch_size, seed, ext, ref):
    from keras_aliasfree.metrics.evaluation import generative_scores, sample_images

    sample_images(model, min(batch_size, num), batch_size, sampler, None, seed, verbose=False)
    t0 = time.perf_counter()  # the loop is compiled now: what is left is sampling
    fake = sample_images(model, num, batch_size, sampler, None, seed, verbose=False)
    secs = (time.perf_counter() - t0) / num
    feats, probs = ext(fake, verbose=False)
    gs = generative_scores(feats, probs, ref, kid_subsets=50, kid_subset_size=min(500, num // 2))
    return fake, {"fd": gs["fd"], "kid_x100": 100 * gs["kid"], "is": gs["is"], "s_per_image": secs}


def _add_arguments(p):
    p.add_argument("--preset", default="mnist-d", help="diffusion preset (default mnist-d)")
    p.add_argument("--num", type=int, default=1000, help="samples per row (default 1000)")
    p.add_argument("--nfe", default="5,10,20,50", help="NFE budgets, comma separated")
    p.add_argument("--samplers", default=",".join(SAMPLERS), help="comma separated")
    p.add_argument("--no-ddpm", action="store_true", help="skip the DDPM-T reference row")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grids", default=GRIDS,
                   help="folder for the sample grids (default %(default)s; '' = a temp folder)")


def quality(args):
    from keras_aliasfree.diffusion import DDPM, DiffusionModel
    from keras_aliasfree.images import save_grid
    from keras_aliasfree.metrics.extractors import get_extractor, reference_features

    grids = args.grids or tempfile.mkdtemp(prefix="sampler_quality_")
    os.makedirs(grids, exist_ok=True)
    model = DiffusionModel.from_preset(args.preset)
    ext = get_extractor("mnist-classifier", verbose=False)
    h, _, c = model.image_shape
    ref = reference_features("mnist", ext, "train", count=args.num, image_size=h, channels=c,
                             verbose=False)
    runs = [(name, make_sampler(name, int(n))) for n in args.nfe.split(",") if n.strip()
            for name in args.samplers.split(",") if name.strip()]
    if not args.no_ddpm:
        runs.append(("ddpm", DDPM()))
    rows = []
    for name, sampler in runs:
        nfe = sampler.nfe(model.schedule)
        fake, m = measure(model, sampler, args.num, args.batch_size, args.seed, ext, ref)
        grid = os.path.join(grids, f"{name}_nfe{nfe}.png")
        save_grid(fake[:16], grid, 4)
        rows.append((name, repr(sampler), nfe, m, grid))
        progress(f"{repr(sampler)} NFE {nfe}: FD {m['fd']:.2f}, IS {m['is']:.2f}")
    return rows


def render(results, args):
    parts = [f"Preset `{args.preset}`; {args.num} samples per row (seed {args.seed}), features of "
             f"the offline classifier `mnist-classifier` against the first {args.num} MNIST "
             "training images. Seconds per image exclude compiling."]
    for b, rows in succeeded(results, "quality").items():
        table = [[f"`{desc}`", nfe, f"{m['fd']:.2f}", f"{m['kid_x100']:.2f}", f"{m['is']:.2f}",
                  f"{m['s_per_image'] * 1e3:.1f}",
                  f"[{name}]({os.path.relpath(grid, os.path.join(REPO, 'docs', 'benchmarks'))})"]
                 for name, desc, nfe, m, grid in rows]
        parts += [f"## {b}", md_table(["sampler", "NFE", "FD", "KID x100", "IS", "ms / image",
                                       "grid"], table)]
    return "\n\n".join(parts)


BENCHMARK = Benchmark("sampler_quality", "Sample quality against NFE, every sampler",
                      [Scenario("quality", quality)], render, add_arguments=_add_arguments,
                      backends=("tensorflow",),
                      quick={"num": 64, "nfe": "5,10", "no_ddpm": True, "grids": ""})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
