"""``keras-aliasfree presets``: the pretrained models by name, with their cards.

Example:
    $ keras-aliasfree presets
    $ keras-aliasfree presets --kind diffusion --paths
    $ keras-aliasfree presets --json mnist-d
"""

from __future__ import annotations

import json
import sys


def register(subparsers):
    p = subparsers.add_parser(
        "presets", help="list the pretrained models (presets) that load by name",
        description="List the presets: the shipped pretrained models (inside the installed "
                    "package) that DiffusionModel.from_preset, demo --model, sample/evaluate "
                    "--checkpoint and evaluate --extractor take by name, with what each is, its "
                    "config, training budget and scores.")
    p.add_argument("names", nargs="*", help="only these presets (default: all)")
    p.add_argument("--kind", choices=("diffusion", "classifier"), default=None,
                   help="only presets of this kind")
    p.add_argument("--paths", action="store_true", help="also print each preset's folder")
    p.add_argument("--json", action="store_true",
                   help="print the cards as JSON (name, kind, description, config, training, "
                        "scores, path)")
    p.set_defaults(func=run)
    return p


def run(args):
    from keras_aliasfree import presets as P

    try:
        names = args.names or P.list_presets(args.kind)
        cards = [P.get_preset(n) for n in names]
    except (P.PresetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.kind:
        cards = [c for c in cards if c.kind == args.kind]
    if args.json:
        out = []
        for c in cards:
            d = {k: getattr(c, k) for k in ("name", "kind", "description", "config", "training",
                                            "scores")}
            try:
                d["path"] = c.path
            except P.PresetError as e:  # the shipped data missing: say so, list the rest
                d["path"] = None
                d["error"] = str(e)
            out.append(d)
        print(json.dumps(out, indent=2))
        return 0
    table = P.presets_table(args.kind).splitlines()
    keep = {c.name for c in cards}
    print("\n".join(table[:2] + [r for r in table[2:] if r.split("|")[1].strip() in keep]))
    try:
        root = P.data_root()
    except P.PresetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    notes = {(c.scores["extractor"], c.scores.get("num"), c.scores.get("sampler"))
             for c in cards if "extractor" in c.scores}
    for ext, num, sampler in sorted(notes, key=str):
        print(f"\nFD / KIDx100 / IS: features of {ext}; {num} samples, {sampler}")
    print(f"\nshipped presets: {root}")
    if args.paths:
        for c in cards:
            print(f"{c.name}: {c.path}")
    print("load one: DiffusionModel.from_preset(NAME); keras-aliasfree demo --model NAME; "
          "sample/evaluate --checkpoint NAME; evaluate --extractor mnist-classifier")
    return 0
