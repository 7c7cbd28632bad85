#!/usr/bin/env bash
# Training-recipe comparison for the shipped-model recipe (docs/benchmarks/recipe.md): config A,
# 32x32 MNIST, base width 8, no attention, batch 32, AdamW lr 1e-3, EMA 0.995, the same number of
# steps for every variant (equal steps = equal wall-clock: the targets cost the same per step).
# Variants differ only in what the network predicts and how the loss is weighted over t.
# Resumable: a finished run or evaluation is skipped; an interrupted run resumes from its last
# epoch. Results: runs/recipe/<variant>/evaluation.json, grids in docs/benchmarks/recipe/.
# Usage: bash scripts/recipe_comparison.sh [EPOCHS] [STEPS_PER_EPOCH] [VARIANT ...]
#   defaults: 6 epochs of 375 steps (2,250 steps); variants eps v v-minsnr x0
. "$(dirname "$0")/_comparison.sh"
epochs="${1:-6}"; spe="${2:-375}"; shift $(( $# > 2 ? 2 : $# ))
variants="${*:-eps v v-minsnr x0}"
root=runs/recipe; grids=docs/benchmarks/recipe
mkdir -p "$root" "$grids"
# the sampler the shipped SavedModel uses: DDIM 20 steps, eta 1
eval_args=(--data mnist --num 1000 --steps 20 --eta 1 --angles "" --rotated-fd-angle 0 --eq-num 8)
for v in $variants; do
  case "$v" in
    eps) opts="--prediction epsilon" ;;
    v) opts="--prediction v" ;;
    v-minsnr) opts="--prediction v --loss-weighting min_snr" ;;
    eps-minsnr) opts="--prediction epsilon --loss-weighting min_snr" ;;
    x0) opts="--prediction x0" ;;
    v-cosine) opts="--prediction v --lr-schedule cosine --warmup-steps 200" ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  echo "=== $v: $opts ($(date -u +%H:%M:%S))"
  # shellcheck disable=SC2086
  train_evaluate_sample "$root/$v" "$grids/$v.png" --recipe paper --config A --data mnist \
      --image-size 32 \
      --base-width 8 --no-attention --batch-size 32 --lr 1e-3 --ema-decay 0.995 \
      --epochs "$epochs" --steps-per-epoch "$spe" --sample-every 0 --keep 1 --seed 0 \
      --verbose 2 $opts
done
python scripts/recipe_table.py "$root" > docs/benchmarks/recipe_table.md
cat docs/benchmarks/recipe_table.md
