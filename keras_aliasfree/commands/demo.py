"""``keras-aliasfree demo``: samples and a rotation sweep from the shipped SavedModel (offline).

Example:
    $ keras-aliasfree demo --out demo_out
    $ keras-aliasfree demo --out demo_out --model mnist-d --steps 20 --frames 13
    $ keras-aliasfree demo --out demo_out --model exports/my_model --baseline none

Loads the SavedModel with plain ``tf.saved_model.load`` (no Keras model is rebuilt, no network) and
writes:

* ``OUT/samples.png`` -- a grid of ``--num`` samples (DDIM, ``--steps`` steps, seed ``--seed``;
  ``--sampler dpm++2m|euler|heun`` samples with the library instead, the SavedModel's weights
  rebuilt as a Keras model);
* ``OUT/rotation_sweep.gif`` -- ``--frames`` frames, rotation-aware sampling from -90 to +90
  degrees, the same seed (the same initial noise) in every frame;
* ``OUT/rotation_strip.png`` -- the sweep's frames side by side (one still picture of it);
* ``OUT/compare_rotation.png`` -- with a baseline model (default: the shipped ``mnist-a``, config A
  trained with the same recipe and budget): the strip of the baseline (top row) above the
  alias-free model's, the same seed and initial noise, and, with an orientation-equivariant
  model (``--equivariant``, default: the shipped ``mnist-e``, an E config that is told where "up"
  is), its strip as the bottom row: the one whose digit turns without changing.

The default model is the shipped preset ``mnist-d`` (package data of the installed package; in a
source checkout, ``saved_models/mnist-d``), and its baseline the preset ``mnist-a``; ``--model``
(a preset name or a SavedModel folder) or ``$KERAS_ALIASFREE_DEMO_MODEL`` picks another.
``keras-aliasfree presets`` lists the names.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from keras_aliasfree.constants import DEFAULT_SAMPLER_STEPS, SAMPLER_NAMES

DEFAULT_MODEL = "mnist-d"
#: DDIM steps of an export that serves DDIM at run time, when --steps is not given
DEMO_DDIM_STEPS = 20
DEFAULT_BASELINE = "mnist-a"
DEFAULT_EQUIVARIANT = "mnist-e"
MODEL_ENV = "KERAS_ALIASFREE_DEMO_MODEL"


def register(subparsers):
    p = subparsers.add_parser(
        "demo", help="sample grid (PNG) + rotation sweep (GIF) from the shipped SavedModel",
        description="Load the shipped SavedModel (the preset mnist-d) with plain TensorFlow, "
                    "write a sample grid PNG and a -90..90 degree rotation-sweep GIF (same seed "
                    "in every frame), and report what was written and how long it took. Offline.")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--model", default=None,
                   help="preset name or SavedModel directory (default: "
                        "$KERAS_ALIASFREE_DEMO_MODEL or the preset mnist-d)")
    p.add_argument("--baseline", default=None,
                   help="preset name or SavedModel of a baseline to compare the rotation strip "
                        "with (default: the preset mnist-a with the default model, else a "
                        "mnist-a folder beside --model if there; 'none' skips)")
    p.add_argument("--equivariant", default=DEFAULT_EQUIVARIANT,
                   help="preset name or SavedModel of an orientation-equivariant model for the "
                        "comparison's bottom row (default mnist-e; 'none' skips)")
    p.add_argument("--num", type=int, default=16, help="images in the sample grid (default 16)")
    p.add_argument("--sweep-num", type=int, default=4,
                   help="images per rotation-sweep frame (default 4)")
    p.add_argument("--frames", type=int, default=13,
                   help="rotation-sweep frames from -90 to 90 degrees (default 13, >= 2)")
    p.add_argument("--sampler", default=None, choices=SAMPLER_NAMES,
                   help="default: each SavedModel's own sampler (the shipped mnist-d and "
                        "mnist-a: Heun, 10 steps; an export without a fixed sampler: DDIM with "
                        "--steps); a named one runs in the SavedModel where it serves it (ddim "
                        "and ddpm in any export without a fixed sampler), else with the library "
                        "on the export's weights (docs/SAMPLING.md)")
    p.add_argument("--steps", type=int, default=None,
                   help=f"steps of --sampler (default: {DEMO_DDIM_STEPS} for ddim, "
                        f"{DEFAULT_SAMPLER_STEPS} for heun, 50 for the others; ddpm runs all T)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--scale", type=int, default=3, help="pixel upscaling of the pictures")
    p.set_defaults(func=run)
    return p


def default_model_path():
    """Where the demo looks for its SavedModel when ``--model`` is not given.

    ``$KERAS_ALIASFREE_DEMO_MODEL`` (a preset name or a folder) if set, else the shipped preset
    ``mnist-d``.

    Example:
        >>> os.path.basename(default_model_path())
        'mnist-d'
    """
    from keras_aliasfree.presets import resolve_preset

    return resolve_preset(os.environ.get(MODEL_ENV) or DEFAULT_MODEL, kind="diffusion")


def _saved_model(name_or_path, what):
    """The SavedModel folder of a preset name or path; raises PresetError saying what is wrong."""
    from keras_aliasfree.presets import PresetError, folder_kind, resolve_preset

    try:
        path = resolve_preset(name_or_path, kind="diffusion")
    except PresetError as e:
        raise PresetError(f"no SavedModel for {what} {name_or_path}: {e}") from None
    if folder_kind(path) != "saved_model":
        raise PresetError(f"no SavedModel at {what} {path} (expected saved_model.pb there); "
                          "export a checkpoint with `keras-aliasfree export --checkpoint RUN "
                          "--out DIR`")
    return path


def _baseline_path(args, model_path, default_model):
    """The baseline SavedModel to compare with, or None."""
    if args.baseline is not None:
        if args.baseline.lower() == "none":
            return None
        return _saved_model(args.baseline, "--baseline")
    if default_model:
        return _saved_model(DEFAULT_BASELINE, "the default baseline")
    cand = os.path.join(os.path.dirname(model_path), DEFAULT_BASELINE)
    same = os.path.abspath(cand) == os.path.abspath(model_path)
    return cand if not same and os.path.isfile(os.path.join(cand, "saved_model.pb")) else None


def _labelled(grid, text):
    """A frame with a white strip on top carrying ``text`` (Pillow's built-in bitmap font)."""
    from PIL import Image, ImageDraw

    from keras_aliasfree.images import to_pil

    img = to_pil(grid).convert("L" if grid.shape[-1] == 1 else "RGB")
    out = Image.new(img.mode, (img.width, img.height + 14), 255 if img.mode == "L" else
                    (255, 255, 255))
    out.paste(img, (0, 14))
    ImageDraw.Draw(out).text((3, 2), text, fill=0 if img.mode == "L" else (0, 0, 0))
    return out


def _served_steps(info, name, steps):
    """The ``steps`` input of the export's ``sample`` signature that runs sampler ``name`` with
    ``steps`` steps (``None``: the export's own sampler), or ``None`` when it cannot."""
    fixed = info.get("sampler")
    if fixed:  # the export's tables are fixed: its own sampler only (steps <= 0 runs it)
        same = (name or fixed["name"]) == fixed["name"] and steps in (None, fixed.get("steps"))
        return 0 if same else None
    if name in (None, "ddim"):
        return DEMO_DDIM_STEPS if steps is None else steps
    return 0 if name == "ddpm" else None


def _library_sampler(info, name, steps):
    """The sampler the library runs on an export's weights when its SavedModel cannot serve
    ``name`` with ``steps``: the one named (DDIM with the demo's steps when none are given), else
    the export's own with ``steps``."""
    from keras_aliasfree.diffusion.samplers import sampler_from_options

    name = name or info["sampler"]["name"]
    if steps is None and name == "ddim":
        steps = DEMO_DDIM_STEPS
    return sampler_from_options(name, steps)


def _drawer(path, args):
    """``(draw(num, rotation) -> uint8 images, description)`` for the model at ``path``: its
    SavedModel's ``sample`` signature where it serves the sampler asked for (see
    :func:`_served_steps`), else the library's :meth:`DiffusionModel.sample` on the export's
    weights."""
    import tensorflow as tf

    from keras_aliasfree.diffusion import NoiseSchedule
    from keras_aliasfree.diffusion.exported import read_export_info
    from keras_aliasfree.diffusion.samplers import get_sampler, sampler_from_options

    info = read_export_info(path)
    if args.sampler is not None:
        sampler_from_options(args.sampler, args.steps)  # raises on bad --steps
    steps = _served_steps(info, args.sampler, args.steps)
    if steps is not None:
        sample = tf.saved_model.load(path).signatures["sample"]

        def draw(num, rotation):
            return sample(seed=tf.constant(args.seed, tf.int64),
                          num_images=tf.constant(num, tf.int32),
                          rotation_degrees=tf.constant(rotation, tf.float32),
                          steps=tf.constant(steps, tf.int32))["images"].numpy()

        if info.get("sampler"):
            fixed = get_sampler(info["sampler"])
            return draw, f"{fixed!r}, {fixed.nfe(NoiseSchedule(**info['schedule']))} NFE"
        return draw, ("DDPM" if steps == 0 else f"{steps} DDIM steps")
    # the library on the export's weights: the sampler named, or the export's own with --steps
    sampler = _library_sampler(info, args.sampler, args.steps)
    from keras_aliasfree.diffusion import DiffusionModel
    from keras_aliasfree.images import to_uint8

    model = DiffusionModel.from_preset(path)
    sampler.tables(model.schedule)  # raises on --steps the schedule cannot take

    def draw(num, rotation):
        return to_uint8(model.sample(num, sampler=sampler, rotation=rotation, seed=args.seed,
                                     verbose=0))

    return draw, f"{sampler!r}, {sampler.nfe(model.schedule)} NFE"


def _comparison_rows(baseline, equivariant, args, angles):
    """The baseline's and the equivariant model's strip rows (one image per angle: a seed's first
    image does not depend on how many are drawn) and the seconds they took."""
    t0 = time.perf_counter()
    base_draw = _drawer(baseline, args)[0]
    base_rows = [base_draw(1, float(angle)) for angle in angles]
    eq_rows = []
    if equivariant:
        eq_draw = _drawer(equivariant, args)[0]
        eq_rows = [eq_draw(1, float(angle)) for angle in angles]
    return base_rows, eq_rows, time.perf_counter() - t0


def run(args):
    if args.frames < 2:
        print(f"error: --frames must be >= 2 (got {args.frames})", file=sys.stderr)
        return 2
    if args.num < 1 or args.sweep_num < 1:
        print("error: --num and --sweep-num must be >= 1", file=sys.stderr)
        return 2
    from keras_aliasfree.presets import PresetError

    requested = args.model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL
    try:
        model_path = _saved_model(requested, "--model" if args.model else "the default model")
        baseline = _baseline_path(args, model_path, default_model=requested == DEFAULT_MODEL)
        equivariant = None if baseline is None or args.equivariant.lower() == "none" else \
            _saved_model(args.equivariant, "--equivariant")
    except PresetError as e:
        print(f"error: {e}. Pass --model NAME_OR_DIR (`keras-aliasfree presets` lists the "
              f"names), or set ${MODEL_ENV}.", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from keras_aliasfree.images import tile, to_pil

    os.makedirs(args.out, exist_ok=True)
    try:
        draw, how = _drawer(model_path, args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t_loaded = time.perf_counter()
    print(f"model: {model_path} (loaded in {t_loaded - t_start:.1f} s)")

    angles = np.linspace(-90.0, 90.0, args.frames)
    comparison = None
    if baseline:  # the other models' rows are drawn in a thread beside this model's pictures
        pool = ThreadPoolExecutor(1)
        comparison = pool.submit(_comparison_rows, baseline, equivariant, args, angles)
        pool.shutdown(wait=False)
    written = []
    t0 = time.perf_counter()
    images = draw(args.num, 0.0)
    png = os.path.join(args.out, "samples.png")
    to_pil(tile(images, scale=args.scale)).save(png)
    written.append((png, f"{args.num} samples, {how}, seed {args.seed}",
                    time.perf_counter() - t0))

    t0 = time.perf_counter()
    frames, firsts = [], []
    for k, angle in enumerate(angles):
        imgs = draw(args.sweep_num, float(angle))
        frames.append(_labelled(tile(imgs, nrow=args.sweep_num, scale=args.scale),
                                f"rotation {angle:+.0f} deg"))
        firsts.append(imgs[:1])
        print(f"  frame {k + 1}/{args.frames}: {angle:+.1f} deg", flush=True)
    gif = os.path.join(args.out, "rotation_sweep.gif")
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=300, loop=0)
    strip = os.path.join(args.out, "rotation_strip.png")
    to_pil(tile(np.concatenate(firsts), nrow=len(firsts), scale=args.scale)).save(strip)
    dt = time.perf_counter() - t0
    written.append((gif, f"{args.frames} frames x {args.sweep_num} images, -90..90 deg, "
                         f"seed {args.seed}", dt))
    written.append((strip, "first image of every sweep frame, side by side", 0.0))

    if comparison is not None:
        base_rows, eq_rows, secs = comparison.result()
        rows = base_rows + firsts + eq_rows
        names = [os.path.basename(baseline), os.path.basename(model_path)] + \
            ([os.path.basename(equivariant)] if equivariant else [])
        compare = os.path.join(args.out, "compare_rotation.png")
        _labelled(tile(np.concatenate(rows), nrow=len(firsts), scale=args.scale),
                  f"rows: {', '.join(names)}   (same seed, -90..90 deg)").save(compare)
        written.append((compare, f"one row per model ({', '.join(names)}), the same seed and "
                                 "rotations, drawn beside the sweep", secs))
    for path, what, secs in written:
        timing = f" ({secs:.1f} s)" if secs else ""
        print(f"wrote {path}: {what}{timing}")
    print(f"demo took {time.perf_counter() - t_start:.1f} s in all")
    return 0
