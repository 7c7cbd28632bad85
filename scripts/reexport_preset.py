"""Re-export a shipped preset's SavedModel with a sampler fixed in it, the weights unchanged.

The shipped exports' training checkpoints are not in the repository; the SavedModel holds the EMA
weights, so the model is rebuilt from it (``DiffusionModel.from_preset``), written to a temporary
checkpoint and exported again (``export_saved_model(..., sampler=...)``) over the preset's
folder. The new export's ``assets.extra/keras_aliasfree.json`` keeps the original training
checkpoint's path and names the export it was made from.

Usage (from the repository root, TensorFlow backend):
    python scripts/reexport_preset.py mnist-a --sampler heun --steps 10
    python scripts/reexport_preset.py mnist-e --sampler heun --steps 10 --rotation-mode once
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset", help="preset name or SavedModel folder (rewritten in place)")
    p.add_argument("--sampler", required=True, help="ddim, dpm++2m, euler, heun")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--eta", type=float, default=0.0, help="DDIM only")
    p.add_argument("--rotation-mode", default=None,
                   help="progressive or once (default: the export's own)")
    args = p.parse_args(argv)

    from keras_aliasfree.diffusion import DiffusionModel
    from keras_aliasfree.diffusion.exported import INFO_FILE, read_export_info
    from keras_aliasfree.diffusion.samplers import sampler_from_options
    from keras_aliasfree.export import export_saved_model
    from keras_aliasfree.presets import resolve_preset

    path = resolve_preset(args.preset, kind="diffusion")
    old = read_export_info(path)
    if not old:
        print(f"error: {path} is not an export of this library", file=sys.stderr)
        return 2
    sampler = sampler_from_options(args.sampler, args.steps, args.eta)
    model = DiffusionModel.from_preset(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = model.save_checkpoint(os.path.join(tmp, "ckpt"))
        export_saved_model(ckpt, path, rotation_method=old.get("rotation_method"), overwrite=True,
                           sampler=sampler, max_images=old.get("max_images", 1024),
                           rotation_mode=args.rotation_mode or old.get("rotation_mode",
                                                                        "progressive"))
    info_path = os.path.join(path, INFO_FILE)
    with open(info_path) as f:
        new = json.load(f)
    new.update(checkpoint=old.get("checkpoint"), checkpoint_backend=old.get("checkpoint_backend"),
               re_exported_from={k: old.get(k) for k in ("exported_at", "ddim_eta", "sampler")})
    with open(info_path, "w") as f:
        json.dump(new, f, indent=2)
    print(f"re-exported {path} with {sampler!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
