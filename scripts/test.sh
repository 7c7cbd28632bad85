#!/usr/bin/env bash
# Run the test suite once per Keras backend: TensorFlow, JAX, PyTorch.
# Tests marked tf_only (tf.data pipelines, SavedModel export) run only under TensorFlow.
# The backends run as separate processes, KERAS_ALIASFREE_TEST_JOBS at a time (default 2: much of a
# test's time is single-threaded tracing and compiling, so two suites share two cores well); each
# backend's output is printed in one piece when it ends. KERAS_ALIASFREE_TEST_JOBS=1 runs them one
# after another with live output.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -u
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
backends="${KERAS_ALIASFREE_TEST_BACKENDS:-tensorflow jax torch}"
jobs="${KERAS_ALIASFREE_TEST_JOBS:-2}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

run_backend() {  # backend -> exit status of its pytest
  local backend=$1
  if [ "$backend" = tensorflow ]; then
    KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider "${@:2}"
  else
    KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider -m "not tf_only" "${@:2}"
  fi
}

failed=""
if [ "$jobs" -le 1 ]; then
  for backend in $backends; do
    echo "=== KERAS_BACKEND=$backend ==="
    run_backend "$backend" "$@"
    rc=$?
    if [ $rc -ne 0 ]; then failed="$failed $backend(rc=$rc)"; fi
  done
else
  pending="$backends"; running=""
  while [ -n "$pending$running" ]; do
    # start backends while fewer than $jobs run
    while [ -n "$pending" ] && [ "$(echo $running | wc -w)" -lt "$jobs" ]; do
      b="${pending%% *}"; [ "$b" = "$pending" ] && pending="" || pending="${pending#* }"
      echo "--- starting KERAS_BACKEND=$b ($(date -u +%H:%M:%S))"
      ( run_backend "$b" "$@"; echo $? > "$logs/$b.rc" ) > "$logs/$b.log" 2>&1 &
      running="$running $b"
    done
    sleep 2
    still=""
    for b in $running; do
      if [ -f "$logs/$b.rc" ]; then
        rc=$(cat "$logs/$b.rc")
        echo "=== KERAS_BACKEND=$b (finished $(date -u +%H:%M:%S), exit $rc) ==="
        cat "$logs/$b.log"
        if [ "$rc" -ne 0 ]; then failed="$failed $b(rc=$rc)"; fi
      else
        still="$still $b"
      fi
    done
    running="$still"
  done
fi
if [ -n "$failed" ]; then
  echo "FAILED on:$failed"
  exit 1
fi
echo "all backends passed: $backends"
