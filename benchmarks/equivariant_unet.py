"""The C_N layers and the orientation-equivariant UNet: how exact, how big, how fast (one backend).

1. Quarter turns: largest |f(turned input) - turned f(input)| relative to max |f|, for the
   lifting + group convolution and for the whole UNet (x_t and up turned together), C_4 and C_8.
2. Turns by other angles: relative L2 error of the fields of ``GroupConv2D(LiftingConv2D(x))``
   against the fields turned and orientation-shifted, with the exact rotation of band-limited
   content (``metrics.exact_rotation``), on the central disc; C_8 at 45 degrees, C_16 at 22.5,
   and C_4 at 45 degrees (no such group element: the contrast).
   The same for C_8 at 45 degrees with the kernel basis windowed by a radial taper or not.
3. EQ-R exact (dB, the measure of ``benchmarks/equivariance_factors.py``: MNIST test images noised
   to t = 100, angles 17/37/53/71 degrees) of untrained networks, "up" turned with x_t where the
   network has it; config A at the same channel width for comparison.
4. Parameters and forward time (batch 16, 32x32x1, compiled; median of interleaved rounds) of the
   default-width networks: config A (base width 32 channels) against the equivariant UNet with
   as many channels (8 fields x 4, 4 fields x 8).

Scenarios ``quarter``, ``angles``, ``taper``, ``eqr`` and ``timing`` on the benchmark harness;
writes docs/benchmarks/equivariant_unet.md, one section per backend (a few minutes each on 2 cores).

    python benchmarks/equivariant_unet.py --backends tensorflow jax
    python benchmarks/equivariant_unet.py --quick --out -      # a smoke run, printed only
"""

from __future__ import annotations

import sys
import time

import numpy as np

from keras_aliasfree.benchmarking import Benchmark, Scenario, progress, succeeded


def quarter_turn_rows():
    import keras

    from keras_aliasfree.equivariant import GroupConv2D, LiftingConv2D, turn_fields
    from keras_aliasfree.equivariant_unet import build_equivariant_unet

    rng = np.random.default_rng(0)
    rows = []
    for n in (4, 8):
        for size in (32, 33):
            keras.utils.set_random_seed(0)
            lift, conv = LiftingConv2D(4, n), GroupConv2D(4, n)
            x = rng.normal(size=(4, size, size, 1)).astype("float32")
            f = lambda v: keras.ops.convert_to_numpy(conv(lift(v)))  # noqa: E731
            y = f(x)
            err = np.abs(f(np.rot90(x, 1, (1, 2)).copy()) - turn_fields(y, 1, n)).max()
            rows.append((f"LiftingConv2D + GroupConv2D, C_{n}, {size}x{size}",
                         float(err / np.abs(y).max())))
        keras.utils.set_random_seed(0)
        m = build_equivariant_unet(32, group_order=n)
        x = rng.normal(size=(4, 32, 32, 1)).astype("float32")
        t = np.array([10.0, 100.0, 500.0, 900.0], "float32")
        up = np.array([0.0, 20.0, -45.0, 90.0], "float32")
        y = keras.ops.convert_to_numpy(m([x, t, up]))
        errs = []
        for k in (1, 2, 3):
            got = keras.ops.convert_to_numpy(m([np.rot90(x, k, (1, 2)).copy(), t, up + 90 * k]))
            errs.append(np.abs(got - np.rot90(y, k, (1, 2))).max() / np.abs(y).max())
        rows.append((f"EquivariantUNet C_{n}, 32x32, x_t and up turned by 90/180/270",
                     float(max(errs))))
    return rows


def _band_limited_noise(n=32):
    from keras_aliasfree.discs import disc_mask
    from keras_aliasfree.metrics.equivariance import radial_window

    x0 = np.random.default_rng(0).normal(size=(4, n, n, 1)) * radial_window(n)[None, :, :, None]
    return x0, disc_mask(n, n, n / 2 - 1)[None, :, :, None]


def _turn_error(x, mask, order, angle, seed=0, **conv_kw):
    """Relative L2 error (central disc) of ``GroupConv2D(LiftingConv2D(x))`` turned by ``angle``
    against its fields turned and shifted by the matching orientations (unshifted when ``angle``
    is no element of C_order)."""
    import keras

    from keras_aliasfree.equivariant import GroupConv2D, LiftingConv2D
    from keras_aliasfree.metrics.equivariance import exact_rotation

    keras.utils.set_random_seed(seed)
    lift, conv = LiftingConv2D(4, order, **conv_kw), GroupConv2D(4, order, **conv_kw)
    f = lambda v: keras.ops.convert_to_numpy(conv(lift(v)))  # noqa: E731
    # exact_rotation turns clockwise for a positive angle: -angle is counter-clockwise
    want = exact_rotation(f(x), -angle)
    shift = int(round(angle * order / 360.0)) if order * angle % 360 == 0 else 0
    fields = want.shape[-1] // order
    want = np.roll(want.reshape(*want.shape[:-1], fields, order), shift, -1).reshape(want.shape)
    got = exact_rotation(f(exact_rotation(x, -angle).astype("float32")), 0.0)
    m = np.broadcast_to(mask, got.shape)
    return float(np.sqrt(np.sum((got - want) ** 2 * m) / np.sum(want ** 2 * m)))


def angle_rows():
    from keras_aliasfree.metrics.equivariance import exact_rotation

    x0, mask = _band_limited_noise()
    rows = []
    for radius in (0.25, 0.5):
        x = exact_rotation(x0, 0.0, radius=radius).astype("float32")
        for order, angle in ((8, 45.0), (16, 22.5), (4, 45.0)):
            rows.append((order, angle, radius, _turn_error(x, mask, order, angle)))
    return rows


TAPERS = {5: (None, 3.0, 3.5), 7: (None, 4.5, 5.0)}


def taper_rows(seeds=(0, 1, 2)):
    """C_8 at 45 degrees with the kernel basis windowed (``taper``) or not, mean over seeds."""
    from keras_aliasfree.metrics.equivariance import exact_rotation

    x0, mask = _band_limited_noise()
    rows = []
    for radius in (0.25, 0.5):
        x = exact_rotation(x0, 0.0, radius=radius).astype("float32")
        for size, tapers in TAPERS.items():
            for taper in tapers:
                errs = [_turn_error(x, mask, 8, 45.0, seed, kernel_size=size, taper=taper)
                        for seed in seeds]
                rows.append((size, taper, radius, float(np.mean(errs))))
    return rows


def _eq_r(fn, images, angles):
    from keras_aliasfree.metrics.equivariance import eq_rotation_exact

    return eq_rotation_exact(fn, images, angles, with_up=True)


ANGLE_SETS = ((17.0, 37.0, 53.0, 71.0), (45.0,), (90.0,))


def eq_r_rows(num=8, timestep=100):
    import keras

    from keras_aliasfree.equivariant_unet import build_equivariant_unet
    from keras_aliasfree.metrics import equivariance as EQ
    from keras_aliasfree.metrics.classifier import load_real_images
    from keras_aliasfree.unet import build_unet

    images, _ = load_real_images("mnist", "test", image_size=32, limit=num)
    xt = EQ.noisy_inputs(images, timestep, seed=0)
    t = np.full((num,), float(timestep), "float32")
    variants = [
        ("A (base width 8 channels, no attention)",
         lambda: build_unet("A", 32, base_width=8, attention=False), False),
        ("A, isotropic convs", lambda: build_unet("A", 32, base_width=8, attention=False,
                                                  conv="isotropic"), False),
        ("equivariant C_4 (2 fields x 4), with up", lambda: build_equivariant_unet(
            32, base_width=2, group_order=4), True),
        ("equivariant C_4, no up", lambda: build_equivariant_unet(
            32, base_width=2, group_order=4, use_up=False), False),
        ("equivariant C_8 (1 field x 8), with up", lambda: build_equivariant_unet(
            32, base_width=1, group_order=8), True),
        ("equivariant C_8, no up", lambda: build_equivariant_unet(
            32, base_width=1, group_order=8, use_up=False), False),
    ]
    rows = []
    for label, build, has_up in variants:
        scores = {a: [] for a in ANGLE_SETS}
        for seed in (0, 1):
            keras.utils.set_random_seed(seed)
            net = build()

            def fn(v, up_deg, net=net, has_up=has_up):
                ins = [v.astype("float32"), t]
                if has_up:
                    ins.append(np.full((num,), up_deg, "float32"))
                return keras.ops.convert_to_numpy(net(ins, training=False))

            for a in ANGLE_SETS:
                scores[a].append(_eq_r(fn, xt, a))
        rows.append((label, net.count_params(), {a: float(np.mean(v)) for a, v in scores.items()}))
        progress(f"{label}: " + ", ".join(f"{v:.2f}" for v in rows[-1][2].values()) + " dB")
    floor = {a: float(_eq_r(lambda v, _: v, xt, a)) for a in ANGLE_SETS}
    return rows, floor


def timing_rows(rounds=5, batch=16):
    import keras

    from keras_aliasfree.equivariant_unet import build_equivariant_unet
    from keras_aliasfree.unet import build_unet

    backend = keras.backend.backend()
    nets = {
        "A (base 32 channels, attention)": build_unet("A", 32),
        "A (base 32 channels, no attention)": build_unet("A", 32, attention=False),
        "equivariant C_4 (8 fields x 4 = 32 channels)": build_equivariant_unet(32, group_order=4),
        "equivariant C_8 (4 fields x 8 = 32 channels)": build_equivariant_unet(32, base_width=4,
                                                                               group_order=8),
        "equivariant C_4, 3x3 kernels": build_equivariant_unet(32, group_order=4, kernel_size=3),
    }
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, 32, 32, 1)).astype("float32")
    t = rng.integers(0, 1000, size=(batch,)).astype("float32")
    up = np.zeros((batch,), "float32")
    fns = {}
    for label, net in nets.items():
        ins = [x, t, up] if len(net.inputs) == 3 else [x, t]
        if backend == "tensorflow":
            import tensorflow as tf

            f = tf.function(lambda *a, net=net: net(list(a), training=False), jit_compile=True)
        elif backend == "jax":
            import jax

            f = jax.jit(lambda *a, net=net: net(list(a), training=False))
        else:
            import torch

            def f(*a, net=net):
                with torch.no_grad():
                    return net(list(a), training=False)
        keras.ops.convert_to_numpy(f(*ins))  # compile / warm up
        fns[label] = (f, ins)
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for label, (f, ins) in fns.items():
            t0 = time.perf_counter()
            keras.ops.convert_to_numpy(f(*ins))
            times[label].append(time.perf_counter() - t0)
    return [(label, nets[label].count_params(), float(np.median(v))) for label, v in
            times.items()]


def render(results, args):
    names = ["/".join(f"{a:g}" for a in angs) + " deg" for angs in ANGLE_SETS]
    parts = ["Untrained networks: each backend draws its own random init for a seed, so the EQ-R "
             "figures at angles outside the group move with it."]
    quarter, angles = succeeded(results, "quarter"), succeeded(results, "angles")
    taper = succeeded(results, "taper")
    eqr, timing = succeeded(results, "eqr"), succeeded(results, "timing")
    for b in results:
        lines = [f"## {b}"]
        if b in quarter:
            lines += ["", "### Quarter turns (exact by construction)", "",
                      "Largest |f(turned input) - turned f(input)| / max |f| (float32).", "",
                      "| what | relative error |", "|---|---:|"]
            lines += [f"| {label} | {err:.1e} |" for label, err in quarter[b]]
        if b in angles:
            lines += ["", "### Other angles (the grid's limit)", "",
                      "Relative L2 error of the fields of `GroupConv2D(LiftingConv2D(x))` (4 + 4 "
                      "fields, 5x5 kernels, max frequency 2) against the fields of x turned and "
                      "shifted by the matching orientations; x: white noise windowed to a disc and "
                      "band-limited to the disc of `radius` cycles/sample, turned by "
                      "`metrics.exact_rotation`; central disc. C_4 at 45 degrees has no matching "
                      "group element (fields compared unshifted): the level of a network that is "
                      "not equivariant to that turn.", "",
                      "| group | angle | input band (cycles/sample) | relative error |",
                      "|---|---:|---:|---:|"]
            lines += [f"| C_{o} | {a:g} | {r:g} | {e:.3f} |" for o, a, r, e in angles[b]]
        if b in taper:
            lines += ["", "### A windowed kernel basis (C_8 at 45 degrees)", "",
                      "The same error for C_8 turned by 45 degrees, 4 + 4 fields, max frequency 2, "
                      "mean over 3 seeds (1 with --quick), with the kernel basis cut by the "
                      "square support (taper none) or faded by a raised-cosine radial window of "
                      "that radius in pixels (`steerable_basis(taper=R)`, the layers' `taper`).",
                      "",
                      "| kernel | taper (px) | input band (cycles/sample) | relative error |",
                      "|---|---:|---:|---:|"]
            lines += [f"| {k}x{k} | {'none' if t is None else f'{t:g}'} | {r:g} | {e:.3f} |"
                      for k, t, r, e in taper[b]]
        if b in eqr:
            rows, floor = eqr[b]
            lines += ["", "### EQ-R exact of the whole denoiser, t = 100 (untrained, mean of 2 "
                      "seeds)", "",
                      "8 MNIST test images noised to t = 100, windowed to a disc, band-limited to "
                      "it, turned with the exact rotation; \"up\" turned by the same angle where "
                      "the network has it. 17/37/53/71 degrees are the library's EQ-R angles (no "
                      "element of C_4 or C_8); 45 degrees is an element of C_8, 90 of both. Floor "
                      "(the identity measured the same way): "
                      + ", ".join(f"{n} {floor[str(a)]:.1f} dB" for n, a in zip(names, ANGLE_SETS))
                      + ".", "",
                      "| network | parameters | " + " | ".join(f"EQ-R {n} (dB)" for n in names)
                      + " |", "|---|---:|" + "---:|" * len(names)]
            lines += [f"| {label} | {n:,} | " + " | ".join(f"{sc[str(a)]:.2f}" for a in ANGLE_SETS)
                      + " |" for label, n, sc in rows]
        if b in timing:
            base = timing[b][0][2]
            lines += ["", "### Size and forward time (batch 16, 32x32x1, compiled)", "",
                      "Median of interleaved rounds; XLA (`jit_compile`) on TensorFlow, `jax.jit` "
                      "on JAX, eager under `no_grad` on PyTorch.", "",
                      "| network | parameters | forward (s) | vs A |", "|---|---:|---:|---:|"]
            lines += [f"| {label} | {n:,} | {sec:.3f} | {sec / base:.2f} |"
                      for label, n, sec in timing[b]]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _eqr(args):
    rows, floor = eq_r_rows(num=2 if args.quick else 8)
    # JSON keys are strings: the angle tuples become their str()
    return ([(label, n, {str(a): v for a, v in sc.items()}) for label, n, sc in rows],
            {str(a): v for a, v in floor.items()})


BENCHMARK = Benchmark(
    "equivariant_unet", "The C_N layers and the orientation-equivariant UNet",
    [Scenario("quarter", lambda args: quarter_turn_rows()),
     Scenario("angles", lambda args: angle_rows()),
     Scenario("taper", lambda args: taper_rows((0,) if args.quick else (0, 1, 2))),
     Scenario("eqr", _eqr),
     Scenario("timing", lambda args: timing_rows(args.rounds))],
    render, add_arguments=lambda p: p.add_argument("--rounds", type=int, default=5,
                                                   help="timing rounds (default %(default)s)"),
    backends=("tensorflow",), quick={"rounds": 1})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
