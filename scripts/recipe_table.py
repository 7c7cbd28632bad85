"""Print the markdown table of scripts/recipe_comparison.sh from runs/recipe/*/evaluation.json."""

import glob
import json
import os
import sys


def main(root):
    rows = ["| variant | prediction | loss weighting | steps | final loss | FD (classifier) | "
            "KID x100 | IS | grid |", "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for path in sorted(glob.glob(os.path.join(root, "*", "evaluation.json"))):
        name = os.path.basename(os.path.dirname(path))
        with open(path) as f:
            ev = json.load(f)
        ckpts = sorted(glob.glob(os.path.join(root, name, "checkpoints", "epoch_*")))
        with open(os.path.join(ckpts[-1], "config.json")) as f:
            cfg = json.load(f)
        with open(os.path.join(ckpts[-1], "training_state.json")) as f:
            st = json.load(f)
        m = ev["metrics"]
        rows.append(f"| {name} | {cfg.get('prediction', 'epsilon')} | "
                    f"{cfg.get('loss_weighting', 'uniform')} | {st.get('step')} | "
                    f"{st.get('loss', float('nan')):.4f} | {m['fd']:.1f} | "
                    f"{m['kid_x100']:.2f} | {m['is']:.2f} (real {m.get('is_real', float('nan')):.2f}) | "
                    f"![{name}](recipe/{name}.png) |")
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/recipe")
