"""Where in the spectrum does a denoiser miss the noise?

Noises 64 real MNIST test images to x_t (the same noise for every model), asks each model for the
noise, and splits the residual energy |eps_hat - eps|^2 by radial frequency r (r = 1 at the
Nyquist frequency along an axis; r > 1 are the corners of the square spectrum, outside the circle
a radial low-pass keeps): "missed" is the residual's energy in a band over the noise's energy there
(0 = the band's noise predicted exactly, 1 = as if eps_hat were 0 there).

Each PATH is a SavedModel directory (its ``denoise`` signature, TensorFlow only) or a training
checkpoint / run directory (``DiffusionModel.predict_noise`` with the EMA weights, any backend).

Usage:
    KERAS_ALIASFREE_DATA_DIR=../shared/data python scripts/denoiser_residual_spectrum.py \
        [PATH ...]        (default saved_models/mnist-d)
"""

import sys

import numpy as np

from keras_aliasfree.data import load_numpy

BANDS = ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0), (1.0, np.inf))
TIMESTEPS = (50, 200, 500, 800)


def noise_predictor(path):
    """``(predict(x_t, t) -> eps_hat, alpha_bars, image_size, band_limit)`` for either kind."""
    from keras_aliasfree.diffusion.checkpoint import is_checkpoint, latest_checkpoint_or_none

    if is_checkpoint(path) or latest_checkpoint_or_none(path):
        import os

        from keras_aliasfree.diffusion import DiffusionModel, find_checkpoint

        dm = DiffusionModel.from_checkpoint(path)
        # the EMA weights, which sample (and which the SavedModel exports)
        dm.denoiser.load_weights(os.path.join(find_checkpoint(path), "ema.weights.h5"))

        def predict(xt, t):
            return np.asarray(dm.predict_noise(xt, np.full((len(xt),), t, "int32")))

        return predict, np.asarray(dm.schedule.alpha_bars), dm.image_shape[0], dm.band_limit
    import tensorflow as tf

    from keras_aliasfree.diffusion import NoiseSchedule
    from keras_aliasfree.export import read_export_info

    info = read_export_info(path)
    model = tf.saved_model.load(path)

    def predict(xt, t):
        return model.signatures["denoise"](noisy_images=tf.constant(xt),
                                           timesteps=tf.constant([t] * len(xt), tf.int32))[
            "noise"].numpy()

    schedule = NoiseSchedule.from_config(info["schedule"])
    return predict, np.asarray(schedule.alpha_bars), info["image_shape"][0], info.get("band_limit")


def main(paths):
    names = [f"{lo:g}-{hi:g}" if np.isfinite(hi) else f">{lo:g} (corners)" for lo, hi in BANDS]
    print("| model | t | MSE | " + " | ".join(f"missed r {n}" for n in names) + " |")
    print("|---|---:|---:|" + "---:|" * len(BANDS))
    for path in paths:
        predict, ab, h, band_limit = noise_predictor(path)
        x0, _ = load_numpy("mnist", split="test", image_size=h, limit=64)
        if band_limit == "disc":  # the model's data: low-passed to the disc (DiffusionModel)
            from keras_aliasfree.diffusion import DATA_TAPER
            from keras_aliasfree.discs import disc_lowpass

            x0 = np.asarray(disc_lowpass(x0, taper=DATA_TAPER))
        f = np.fft.fftfreq(h)
        r = np.hypot(f[:, None], f[None, :]) / 0.5
        # [lo, hi) bands, the last one inside the disc closed at r = 1; the corners r > 1
        masks = [(r >= lo) & ((r < hi) | ((hi == 1.0) & (r == 1.0))) if np.isfinite(hi)
                 else r > lo for lo, hi in BANDS]
        rng = np.random.default_rng(0)
        for t in TIMESTEPS:
            eps = rng.normal(size=x0.shape).astype("float32")
            xt = (np.sqrt(ab[t]) * x0 + np.sqrt(1 - ab[t]) * eps).astype("float32")
            res = predict(xt, t) - eps
            P = (np.abs(np.fft.fft2(res[..., 0], axes=(1, 2))) ** 2).mean(0)
            E = (np.abs(np.fft.fft2(eps[..., 0], axes=(1, 2))) ** 2).mean(0)
            missed = [P[m].sum() / E[m].sum() for m in masks]
            print(f"| {path} | {t} | {np.mean(res ** 2):.4f} | "
                  + " | ".join(f"{v:.3f}" for v in missed) + " |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["saved_models/mnist-d"])
