"""Where in the spectrum does an exported denoiser miss the noise?  (TensorFlow only)

Noises 64 real MNIST test images to x_t, asks the SavedModel's ``denoise`` signature for the noise,
and splits the residual energy |eps_hat - eps|^2 by radial frequency r (r = 1 at the Nyquist
frequency along an axis; r > 1 are the corners of the square spectrum, outside the circle a
radial low-pass keeps).

Usage:
    KERAS_ALIASFREE_DATA_DIR=../shared/data python scripts/denoiser_residual_spectrum.py \
        saved_models/mnist-d
"""

import sys

import numpy as np
import tensorflow as tf

from keras_aliasfree.data import load_numpy
from keras_aliasfree.export import read_export_info

path = sys.argv[1] if len(sys.argv) > 1 else "saved_models/mnist-d"
info = read_export_info(path)
h, w, c = info["image_shape"]
sched = info["schedule"]
T = sched["timesteps"]
betas = np.linspace(sched["beta_start"], sched["beta_end"], T)  # linear schedule
ab = np.cumprod(1.0 - betas)
x0, _ = load_numpy("mnist", split="test", image_size=h, limit=64)
if info.get("band_limit") == "disc":  # the model's data: low-passed to the disc (DiffusionModel)
    from keras_aliasfree.diffusion import DATA_TAPER
    from keras_aliasfree.transforms import disc_lowpass

    x0 = np.asarray(disc_lowpass(x0, taper=DATA_TAPER))
model = tf.saved_model.load(path)
fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
r = np.sqrt(fx**2 + fy**2) / 0.5
bands = {"r<0.5": r < 0.5, "0.5<=r<=1": (r >= 0.5) & (r <= 1), "r>1 (corners)": r > 1}
rng = np.random.default_rng(0)
print(f"{path}: residual energy / noise energy per band, and the residual's share per band")
print("| t | MSE | " + " | ".join(f"missed {k}" for k in bands) + " | "
      + " | ".join(f"share {k}" for k in bands) + " |")
for t in (20, 200, 500, 800):
    eps = rng.normal(size=x0.shape).astype("float32")
    xt = (np.sqrt(ab[t]) * x0 + np.sqrt(1 - ab[t]) * eps).astype("float32")
    pred = model.signatures["denoise"](noisy_images=tf.constant(xt),
                                       timesteps=tf.constant([t] * len(xt), tf.int32))["noise"]
    res = pred.numpy() - eps
    P = (np.abs(np.fft.fft2(res[..., 0], axes=(1, 2))) ** 2).mean(0)
    E = (np.abs(np.fft.fft2(eps[..., 0], axes=(1, 2))) ** 2).mean(0)
    missed = [P[m].sum() / E[m].sum() for m in bands.values()]
    share = [P[m].sum() / P.sum() for m in bands.values()]
    print(f"| {t} | {np.mean(res ** 2):.3f} | " + " | ".join(f"{v:.2f}" for v in missed)
          + " | " + " | ".join(f"{v:.2f}" for v in share) + " |")
