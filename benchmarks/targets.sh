#!/usr/bin/env bash
# Every figure of the "Performance targets" table in docs/BENCHMARKS.md, in one command:
#   bash benchmarks/targets.sh
# 1. the ops (FilteredActivation vs GELU; up/down vs impl="ref", bilinear, max-pool), all
#    installed backends -> docs/benchmarks/ops.md;
# 2. the UNet (D-1N/A training step, the plain-PyTorch reference A, peak RSS, sampling with and
#    without rotation), all backends -> docs/benchmarks/unet_perf.md (the longest part);
# 3. cost against image size (the ops at 32-256 px, UNets at 64 and 128 px), all backends
#    -> docs/benchmarks/resample_scaling.md.
# Run on a quiet machine: the ratios are side by side, but heavy load still skews them.
# Extra arguments (e.g. --quick, --backends jax) go to every command.
set -eu
cd "$(dirname "$0")/.."
python benchmarks/ops.py "$@"
python benchmarks/unet_perf.py "$@"
python benchmarks/resample_scaling.py "$@"
