"""Write docs/RESULTS.md from the cells of scripts/paper_comparison.sh: the grid beside
the paper's table, mean +- half the range over seeds, per-cell status (a cell that is missing says
why), sample grids and rotation strips, and two plots (FD per config, exact EQ-R per config),
drawn with Pillow (matplotlib is not a dependency). Works on a partial grid.

A hand-written reading between the lines ``<!-- reading -->`` and ``<!-- /reading -->`` of an
existing output file is kept when the file is written again.

Every complete cell's figures are also written to ``ASSETS/<dataset>/<variant>-s<seed>.json`` (a
few KB, committed with the pictures), and the grid's plan to ``ASSETS/grid.json``. A cell whose
run directory is gone (``runs/`` is not committed: a new clone, another machine) is read back
from that record, so the table survives the runs and a grid can be finished in parts on
different machines.

Usage: python scripts/results_table.py [--root runs/paper] [--out docs/RESULTS.md]
                                       [--assets DIR (default: the grid's, else docs/results)]
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import shlex
import statistics
import sys

# the paper's figures (arXiv 2411.09174, 100 epochs on a GPU, 3x3 filters, torch-fidelity Inception)
PAPER = [
    {"dataset": "cifar10", "metric": "fd", "name": "FID", "a": 98.77, "config": "D-1N",
     "value": 90.21},
    {"dataset": "mnist_m", "metric": "kid_x100", "name": "KID", "a": 6.23, "config": "D-2N",
     "value": 5.35},
    {"dataset": "mnist", "metric": "fd", "name": "FID", "a": 9.61, "config": None, "value": None},
]
DATASETS = {"mnist": "MNIST", "cifar10": "CIFAR-10 (10,000-image subset)",
            "mnist_m": "MNIST-M (test split)"}
SAMPLE_COLS = [("fd", "FD", 1), ("fd_change", "FD vs A", None), ("kid_x100", "KID x100", 2),
               ("is", "IS", 2), ("fd_rotated", "FD 45 deg", 1),
               ("kid_rotated_x100", "KID x100 45 deg", 2)]
EQ_COLS = [("eq_t", "EQ-T", 1), ("eq_t_frac", "EQ-T_frac", 1), ("eq_r", "EQ-R raw", 1),
           ("eq_r_exact_t100", "EQ-R exact t=100", 1), ("eq_r_exact_t500", "EQ-R exact t=500", 1),
           ("eq_r_exact_t900", "EQ-R exact t=900", 1),
           ("rotation_consistency", "rot. cons. fft", 1),
           ("rotation_consistency_bilinear", "rot. cons. bilinear", 1),
           ("step_ms", "ms/step", 0)]
READING = ("<!-- reading -->", "<!-- /reading -->")
_STEP_RE = re.compile(r"\d+/\d+ - \d+s - (\d+(?:\.\d+)?)(us|ms|s)/step")


def _load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _float(v):
    try:
        return float(v)  # "inf" as written by evaluation.write_json
    except (TypeError, ValueError):
        return None


def step_time_ms(log_path):
    """Median ms per training step from a Keras ``--verbose 2`` log, ``(ms, epochs used)``: the
    first epoch of every call (tracing and compiling) is left out, unless no other epoch ran."""
    try:
        text = open(log_path, errors="replace").read()
    except OSError:
        return None, 0
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    calls = [[float(v) * scale[u] for v, u in _STEP_RE.findall(call)]
             for call in re.split(r"^.* trained in \d+ s \(this call\)$", text, flags=re.M)]
    times = [t for ms in calls for t in ms[1:]] or [t for ms in calls for t in ms]
    return (statistics.median(times) if times else None), len(times)


def variant_filters(variant):
    """What a variant name of paper_comparison.sh builds, in words."""
    if variant == "A":
        return "none (max-pool, bilinear, GELU)"
    m = re.match(r"^([BCD])-([0-9.]+)(N?)(?:-k(\d+))?$", variant)
    if not m:
        return "?"
    letter, beta, norm, k = m.groups()
    what = {"B": "resampling", "C": "activations", "D": "resampling + activations"}[letter]
    norm = ", sum 1" if norm else ""
    if k:
        return f"{what}: jinc {k}x{k} beta {beta}{norm}, rank 2"
    return f"{what}: paper 3x3 beta {beta}{norm}"


def variant_key(variant):
    kind = 0 if variant == "A" else (2 if "-k" in variant else 1)
    return kind, variant[:1], variant


RECORD_FIELDS = ("cell", "dataset", "variant", "seed", "steps", "loss", "step_ms", "timed_epochs",
                 "metrics", "per_angle", "extractor", "extractor_info", "eval_seconds",
                 "finished", "recovered_from", "fd_curve")


def record_path(assets, cell):
    """Where a complete cell's figures are kept: ``ASSETS/<dataset>/<variant>-s<seed>.json``."""
    dataset, name = cell.split("/", 1)
    return os.path.join(assets, dataset, name + ".json")


def write_record(rec, path, fields=RECORD_FIELDS):
    """Write the committed record of a complete cell (the ``fields`` of ``rec``; None: all)."""
    out = {k: v for k, v in rec.items() if v is not None and (fields is None or k in fields)}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


def read_record(path, cell):
    """A committed record as a complete cell, or None when there is none (or it is of another
    cell, or has no metrics)."""
    saved = _load(path)
    if not saved or saved.get("cell") != cell or not isinstance(saved.get("metrics"), dict):
        return None
    rec = {k: saved.get(k) for k in RECORD_FIELDS}
    rec["metrics"] = {k: _float(v) for k, v in saved["metrics"].items() if _float(v) is not None}
    rec["metrics"]["step_ms"] = _float(rec["step_ms"])
    rec["per_angle"] = saved.get("per_angle") or {}
    rec.update(run=None, reason=None, record=path, cell_json={"extractor": rec["extractor"]})
    return rec


def cell_record(root, cell, target_steps, assets=None):
    """Everything known about one cell ``dataset/variant-sSEED``: metrics when complete, else the
    reason it is not. With no run directory, the committed record under ``assets`` (if any)."""
    dataset, name = cell.split("/", 1)
    variant, seed = re.match(r"^(.*)-s(\d+)$", name).groups()
    run = os.path.join(root, dataset, name)
    if assets and not os.path.isdir(run) and not os.path.isfile(run + ".status"):
        saved = read_record(record_path(assets, cell), cell)
        if saved:
            return saved
    rec = {"cell": cell, "dataset": dataset, "variant": variant, "seed": int(seed), "run": run,
           "metrics": None, "per_angle": {}}
    status = ""
    if os.path.isfile(run + ".status"):
        status = open(run + ".status").read().strip()
    latest = os.path.join(run, "checkpoints", "latest")
    state = None
    if os.path.isfile(latest):
        ck = os.path.join(run, "checkpoints", open(latest).read().strip())
        state = _load(os.path.join(ck, "training_state.json"))
    rec["steps"] = state.get("step") if state else None
    rec["loss"] = state.get("loss") if state else None
    rec["step_ms"], rec["timed_epochs"] = step_time_ms(run + ".train.log")
    rec["cell_json"] = _load(os.path.join(run, "cell.json")) or {}
    ev = _load(os.path.join(run, "evaluation.json"))
    # current: scored the latest checkpoint, with the sampler that turns its fresh noise when it
    # rotates (evaluation format 2; format 1 compared unrelated samples: docs/METRICS.md)
    eval_latest = bool(ev and state and os.path.basename(ev["meta"]["checkpoint"])
                       == os.path.basename(ck))
    eval_current = eval_latest and (int(ev["meta"].get("format_version", 1)) >= 2
                                    or bool(ev["meta"].get("rotation_noise_turned")))
    if status.startswith("failed"):
        rec["reason"] = status
    elif not os.path.isdir(run):
        rec["reason"] = "not run yet"
    elif state is None:
        rec["reason"] = f"no checkpoint yet ({status or 'interrupted before its first epoch'})"
    elif target_steps and rec["steps"] < target_steps:
        rec["reason"] = (f"training stopped at step {rec['steps']} of {target_steps} "
                         f"(rerun to resume{'; ' + status if status else ''})")
    elif eval_latest and not eval_current:
        rec["reason"] = (f"trained ({rec['steps']} steps), evaluated with an older sampler "
                         "(evaluation format 1: rotated runs added unturned noise); rerun to "
                         "re-evaluate")
    elif not eval_current:
        rec["reason"] = (f"trained ({rec['steps']} steps), not evaluated yet"
                         + (f" ({status}, or interrupted)" if status else ""))
    else:
        rec["reason"] = None
        rec["metrics"] = {k: _float(v) for k, v in ev["metrics"].items() if _float(v) is not None}
        rec["metrics"]["step_ms"] = rec["step_ms"]
        rec["eval_seconds"] = ev["meta"].get("seconds")
        rec["extractor"] = rec["cell_json"].get("extractor") or ev["meta"].get("extractor")
        rec["finished"] = rec["cell_json"].get("finished")
        info = _load(os.path.join(rec["extractor"] or "", "classifier.json")) or {}
        rec["extractor_info"] = {k: info[k] for k in ("test_accuracy", "test_set", "command")
                                 if k in info} or None
        for key in ("rotation_consistency_per_angle", "rotation_consistency_per_angle_bilinear"):
            rec["per_angle"][key] = ev["metrics"].get(key) or {}
        rec["fd_curve"] = fd_curve(run, rec["steps"], rec["metrics"].get("fd"))
    return rec


def fd_curve(run, final_step, final_fd):
    """``{step: FD}`` of a run's earlier checkpoints (``run/fd_curve/<checkpoint>.json``, written
    by paper_comparison.sh) and its final one; None when there are no earlier ones."""
    curve = {}
    for path in glob.glob(os.path.join(run, "fd_curve", "*.json")):
        ev = _load(path) or {}
        name = os.path.basename(path)[:-len(".json")]
        state = _load(os.path.join(run, "checkpoints", name, "training_state.json")) or {}
        fd = _float((ev.get("metrics") or {}).get("fd"))
        if state.get("step") is not None and fd is not None:
            curve[str(state["step"])] = fd
    if not curve:
        return None
    if final_fd is not None:
        curve[str(final_step)] = final_fd
    return dict(sorted(curve.items(), key=lambda kv: int(kv[0])))


def _fmt(v, digits):
    if v is None:
        return "–"
    if math.isinf(v):
        return "inf"
    return f"{v:.{digits}f}"


def summarise(records):
    """``{dataset: {variant: {"n": seeds done, key: (mean, half range)}}}`` over complete cells."""
    out = {}
    for r in records:
        if r["metrics"] is None:
            continue
        v = out.setdefault(r["dataset"], {}).setdefault(r["variant"], {"n": 0, "_m": [],
                                                                       "_seeds": {}})
        v["n"] += 1
        v["_m"].append(r["metrics"])
        v["_seeds"][r["seed"]] = r["metrics"]
    for variants in out.values():
        a_seeds = variants.get("A", {}).get("_seeds", {})
        for v in variants.values():
            v["vs_a"] = {key: change_vs_a(v["_seeds"], a_seeds, key) for key in ("fd", "kid_x100")}
        for v in variants.values():
            del v["_seeds"]
            keys = {k for m in v["_m"] for k in m}
            for k in keys:
                xs = [m[k] for m in v["_m"] if m.get(k) is not None]
                if xs:  # no spread of infinite values (an exactly equivariant measure)
                    spread = (max(xs) - min(xs)) / 2 if len(xs) > 1 else None
                    v[k] = (sum(xs) / len(xs), spread if spread is None or
                            math.isfinite(spread) else None)
            del v["_m"]
        for v in variants.values():
            if v["vs_a"]["fd"] is not None:
                v["fd_change"] = (v["vs_a"]["fd"], None)
    return out


def change_vs_a(seeds, a_seeds, key):
    """Percent change of ``key`` from A's on the seeds both have (a paired comparison: a config
    run on fewer seeds than A is compared with A's runs of those seeds), or None."""
    shared = [s for s in seeds if s in a_seeds and seeds[s].get(key) is not None
              and a_seeds[s].get(key) is not None]
    if not shared:
        return None
    v = sum(seeds[s][key] for s in shared) / len(shared)
    a = sum(a_seeds[s][key] for s in shared) / len(shared)
    return 100.0 * (v - a) / abs(a) if a else None


def _cell_text(stat, key, digits):
    if key not in stat:
        return "–"
    mean, spread = stat[key]
    if key == "fd_change":
        return "–" if stat.get("_is_a") else f"{mean:+.1f} %"
    return _fmt(mean, digits) + (f" ± {_fmt(spread, digits)}" if spread is not None else "")


def metric_table(variants, cols, planned):
    head = "| variant | filters | seeds | " + " | ".join(c[1] for c in cols) + " |"
    rows = [head, "|---|---|---:|" + "---:|" * len(cols)]
    for variant in sorted(planned, key=variant_key):
        stat = dict(variants.get(variant, {}))
        stat["_is_a"] = variant == "A"
        n = stat.get("n", 0)
        if not n:
            rows.append(f"| {variant} | {variant_filters(variant)} | 0 | " +
                        " | ".join("not run" if i == 0 else "" for i in range(len(cols))) + " |")
            continue
        rows.append(f"| {variant} | {variant_filters(variant)} | {n} | " +
                    " | ".join(_cell_text(stat, k, d) for k, _, d in cols) + " |")
    return rows


def paper_table(summary):
    rows = ["| dataset | paper: metric | paper: A | paper: alias-free | paper: change | "
            "ours: A | ours: same config, paper filters | ours: change | "
            "ours: D, 12x12 filters | ours: change |",
            "|---|---|---:|---|---:|---:|---|---:|---|---:|"]
    for p in PAPER:
        ours = summary.get(p["dataset"], {})
        key, label = p["metric"], ("FD" if p["metric"] == "fd" else "KID x100")
        digits = 1 if key == "fd" else 2
        a = ours.get("A", {}).get(key)
        a_text = f"{label} {_fmt(a[0], digits)}" if a else "not run"

        def versus(config, a=a, ours=ours, key=key, digits=digits):
            v = ours.get(config, {}).get(key) if config else None
            if v is None:
                return f"{config or '–'}: not run", "–"
            pct = ours[config].get("vs_a", {}).get(key)
            change = "–" if pct is None else f"{pct:+.1f} %"
            return f"{config}: {_fmt(v[0], digits)}", change

        if p["config"]:
            paper_cfg = f"{p['config']}: {p['value']}"
            paper_change = f"{100 * (p['value'] - p['a']) / p['a']:+.1f} %"
            same, same_change = versus(p["config"])
        else:  # MNIST: the paper's baseline is best; ours: the best alias-free config
            paper_cfg, paper_change = "all worse than A", "A best"
            alias = {v: s[key][0] for v, s in ours.items() if v != "A" and key in s}
            best = min(alias, key=alias.get) if alias else None
            same, same_change = versus(best)
            same = "best alias-free " + same if best else "no alias-free config run"
        d12_text, d12_change = versus("D-6N-k12")
        rows.append(f"| {DATASETS.get(p['dataset'], p['dataset'])} | {p['name']} | {p['a']} | "
                    f"{paper_cfg} | {paper_change} | {a_text} | {same} | {same_change} | "
                    f"{d12_text} | {d12_change} |")
    return rows


def _rel(path, start):
    return os.path.relpath(path, start).replace(os.sep, "/")


def bar_chart(panels, path, series, title):
    """Horizontal bars with error bars, one panel per dataset, drawn with Pillow.
    ``panels``: ``[(panel title, [(label, [(value, half_range | None) | None per series]), ...])]``.
    Returns ``path``, or None when there is nothing to draw."""
    from PIL import Image, ImageDraw

    panels = [(t, rows) for t, rows in panels if rows]
    if not panels:
        return None
    colours = [(70, 110, 180), (230, 140, 50), (90, 160, 90)]
    bar_h, label_w, plot_w, pad = 12, 150, 420, 8
    heights = [24 + len(rows) * (bar_h * len(series) + 6) + pad for _, rows in panels]
    img = Image.new("RGB", (label_w + plot_w + 90, 40 + sum(heights) + 20), "white")
    draw = ImageDraw.Draw(img)
    draw.text((pad, 8), title, fill="black")
    for i, name in enumerate(series):
        x = label_w + 160 * i
        draw.rectangle([x, 24, x + 10, 32], fill=colours[i % 3])
        draw.text((x + 14, 22), name, fill="black")
    y = 40
    for (ptitle, rows), h in zip(panels, heights):
        draw.text((pad, y + 4), ptitle, fill="black")
        vals = [abs(v[0]) + (v[1] or 0) for _, vs in rows for v in vs
                if v is not None and math.isfinite(v[0])]
        top = max(vals) if vals else 1.0
        top = top if top > 0 else 1.0
        yy = y + 22
        for label, vs in rows:
            draw.text((pad, yy + 2), label[:22], fill="black")
            for i, v in enumerate(vs):
                if v is not None and math.isfinite(v[0]):
                    w = max(0, int(plot_w * max(v[0], 0) / top))
                    draw.rectangle([label_w, yy, label_w + w, yy + bar_h - 2],
                                   fill=colours[i % 3])
                    if v[1]:
                        lo = label_w + int(plot_w * max(v[0] - v[1], 0) / top)
                        hi = label_w + int(plot_w * (v[0] + v[1]) / top)
                        mid = yy + bar_h // 2 - 1
                        draw.line([lo, mid, hi, mid], fill="black")
                        draw.line([lo, mid - 3, lo, mid + 3], fill="black")
                        draw.line([hi, mid - 3, hi, mid + 3], fill="black")
                    draw.text((label_w + w + 4, yy), f"{v[0]:.1f}", fill="black")
                yy += bar_h
            yy += 6
        y += h
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    img.save(path)
    return path


def line_chart(panels, path, title, x_label="training steps", log_y=True):
    """Lines of (x, y) points, one panel per dataset, a colour per series, drawn with Pillow; a
    logarithmic y axis by default (FD falls by orders of magnitude in the first epochs).
    ``panels``: ``[(panel title, [(series label, [(x, y), ...]), ...])]``. Returns ``path``, or
    None when no series has two points."""
    from PIL import Image, ImageDraw

    panels = [(t, [(lab, sorted(pts)) for lab, pts in series if len(pts) > 1])
              for t, series in panels]
    panels = [(t, series) for t, series in panels if series]
    if not panels:
        return None
    colours = [(70, 110, 180), (230, 140, 50), (90, 160, 90), (200, 60, 60), (140, 90, 180),
               (120, 80, 40), (220, 110, 180), (110, 110, 110)]
    labels = list(dict.fromkeys(lab for _, series in panels for lab, _ in series))
    w, h, left, top, pad = 420, 220, 50, 28, 8
    legend_w = 130
    img = Image.new("RGB", (left + w + legend_w + pad, 24 + len(panels) * (h + top + 40)), "white")
    draw = ImageDraw.Draw(img)
    draw.text((pad, 6), title, fill="black")
    y0 = 24
    for ptitle, series in panels:
        draw.text((pad, y0 + 4), ptitle, fill="black")
        xs = [x for _, pts in series for x, _ in pts]
        ys = [y for _, pts in series for _, y in pts
              if math.isfinite(y) and (y > 0 or not log_y)]
        x_max = max(xs) or 1
        if log_y:
            lo = 10 ** math.floor(math.log10(min(ys))) if ys else 1.0
            hi = 10 ** math.ceil(math.log10(max(ys))) if ys else 10.0
            hi = hi if hi > lo else lo * 10
            ticks = [m * 10 ** e for e in range(round(math.log10(lo)), round(math.log10(hi)) + 1)
                     for m in (1, 2, 5) if lo <= m * 10 ** e <= hi]

            def frac(v, lo=lo, hi=hi):
                return (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        else:
            y_max = (max(ys) if ys else 1.0) * 1.05 or 1.0
            ticks = [y_max * i / 4 for i in range(5)]

            def frac(v, y_max=y_max):
                return min(v, y_max) / y_max
        ox, oy = left, y0 + top + h  # origin
        draw.line([ox, y0 + top, ox, oy, ox + w, oy], fill="black")
        for v in ticks:
            yy = oy - int(h * frac(v))
            draw.line([ox - 3, yy, ox, yy], fill="black")
            draw.line([ox + 1, yy, ox + w, yy], fill=(230, 230, 230))
            draw.text((pad, yy - 5), f"{v:g}", fill="black")
        for x in sorted(set(xs)):
            xx = ox + int(w * x / x_max)
            draw.line([xx, oy, xx, oy + 3], fill="black")
            draw.text((xx - 12, oy + 5), str(x), fill="black")
        draw.text((ox + w // 2 - 40, oy + 20), x_label, fill="black")
        for i, (label, pts) in enumerate(series):
            c = colours[labels.index(label) % len(colours)]  # one colour per label
            xy = [(ox + int(w * x / x_max), oy - int(h * frac(y))) for x, y in pts
                  if math.isfinite(y) and (y > 0 or not log_y)]
            draw.line(xy, fill=c, width=2)
            for px, py in xy:
                draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=c)
            ly = y0 + top + 14 * i
            draw.rectangle([ox + w + 12, ly + 2, ox + w + 22, ly + 10], fill=c)
            draw.text((ox + w + 26, ly), label[:16], fill="black")
        y0 += h + top + 40
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    img.save(path)
    return path


def curves(records, dataset):
    """Per variant, the FD curve averaged over the seeds that have one: ``[(variant, pts)]``."""
    by = {}
    for r in records:
        if r["dataset"] == dataset and r["metrics"] is not None and r.get("fd_curve"):
            for step, fd in r["fd_curve"].items():
                by.setdefault(r["variant"], {}).setdefault(int(step), []).append(fd)
    return [(v, [(x, sum(ys) / len(ys)) for x, ys in by[v].items()])
            for v in sorted(by, key=variant_key)]


def _existing_reading(out):
    try:
        text = open(out).read()
    except OSError:
        return None
    a, b = text.find(READING[0]), text.find(READING[1])
    return text[a:b + len(READING[1])] if 0 <= a < b else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="runs/paper")
    ap.add_argument("--out", default="docs/RESULTS.md")
    ap.add_argument("--assets", default=None)
    args = ap.parse_args(argv)
    grid = _load(os.path.join(args.root, "grid.json"))
    assets = args.assets or (grid or {}).get("assets") or "docs/results"
    if grid:  # the grid's plan and command, kept beside the records
        write_record(grid, os.path.join(assets, "grid.json"), fields=None)
    else:
        grid = _load(os.path.join(assets, "grid.json")) or {}
    target = grid.get("steps")
    planned = list(grid.get("cells", []))
    found = sorted(_rel(os.path.dirname(p), args.root) for p in
                   glob.glob(os.path.join(args.root, "*", "*-s*", "train_args.json")))
    cells = planned + [c for c in found if c not in planned]
    cells += sorted(_rel(p, assets)[:-len(".json")] for p in
                    glob.glob(os.path.join(assets, "*", "*-s*.json"))
                    if _rel(p, assets)[:-len(".json")] not in cells)
    records = [cell_record(args.root, c, target, assets) for c in cells]
    for r in records:  # keep every complete cell's figures beside its pictures
        if r["metrics"] is not None and r.get("run"):
            write_record(r, record_path(assets, r["cell"]))
    summary = summarise(records)
    docs = os.path.dirname(os.path.abspath(args.out))
    datasets = list(dict.fromkeys(r["dataset"] for r in records))

    md = ["# Results: the paper's comparison at this machine's scale", "",
          "Configs A-D of Anjum (2024, arXiv 2411.09174) with the paper's 3x3 filters and with "
          "this library's flat-passband 12x12 jinc, trained with the shipped models' recipe and "
          "scored on offline classifier features.", "",
          "Made by:", "", "```",
          grid.get("command", "bash scripts/paper_comparison.sh") + "   # the grid (resumable)",
          "python scripts/results_table.py " + " ".join(shlex.quote(a) for a in
                                                         (argv if argv is not None
                                                          else sys.argv[1:])) + "   # this page",
          "```", ""]
    done = sum(r["metrics"] is not None for r in records)
    md += [f"**{done} of {len(records)} cells complete**"
           + (f" (grid.json of {grid['written']})" if grid.get("written") else "") + ". "
           f"Budget: {target or '?'} training steps per cell (batch 32); "
           f"{grid.get('num', '?')} samples per cell for FD / KID / IS (DDIM "
           f"{grid.get('eval_steps', 20)} steps, eta 1).", ""]
    md += ["## Beside the paper", "",
           "The paper's figures are Inception FID / KID after 100 epochs; ours are FD / KID on the "
           "features of a small classifier trained on the same data (docs/METRICS.md), so only "
           "the *relative* change from A carries over (ours: against A on the same seeds). "
           "Lower is better.", ""]
    md += paper_table(summary) + [""]
    md += [_existing_reading(args.out) or "\n".join(
        [READING[0], "Reading: to be written by hand once the grid is complete (kept when this "
         "page is regenerated).", READING[1]]), ""]

    for ds in datasets:
        planned_variants = list(dict.fromkeys(r["variant"] for r in records if r["dataset"] == ds))
        variants = summary.get(ds, {})
        md += [f"## {DATASETS.get(ds, ds)}", "",
               "Mean ± half the range over seeds where there are two. FD vs A: the change "
               "from A's FD on the same seeds.", ""]
        md += metric_table(variants, SAMPLE_COLS, planned_variants) + [""]
        md += ["Equivariance (dB, higher is better; EQ-R exact is of the EMA noise prediction, "
               "docs/METRICS.md) and training speed:", ""]
        md += metric_table(variants, EQ_COLS, planned_variants) + [""]
        rows = ["| cell | status | steps | final loss | ms/step | rot. cons. per angle (fft; "
                "bilinear) | 16 samples, seed 0 | rotation -90..90 deg, seed 0 |",
                "|---|---|---:|---:|---:|---|---|---|"]
        for r in sorted((r for r in records if r["dataset"] == ds),
                        key=lambda r: (variant_key(r["variant"]), r["seed"])):
            name = r["cell"].split("/", 1)[1]
            pics = []
            for suffix in (".png", "-rotation.png"):
                p = os.path.join(assets, ds, name + suffix)
                pics.append(f"![{name}]({_rel(p, docs)})" if os.path.isfile(p) else "–")
            per = "; ".join(", ".join(f"{k}: {v:.1f}" for k, v in d.items())
                            for d in r["per_angle"].values() if d) or "–"
            loss = f"{r['loss']:.4f}" if r["loss"] is not None else "–"
            status = r["reason"] or ("done" if r.get("run") else
                                     f"done ([record]({_rel(r['record'], docs)})"
                                     + (", recovered" if r.get("recovered_from") else "") + ")")
            rows.append(f"| {name} | {status} | {r['steps'] or '–'} | {loss} | "
                        f"{_fmt(r['step_ms'], 0)} | {per} | {pics[0]} | {pics[1]} |")
        recovered = sorted({r["recovered_from"] for r in records
                            if r["dataset"] == ds and r.get("recovered_from")})
        md += ["Cells:", ""] + rows + [""]
        if recovered:
            md += ["\"recovered\": the cell's run directory is gone and its record was rebuilt "
                   f"from {', '.join(recovered)}, so its figures carry that table's rounding.", ""]
        if ds == "mnist":
            npz = sorted(glob.glob(os.path.join(assets, ds, "*-samples.npz")))
            if npz:
                md += ["The scored samples of every MNIST cell, uint8 `x` (N, 32, 32, 1), "
                       "compressed, to re-score with another extractor: "
                       + ", ".join(f"[{os.path.basename(p)}]({_rel(p, docs)})" for p in npz), ""]

    # plots
    order = {ds: sorted(summary.get(ds, {}), key=variant_key) for ds in datasets}
    fd_png = bar_chart([(DATASETS.get(ds, ds), [(v, [summary[ds][v].get("fd")])
                                                 for v in order[ds]]) for ds in datasets],
                       os.path.join(assets, "fd_per_config.png"), ["FD (lower is better)"],
                       "FD of the samples per config (classifier features)")
    eq_png = bar_chart([(DATASETS.get(ds, ds),
                         [(v, [summary[ds][v].get("eq_r_exact_t100"),
                               summary[ds][v].get("eq_r_exact_t500")]) for v in order[ds]])
                        for ds in datasets],
                       os.path.join(assets, "eqr_per_config.png"),
                       ["EQ-R exact, t = 100 (dB)", "t = 500 (dB)"],
                       "Rotation equivariance of the noise prediction per config "
                       "(higher is better)")
    curve_png = line_chart([(DATASETS.get(ds, ds), curves(records, ds)) for ds in datasets],
                           os.path.join(assets, "fd_vs_steps.png"),
                           "FD of the samples against training steps (log scale; mean over "
                           "the seeds with a curve; lower is better)")
    with_curve = {}
    for r in records:
        if r["metrics"] is not None and r.get("fd_curve"):
            with_curve.setdefault(r["dataset"], []).append(r["cell"].split("/", 1)[1])
    md += ["## Plots", ""]
    if fd_png or eq_png:
        md += [f"![FD per config]({_rel(fd_png, docs)})" if fd_png else "", "",
               f"![EQ-R per config]({_rel(eq_png, docs)})" if eq_png else "", "",
               "(Drawn by this script with Pillow; error bars: half the range over seeds.)", ""]
        if curve_png:
            md += [f"![FD vs steps]({_rel(curve_png, docs)})", "",
                   "FD against training steps, from the cells with a checkpoint per epoch ("
                   + "; ".join(f"{DATASETS.get(d, d)}: {', '.join(sorted(c))}"
                               for d, c in with_curve.items()) + "), with the samples, sampler "
                   "and extractor of the final figures.", ""]
    else:
        md += ["No complete cell yet.", ""]

    extractors = {}
    for r in records:
        ext = r["cell_json"].get("extractor")
        if ext and (r["dataset"] not in extractors or not extractors[r["dataset"]][1]):
            extractors[r["dataset"]] = (ext, _load(os.path.join(ext, "classifier.json"))
                                        or r.get("extractor_info") or {})
    md += ["## Feature extractors", "",
           "| dataset | classifier | test accuracy | test set | command |",
           "|---|---|---:|---|---|"]
    for ds, (ext, info) in extractors.items():
        acc = info.get("test_accuracy")
        acc = "–" if acc is None else f"{100 * acc:.2f} %"
        md.append(f"| {DATASETS.get(ds, ds)} | `{ext}` | {acc} | {info.get('test_set', '–')} "
                  f"| `{info.get('command') or '–'}` |")
    md += ["", "## What differs from the paper's setting", "",
           f"- Budget: {target or '?'} steps of batch 32 per cell on two CPU cores, where the "
           "paper trains 100 epochs (batch 16) on a GPU.",
           "- Model: base width 8 and no attention (the shipped models' size, 375,153 parameters "
           "at 32x32x1), not the paper's 5.9 M.",
           "- Recipe: v-prediction with min-SNR-5 loss weighting, AdamW 1e-3, EMA 0.995 (the "
           "shipped models'), where the paper predicts the noise with lr 3e-4.",
           "- Scores: FD / KID / IS on a small classifier's features (no Inception weights "
           "offline), N samples as stated above, DDIM 20 steps with eta 1.",
           "- Data: the CIFAR-10 subset has 10,000 training images; MNIST-M only its test split "
           "(9,001), which the models train on and are scored against.",
           "- C/D with the 12x12 filters train band-limited to the disc (`--band-limit auto`); "
           "with the paper's 3x3 filters they do not.", ""]
    os.makedirs(docs, exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(md).rstrip() + "\n")
    print(f"wrote {args.out}: {done} of {len(records)} cells complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
