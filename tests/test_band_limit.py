"""The disc band limit: FFT disc low-pass, the closed-form noise outside the disc, and the
DiffusionModel / checkpoint / sampler wiring (``band_limit="disc"``)."""

import json
import os

import keras
import numpy as np
import pytest

from keras_aliasfree.diffusion import (DATA_TAPER, DiffusionModel, NoiseSchedule,
                                       apply_band_limit, load_checkpoint, resolve_band_limit)
from keras_aliasfree.discs import disc_lowpass, disc_response
from keras_aliasfree.unet import build_unet
from test_diffusion import toy_images

T = 20


def tiny_unet(config="D-1N", **kw):
    return build_unet(config, image_size=8, base_width=8, channel_mults=(1, 2), bottleneck_mult=2,
                      attention=False, time_dim=16, **kw)


def outside_energy(x):
    """Energy of x (NHWC) outside the Nyquist disc, relative to its total energy."""
    x = np.asarray(x, np.float64)
    f = np.fft.fft2(np.moveaxis(x, -1, 1))
    out = disc_response(x.shape[1], x.shape[2]) == 0
    return float((np.abs(f) ** 2 * out).sum() / (np.abs(f) ** 2).sum())


def test_disc_response_grid():
    r = disc_response(32, 32)
    assert set(np.unique(r)) == {0.0, 1.0}
    # the disc covers pi/4 of the square band (up to the grid)
    assert abs(r.mean() - np.pi / 4) < 0.02
    np.testing.assert_array_equal(r, np.roll(np.flip(r, (0, 1)), 1, (0, 1)))  # f -> -f symmetric
    rt = disc_response(32, 32, taper=0.2)
    assert rt.max() == 1.0 and rt.min() == 0.0
    assert np.all(rt[r == 0] == 0)  # the taper stays inside the disc
    assert np.all((rt > 0) & (rt < 1) <= (r == 1))
    for bad in (dict(radius=0), dict(taper=-0.1), dict(taper=1.5)):
        with pytest.raises(ValueError):
            disc_response(8, 8, **bad)


def test_disc_lowpass_is_a_projection():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 16, 12, 2)).astype("float32")
    y = np.asarray(disc_lowpass(x))
    np.testing.assert_allclose(np.asarray(disc_lowpass(y)), y, atol=1e-5)
    assert outside_energy(y) < 1e-10 and outside_energy(x) > 0.15
    # channels_first gives the same numbers
    yc = np.asarray(disc_lowpass(np.moveaxis(x, -1, 1), data_format="channels_first"))
    np.testing.assert_allclose(np.moveaxis(yc, 1, -1), y, atol=1e-5)
    # a tapered low-pass has nothing outside the disc either, so P leaves it unchanged
    z = np.asarray(disc_lowpass(x, taper=DATA_TAPER))
    np.testing.assert_allclose(np.asarray(disc_lowpass(z)), z, atol=1e-5)
    with pytest.raises(ValueError, match="rank-4"):
        disc_lowpass(x[0])


def test_closed_form_noise_is_exact_outside_the_disc():
    # data band-limited to the disc: x_t - P(x_t) is pure noise, so a network that predicts the
    # disc exactly gives eps_hat == eps everywhere, at every noise level.
    rng = np.random.default_rng(1)
    x0 = np.asarray(disc_lowpass(rng.normal(size=(4, 16, 16, 1)).astype("float32"),
                                 taper=DATA_TAPER))
    eps = rng.normal(size=x0.shape).astype("float32")
    sched = NoiseSchedule(1000)
    for t in (0, 10, 500, 999):
        s = float(np.sqrt(1.0 - sched.alpha_bars[t]))
        x_t = float(np.sqrt(sched.alpha_bars[t])) * x0 + s * eps
        in_disc = np.asarray(disc_lowpass(eps))
        junk_outside = in_disc + 5.0 * (eps - in_disc)  # anything outside the disc is replaced
        for net in (in_disc, junk_outside):
            got = np.asarray(apply_band_limit(net, x_t, np.full((4,), s, "float32")))
            np.testing.assert_allclose(got, eps, atol=2e-4 if t == 0 else 2e-5)


def test_resolve_band_limit():
    assert resolve_band_limit("auto", tiny_unet("D-1N")) == "disc"
    assert resolve_band_limit("auto", tiny_unet("C-1N")) == "disc"
    assert resolve_band_limit("auto", tiny_unet("B-1N")) is None
    assert resolve_band_limit("auto", tiny_unet("A")) is None
    assert resolve_band_limit("auto", tiny_unet("D-1N", filters={"preset": "paper"})) is None
    assert resolve_band_limit("disc", tiny_unet("A")) == "disc"
    assert resolve_band_limit("none", tiny_unet("D-1N")) is None
    with pytest.raises(ValueError, match="band_limit"):
        resolve_band_limit("square", tiny_unet("A"))


@pytest.fixture(scope="module")
def banded():
    keras.utils.set_random_seed(0)
    dm = DiffusionModel(tiny_unet("A"), NoiseSchedule(T), ema_decay=0.9, seed=3,
                        band_limit="disc")
    dm.compile(optimizer=keras.optimizers.AdamW(3e-3),
               jit_compile=keras.backend.backend() != "torch")
    dm.fit(toy_images(16), batch_size=8, epochs=2, verbose=0, shuffle=False)
    return dm


@pytest.mark.parametrize("sampler,steps", [("ddpm", None), ("ddim", 5)])
def test_samples_end_band_limited(banded, sampler, steps):
    # the last reverse step removes all of the noise outside the disc, in closed form
    # (clip_denoised=False: the clip is a pointwise nonlinearity, which spreads a little energy)
    _, traj = banded.sample(3, sampler=sampler, steps=steps, seed=1, verbose=0,
                            return_trajectory=True, clip_denoised=False)
    assert outside_energy(traj[0]) > 0.15  # the start is white noise
    assert outside_energy(traj[-1]) < 1e-8


def test_predict_noise_matches_denoiser_inside_the_disc(banded):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 8, 8, 1)).astype("float32")
    t = np.array([3, 15], "int32")
    raw = np.asarray(keras.ops.convert_to_numpy(
        banded.denoiser([x, t.astype("float32")], training=False)))
    got = np.asarray(keras.ops.convert_to_numpy(banded.predict_noise(x, t)))
    np.testing.assert_allclose(np.asarray(disc_lowpass(got)), np.asarray(disc_lowpass(raw)),
                               atol=1e-4)
    s = np.sqrt(1.0 - banded.schedule.alpha_bars[t]).reshape(-1, 1, 1, 1)
    outside = got - np.asarray(disc_lowpass(got))
    np.testing.assert_allclose(outside, (x - np.asarray(disc_lowpass(x))) / s, atol=1e-4)
    with pytest.raises(ValueError, match="timesteps"):
        banded.predict_noise(x, np.array([0, T], "int32"))


def test_band_limit_in_checkpoints(banded, tmp_path):
    path = banded.save_checkpoint(tmp_path / "ck")
    with open(os.path.join(path, "config.json")) as f:
        assert json.load(f)["band_limit"] == "disc"
    assert load_checkpoint(path).band_limit == "disc"
    # a checkpoint written before the band limit existed was trained without one (and had no
    # manifest: those came later)
    os.remove(os.path.join(path, "manifest.json"))
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    del cfg["band_limit"]
    cfg["format_version"] = 1  # what such a file says; the migration is keyed on it
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)
    assert load_checkpoint(path).band_limit is None
