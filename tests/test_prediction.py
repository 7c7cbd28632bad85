"""Prediction targets (eps, v, x0) and loss weightings (uniform, min-SNR): the conversions, the
loss they define, training and sampling on every backend, checkpoints."""

import keras
import numpy as np
import pytest

from conftest import to_numpy
from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule, load_checkpoint
from keras_aliasfree.diffusion.sampling import noise_prediction
from keras_aliasfree.unet import build_unet


def _forward(schedule, t, rng):
    x0 = rng.uniform(-1, 1, size=(len(t), 4, 4, 1))
    eps = rng.normal(size=x0.shape)
    a = np.sqrt(schedule.alpha_bars[t])[:, None, None, None]
    s = np.sqrt(1 - schedule.alpha_bars[t])[:, None, None, None]
    return x0, eps, a, s, a * x0 + s * eps


def test_exact_targets_give_the_true_noise():
    sched = NoiseSchedule(1000)
    t = np.array([0, 250, 600, 999])
    x0, eps, a, s, xt = _forward(sched, t, np.random.default_rng(0))
    targets = {"epsilon": eps, "v": a * eps - s * x0, "x0": x0}
    for prediction, target in targets.items():
        got = to_numpy(noise_prediction(target.astype("float32"), xt.astype("float32"),
                                        s[:, 0, 0, 0], None, prediction, a[:, 0, 0, 0]))
        np.testing.assert_allclose(got, eps, atol=2e-3 if prediction == "x0" else 1e-4,
                                   err_msg=prediction)


@pytest.mark.parametrize("prediction", ["epsilon", "v", "x0"])
def test_loss_weights_turn_noise_error_into_target_error(prediction):
    sched = NoiseSchedule(1000)
    rng = np.random.default_rng(1)
    t = np.array([5, 300, 700, 990])
    x0, eps, a, s, xt = _forward(sched, t, rng)
    target = {"epsilon": eps, "v": a * eps - s * x0, "x0": x0}[prediction]
    guess = target + 0.1 * rng.normal(size=target.shape)  # an imperfect network output
    eps_hat = to_numpy(noise_prediction(guess, xt, s[:, 0, 0, 0], None, prediction,
                                        a[:, 0, 0, 0])).astype("float64")
    w = sched.loss_weights(prediction).astype("float64")[t][:, None, None, None]
    np.testing.assert_allclose(w * (eps_hat - eps) ** 2, (guess - target) ** 2, rtol=2e-3,
                               atol=1e-9)
    snr = sched.snr()[t][:, None, None, None]
    np.testing.assert_allclose(sched.loss_weights(prediction, "min_snr", 5.0)[t][:, None, None, None],
                               np.minimum(snr, 5.0) / snr, rtol=1e-6)


def test_bad_prediction_arguments():
    net = build_unet("A", image_size=8, base_width=4, channel_mults=(1, 2), bottleneck_mult=2,
                     attention=False, time_dim=8)
    with pytest.raises(ValueError, match="prediction"):
        DiffusionModel(net, NoiseSchedule(10), prediction="score")
    with pytest.raises(ValueError, match="weighting"):
        DiffusionModel(net, NoiseSchedule(10), loss_weighting="snr")
    with pytest.raises(ValueError, match="snr_gamma"):
        DiffusionModel(net, NoiseSchedule(10), loss_weighting="min_snr", snr_gamma=0)


@pytest.mark.parametrize("prediction,weighting", [("v", "uniform"), ("x0", "min_snr")])
def test_train_sample_and_checkpoint(prediction, weighting, tmp_path):
    keras.utils.set_random_seed(0)
    net = build_unet("D-1N", image_size=8, base_width=4, channel_mults=(1, 2), bottleneck_mult=2,
                     attention=False, time_dim=8)
    dm = DiffusionModel(net, NoiseSchedule(20), seed=0, prediction=prediction,
                        loss_weighting=weighting)
    dm.compile(optimizer=keras.optimizers.AdamW(3e-3))
    x = np.tile(np.linspace(-1, 1, 8, dtype="float32")[None, :, None, None], (16, 1, 8, 1))
    hist = dm.fit(x, batch_size=8, epochs=6, verbose=0)
    losses = hist.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    a = dm.sample(2, sampler="ddim", steps=5, seed=1, verbose=0)
    assert a.shape == (2, 8, 8, 1) and np.all(np.isfinite(a))
    path = dm.save_checkpoint(str(tmp_path / "ckpt"))
    again = load_checkpoint(path)
    assert (again.prediction, again.loss_weighting) == (prediction, weighting)
    np.testing.assert_allclose(again.sample(2, sampler="ddim", steps=5, seed=1, verbose=0), a,
                               atol=1e-5)
