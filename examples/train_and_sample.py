"""Train a small alias-free diffusion model (config D-1N) and sample it, turned by 90 degrees.

Runs on any Keras backend in a few minutes of CPU with the defaults below (tiny UNet, 16x16
MNIST, short schedule); the images are rough after so little training. For the paper's setting
use ``keras-aliasfree train --config D-1N --data mnist --epochs 100`` (see docs/TRAINING.md).

    KERAS_ALIASFREE_DATA_DIR=../shared/data python examples/train_and_sample.py
"""

import keras
import numpy as np

from keras_aliasfree import save_grid
from keras_aliasfree.data import load_numpy
from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule, TrainingCheckpoint
from keras_aliasfree.unet import build_unet

SIZE = 16
keras.utils.set_random_seed(0)
try:
    x, _ = load_numpy("mnist", "train", image_size=SIZE, channels=1, limit=4096)
except Exception as e:  # no MNIST files: generated blobs so the example still runs
    print(f"MNIST not available ({e}); training on generated blobs")
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    c = np.random.default_rng(0).uniform(4, 12, size=(4096, 2))
    r2 = (yy[None] - c[:, :1, None]) ** 2 + (xx[None] - c[:, 1:, None]) ** 2
    x = (2 * np.exp(-r2 / 16.0) - 1)[..., None].astype("float32")

# 1. the UNet: config D (alias-free resampling + filtered GELU), Kaiser beta 1, normalised kernel
unet = build_unet("D-1N", image_size=SIZE, channels=1, base_width=16, channel_mults=(1, 2, 2),
                  bottleneck_mult=2, attention=(False, True, False, False), time_dim=64)
print(f"{unet.count_params():,} parameters")

# 2. the diffusion model: trained with compile + fit like any Keras model
model = DiffusionModel(unet, NoiseSchedule(timesteps=200), ema_decay=0.99, seed=0)
model.compile(optimizer=keras.optimizers.AdamW(1e-3))
model.fit(x, batch_size=32, epochs=3,
          callbacks=[TrainingCheckpoint("runs/example_d1n", sample_every=0)])

# 3. sample: plain, and turned by 90 degrees during the reverse process (same seed)
plain = model.sample(16, sampler="ddpm", seed=1)
turned = model.sample(16, sampler="ddpm", seed=1, rotation=90)
save_grid(plain, "runs/example_d1n/plain.png")
save_grid(turned, "runs/example_d1n/rotated_90.png")

# 4. reload from the checkpoint (EMA weights) and sample with DDIM
again = DiffusionModel.from_checkpoint("runs/example_d1n")
print(again.sample(4, sampler="ddim", steps=50, seed=1).shape)
print("wrote runs/example_d1n/plain.png and rotated_90.png")
