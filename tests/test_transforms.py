"""Tests for keras_aliasfree.transforms (rotation, shifts, PSNR helpers) on the active backend."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_aliasfree import discs as DS
from keras_aliasfree import transforms as T

BACKEND = keras.backend.backend()
H = 32


def npy(x):
    return keras.ops.convert_to_numpy(x)


def _pattern(rows, cols, h):
    """Band-limited-ish analytic pattern: low-frequency cosines under a Gaussian envelope that is
    ~0 at the border (so the periodic seam does not matter). Coordinates (u right, v up)."""
    c = (h - 1) / 2.0
    u = cols - c
    v = c - rows
    waves = (np.cos(2 * np.pi * (0.11 * u + 0.05 * v))
             + 0.5 * np.sin(2 * np.pi * (-0.07 * u + 0.13 * v) + 0.3)
             + 0.3 * np.cos(2 * np.pi * 0.04 * u))
    return waves * np.exp(-(u * u + v * v) / (2 * 5.0 ** 2))


def _analytic_rotation(h, degrees):
    rows, cols = np.mgrid[0:h, 0:h].astype(np.float64)
    c = (h - 1) / 2.0
    t = np.deg2rad(degrees)
    u, v = cols - c, c - rows
    su = np.cos(t) * u + np.sin(t) * v  # source point R(-t)(u, v)
    sv = -np.sin(t) * u + np.cos(t) * v
    img = _pattern(rows, cols, h)[None, :, :, None]
    ref = _pattern(c - sv, su + c, h)[None, :, :, None]
    return img.astype("float32"), ref


def _jit(fn):
    """Compile fn with the backend's jit (torch: run eagerly; fori_loop is a Python loop there)."""
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    return fn


@pytest.mark.parametrize("method", T.ROTATION_METHODS)
def test_rotate_zero_is_identity(rng, method):
    x = rng.normal(size=(2, 12, 12, 3)).astype("float32")
    np.testing.assert_allclose(npy(T.rotate(x, 0.0, method=method)), x, atol=1e-5)


@pytest.mark.parametrize("method", T.ROTATION_METHODS)
def test_rotate_90_matches_rot90_and_four_turns_identity(rng, method):
    x = rng.normal(size=(2, 10, 10, 2)).astype("float32")
    y = T.rotate(x, 90.0, method=method)
    np.testing.assert_allclose(npy(y), np.rot90(x, 1, axes=(1, 2)), atol=1e-5)
    for _ in range(3):
        y = T.rotate(y, 90.0, method=method)
    np.testing.assert_allclose(npy(y), x, atol=1e-5)
    np.testing.assert_allclose(npy(T.rotate(x, -180.0, method=method)),
                               np.rot90(x, 2, axes=(1, 2)), atol=1e-5)


def test_rotate_non_square_180_and_small_angle(rng):
    x = rng.normal(size=(1, 8, 12, 1)).astype("float32")
    np.testing.assert_allclose(npy(T.rotate(x, 180.0)), x[:, ::-1, ::-1], atol=1e-5)
    y = npy(T.rotate(x, 3.0))
    assert y.shape == x.shape and np.isfinite(y).all()


@pytest.mark.parametrize("degrees", [7.5, 30.0, 45.0, 100.0, -150.0])
def test_fft_rotation_of_band_limited_pattern(degrees):
    img, ref = _analytic_rotation(H, degrees)
    mask = DS.disc_mask(H, H)
    assert DS.psnr(ref, npy(T.rotate(img, degrees)), mask) > 55.0
    # bilinear is measurably worse on the same pattern (it low-passes)
    assert DS.psnr(ref, npy(T.rotate(img, degrees, method="bilinear")), mask) < 50.0


def test_rotation_direction_is_counter_clockwise():
    x = np.zeros((1, 9, 9, 1), "float32")
    x[0, 4, 8, 0] = 1.0  # right of centre
    y = npy(T.rotate(x, 90.0, method="bilinear"))
    assert y[0, 0, 4, 0] == pytest.approx(1.0)  # now above the centre


@pytest.mark.parametrize("method,min_db", [("fft", 70.0), ("cubic", 50.0), ("bilinear", 30.0)])
def test_rotate_there_and_back(rng, method, min_db):
    img, _ = _analytic_rotation(H, 0.0)
    y = T.rotate(T.rotate(img, 17.0, method=method), -17.0, method=method)
    assert DS.psnr(img, npy(y), DS.disc_mask(H, H)) > min_db
    # white noise is not band-limited in the sheared frame: the corners of its spectrum are lost,
    # but the FFT rotation still loses much less than the interpolating ones
    x = rng.normal(size=(2, 24, 24, 1)).astype("float32")
    mask = DS.disc_mask(24, 24, radius=8)
    back = {m: DS.psnr(x, npy(T.rotate(T.rotate(x, 17.0, method=m), -17.0, method=m)), mask)
            for m in ("fft", "cubic")}
    assert back["fft"] > back["cubic"] + 3.0


def test_per_image_angles_and_channels_first(rng):
    x = rng.normal(size=(3, 16, 16, 2)).astype("float32")
    angles = np.array([0.0, 90.0, 12.0], "float32")
    y = npy(T.rotate(x, angles))
    np.testing.assert_allclose(y[0], x[0], atol=1e-5)
    np.testing.assert_allclose(y[1], np.rot90(x[1], 1, axes=(0, 1)), atol=1e-5)
    np.testing.assert_allclose(y[2], npy(T.rotate(x[2:], 12.0))[0], atol=1e-5)
    xc = np.transpose(x, (0, 3, 1, 2))
    yc = npy(T.rotate(xc, angles, data_format="channels_first"))
    np.testing.assert_allclose(np.transpose(yc, (0, 2, 3, 1)), y, atol=1e-5)


def test_noise_variance_over_many_small_rotations(rng):
    """DESIGN.md: 1000 rotations by 0.09 degrees keep ~94% of white-noise variance with the FFT
    three-shear, < 1% with bilinear. Runs the loop compiled (fori_loop inside jit)."""
    steps = 1000 if BACKEND != "torch" else 250  # torch loops in Python: same 90 deg total
    step = 90.0 / steps
    noise = rng.normal(size=(4, H, H, 1)).astype("float32")

    def run(method):
        def body(i, x):
            return T.rotate(x, ops.convert_to_tensor(step, "float32"), method=method)

        return npy(_jit(lambda x: ops.fori_loop(0, steps, body, x))(noise))

    kept_fft = np.var(run("fft")) / np.var(noise)
    kept_bilinear = np.var(run("bilinear")) / np.var(noise)
    assert kept_fft >= 0.85
    assert kept_bilinear < 0.20


@pytest.mark.parametrize("method", T.ROTATION_METHODS)
def test_rotate_under_jit_with_changing_tensor_angle(rng, method):
    """The sampler's use: inside fori_loop, the angle is a tensor that changes per step."""
    x = rng.normal(size=(2, 16, 16, 1)).astype("float32")

    def body(i, y):
        deg = ops.cast(i + 1, "float32") * 10.0  # 10, 20, 30 -> 60 degrees in all
        return T.rotate(y, deg, method=method)

    out = npy(_jit(lambda y: ops.fori_loop(0, 3, body, y))(x))
    ref = npy(T.rotate(T.rotate(T.rotate(x, 10.0, method=method), 20.0, method=method),
                       30.0, method=method))
    np.testing.assert_allclose(out, ref, atol=1e-4)


def test_fractional_shift(rng):
    x = rng.normal(size=(2, 16, 16, 1)).astype("float32")
    # integer values are exact rolls, tensor values allowed
    y = T.fractional_shift(x, ops.convert_to_tensor(2.0), -3)
    np.testing.assert_allclose(npy(y), np.roll(x, (2, -3), axis=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(npy(T.integer_shift(x, 2, -3)), npy(y), atol=1e-5)
    # a band-limited periodic pattern is shifted exactly by a fraction
    rows, cols = np.mgrid[0:16, 0:16].astype(np.float64)

    def wave(r, c):
        return np.cos(2 * np.pi * (3 * c + 2 * r) / 16 + 0.4) + np.sin(2 * np.pi * 5 * r / 16)

    img = wave(rows, cols)[None, :, :, None].astype("float32")
    ref = wave(rows - 0.3, cols - 0.45)[None, :, :, None]
    np.testing.assert_allclose(npy(T.fractional_shift(img, 0.3, 0.45)), ref, atol=1e-4)
    # per-image shifts, and shifting back restores what the Nyquist bins did not lose
    z = T.fractional_shift(T.fractional_shift(img, 0.3, 0.45), -0.3, -0.45)
    np.testing.assert_allclose(npy(z), img, atol=1e-4)
    per = npy(T.fractional_shift(x, np.array([0.0, 1.0]), np.array([0.0, 0.0])))
    np.testing.assert_allclose(per[0], x[0], atol=1e-5)
    np.testing.assert_allclose(per[1], np.roll(x[1], 1, axis=0), atol=1e-5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="rank-4"):
        T.rotate(np.zeros((8, 8, 1), "float32"), 10.0)
    with pytest.raises(ValueError, match="method"):
        T.rotate(np.zeros((1, 8, 8, 1), "float32"), 10.0, method="nearest")
    with pytest.raises(ValueError, match="degrees"):
        T.rotate(np.zeros((1, 8, 8, 1), "float32"), np.zeros((2, 2)))
    with pytest.raises(TypeError, match="int"):
        T.integer_shift(np.zeros((1, 8, 8, 1), "float32"), 0.5, 0)
    with pytest.raises(ValueError, match="same shape"):
        DS.psnr(np.zeros((2, 2)), np.zeros((2, 3)))


def test_disc_mask_and_psnr():
    m = DS.disc_mask(32, 32)
    assert m[16, 16] and not m[0, 0] and m.sum() == pytest.approx(np.pi * 16 ** 2, rel=0.05)
    assert DS.disc_mask(32, 32, radius=4).sum() < m.sum()
    a = np.linspace(-1.0, 1.0, 4 * 8 * 8).reshape(4, 8, 8, 1)
    assert DS.psnr(a, a) == float("inf")
    # peak = data range 2, MSE 0.01 -> 10 log10(4 / 0.01)
    assert DS.psnr(a, a + 0.1) == pytest.approx(10 * np.log10(400.0))
    assert DS.psnr(a, a + 0.1, peak=1.0) == pytest.approx(20.0)
    b = a.copy()
    b[:, 0, 0] += 5.0  # error only outside the disc
    assert DS.psnr(a, b, mask=DS.disc_mask(8, 8)) == float("inf")
    assert DS.psnr(a, b) < 40.0
