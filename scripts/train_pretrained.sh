#!/usr/bin/env bash
# The exact commands that trained the shipped models saved_models/mnist-d/ and saved_models/mnist-a/
# (see saved_models/README.md): the same recipe and budget for the alias-free D-1N and the baseline
# A, so that `keras-aliasfree demo` can show what alias-free buys on the same seed.
# Recipe (chosen by scripts/recipe_comparison.sh, docs/benchmarks/recipe.md): v-prediction with
# min-SNR-5 loss weighting; 32x32 MNIST, base width 8, no attention (so it trains on 2 CPU cores),
# batch 32, AdamW lr 1e-3 (constant), EMA 0.995, 48 epochs of 375 steps (18,000 steps, 9.6 passes
# over MNIST; D-1N about 2.3 h, A about 50 min on 2 cores). Resumable: rerunning continues an
# interrupted run (the shipped pair was trained in three sittings: epochs 1-12, 13-24, 25-48).
# Then it exports both with Heun, 10 steps, fixed in the export (into saved_models/: that replaces
# the shipped models; they were first exported with DDIM eta 1, then re-exported from their own
# weights with scripts/reexport_preset.py, docs/SAMPLING.md).
# EPOCHS=24 stops at the 9,000-step budget of the first retrain.
# LR_SCHEDULE=cosine: 24 epochs with a 200-step linear warmup and cosine decay of the lr to 0 by the
# last step, into runs/pretrained2/ (measured against the constant lr at the same 9,000 steps:
# docs/benchmarks/recipe.md, "Learning-rate schedule at the shipped budget").
# e: the orientation-equivariant E (C_4, 4 fields = 16 channels in the first block, "up" input) with
# the same recipe for 36 epochs (13,500 steps), half of each batch turned by random angles with "up"
# turned with them (--up-augment 0.5), exported with --rotation-mode once (saved_models/mnist-e;
# docs/EQUIVARIANT.md). UP_AUGMENT=0 trains the upright-only E4 the first mnist-e was.
# e8: the same for C_8 with as many channels (2 fields x 8 = 16 in the first block), into
# runs/mnist_e8_pretrained and its export into runs/mnist_e8_saved_model (not shipped;
# docs/EQUIVARIANT.md, "C_8 against C_4"). KERNEL_TAPER=1.5 windows its steerable kernels
# (--kernel-taper) and trains into runs/mnist_e8t_pretrained instead (not trained yet).
# Usage: bash scripts/train_pretrained.sh [d|a|both|e|e8]   (from the repository root; data in
#        ../shared/data)
set -eu
export KERAS_BACKEND=tensorflow
export KERAS_ALIASFREE_DATA_DIR="${KERAS_ALIASFREE_DATA_DIR:-../shared/data}"
which="${1:-both}"
schedule="${LR_SCHEDULE:-constant}"
recipe=(--data mnist --image-size 32 --base-width 8 --no-attention --batch-size 32 --lr 1e-3
        --ema-decay 0.995 --prediction v --loss-weighting min_snr
        --steps-per-epoch 375 --sample-every 4 --keep 2 --seed 0 --verbose 2)
case "$schedule" in
  constant) recipe+=(--epochs "${EPOCHS:-48}")
            d_run=runs/mnist_d_pretrained; a_run=runs/mnist_a_pretrained ;;
  cosine) recipe+=(--epochs "${EPOCHS:-24}" --lr-schedule cosine --warmup-steps 200)
          d_run=runs/pretrained2/mnist-d; a_run=runs/pretrained2/mnist-a ;;
  *) echo "LR_SCHEDULE must be constant or cosine, got $schedule" >&2; exit 2 ;;
esac
train() {  # config run_dir saved_model_dir [more train flags, overriding the recipe's]
  local resume=() config=$1 run=$2 out=$3
  shift 3
  [ -d "$run/checkpoints" ] && resume=(--resume)
  keras-aliasfree train --config "$config" "${recipe[@]}" "$@" "${resume[@]}" --out "$run"
  if [ "$config" = E ] || [ "$config" = E8 ]; then
    keras-aliasfree export --checkpoint "$run" --out "$out" --overwrite --eta 1 --rotation-mode once
  else
    keras-aliasfree export --checkpoint "$run" --out "$out" --overwrite --sampler heun --steps 10
  fi
}
if [ "$which" = d ] || [ "$which" = both ]; then
  train D-1N "$d_run" saved_models/mnist-d
fi
if [ "$which" = a ] || [ "$which" = both ]; then
  train A "$a_run" saved_models/mnist-a
fi
if [ "$which" = e ]; then
  train E runs/mnist_e_pretrained saved_models/mnist-e --base-width 4 --epochs "${EPOCHS:-36}" \
      --checkpoint-every 500 --up-augment "${UP_AUGMENT:-0.5}"
fi
if [ "$which" = e8 ]; then
  taper=${KERNEL_TAPER:+t}
  train E8 "runs/mnist_e8${taper}_pretrained" "runs/mnist_e8${taper}_saved_model" --base-width 2 \
      --epochs "${EPOCHS:-36}" --checkpoint-every 500 --up-augment "${UP_AUGMENT:-0.5}" \
      ${KERNEL_TAPER:+--kernel-taper "$KERNEL_TAPER"}
fi
