"""Does rotation-aware sampling turn the image? Kept class and turned-back PSNR, side by side.

Rows (each sampled with DDIM, 20 steps, eta 1, unless ``--sampler`` names another; the same seeds):

* ``A``, ``D-1N``: the shipped presets with today's (the paper's, progressive) rotation-aware
  sampling;
* ``A, turned afterwards``: A's upright sample turned by cubic interpolation (the trivial answer:
  keeps the digit by construction, loses the corners, blurs);
* ``A, turning frame``: A run in the image's turning frame, ``eps_hat = R_theta f(R_-theta x_t)``
  with ``theta`` the angle turned so far (equivariant by construction for any network, at the
  price of resampling x_t at every step), with progressive turning and with the noise turned
  once (then ``theta`` is the whole angle from the first step);
* more UNets (``--model``, checkpoints, runs or presets; e.g. A with isotropic convolutions),
  with today's sampling;
* orientation-equivariant UNets (``--equivariant``, checkpoints, runs or presets of E configs,
  with or without "up", trained upright or with ``--up-augment``) with progressive turning and
  with the noise turned once.

For each angle: the fraction of seeds whose rotation-aware sample, turned back, has the upright
sample's class (``mnist-classifier``), and the turned-back PSNR on the central disc
(:func:`keras_aliasfree.metrics.agreement.rotation_agreement`), plus milliseconds per image. A
strip (one seed per row, -90 to 180 degrees) is written beside the page.

``--mix 0,0.5,...`` adds the scenario ``mixing``: how much equivariance the turn needs. The first
``--equivariant`` model's denoiser ``f`` is blended with the same network run in the turning
frame, ``f_lam(x, t, up) = (1 - lam) f(x, t, up) + lam R_up f(R_-up x, t, 0)``, which has f's
own upright behaviour and its structured equivariance error scaled by about ``1 - lam`` (the
frame's resampling adds its own). Per ``lam``: the exact EQ-R of ``eps_hat`` at t = 100, 500 and
900 (x_t and up turned together, as ``evaluate`` reports it) beside the kept class and PSNR of
rotation-aware sampling (noise turned once), against the unblended model's upright samples.

Usage:
    python benchmarks/rotation_agreement.py --equivariant runs/mnist_e4      # docs/benchmarks/
    python benchmarks/rotation_agreement.py --model runs/a_iso --equivariant runs/e4 \
        --equivariant runs/e4_no_up --equivariant runs/e4_augmented
    python benchmarks/rotation_agreement.py --equivariant runs/mnist_e4 --quick --out -
    python benchmarks/rotation_agreement.py --no-baselines --equivariant mnist-e --sampler heun \
        --steps 10
    python benchmarks/rotation_agreement.py --only mixing --equivariant mnist-e \
        --mix 0,0.5,0.8,0.9,1 --angles 15,45
"""

from __future__ import annotations

import os
import sys
import time

from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, progress, succeeded

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRIP = os.path.join(REPO, "docs", "benchmarks", "rotation_agreement.png")
STRIP_ANGLES = (-90.0, -45.0, 0.0, 45.0, 90.0, 180.0)


def turning_frame(denoiser):
    """``[x_t, t, up] -> R_up f(R_-up x_t, t)``: any denoiser run in the turning frame (FFT
    rotation), as a denoiser with an "up" input that :class:`DiffusionModel` tells the angle."""
    import keras

    from keras_aliasfree.transforms import rotate

    class Frame(keras.layers.Layer):
        def __init__(self, net, **kw):
            super().__init__(**kw)
            self.net = net

        def call(self, x, t, up):
            y = self.net([rotate(x, -up, method="fft"), t])
            return rotate(keras.ops.cast(y, "float32"), up, method="fft")

    shape = tuple(denoiser.inputs[0].shape[1:])
    x, t, up = keras.Input(shape), keras.Input(()), keras.Input(())
    return keras.Model([x, t, up], Frame(denoiser)(x, t, up))


def blended_with_frame(denoiser, lam, t_range=None):
    """``[x_t, t, up] -> (1 - lam) f(x_t, t, up) + lam R_up f(R_-up x_t, t, 0)`` for a denoiser
    ``f`` that takes "up": its equivariance error between quarter turns scaled towards the
    turning frame's (``lam = 1``). With ``t_range=(lo, hi)`` the blend applies only to the
    timesteps ``lo <= t < hi`` (``f`` alone elsewhere)."""
    import keras

    from keras_aliasfree.transforms import rotate

    class Blend(keras.layers.Layer):
        def __init__(self, net, lam, t_range, **kw):
            super().__init__(**kw)
            self.net, self.lam, self.t_range = net, float(lam), t_range

        def call(self, x, t, up):
            own = keras.ops.cast(self.net([x, t, up]), "float32")
            framed = self.net([rotate(x, -up, method="fft"), t, keras.ops.zeros_like(up)])
            framed = rotate(keras.ops.cast(framed, "float32"), up, method="fft")
            lam = self.lam
            if self.t_range is not None:
                lo, hi = self.t_range
                inside = keras.ops.logical_and(t >= lo, t < hi)
                lam = lam * keras.ops.reshape(keras.ops.cast(inside, "float32"), (-1, 1, 1, 1))
            return (1.0 - lam) * own + lam * framed

    shape = tuple(denoiser.inputs[0].shape[1:])
    x, t, up = keras.Input(shape), keras.Input(()), keras.Input(())
    return keras.Model([x, t, up], Blend(denoiser, lam, t_range)(x, t, up))


def mix_weights(spec):
    """``--mix``'s entries: ``lam`` (every timestep) or ``lam@lo:hi`` (timesteps ``lo <= t <
    hi`` only) -> ``[(label, lam, (lo, hi) or None)]``."""
    out = []
    for entry in (v.strip() for v in spec.split(",")):
        if not entry:
            continue
        lam, _, band = entry.partition("@")
        t_range = None
        if band:
            lo, sep, hi = band.partition(":")
            if not sep:
                raise SystemExit(f"--mix entry {entry!r}: the timesteps are lo:hi, e.g. 1@0:500")
            t_range = (float(lo), float(hi))
        if not 0.0 <= float(lam) <= 1.0:
            raise SystemExit(f"--mix entry {entry!r}: the weight must be in [0, 1]")
        out.append((entry, float(lam), t_range))
    return out


def orientation_classifier(steps=600, seed=0):
    """A small CNN trained here on MNIST (train split) to tell which quarter turn (0, 90, 180 or
    270 degrees) a digit was given: ``fn(images) -> (N, 4)`` probabilities, and its accuracy on
    the turned test split. It measures whether samples stand upright."""
    import keras
    import numpy as np

    from keras_aliasfree.data import load_numpy

    def turned(x, rng):
        k = rng.integers(0, 4, len(x))
        return np.stack([np.rot90(a, int(j)) for a, j in zip(x, k)]), k

    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    x, _ = load_numpy("mnist", "train", image_size=32, limit=steps * 64)
    xt, _ = load_numpy("mnist", "test", image_size=32, limit=2000)
    layers = keras.layers
    net = keras.Sequential([keras.Input((32, 32, 1)),
                            layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(),
                            layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
                            layers.Conv2D(32, 3, activation="relu"), layers.Flatten(),
                            layers.Dense(4, activation="softmax")])
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    net.fit(*turned(x, rng), batch_size=64, epochs=1, verbose=0)
    acc = float(net.evaluate(*turned(xt, rng), verbose=0)[1])
    return (lambda im: np.asarray(net.predict(np.asarray(im, np.float32), verbose=0))), acc


def upright_fraction(images, orientation):
    """The fraction of ``images`` that ``orientation`` (:func:`orientation_classifier`) finds
    upright (no quarter turn)."""
    import numpy as np

    return float(np.mean(np.argmax(orientation(images), -1) == 0))


def label(dm):
    """A row's name from the model's config: ``A``, ``A, isotropic convs``, ``E4, no up``,
    ``E4, up-augmented 0.5``."""
    cfg = getattr(dm.denoiser, "unet_config", None) or {}
    parts = [cfg.get("config", "?")]
    if cfg.get("conv") == "isotropic":
        parts.append("isotropic convs")
    if cfg.get("architecture") == "equivariant" and not dm.takes_up:
        parts.append("no up")
    if dm.up_augment:
        parts.append(f"up-augmented {dm.up_augment:g}")
    if getattr(dm, "equivariance_weight", 0.0):
        band = getattr(dm, "equivariance_timesteps", None)
        parts.append(f"equivariance term {dm.equivariance_weight:g}"
                     + (f" at t {band[0]}-{band[1] - 1}" if band else ""))
    return ", ".join(parts)


def make_sampler(args):
    """The rows' sampler: ``--sampler``, ``--steps`` and ``--eta`` (DDIM 20 steps, eta 1 by
    default)."""
    from keras_aliasfree.diffusion.samplers import sampler_from_options

    eta = args.eta if args.eta is not None else 1.0 if args.sampler == "ddim" else 0.0
    return sampler_from_options(args.sampler, args.steps, eta)


def rows_to_measure(args):
    """``[(label, sample_fn(rotation, n, seed), model)]`` for the table."""
    import numpy as np

    from keras_aliasfree.diffusion import DiffusionModel
    from keras_aliasfree.transforms import rotate

    sampler = make_sampler(args)

    def fn(dm, mode="progressive"):
        return lambda r, n, s: dm.sample(n, sampler=sampler, rotation=r, seed=s, verbose=0,
                                         rotation_mode=mode)

    rows = []
    if not args.no_baselines:
        a = DiffusionModel.from_preset("mnist-a")
        d = DiffusionModel.from_preset("mnist-d")
        frame = DiffusionModel(turning_frame(a.denoiser), a.schedule, band_limit=a.band_limit,
                               prediction=a.prediction)
        rows = [("A", fn(a), a), ("D-1N", fn(d), d),
                ("A, turned afterwards (cubic)",
                 lambda r, n, s: np.asarray(rotate(fn(a)(0.0, n, s), r, method="cubic")), a),
                ("A, turning frame", fn(frame), frame),
                ("A, turning frame, noise turned once", fn(frame, "once"), frame)]
    for source in args.model or ():
        m = DiffusionModel.from_preset(source)
        rows.append((label(m), fn(m), m))
    modes = args.modes.split(",")
    for source in args.equivariant or ():
        e = DiffusionModel.from_preset(source)
        rows += [(f"{label(e)}, {'progressive' if mode == 'progressive' else 'turned once'}",
                  fn(e, mode), e) for mode in modes]
    return rows


def agreement(args):
    import numpy as np

    from keras_aliasfree.images import save_grid
    from keras_aliasfree.data import load_numpy
    from keras_aliasfree.metrics.agreement import draw, rotation_agreement
    from keras_aliasfree.metrics.extractors import get_extractor

    ext = get_extractor("mnist-classifier", verbose=False)
    probs = lambda x: ext(x, verbose=False)[1]  # noqa: E731
    angles = tuple(float(v) for v in args.angles.split(","))
    real = load_numpy("mnist", "test", image_size=32, limit=args.num)[0]
    orientation, orientation_acc = orientation_classifier(60 if args.quick else 600, args.seed)
    out, strip = [], []
    for name, sample_fn, model in rows_to_measure(args):
        sample_fn(0.0, 2, 0)  # compile
        t0 = time.perf_counter()
        sample_fn(0.0, args.batch_size, 0)
        ms = (time.perf_counter() - t0) / args.batch_size * 1e3
        plain = draw(sample_fn, 0.0, args.num, args.batch_size, args.seed)
        res = rotation_agreement(sample_fn, probs, angles, args.num, args.batch_size, args.seed,
                                 upright=plain)
        upright = upright_fraction(plain, orientation)
        out.append({"label": name, "ms_per_image": ms, "agreement": res, "upright": upright,
                    "params": int(model.denoiser.count_params())})
        strip.append(np.concatenate([sample_fn(a, 1, args.seed) for a in STRIP_ANGLES]))
        progress(f"{name}: " + ", ".join(f"{k}: {v['kept']:.2f} / {v['psnr_db']:.1f} dB"
                                          for k, v in res.items()))
    if args.strip:
        save_grid(np.concatenate(strip), args.strip, len(STRIP_ANGLES))
    return {"rows": out, "angles": list(angles), "strip": args.strip or None,
            "upright_real": upright_fraction(real, orientation),
            "orientation_accuracy": orientation_acc}


def mixing(args):
    """Kept class and EQ-R of the first ``--equivariant`` model blended with its turning frame,
    per ``--mix`` weight (nothing without ``--mix``)."""
    from keras_aliasfree.data import load_numpy
    from keras_aliasfree.diffusion import DiffusionModel
    from keras_aliasfree.metrics.agreement import draw, rotation_agreement
    from keras_aliasfree.metrics.evaluation import noise_equivariance
    from keras_aliasfree.metrics.extractors import get_extractor

    lams = mix_weights(args.mix)
    if not lams:
        return {"rows": []}
    if not args.equivariant:
        raise SystemExit("--mix needs an --equivariant model (a denoiser that takes up)")
    e = DiffusionModel.from_preset(args.equivariant[0])
    if not e.takes_up:
        raise SystemExit(f"--mix needs a denoiser that takes up; {args.equivariant[0]} does not")
    ext = get_extractor("mnist-classifier", verbose=False)
    probs = lambda x: ext(x, verbose=False)[1]  # noqa: E731
    angles = tuple(float(v) for v in args.angles.split(","))
    sampler = make_sampler(args)
    real = load_numpy("mnist", "test", image_size=32, limit=8 if args.quick else 16)[0]

    def fn(dm):
        return lambda r, n, s: dm.sample(n, sampler=sampler, rotation=r, seed=s, verbose=0,
                                         rotation_mode="once")

    plain = draw(fn(e), 0.0, args.num, args.batch_size, args.seed)
    rows = []
    for name, lam, t_range in lams:
        dm = DiffusionModel(blended_with_frame(e.denoiser, lam, t_range), e.schedule,
                            band_limit=e.band_limit, prediction=e.prediction)
        eq = noise_equivariance(dm, real, (100, 500, 900), args.seed)
        res = rotation_agreement(fn(dm), probs, angles, args.num, args.batch_size, args.seed,
                                 upright=plain)
        rows.append({"lam": name, "agreement": res,
                     "eq_r_exact": {str(t): m["eq_r_exact"] for t, m in eq.items()}})
        progress(f"mix {name}: EQ-R t=100 {rows[-1]['eq_r_exact']['100']:.1f} dB, "
                 + ", ".join(f"{k}: {v['kept']:.2f}" for k, v in res.items()))
    return {"model": label(e), "source": args.equivariant[0], "angles": list(angles),
            "rows": rows}


def _add_arguments(p):
    p.add_argument("--equivariant", action="append", default=None,
                   help="checkpoint, run or preset of an E config to add, one row per --modes (repeatable)")
    p.add_argument("--model", action="append", default=None,
                   help="checkpoint, run or preset of another UNet to add as a row (repeatable)")
    p.add_argument("--no-baselines", action="store_true",
                   help="only the --model and --equivariant rows (not A, D-1N and A's frames)")
    p.add_argument("--modes", default="progressive,once",
                   help="rotation modes of the --equivariant rows (default progressive,once)")
    p.add_argument("--sampler", default="ddim",
                   help="sampler of every row: ddpm, ddim, dpm++2m, euler or heun (default ddim)")
    p.add_argument("--steps", type=int, default=20, help="its steps (default 20)")
    p.add_argument("--eta", type=float, default=None, help="DDIM's eta (default 1)")
    p.add_argument("--num", type=int, default=200, help="seeds per angle (default 200)")
    p.add_argument("--angles", default="15,45,90,180")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strip", default=STRIP, help="PNG of one seed per row ('' = none)")
    p.add_argument("--mix", default="",
                   help="blend weights of the first --equivariant model with its turning frame "
                        "(scenario mixing; e.g. 0,0.5,0.9,1, or 1@0:500 for the timesteps "
                        "0 <= t < 500 only; default none)")


def render(results, args):
    from keras_aliasfree.diffusion import NoiseSchedule

    sampler = make_sampler(args)
    nfe = sampler.nfe(NoiseSchedule())
    parts = [f"{sampler!r} ({nfe} NFE); {args.num} seeds per angle (seed {args.seed}); class "
             "by the shipped `mnist-classifier`; PSNR of the turned-back sample against the upright one "
             "on the central disc (peak 2), mean over seeds. Chance for the kept class is about "
             "0.1. Upright: the fraction of plain (0 degree) samples that a small orientation "
             "classifier, trained here on MNIST to tell which quarter turn a digit was given, "
             "finds upright (about 0.25 for a sampler that draws every quarter turn alike). "
             f"ms / image: sampling {nfe} NFE at batch "
             f"{args.batch_size}, after compiling."]
    for b, res in succeeded(results, "agreement").items():
        angles = [f"{a:g}" for a in res["angles"]]
        table = [[r["label"], f"{r['params']:,}"]
                 + [f"{r['agreement'][a]['kept']:.2f}" for a in angles]
                 + [" / ".join(f"{r['agreement'][a]['psnr_db']:.1f}" for a in angles),
                    f"{r['upright']:.2f}", f"{r['ms_per_image']:.1f}"] for r in res["rows"]]
        parts += [f"## {b}", md_table(
            ["model, rotation-aware sampling", "parameters"] + [f"kept, {a} deg" for a in angles]
            + [f"PSNR {' / '.join(angles)} deg (dB)", "upright", "ms / image"], table),
            f"Upright for real MNIST (test, first {args.num}): {res['upright_real']:.2f}; the "
            f"orientation classifier's accuracy on turned test digits: "
            f"{res['orientation_accuracy']:.3f}."]
        if res.get("strip"):
            rel = os.path.relpath(res["strip"], os.path.join(REPO, "docs", "benchmarks"))
            parts.append(f"![one seed per row at {', '.join(f'{a:g}' for a in STRIP_ANGLES)} "
                         f"degrees]({rel}) (rows in the table's order; columns "
                         f"{', '.join(f'{a:g}' for a in STRIP_ANGLES)} degrees)")
    for b, res in succeeded(results, "mixing").items():
        if not res["rows"]:
            continue
        angles = [f"{a:g}" for a in res["angles"]]
        table = [[str(r["lam"])] + [f"{r['eq_r_exact'][t]:.1f}" for t in ("100", "500", "900")]
                 + [f"{r['agreement'][a]['kept']:.2f}" for a in angles]
                 + [" / ".join(f"{r['agreement'][a]['psnr_db']:.1f}" for a in angles)]
                 for r in res["rows"]]
        parts += [f"## {b}: how much equivariance the turn needs",
                  f"`{res['source']}` ({res['model']}), its denoiser blended with itself in the "
                  "turning frame: lam 0 is the model, lam 1 the frame (`lam@lo:hi`: only at "
                  "the timesteps lo <= t < hi). EQ-R exact of eps_hat, "
                  "x_t and up turned together (dB, 16 test digits, as `evaluate`); kept class "
                  "and PSNR of rotation-aware sampling with the noise turned once, against the "
                  "unblended model's upright samples.",
                  md_table(["lam", "EQ-R t=100", "EQ-R t=500", "EQ-R t=900"]
                           + [f"kept, {a} deg" for a in angles]
                           + [f"PSNR {' / '.join(angles)} deg (dB)"], table)]
    return "\n\n".join(parts)


BENCHMARK = Benchmark("rotation_agreement", "Rotation agreement: kept class and turned-back PSNR",
                      [Scenario("agreement", agreement), Scenario("mixing", mixing)], render,
                      add_arguments=_add_arguments,
                      backends=("tensorflow",),
                      quick={"num": 8, "batch_size": 8, "strip": ""})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
