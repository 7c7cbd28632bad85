"""Print the markdown tables of scripts/equivariance_comparison.sh from
runs/eqcmp/<variant>-s<seed>/evaluation.json: one row per run, then mean and spread per variant.

Usage: python scripts/eq_table.py [ROOT] [GRID_DIR]   (defaults runs/eqcmp, eqcmp)
"""

import glob
import json
import os
import re
import sys

import numpy as np

COLS = [("fd", "FD", "{:.1f}"), ("is", "IS", "{:.2f}"),
        ("eq_r_exact_t100", "EQ-R exact t=100", "{:.2f}"),
        ("eq_r_exact_t500", "EQ-R exact t=500", "{:.2f}"),
        ("eq_r_exact_t900", "EQ-R exact t=900", "{:.2f}"),
        ("eq_r_disc_t500", "EQ-R disc (three-shear) t=500", "{:.2f}"),
        ("eq_t_frac_disc_t500", "EQ-T_frac disc t=500", "{:.2f}"),
        ("rotation_consistency", "rotation consistency", "{:.2f}")]


def _runs(root):
    out = []
    for path in sorted(glob.glob(os.path.join(root, "*", "evaluation.json"))):
        name = os.path.basename(os.path.dirname(path))
        m = re.match(r"^(.*)-s(\d+)$", name)
        if not m:
            continue
        with open(path) as f:
            metrics = json.load(f)["metrics"]
        ckpts = sorted(glob.glob(os.path.join(root, name, "checkpoints", "epoch_*")))
        state = {}
        if ckpts:
            with open(os.path.join(ckpts[-1], "training_state.json")) as f:
                state = json.load(f)
        out.append((m.group(1), int(m.group(2)), name, metrics, state))
    return out


def main(root="runs/eqcmp", grid_dir="eqcmp"):
    runs = _runs(root)
    head = "| run | steps | final loss | " + " | ".join(c[1] for c in COLS) + " | grid |"
    rows = [head, "|---|---:|---:|" + "---:|" * len(COLS) + "---|"]
    for variant, seed, name, m, st in runs:
        vals = " | ".join(fmt.format(float(m[k])) if k in m else "–" for k, _, fmt in COLS)
        rows.append(f"| {name} | {st.get('step', '?')} | {st.get('loss', float('nan')):.4f} | "
                    f"{vals} | ![{name}]({grid_dir}/{name}.png) |")
    rows += ["", "Mean over seeds ± their standard deviation (n − 1):", "",
             "| variant | seeds | " + " | ".join(c[1] for c in COLS) + " |",
             "|---|---:|" + "---:|" * len(COLS)]
    for variant in sorted({r[0] for r in runs}, key=lambda v: [r[0] for r in runs].index(v)):
        ms = [r[3] for r in runs if r[0] == variant]
        cells = []
        for k, _, fmt in COLS:
            v = np.array([float(m[k]) for m in ms if k in m])
            cells.append("–" if not len(v) else fmt.format(v.mean()) +
                         (f" ± {fmt.format(v.std(ddof=1))}" if len(v) > 1 else ""))
        rows.append(f"| {variant} | {len(ms)} | " + " | ".join(cells) + " |")
    print("\n".join(rows))


if __name__ == "__main__":
    main(*sys.argv[1:])
