"""Filter figures for the default preset and the paper's settings, on every Keras backend.

For each filter: DC gain, what an image of ones becomes after x2 upsampling (interior values),
gain of the x2 downsampler on cosines at 0.15 pi and 0.8 pi (along an axis and the diagonal),
passband ripple / stopband attenuation of the kernel itself, and the rotation equivariance (PSNR of
f(rotate x) vs rotate f(x) over a central disc) of FilteredActivation("gelu") against plain GELU.

Usage:
    python benchmarks/filters.py                           # every installed backend, writes the page
    python benchmarks/filters.py --backends jax --out -    # one backend, prints only
"""

from __future__ import annotations

import sys

from keras_aliasfree.benchmarking import Benchmark, Scenario, succeeded

CASES = [
    ("default (8x8 radial jinc, beta 4, rank 2)", dict()),
    ("paper 3x3, beta 0", dict(preset="paper", beta=0.0)),
    ("paper 3x3, beta 1", dict(preset="paper", beta=1.0)),
    ("paper 3x3, beta 2", dict(preset="paper", beta=2.0)),
    ("paper 3x3, beta 2, not normalized", dict(preset="paper", beta=2.0, normalize=False)),
    # the paper's reference code upsamples without the x4 gain; emulated with a kernel scaled by 1/4
    ("paper 3x3, beta 2, no x4 gain (as the reference code)", dict(preset="paper", beta=2.0, reference=True)),
]


def measure(args) -> dict:
    import keras
    import numpy as np

    from keras_aliasfree import AliasFreeDownsample, AliasFreeUpsample, FilteredActivation
    from keras_aliasfree import analysis as A
    from keras_aliasfree import filters as F
    from keras_aliasfree import ops as O

    def gelu(x):
        return keras.activations.gelu(keras.ops.convert_to_tensor(x))

    out = {"gelu_eqr": A.activation_rotation_psnr(gelu), "rows": []}
    for name, kw in CASES:
        kw = dict(kw)
        reference = kw.pop("reference", False)
        up, down, fa = AliasFreeUpsample(**kw), AliasFreeDownsample(**kw), FilteredActivation("gelu", **kw)
        if reference:
            k = down.kernel

            def up(x, k=k):
                return O.upsample_2d(x, k / 4.0)

            def fa(x, k=k):
                return O.downsample_2d(gelu(O.upsample_2d(x, k / 4.0)), k)
        s = F.filter_summary(down.kernel, 2)
        out["rows"].append(dict(
            name=name,
            dc=s.dc_gain,
            ones_up=[float(v) for v in A.constant_response(up)],
            ones_down=[float(v) for v in A.constant_response(down, border=4)],
            pass_axis=A.cosine_gain_db(down, 0.15 * np.pi, 0),
            pass_diag=A.cosine_gain_db(down, 0.15 * np.pi, 45),
            stop_axis=A.cosine_gain_db(down, 0.8 * np.pi, 0),
            stop_diag=A.cosine_gain_db(down, 0.8 * np.pi, 45),
            ripple=s.passband_ripple_db,
            atten=s.stopband_attenuation_db,
            eqr=A.activation_rotation_psnr(fa),
        ))
    return out


def table(backend: str, result: dict) -> str:
    g = result["gelu_eqr"]
    lines = [
        f"## {backend}",
        "",
        f"Plain GELU EQ-R: {g:.1f} dB.",
        "",
        "| filter | DC gain | ones -> x2 up (interior values) | ones -> x2 down | 0.15pi axis / diag (dB) "
        "| 0.8pi axis / diag (dB) | kernel ripple <=0.15pi (dB) | kernel atten. >=0.8pi (dB) "
        "| FA(gelu) EQ-R (dB) | gain over GELU (dB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        ups = " / ".join(f"{v:.3f}" for v in sorted(r["ones_up"], reverse=True))
        downs = " / ".join(f"{v:.3f}" for v in sorted(r["ones_down"], reverse=True))
        lines.append(
            f"| {r['name']} | {r['dc']:.3f} | {ups} | {downs} | {r['pass_axis']:+.2f} / {r['pass_diag']:+.2f} "
            f"| {r['stop_axis']:.1f} / {r['stop_diag']:.1f} | {r['ripple']:.2f} | {r['atten']:.1f} "
            f"| {r['eqr']:.1f} | {r['eqr'] - g:+.1f} |")
    return "\n".join(lines)


def render(results, args) -> str:
    return "\n\n".join([
        "Downsampler gains are measured through the layer on unit plane-wave cosines (64x64, interior); "
        "'ones -> x2 up' lists the distinct interior values an image of ones becomes (a checkerboard when "
        "there are several); EQ-R is the PSNR of f(rotate x) against rotate f(x) over a central disc "
        "(radius 0.35 x size), 30 degrees, band-limited random input with |w| in [0.1, 0.5] pi, "
        "three seeds (see `keras_aliasfree/analysis.py`).",
        *[table(b, r) for b, r in succeeded(results, "figures").items()],
        "Reading: the default filter keeps constants exactly and stops 0.8 pi by 39 dB. The paper's "
        "3x3 kernel turns ones into a checkerboard and stops 0.8 pi by 10-27 dB depending on beta. On the "
        "rotation measure, the paper's beta 0 kernel run through these phase- and gain-correct ops is about "
        "as good as the default, beta 1 a little worse, beta 2 gains only ~2 dB over plain GELU. Run as the reference "
        "code runs it (no x4 gain) the upsampled signal is a quarter-level checkerboard, so GELU sees inputs 4x "
        "smaller and acts almost linearly: its EQ-R rises for that reason, not because the filter is better -- "
        "it is no longer the nonlinearity the layer claims to be."])


BENCHMARK = Benchmark("filters", "Filter figures: default preset vs the paper's settings",
                      [Scenario("figures", measure)], render)

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
