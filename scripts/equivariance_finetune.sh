#!/usr/bin/env bash
# Fine-tuning the shipped up-augmented E4 (saved_models/mnist-e, run runs/mnist_e_pretrained by
# scripts/train_pretrained.sh e) with the equivariance term (--equivariance-weight), against the same
# checkpoint trained on without it for about the same wall-clock (the term costs about one more
# forward and backward pass per step, so the control gets twice the steps). Both keep the shipped
# recipe (v-prediction, min-SNR-5, batch 32, AdamW 1e-3 constant after a 100-step warmup, EMA 0.995,
# half of each batch turned with up). Resumable: rerunning continues an interrupted run.
# Then: python benchmarks/rotation_agreement.py --equivariant runs/e4_eqft/eq --equivariant
# runs/e4_eqft/control (docs/EQUIVARIANT.md).
# Any E run can be the source: the C_8 comparison fine-tuned the E8 of `train_pretrained.sh e8`
# (TAG=e8_w4, then TAG=e8_w4_w4 from runs/e4_eqft/e8_w4; docs/EQUIVARIANT.md).
# The source may also be a preset or an export (mnist-e: the shipped weights, EMA as raw and EMA).
# The term spent on middle timesteps against the same term over all t, from the shipped model at
# equal steps (docs/EQUIVARIANT.md): STEPS=1125 WEIGHT=4 TAG=mid_w4 TIMESTEPS=250:750 bash
# scripts/equivariance_finetune.sh eq mnist-e, and STEPS=1125 WEIGHT=4 TAG=all_w4 ... eq mnist-e.
# Usage: bash scripts/equivariance_finetune.sh [eq|control|both] [source checkpoint or preset]
# Environment: STEPS (the equivariance run's steps, 2250), WEIGHT (the term's weight, 1),
# TAG (the equivariance run's folder under runs/e4_eqft, eq), TIMESTEPS (LOW:HIGH, the term's
# timesteps; default the main loss's).
set -eu
export KERAS_BACKEND=tensorflow
export KERAS_ALIASFREE_DATA_DIR="${KERAS_ALIASFREE_DATA_DIR:-../shared/data}"
which="${1:-both}"
source_ckpt="${2:-runs/mnist_e_pretrained}"
steps="${STEPS:-2250}"  # the equivariance run's steps; the control trains twice as many
common=(--data mnist --image-size 32 --batch-size 32 --lr 1e-3 --warmup-steps 100
        --ema-decay 0.995 --prediction v --loss-weighting min_snr --up-augment 0.5
        --steps-per-epoch 375 --sample-every 2 --keep 2 --seed 1 --verbose 2
        --checkpoint-every 500 --init-from "$source_ckpt")
run() {  # out epochs [flags]
  local out=$1 epochs=$2 resume=()
  shift 2
  [ -d "$out/checkpoints" ] && resume=(--resume)
  keras-aliasfree train "${common[@]}" --epochs "$epochs" "$@" "${resume[@]}" --out "$out"
}
if [ "$which" = control ] || [ "$which" = both ]; then
  run runs/e4_eqft/control $(( 2 * steps / 375 ))
fi
if [ "$which" = eq ] || [ "$which" = both ]; then
  band=()
  [ -n "${TIMESTEPS:-}" ] && band=(--equivariance-timesteps "$TIMESTEPS")
  run "runs/e4_eqft/${TAG:-eq}" $(( steps / 375 )) --equivariance-weight "${WEIGHT:-1}" "${band[@]}"
fi
