#!/usr/bin/env bash
# Run the test suite once per Keras backend: TensorFlow, JAX, PyTorch.
# Tests marked tf_only (tf.data pipelines, SavedModel export) run only under TensorFlow.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -u
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
backends="${KERAS_ALIASFREE_TEST_BACKENDS:-tensorflow jax torch}"
failed=""
for backend in $backends; do
  echo "=== KERAS_BACKEND=$backend ==="
  if [ "$backend" = tensorflow ]; then
    KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider "$@"
  else
    KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider -m "not tf_only" "$@"
  fi
  rc=$?
  if [ $rc -ne 0 ]; then failed="$failed $backend(rc=$rc)"; fi
done
if [ -n "$failed" ]; then
  echo "FAILED on:$failed"
  exit 1
fi
echo "all backends passed: $backends"
