#!/usr/bin/env bash
# The paper's comparison grid (arXiv 2411.09174, configs A-D) at this machine's scale,
# resumable, written cell by cell. Table and plots: scripts/results_table.py -> docs/RESULTS.md.
#
# Variants (names give the flags; any other name of these forms works too):
#   A              the baseline (max-pool, bilinear, plain GELU)
#   B-1N C-1N D-1N the paper's filters: --filter-preset paper = 3x3 jinc, separable Kaiser window
#                  with the name's beta, cutoff pi/2, N = normalised (a bare --config D-1N would
#                  build this library's 8x8 radial jinc; --kernel-size 3 alone would keep the
#                  radial window and the rank rule, so the preset is what gives the paper's kernel)
#   B-6N-k12 ...   the library's best filters: --config B-6N --kernel-size 12 --filter-rank 2, the
#                  12x12 beta-6 Kaiser-jinc, flat to 0.5 pi (docs/DESIGN_NOTES.md)
# Cells: every variant on MNIST (seeds 0 and 1), MNIST-M and the CIFAR-10 subset (seed 0), plus
# EXTRA_CELLS (default mnist_m/D-2N-s0, the paper's MNIST-M config): 29 cells.
# Recipe of the shipped models (scripts/train_pretrained.sh): v-prediction, min-SNR-5, 32x32,
# base width 8, no attention, batch 32, AdamW 1e-3, EMA 0.995; the same STEPS for every cell.
# MNIST-M has only its test split here (9,001 images): its models train on it and are scored
# against it. The MNIST-M and CIFAR-10 feature extractors are classifiers trained once by this
# script with `keras-aliasfree train-classifier` (ROOT/classifiers/<data>/classifier.json holds
# their test accuracy); MNIST uses the shipped saved_models/mnist-classifier.
# Per cell (ROOT/<dataset>/<variant>-s<seed>/): the run (a checkpoint per epoch), evaluation.json (FD, KID, IS on NUM
# samples of DDIM-20 eta 1; the same at 45 deg vs rotated data; raw EQ-T/EQ-T_frac/EQ-R at
# t=500; EQ-R exact and on the disc at t=100/500/900; rotation consistency at 30/60/90 deg with
# the fft and the bilinear rotation), cell.json, logs beside it (<cell>.train.log holds the step
# times); in ASSETS/<dataset>/: <cell>.png (16 samples, seed 0), <cell>-rotation.png (4 samples
# of seed 0 turned -90..90 by 30 deg, a row each), for MNIST <cell>-samples.npz (the NUM scored
# samples, uint8, compressed). After the cells: FD / KID / IS of every earlier epoch's checkpoint
# (fd_curve/, the FD-vs-steps plot; ~1-2 min per checkpoint; CURVE=0 skips it).
# Default budget: STEPS=3000 per cell (8 epochs of 375 steps, 1.6 passes over MNIST; the shipped
# models have 11,250). On 2 free CPU cores a step of this width costs ~300 ms for A and D alike
# (scripts/equivariance_comparison.sh's logs; about twice that while another training shares the
# cores): ~15 min of training and ~3 min of evaluation per cell, ~9 h for the 29 cells. Run it in
# chunks: CHUNK_SECONDS=6300 stops starting new cells after 1 h 45 min (so a chunk ends near 2 h);
# rerunning continues: a finished cell is skipped, an interrupted run resumes from its last epoch
# (at most one epoch of 375 steps is lost), a failed cell is recorded in <cell>.status and retried.
# STEPS=1500 halves the training time.
#
# Usage: bash scripts/paper_comparison.sh [STEPS] [CELL ...]     (from anywhere; runs in the repo)
#   CELL: dataset/variant-sSEED, shell patterns allowed (mnist/A-s0, 'cifar10/*', '*/D-*');
#   default: the whole grid. Environment (defaults): ROOT=runs/paper ASSETS=docs/results
#   GRID="mnist:0,1 cifar10:0 mnist_m:0" VARIANTS="A D-1N D-6N-k12 B-1N C-1N B-6N-k12 C-6N-k12"
#   EXTRA_CELLS=mnist_m/D-2N-s0 SPE=375 (steps per epoch = checkpoint interval) NUM=1000
#   CLF_EPOCHS=10 CLF_LIMIT= (classifier images) CHUNK_SECONDS=0 (no limit)
#   ROTATION_NUM=16 EQ_NUM=16 KID_SUBSETS=100 EVAL_STEPS=20
#   RESULTS_MD=docs/RESULTS.md (with another ROOT: ROOT/RESULTS.md)
# After each cell the script runs scripts/results_table.py, which writes the page and keeps every
# complete cell's figures in ASSETS/<dataset>/<cell>.json: commit ASSETS, and the table survives
# the loss of ROOT (runs/ is not committed). By hand:
#   python scripts/results_table.py --root "$ROOT" --assets "$ASSETS"
cd "$(dirname "$0")/.."
. scripts/_comparison.sh
steps="${1:-3000}"; [ $# -gt 0 ] && shift
patterns=("$@"); [ ${#patterns[@]} -eq 0 ] && patterns=("*")
root="${ROOT:-runs/paper}"; assets="${ASSETS:-docs/results}"
grid="${GRID:-mnist:0,1 cifar10:0 mnist_m:0}"
variants="${VARIANTS:-A D-1N D-6N-k12 B-1N C-1N B-6N-k12 C-6N-k12}"
extra="${EXTRA_CELLS-mnist_m/D-2N-s0}"
spe="${SPE:-375}"; num="${NUM:-1000}"; chunk="${CHUNK_SECONDS:-0}"
results_md="${RESULTS_MD:-docs/RESULTS.md}"
[ "$root" = runs/paper ] || results_md="${RESULTS_MD:-$root/RESULTS.md}"
[ "$steps" -lt "$spe" ] && spe=$steps
epochs=$(( (steps + spe - 1) / spe ))
[ $(( epochs * spe )) -ne "$steps" ] \
    && echo "STEPS $steps is not a multiple of SPE $spe: training $(( epochs * spe )) steps"
recipe=(--image-size 32 --base-width 8 --no-attention --batch-size 32 --lr 1e-3 --ema-decay 0.995
        --prediction v --loss-weighting min_snr --epochs "$epochs" --steps-per-epoch "$spe"
        --sample-every 0 --keep "$epochs" --verbose 2)  # every epoch's checkpoint: the FD curve
# the sampler the shipped SavedModel uses: DDIM 20 steps, eta 1; KID subsets of half the samples
common_eval=(--num "$num" --steps "${EVAL_STEPS:-20}" --eta 1 --seed 0 --rotated-fd-angle 45
             --angles 30,60,90 --rotation-num "${ROTATION_NUM:-16}" --rotation-method fft
             --consistency-methods fft,bilinear --eq-num "${EQ_NUM:-16}"
             --kid-subsets "${KID_SUBSETS:-100}" --kid-subset-size $(( num / 2 > 1 ? num / 2 : 2 )))

variant_flags() {  # variant -> train flags; fails on a name it does not know
  case "$1" in
    A) echo "--config A" ;;
    [BCD]-*-k*) [[ "$1" =~ ^[BCD]-[0-9.]+N?-k[0-9]+$ ]] || return 1
                echo "--config ${1%-k*} --kernel-size ${1##*-k} --filter-rank 2" ;;
    [BCD]-*) [[ "$1" =~ ^[BCD]-[0-9.]+N?$ ]] || return 1
             echo "--config $1 --filter-preset paper" ;;
    *) return 1 ;;
  esac
}
data_flags() {  # dataset -> train flags
  case "$1" in
    mnist|cifar10) echo "--data $1" ;;
    mnist_m) echo "--data mnist_m --split test" ;;
    *) return 1 ;;
  esac
}
extractor() {  # dataset -> feature extractor (trains the classifier once, resumably)
  if [ "$1" = mnist ]; then echo saved_models/mnist-classifier; return; fi
  local dir="$root/classifiers/$1" split=()
  if [ ! -f "$dir/classifier.json" ]; then
    [ "$1" = mnist_m ] && split=(--train-split test --holdout 0.2)
    echo "=== classifier for $1 -> $dir ($(date -u +%H:%M:%S))" >&2
    mkdir -p "$dir"
    keras-aliasfree train-classifier --data "$1" --out "$dir" --epochs "${CLF_EPOCHS:-10}" \
        ${CLF_LIMIT:+--limit "$CLF_LIMIT"} "${split[@]}" --seed 0 > "$dir.log" 2>&1 || return 1
    tail -n 1 "$dir.log" >&2
  fi
  echo "$dir"
}

# the cells, seed 0 of every dataset first (a partial grid compares configs early)
cells=()
for pass in first rest; do
  for entry in $grid; do
    dataset="${entry%%:*}"
    IFS=, read -r -a seeds <<< "${entry#*:}"
    for i in "${!seeds[@]}"; do
      { [ "$pass" = first ] && [ "$i" -ne 0 ]; } && continue
      { [ "$pass" = rest ] && [ "$i" -eq 0 ]; } && continue
      for v in $variants; do cells+=("$dataset/$v-s${seeds[$i]}"); done
    done
  done
done
for c in $extra; do cells+=("$c"); done
for c in "${cells[@]}"; do  # check every name before any work
  v="${c#*/}"; v="${v%-s*}"
  variant_flags "$v" > /dev/null && data_flags "${c%%/*}" > /dev/null \
      || { echo "unknown cell $c (dataset or variant)" >&2; exit 2; }
done

# the grid's command: the settings that differ from the defaults, not this call's cell patterns
command="bash scripts/paper_comparison.sh $steps"
for var in EXTRA_CELLS VARIANTS GRID NUM SPE EVAL_STEPS ROTATION_NUM EQ_NUM KID_SUBSETS CLF_LIMIT \
           CLF_EPOCHS ASSETS ROOT; do
  [ -n "${!var+x}" ] && command="$var=$(printf %q "${!var}") $command"
done
mkdir -p "$root"
python - "$root/grid.json" "$(( epochs * spe ))" "$spe" "$num" "${EVAL_STEPS:-20}" "$assets" \
    "$command" "${cells[@]}" <<'EOF'
import json, sys, time
path, steps, spe, num, eval_steps, assets, command, *cells = sys.argv[1:]
json.dump({"cells": cells, "steps": int(steps), "steps_per_epoch": int(spe), "num": int(num),
           "eval_steps": int(eval_steps), "assets": assets, "command": command,
           "written": time.strftime("%Y-%m-%d %H:%M:%S")}, open(path, "w"), indent=2)
EOF

run_cell() {  # dataset variant seed
  local dataset=$1 variant=$2 seed=$3 name="$2-s$3" out ext started=$SECONDS
  out="$root/$dataset/$name"
  mkdir -p "$root/$dataset" "$assets/$dataset"
  ext=$(extractor "$dataset")
  eval_args=($(data_flags "$dataset") --extractor "$ext" "${common_eval[@]}")
  [ "$dataset" = mnist_m ] || eval_args+=(--split train)
  [ "$dataset" = mnist ] && eval_args+=(--save-samples "$assets/$dataset/$name-samples.npz")
  # shellcheck disable=SC2046
  train_evaluate_sample "$out" "$assets/$dataset/$name.png" $(variant_flags "$variant") \
      $(data_flags "$dataset") "${recipe[@]}" --seed "$seed"
  if [ ! "$assets/$dataset/$name-rotation.png" -nt "$out/evaluation.json" ]; then
    keras-aliasfree sample --checkpoint "$out" --num 4 --rotation 90 --frames 7 --steps 20 \
        --eta 1 --seed 0 --out "$assets/$dataset/$name-rotation.png" > /dev/null 2>&1
  fi
  python - "$out/cell.json" "$dataset" "$variant" "$seed" "$(variant_flags "$variant")" \
      "$ext" "$(( SECONDS - started ))" <<'EOF'
import json, os, sys, time
path, dataset, variant, seed, flags, ext, seconds = sys.argv[1:]
json.dump({"dataset": dataset, "variant": variant, "seed": int(seed), "flags": flags,
           "extractor": ext, "seconds_this_call": int(seconds),
           "loadavg": os.getloadavg(), "finished": time.strftime("%Y-%m-%d %H:%M:%S")},
          open(path, "w"), indent=2)
EOF
}

cell_done() {  # run_dir asset_prefix: trained to the budget, evaluated, pictures drawn
  [ -f "$1/cell.json" ] && evaluated "$1" && [ "$2-rotation.png" -nt "$1/evaluation.json" ] \
      && grep -q "\"step\": $(( epochs * spe ))," \
          "$1/checkpoints/$(cat "$1/checkpoints/latest")/training_state.json"
}

selected() {  # cell: does it match one of this call's patterns
  local p
  for p in "${patterns[@]}"; do
    # shellcheck disable=SC2053
    [[ "$1" == $p ]] && return 0
  done
  return 1
}

failed=0
for c in "${cells[@]}"; do
  selected "$c" || continue
  if [ "$chunk" -gt 0 ] && [ "$SECONDS" -ge "$chunk" ]; then
    echo "CHUNK_SECONDS=$chunk used up; rerun the same command to continue"; break
  fi
  dataset="${c%%/*}"; name="${c#*/}"; variant="${name%-s*}"; seed="${name##*-s}"
  out="$root/$c"
  if cell_done "$out" "$assets/$c"; then echo "=== $c: done"; continue; fi
  echo "=== $c: $(variant_flags "$variant") $(data_flags "$dataset") seed $seed," \
       "$(( epochs * spe )) steps ($(date -u +%H:%M:%S))"
  mkdir -p "$root/$dataset"
  echo "running since $(date -u '+%Y-%m-%d %H:%M:%S') UTC" > "$out.status"
  set +e
  ( set -e; run_cell "$dataset" "$variant" "$seed" )
  rc=$?
  set -e
  if [ $rc -eq 0 ]; then
    rm -f "$out.status"
    # the cell's figures, committed beside its pictures ($assets/<cell>.json), and the page
    python scripts/results_table.py --root "$root" --assets "$assets" --out "$results_md" \
        | sed 's/^/    /' || echo "results_table.py failed; run it by hand" >&2
  else
    echo "failed (exit $rc) at $(date -u '+%Y-%m-%d %H:%M:%S') UTC; see $out.train.log," \
         "$out.eval.log" | tee "$out.status" >&2
    failed=$(( failed + 1 ))
  fi
done
# FD against training steps: every earlier checkpoint of the cells of this call, FD / KID / IS
# only (the same samples, sampler and seed as the cell's final figures), once each, after all
# cells (CURVE=0 skips it); written to <run>/fd_curve/<checkpoint>.json for results_table.py
if [ "${CURVE:-1}" != 0 ]; then
  for c in "${cells[@]}"; do
    out="$root/$c"
    { selected "$c" && cell_done "$out" "$assets/$c"; } || continue
    [ "$chunk" -gt 0 ] && [ "$SECONDS" -ge "$chunk" ] \
        && { echo "CHUNK_SECONDS=$chunk used up before the FD curves"; break; }
    dataset="${c%%/*}"; ext=$(extractor "$dataset")
    split=(); [ "$dataset" = mnist_m ] || split=(--split train)
    latest=$(cat "$out/checkpoints/latest"); curve_done=0
    for ck in "$out"/checkpoints/epoch_*; do
      name=$(basename "$ck")
      { [ "$name" = "$latest" ] || [ -f "$out/fd_curve/$name.json" ]; } && continue
      mkdir -p "$out/fd_curve"
      keras-aliasfree evaluate --checkpoint "$ck" $(data_flags "$dataset") "${split[@]}" \
          --extractor "$ext" --num "$num" --steps "${EVAL_STEPS:-20}" --eta 1 --seed 0 \
          --angles '' --rotated-fd-angle 0 --eq-timesteps '' --eq-num 2 \
          --kid-subsets "${KID_SUBSETS:-100}" --kid-subset-size $(( num / 2 > 1 ? num / 2 : 2 )) \
          --json "$out/fd_curve/$name.json.part" --quiet >> "$out.curve.log" 2>&1 \
          && mv "$out/fd_curve/$name.json.part" "$out/fd_curve/$name.json" \
          || { echo "FD curve of $c at $name failed; see $out.curve.log" >&2; break; }
      curve_done=1
    done
    [ $curve_done = 1 ] && echo "=== $c: FD curve ($(date -u +%H:%M:%S))" \
        && python scripts/results_table.py --root "$root" --assets "$assets" --out "$results_md" \
            | sed 's/^/    /'
  done
fi
echo "table: python scripts/results_table.py --root $root --assets $assets"
[ $failed -eq 0 ] || { echo "$failed cell(s) failed in this call (see their .status)" >&2; exit 1; }
