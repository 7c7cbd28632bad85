"""Passband of one filtered activation (identity activation = the up/down round trip) for the
default filter and candidate designs, with each kernel's stopband and the rank the fast path needs
(its cost grows with the rank, not with the taps), and the forward+backward time of a
``FilteredActivation`` with each kernel relative to the default's (interleaved medians, one run).
Scenarios ``gains`` (deterministic) and ``cost``; writes docs/benchmarks/passband.md.

    python benchmarks/passband.py                     # TensorFlow's cost column
    python benchmarks/passband.py --backends jax      # the cost column on JAX
    python benchmarks/passband.py --quick             # a smoke run
"""

import sys

import numpy as np

from keras_aliasfree import filters as F
from keras_aliasfree.analysis import PASSBAND_FREQS, filtered_activation_passband
from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, succeeded, time_grads

CANDIDATES = [
    ("default (8x8 jinc, beta 4, cutoff pi/2)", dict()),
    ("D-1N's kernel (8x8, beta 1)", dict(beta=1.0)),
    ("paper 3x3, beta 1", dict(preset="paper", beta=1.0)),
    ("paper 3x3, beta 2", dict(preset="paper", beta=2.0)),
    ("12x12, beta 4", dict(kernel_size=12)),
    ("12x12, beta 6", dict(kernel_size=12, beta=6.0)),
    ("16x16, beta 4", dict(kernel_size=16)),
    ("16x16, beta 6", dict(kernel_size=16, beta=6.0)),
    ("12x12, beta 4, cutoff 0.6pi", dict(kernel_size=12, cutoff=0.6 * np.pi)),
    ("12x12, beta 4, rank 2", dict(kernel_size=12, rank=2)),
    ("12x12, beta 6, rank 2", dict(kernel_size=12, beta=6.0, rank=2)),
    ("12x12, beta 6, cutoff 0.525pi, rank 2", dict(kernel_size=12, beta=6.0,
                                                   cutoff=0.525 * np.pi, rank=2)),
]


COST_SHAPE = (8, 32, 32, 32)


def cost(args):
    """Forward+backward seconds of FilteredActivation("gelu") per candidate."""
    import keras

    from keras_aliasfree import FilteredActivation

    shape = (2, 16, 16, 8) if args.quick else COST_SHAPE
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=shape).astype("float32"))
    fns = {name: FilteredActivation("gelu", **kw) for name, kw in CANDIDATES}
    return time_grads(fns, x, 1 if args.quick else 7, inner=1 if args.quick else 3)


def gains(args):
    out = []
    for name, kw in CANDIDATES:
        k = F.design_filter(2, **kw)
        s = F.filter_summary(k, 2)
        rank = F.low_rank_factors(k, rtol=1e-6)[0].shape[0]
        g = filtered_activation_passband(k.astype("float32"), 2)
        flat = max(abs(v) for v, f in zip(g, PASSBAND_FREQS) if f <= 0.5)
        out.append((name, int(k.shape[0]), [float(v) for v in g],
                    float(s.stopband_attenuation_db), int(rank), float(flat)))
    return out


def render(results, args):
    parts = ["Gain in dB of `filtered_activation(x, identity)` on a plane-wave cosine along an "
             "axis (phase-averaged, `analysis.filtered_activation_passband`): an ideal alias-free "
             "nonlinearity gives 0 dB below Nyquist. \"22 passes\" multiplies by the filtered "
             "GELUs of a D UNet's conv blocks (the same relative frequency at every pass: an "
             "illustration of compounding, not a model of the network). Stopband: the kernel's "
             "smallest attenuation at radial frequencies ≥ 0.8π of its (upsampled) grid "
             "(`filters.filter_summary`). Rank: terms of the separable expansion within 1e-6 (the "
             "fast path's cost is proportional to it). Cost: forward+backward of "
             f"`FilteredActivation(\"gelu\")` on {(2, 16, 16, 8) if args.quick else COST_SHAPE} "
             "(NHWC), compiled, median of interleaved rounds, relative to the default kernel in "
             "the same run."]
    costs = succeeded(results, "cost")
    for b, rows in succeeded(results, "gains").items():
        secs = costs.get(b)
        table = []
        for name, taps, g, stop, rank, flat in rows:
            c = secs[name] / secs[CANDIDATES[0][0]] if secs else float("nan")
            ok = "✓" if flat <= 0.5 and stop >= 30.0 and c <= 1.3 else "✗"
            table.append([name, taps, f"{g[0]:+.2f}", f"{g[1]:+.2f}", f"{g[2]:+.2f}",
                          f"{22 * g[1]:+.1f}", f"{stop:.1f} dB", rank, f"{c:.2f}×", ok])
        parts += [f"## {b}" + (f" (default kernel {1e3 * secs[CANDIDATES[0][0]]:.1f} ms)"
                               if secs else ""),
                  md_table(["kernel", "taps", "gain 0.3π", "0.5π", "0.7π", "22 passes at 0.5π",
                            "stopband ≥ 0.8π", "rank", "FA cost vs default",
                            "target: ±0.5 dB to 0.5π, ≥ 30 dB stop, ≤ 1.3× cost"], table)]
    return "\n\n".join(parts)


BENCHMARK = Benchmark("passband", "Passband of one filtered activation, default filter and candidates",
                      [Scenario("gains", gains), Scenario("cost", cost)], render,
                      backends=("tensorflow",))

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
