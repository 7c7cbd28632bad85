"""Forward+backward speed of the alias-free ops against their plain counterparts, per backend.

Scenarios on :mod:`keras_aliasfree.benchmarking` (each backend in its own process; interleaved
rounds, median; reported as ratios):

* ``activation``: ``FilteredActivation("gelu")`` vs plain GELU on (16, 32, 32, 64) float32;
* ``resample``: ``AliasFreeUpsample`` / ``AliasFreeDownsample`` (kernel 3, 6, 12) vs the same op
  with ``impl=--baseline`` (default ``"ref"``: zero insertion, direct convolution, decimation)
  and vs ``UpSampling2D(interpolation="bilinear")`` / ``MaxPooling2D``.

Functions are compiled the way training compiles them (see
:func:`keras_aliasfree.benchmarking.value_and_grad`).

Usage:
    keras-aliasfree bench                        # every installed backend, prints the tables
    keras-aliasfree bench --backends jax --quick # one backend, a smoke run
    python benchmarks/ops.py                     # also writes docs/benchmarks/ops.md
"""

from __future__ import annotations

import sys

from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, succeeded, time_grads

SHAPE = (16, 32, 32, 64)
QUICK_SHAPE = (2, 16, 16, 8)


def _setup(args):
    import keras
    import numpy as np

    shape = QUICK_SHAPE if args.quick else SHAPE
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=shape).astype("float32"))
    return x, args.rounds


def _time(fns, x, rounds):
    return time_grads(fns, x, rounds, inner=1 if rounds == 1 else 3)


def activation(args):
    import keras

    from keras_aliasfree import FilteredActivation

    x, rounds = _setup(args)
    t = _time({"gelu": keras.activations.gelu, "filtered_gelu": FilteredActivation("gelu")},
              x, rounds)
    return {"shape": list(x.shape), **t}


def resample(args):
    import keras

    from keras_aliasfree import AliasFreeDownsample, AliasFreeUpsample

    x, rounds = _setup(args)
    rows = []
    for size in ((3, 6) if args.quick else (3, 6, 12)):
        fns = {"up": AliasFreeUpsample(kernel_size=size, beta=4.0),
               "up_base": AliasFreeUpsample(kernel_size=size, beta=4.0, impl=args.baseline),
               "bilinear": keras.layers.UpSampling2D(2, interpolation="bilinear"),
               "down": AliasFreeDownsample(kernel_size=size, beta=4.0),
               "down_base": AliasFreeDownsample(kernel_size=size, beta=4.0, impl=args.baseline),
               "maxpool": keras.layers.MaxPooling2D(2)}
        rows.append({"kernel_size": size, **_time(fns, x, rounds)})
    return rows


def render(results, args) -> str:
    base = args.baseline
    parts = []
    for backend in results:
        a = succeeded(results, "activation").get(backend)
        rows = succeeded(results, "resample").get(backend)
        parts.append(f"## {backend}")
        if a:
            parts += [f"Input {tuple(a['shape'])} float32, forward + backward, median of "
                      "interleaved rounds.",
                      md_table(["op", "ms", "ratio"], [
                          ["GELU", f"{a['gelu'] * 1e3:.2f}", "1.00"],
                          ["FilteredActivation(gelu)", f"{a['filtered_gelu'] * 1e3:.2f}",
                           f"**{a['filtered_gelu'] / a['gelu']:.2f}x GELU**"]])]
        if rows:
            parts.append(md_table(
                ["kernel", "up ms", f"up {base} ms", f"{base} / up", "up / bilinear", "down ms",
                 f"down {base} ms", f"{base} / down", "down / maxpool"],
                [[t["kernel_size"], f"{t['up'] * 1e3:.2f}", f"{t['up_base'] * 1e3:.2f}",
                  f"{t['up_base'] / t['up']:.1f}x", f"{t['up'] / t['bilinear']:.2f}",
                  f"{t['down'] * 1e3:.2f}", f"{t['down_base'] * 1e3:.2f}",
                  f"{t['down_base'] / t['down']:.1f}x", f"{t['down'] / t['maxpool']:.2f}"]
                 for t in rows]))
    return "\n\n".join(parts)


def add_arguments(parser):
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (median)")
    parser.add_argument("--baseline", default="ref",
                        help="impl the up/down layers are compared with (default: ref)")


BENCHMARK = Benchmark(
    "ops", "Alias-free ops: speed against plain counterparts",
    [Scenario("activation", activation), Scenario("resample", resample)], render,
    add_arguments=add_arguments, command="keras-aliasfree bench", write=False,
    quick={"rounds": 1})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
