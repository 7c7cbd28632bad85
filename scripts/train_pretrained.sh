#!/usr/bin/env bash
# The exact command that trained the shipped model saved_models/mnist-d/ (see saved_models/README.md).
# Config D-1N (alias-free up/down + filtered GELU, Kaiser beta 1, normalised, default filters, so
# the band limit resolves to "disc": see DiffusionModel), 32x32 MNIST, small widths (base width 8,
# no attention) so that it trains on 2 CPU cores. 24 epochs of 375 steps of 32 images
# (9,000 steps, 4.8 passes over the 60,000 training images). Export with
#   KERAS_BACKEND=tensorflow keras-aliasfree export --checkpoint runs/mnist_d1n_pretrained \
#       --out saved_models/mnist-d --overwrite
# Usage: bash scripts/train_pretrained.sh   (from the repository root; data in ../shared/data)
set -eu
export KERAS_BACKEND=tensorflow
export KERAS_ALIASFREE_DATA_DIR="${KERAS_ALIASFREE_DATA_DIR:-../shared/data}"
exec keras-aliasfree train --config D-1N --data mnist --image-size 32 \
    --base-width 8 --no-attention --batch-size 32 --lr 1e-3 --ema-decay 0.995 \
    --epochs 24 --steps-per-epoch 375 --sample-every 4 --keep 3 --seed 0 --verbose 2 \
    --out runs/mnist_d1n_pretrained "$@"
