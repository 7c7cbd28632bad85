#!/usr/bin/env bash
# Every figure of the issue-7 target table in docs/BENCHMARKS.md, in one command:
#   bash benchmarks/targets.sh
# 1. the ops (FilteredActivation vs GELU; up/down vs the naive algorithm, bilinear, max-pool),
#    all installed backends -> docs/benchmarks/ops.md (a few minutes);
# 2. the UNet (D-1N/A training step, the plain-PyTorch reference A, peak RSS, sampling with and
#    without rotation), all backends -> docs/benchmarks/unet_perf.md (30-60 minutes on 2 cores);
# 3. cost against image size (issue 16: the ops at 32-256 px, UNets at 64 and 128 px), all
#    backends -> docs/benchmarks/resample_scaling.md (about 10 minutes).
# Run on a quiet machine: the ratios are side by side, but heavy load still skews them.
set -eu
cd "$(dirname "$0")/.."
python benchmarks/ops.py "$@"
python benchmarks/unet_perf.py
python benchmarks/resample_scaling.py
