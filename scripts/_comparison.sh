# Shared by scripts/recipe_comparison.sh, scripts/equivariance_comparison.sh and
# scripts/paper_comparison.sh (sourced, not run): the environment, and one variant's resumable
# train -> evaluate once -> 16-sample grid.
set -eu
export KERAS_BACKEND="${KERAS_BACKEND:-tensorflow}"
export KERAS_ALIASFREE_DATA_DIR="${KERAS_ALIASFREE_DATA_DIR:-../shared/data}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

# evaluated RUN_DIR: RUN_DIR/evaluation.json exists, scored the run's latest checkpoint, and its
# rotation consistency comes from a sampler that turns the fresh noise (rotation_noise_turned)
evaluated() {
  [ -f "$1/evaluation.json" ] && [ -f "$1/checkpoints/latest" ] \
      && grep -q "\"checkpoint\": \".*/$(cat "$1/checkpoints/latest")\"" "$1/evaluation.json" \
      && grep -q '"rotation_noise_turned": true' "$1/evaluation.json"
}

# train_evaluate_sample RUN_DIR GRID_PNG TRAIN_ARGS...; evaluate's arguments (--data among them)
# come from the array eval_args. A finished run or evaluation is skipped; an interrupted run
# resumes; a run trained further since its evaluation is evaluated again, and its grid redrawn.
train_evaluate_sample() {
  local out=$1 grid=$2 start resume=()
  shift 2
  [ -d "$out/checkpoints" ] && resume=(--resume)
  start=$(date +%s)
  keras-aliasfree train "$@" "${resume[@]}" --out "$out" >> "$out.train.log" 2>&1
  echo "$(basename "$out") trained in $(( $(date +%s) - start )) s (this call)" \
      | tee -a "$out.train.log"
  if ! evaluated "$out"; then
    keras-aliasfree evaluate --checkpoint "$out" "${eval_args[@]}" \
        --json "$out/evaluation.json" --quiet > "$out.eval.log" 2>&1
  fi
  if [ ! "$grid" -nt "$out/evaluation.json" ]; then
    mkdir -p "$(dirname "$grid")"
    keras-aliasfree sample --checkpoint "$out" --num 16 --steps 20 --eta 1 --seed 0 \
        --out "$grid" > /dev/null 2>&1
  fi
}
