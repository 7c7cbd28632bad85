#!/usr/bin/env bash
# Every figure of the issue-16 table in docs/BENCHMARKS.md ("Image size"), in one command:
#   bash benchmarks/scaling_targets.sh
# 1. cost against image size: the ops at 32-256 px (targets 1a, 1b), FilteredActivation vs GELU at
#    the paper's (16, 32, 32, 64) with the dense plan and small-window banded ones (target 2),
#    per-kernel cost (target 5), UNets at 64 and 128 px (target 4), all installed backends
#    -> docs/benchmarks/resample_scaling.md (10-15 minutes on 2 cores);
# 2. the paper-size UNet training step, A, D-1N (the preset filters; also built without the
#    one-matrix plan of small images) and D-6N-k12 (the 12x12 flat-passband rank-2 filters) side
#    by side per backend (targets 3a, 3b) -> docs/benchmarks/unet_step.md (about 10 minutes).
# Run on a quiet machine: the ratios are side by side, but heavy load still skews them.
# `bash benchmarks/targets.sh` is the longer issue-7 run (sampling, peak memory, the PyTorch
# reference) and also runs step 1.
set -eu
cd "$(dirname "$0")/.."
python benchmarks/resample_scaling.py
python benchmarks/unet_perf.py --no-rss --no-sampling --no-probe --no-ref --configs A,D-1N,D-1N:no-kron,D-6N-k12 \
  --out docs/benchmarks/unet_step.md
