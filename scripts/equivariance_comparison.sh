#!/usr/bin/env bash
# A trained comparison: what makes a trained UNet rotation-equivariant. The same recipe and
# budget for every variant (the shipped models' recipe, scripts/train_pretrained.sh: v-prediction,
# min-SNR-5, 32x32 MNIST, base width 8, no attention, batch 32, AdamW 1e-3, EMA 0.995), fewer
# steps. Variants:
#   A        the baseline (max-pool, bilinear, GELU, free 3x3 convs)
#   A-iso    A with isotropic 3x3 convs (--conv isotropic)
#   D12      D with the flat-passband 12x12 beta-4 jinc (--config D --kernel-size 12)
#   D12-iso  D12 with isotropic 3x3 convs
#   D1N      D-1N, the shipped model's config (8x8, beta 1)
#   B12-iso, C12-iso   which half of D12-iso fails to draw: the alias-free resampling alone (B) or
#            the filtered activations alone (C), with isotropic convs
#   D12-iso-nbl  D12-iso trained without the band limit (--band-limit none)
#   <variant>-x0  any of them predicting x0 instead of v (--prediction x0): eps_hat = (x_t -
#            sqrt(alpha_bar) x0_hat) / sigma carries x_t's top octave to the output by itself
# Resumable: a finished run or evaluation is skipped; an interrupted run resumes.
# Results: runs/eqcmp/<variant>-s<seed>/evaluation.json; table: scripts/eq_table.py.
# ROOT= and GRIDS= put another budget's runs and grids elsewhere (default runs/eqcmp,
# docs/benchmarks/eqcmp), e.g. ROOT=runs/eqcmp_long GRIDS=docs/benchmarks/eqcmp_long ... 375 12 A-s0
# Usage: bash scripts/equivariance_comparison.sh [STEPS_PER_EPOCH] [EPOCHS] [variant-sSEED ...]
#   defaults: 375 x 4 (1,500 steps); A-s0 D12-iso-s0 A-iso-s0 D12-s0 A-s1 D12-iso-s1 A-iso-s1 D12-s1
. "$(dirname "$0")/_comparison.sh"
spe="${1:-375}"; epochs="${2:-4}"; shift $(( $# > 2 ? 2 : $# ))
runs="${*:-A-s0 D12-iso-s0 A-iso-s0 D12-s0 A-s1 D12-iso-s1 A-iso-s1 D12-s1}"
root="${ROOT:-runs/eqcmp}"; grids="${GRIDS:-docs/benchmarks/eqcmp}"
mkdir -p "$root" "$grids"
# the sampler the shipped SavedModel uses: DDIM 20 steps, eta 1
eval_args=(--data mnist --num 500 --steps 20 --eta 1 --rotated-fd-angle 0 --eq-num 16)
for run in $runs; do
  variant="${run%-s*}"; seed="${run##*-s}"
  pred=v
  case "$variant" in *-x0) pred=x0; variant="${variant%-x0}" ;; esac
  case "$variant" in
    A) opts="--config A" ;;
    A-iso) opts="--config A --conv isotropic" ;;
    D12) opts="--config D --kernel-size 12" ;;
    D12-iso) opts="--config D --kernel-size 12 --conv isotropic" ;;
    D1N) opts="--config D-1N" ;;
    D1N-iso) opts="--config D-1N --conv isotropic" ;;
    B12-iso) opts="--config B --kernel-size 12 --conv isotropic" ;;
    C12-iso) opts="--config C --kernel-size 12 --conv isotropic" ;;
    D12-iso-nbl) opts="--config D --kernel-size 12 --conv isotropic --band-limit none" ;;
    *) echo "unknown variant $variant" >&2; exit 2 ;;
  esac
  echo "=== $run: $opts seed $seed ($(date -u +%H:%M:%S))"
  # shellcheck disable=SC2086
  train_evaluate_sample "$root/$run" "$grids/$run.png" $opts --data mnist --image-size 32 \
      --base-width 8 --no-attention --batch-size 32 --lr 1e-3 --ema-decay 0.995 --prediction "$pred" \
      --loss-weighting min_snr --epochs "$epochs" --steps-per-epoch "$spe" --sample-every 0 \
      --keep 1 --seed "$seed" --verbose 2
done
