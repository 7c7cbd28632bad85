#!/usr/bin/env bash
# The exact command that trained the shipped model saved_models/mnist-d/ (see saved_models/README.md).
# Config D-1N (alias-free up/down + filtered GELU, Kaiser beta 1, normalised, default filters),
# 32x32 MNIST, small widths (base width 8, no attention) so that it trains on 2 CPU cores.
# It runs up to 40 epochs of 375 steps (5 epochs = one pass over the 60,000 training images).
# The shipped model is epoch 7 (2,625 steps, 40 minutes on the shared 2-core machine): the run
# was stopped there for time and exported with
#   KERAS_BACKEND=tensorflow keras-aliasfree export --checkpoint runs/mnist_d1n_pretrained \
#       --out saved_models/mnist-d
# (see saved_models/README.md for its figures and its known problem).
# Usage: bash scripts/train_pretrained.sh   (from the repository root; data in ../shared/data)
set -eu
export KERAS_BACKEND=tensorflow
export KERAS_ALIASFREE_DATA_DIR="${KERAS_ALIASFREE_DATA_DIR:-../shared/data}"
exec keras-aliasfree train --config D-1N --data mnist --image-size 32 \
    --base-width 8 --no-attention --batch-size 32 --lr 1e-3 --ema-decay 0.995 \
    --epochs 40 --steps-per-epoch 375 --sample-every 4 --keep 3 --seed 0 --verbose 2 \
    --out runs/mnist_d1n_pretrained "$@"
