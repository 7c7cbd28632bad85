#!/usr/bin/env bash
# The package as a user installs it, not as the checkout runs it: build a wheel from the checkout's
# files (tracked + untracked-but-not-ignored: what a clone with your changes holds; no build/ or
# egg-info leftovers), install it non-editable into a fresh virtual environment, then from an
# empty folder, with no PYTHONPATH and the network pointed at a dead proxy, run
#   keras-aliasfree presets
#   keras-aliasfree demo --out demo (few steps)    -> its four outputs must exist
#   DiffusionModel.from_preset("mnist-d").sample(...)
# and check that keras_aliasfree was imported from the venv, not from the checkout.
# Usage: bash scripts/check_wheel.sh            (CI runs it from .ci/run)
#   KERAS_ALIASFREE_WHEEL_VENV=DIR   reuse (or create) that venv instead of a fresh temporary one:
#                                    quicker reruns; the wheel is reinstalled into it each time
#   KERAS_ALIASFREE_KEEP=1           keep the temporary folder (printed) for inspection
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
t_start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/kaf-wheel.XXXXXX")
if [ "${KERAS_ALIASFREE_KEEP:-0}" = 1 ]; then echo "check_wheel: keeping $work"
else trap 'rm -rf "$work"' EXIT; fi
python=${PYTHON:-python3}

echo "--- check_wheel: copying the checkout's files to $work/src"
mkdir -p "$work/src" "$work/dist" "$work/empty"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # files deleted in the work tree but still tracked are skipped
  git -C "$repo" ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf - | tar -xf - -C "$work/src"
else
  tar --exclude=./.venv --exclude=./build --exclude='*.egg-info' -cf - . | tar -xf - -C "$work/src"
fi

echo "--- check_wheel: pip wheel --no-deps"
t0=$(date +%s)
"$python" -m pip wheel -q --no-deps -w "$work/dist" "$work/src"
wheel=$(ls "$work"/dist/keras_aliasfree-*.whl)
"$python" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["keras_aliasfree/presets_data/mnist-d/saved_model.pb",
        "keras_aliasfree/presets_data/mnist-d/variables/variables.index",
        "keras_aliasfree/presets_data/mnist-a/saved_model.pb",
        "keras_aliasfree/presets_data/mnist-d/assets.extra/keras_aliasfree.json",
        "keras_aliasfree/presets_data/mnist-classifier/classifier.keras"]
missing = [n for n in need if n not in names]
assert not missing, f"the wheel lacks {missing}"
print(f"wheel: {sys.argv[1].rsplit('/', 1)[-1]}, {len(names)} files, "
      f"{sum(1 for n in names if '/presets_data/' in n)} of them preset data")
PY
t_wheel=$(( $(date +%s) - t0 ))

venv=${KERAS_ALIASFREE_WHEEL_VENV:-$work/venv}
echo "--- check_wheel: installing the wheel into $venv (non-editable)"
t0=$(date +%s)
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$wheel"
"$venv/bin/python" -m pip install -q "$wheel"   # its dependencies (no-op when present)
t_install=$(( $(date +%s) - t0 ))

echo "--- check_wheel: from an empty folder, offline"
cd "$work/empty"
run() {  # a clean environment: no checkout on the path, no demo override, a dead proxy
  env -u PYTHONPATH -u KERAS_ALIASFREE_DEMO_MODEL KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=2 \
    HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
    http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 "$@"
}
run "$venv/bin/keras-aliasfree" presets
t0=$(date +%s)
run "$venv/bin/keras-aliasfree" demo --out demo --frames 3 --num 4 --sweep-num 2
t_demo=$(( $(date +%s) - t0 ))
for f in samples.png rotation_sweep.gif rotation_strip.png compare_rotation.png; do
  [ -s "demo/$f" ] || { echo "check_wheel: FAILED: demo did not write demo/$f"; exit 1; }
done
echo "demo wrote its four outputs"
t0=$(date +%s)
run "$venv/bin/python" - "$venv" "$repo" <<'PY'
import os, sys
import numpy as np
import keras_aliasfree
from keras_aliasfree import DiffusionModel, list_presets
from keras_aliasfree.presets import data_root

venv, repo = (os.path.realpath(p) for p in sys.argv[1:3])
where = os.path.realpath(keras_aliasfree.__file__)
assert where.startswith(venv + os.sep), f"keras_aliasfree imported from {where}, not the venv"
assert not os.path.realpath(data_root()).startswith(repo + os.sep), data_root()
dm = DiffusionModel.from_preset("mnist-d")
a = dm.sample(2, sampler="ddim", steps=4, eta=1.0, seed=0, verbose=0)
b = dm.sample(2, sampler="ddim", steps=4, eta=1.0, seed=0, verbose=0)
assert a.shape == (2, 32, 32, 1) and np.array_equal(a, b) and a.std() > 0.1, (a.shape, a.std())
print(f"from_preset('mnist-d') sampled {a.shape} from {data_root()}; presets: {list_presets()}")
PY
t_preset=$(( $(date +%s) - t0 ))
echo "check_wheel: passed in $(( $(date +%s) - t_start )) s (wheel ${t_wheel} s, install" \
     "${t_install} s, demo ${t_demo} s, from_preset ${t_preset} s)"
