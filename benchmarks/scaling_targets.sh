#!/usr/bin/env bash
# Every figure of the "Image size" table in docs/BENCHMARKS.md, in one command:
#   bash benchmarks/scaling_targets.sh
# 1. cost against image size: the ops at 32-256 px, FilteredActivation vs GELU at the paper's
#    (16, 32, 32, 64) with the dense plan and small-window banded ones, per-kernel cost, the
#    library's plan vs impl="ref", UNets at 64 and 128 px, all installed backends
#    -> docs/benchmarks/resample_scaling.md;
# 2. the paper-size UNet training step, A, D-1N (the preset filters; also built with
#    impl="axes", i.e. without the one-matrix plan of small images) and D-6N-k12 (12x12
#    flat-passband rank-2 filters) side by side per backend -> docs/benchmarks/unet_step.md.
# Run on a quiet machine: the ratios are side by side, but heavy load still skews them.
# `bash benchmarks/targets.sh` is the longer run (sampling, peak memory, the PyTorch reference).
# Extra arguments (e.g. --quick, --backends jax) go to both commands.
set -eu
cd "$(dirname "$0")/.."
python benchmarks/resample_scaling.py "$@"
python benchmarks/unet_perf.py --only train --no-ref --configs D-1N:axes,D-6N-k12 \
  --out docs/benchmarks/unet_step.md "$@"
