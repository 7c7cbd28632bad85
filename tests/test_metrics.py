"""Tests for keras_aliasfree.metrics: distances, extractors, cache, equivariance."""

import os

import keras
import numpy as np
import pytest
import scipy.linalg

from keras_aliasfree import metrics
from keras_aliasfree import discs as DS
from keras_aliasfree import transforms as T
from keras_aliasfree.metrics import extractors as E

BACKEND = keras.backend.backend()


# ------------------------------------------------------------------------------------ distances


def test_frechet_distance_matches_direct_formula(rng):
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 0.5
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # independent route: tr sqrt(S1 S2) = sum sqrt(eig(sqrt(S1) S2 sqrt(S1)))
    r1 = scipy.linalg.sqrtm(s1).real
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)).sum()
    direct = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_covmean
    assert metrics.frechet_distance(a, b) == pytest.approx(direct, rel=1e-6)
    # diagonal Gaussians in closed form
    fd = metrics.frechet_distance_from_statistics(np.zeros(3), np.diag([1.0, 4.0, 9.0]),
                                                  np.ones(3), np.diag([4.0, 4.0, 1.0]))
    assert fd == pytest.approx(3 + (1 + 4 - 4) + (4 + 4 - 8) + (9 + 1 - 6))


def test_identical_sets_give_zero(rng):
    a = rng.normal(size=(500, 5))
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    mean, std = metrics.kernel_distance(a, a, subsets=50, subset_size=100, return_std=True)
    assert abs(mean) < 4 * std / np.sqrt(50)  # zero within the estimator's own noise
    assert metrics.kernel_distance(a, a + 1.0, subsets=50, subset_size=100) > 20 * abs(mean)
    assert metrics.frechet_distance(a, a + 2.0) == pytest.approx(5 * 4.0, rel=1e-6)
    # never below zero, and never a negative zero, whatever the last bit of sqrtm does
    for seed in range(5):
        x = np.random.default_rng(seed).normal(size=(300, 6))
        d = metrics.frechet_distance(x, x)
        assert d >= 0.0 and np.copysign(1.0, d) == 1.0 and str(round(d, 6)) == "0.0"


def test_frechet_distance_rejects_a_clearly_negative_result():
    # a "covariance" that is not positive semi-definite gives a negative value beyond round-off
    bad = -np.eye(2)  # their product is I, so sqrtm is real, but the distance is -8
    with pytest.raises(ValueError, match="negative"):
        metrics.frechet_distance_from_statistics(np.zeros(2), bad, np.zeros(2), bad)


def _mmd_loops(x, y):
    d = x.shape[1]

    def k(u, v):
        return (np.dot(u, v) / d + 1.0) ** 3

    m, n = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    syy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return sxx + syy - 2 * sxy


def test_kernel_distance_matches_o_n2_mmd(rng):
    a = rng.normal(size=(30, 4))
    b = rng.normal(size=(30, 4)) * 1.5 + 0.3
    # one subset of the full size: a permutation of each set, MMD is permutation invariant
    kd = metrics.kernel_distance(a, b, subsets=1, subset_size=30)
    assert kd == pytest.approx(_mmd_loops(a, b), rel=1e-9)
    mean, std = metrics.kernel_distance(a, b, subsets=20, subset_size=10, return_std=True)
    assert std > 0 and np.isfinite(mean)
    # deterministic for a seed
    assert metrics.kernel_distance(a, b, 5, 10, seed=3) == metrics.kernel_distance(a, b, 5, 10,
                                                                                   seed=3)


def test_inception_score(rng):
    assert metrics.inception_score(np.eye(10)[np.arange(200) % 10], splits=10) == pytest.approx(10)
    assert metrics.inception_score(np.full((50, 7), 1 / 7), splits=5) == pytest.approx(1.0)
    logits = rng.normal(size=(40, 5)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    direct = []
    for part in (p[:20], p[20:]):
        py = part.mean(0)
        direct.append(np.exp(np.mean([np.sum(q * np.log(q / py)) for q in part])))
    assert metrics.inception_score(p, splits=2) == pytest.approx(np.mean(direct), rel=1e-9)


def test_distance_bad_inputs(rng):
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(50, 5))
    with pytest.raises(ValueError, match="feature dimensions differ"):
        metrics.frechet_distance(a, b)
    with pytest.raises(ValueError, match="2-D"):
        metrics.frechet_distance(a[0], a)
    with pytest.raises(ValueError, match="fewer than subset_size"):
        metrics.kernel_distance(a, a, subsets=2, subset_size=100)
    with pytest.raises(ValueError, match="NaN"):
        metrics.frechet_distance(np.full((5, 4), np.nan), a)
    with pytest.raises(ValueError, match="probabilities"):
        metrics.inception_score(rng.normal(size=(20, 4)), splits=2)
    with pytest.raises(ValueError, match="splits"):
        metrics.inception_score(np.full((3, 4), 0.25), splits=10)


# ----------------------------------------------------------------------------------- equivariance


@pytest.fixture
def images(rng):
    return rng.normal(size=(6, 32, 32, 1)).astype("float32")


def _half_pixel(v):
    return T.fractional_shift(v, 0.5, 0.5)


def _decimate(v):
    v = keras.ops.convert_to_numpy(v)
    return np.repeat(np.repeat(v[:, ::2, ::2], 2, 1), 2, 2)


def test_identity_is_exactly_equivariant(images):
    ident = lambda v: v  # noqa: E731
    assert metrics.eq_translation(ident, images) >= 50
    assert metrics.eq_translation(ident, images, fractional=True) >= 50
    assert metrics.eq_rotation(ident, images) >= 50
    assert metrics.eq_rotation(ident, images, angles=[5.0, 30.0]) >= 50


def test_exact_rotation_metric_ranks_isotropic_above_anisotropic(images):
    from scipy import ndimage

    from keras_aliasfree.metrics.equivariance import exact_rotation, radial_window

    ident, floor = metrics.eq_rotation_exact(lambda v: v, images, return_floor=True)
    assert ident == floor and floor > 45.0  # the three-shear floor on the same images is ~32 dB
    blur = metrics.eq_rotation_exact(lambda v: ndimage.gaussian_filter(v, (0, 1, 1, 0)), images)
    box = metrics.eq_rotation_exact(lambda v: ndimage.uniform_filter(v, (1, 3, 3, 1)), images)
    assert blur > floor and box < floor - 10.0  # a square box kernel has a direction
    # a rotation and its inverse give back the projection (inside the window)
    x = exact_rotation(images[:2] * radial_window(32)[None, :, :, None], 0.0)
    back = exact_rotation(exact_rotation(x, 25.0), -25.0)
    assert DS.psnr(exact_rotation(x, 0.0)[:, 8:24, 8:24], back[:, 8:24, 8:24]) > 45.0
    with pytest.raises(ValueError, match="square"):
        exact_rotation(np.zeros((1, 16, 8, 1)), 10.0)


def test_half_pixel_shift_and_aliasing_fns_score_low(images):
    # a half-pixel shift commutes with translations but not with rotation about the centre
    assert metrics.eq_translation(_half_pixel, images, fractional=True) >= 50
    assert metrics.eq_rotation(_half_pixel, images) < 30
    # stride-2 decimation aliases: not translation equivariant
    assert metrics.eq_translation(_decimate, images) < 30
    assert metrics.eq_translation(_decimate, images, fractional=True) < 30


def test_equivariance_with_resolution_change(images):
    # a band-limited x2 downsampler (FFT crop) is equivariant to shifts scaled to its output grid
    def fft_down(v):
        v = np.asarray(v, np.float64)
        f = np.fft.fftshift(np.fft.fft2(v, axes=(1, 2)), axes=(1, 2))
        f = f[:, 8:24, 8:24]
        f[:, 0, :] = 0
        f[:, :, 0] = 0
        return np.fft.ifft2(np.fft.ifftshift(f, axes=(1, 2)), axes=(1, 2)).real / 4

    assert metrics.eq_translation(fft_down, images, fractional=True) > 50
    assert metrics.eq_translation(_decimate, images, fractional=True) < 30


def test_equivariance_on_keras_layer(images):
    # 1x1 convolution is pointwise: exactly equivariant to everything
    layer = keras.layers.Conv2D(3, 1)
    assert metrics.eq_rotation(layer, images) > 50
    assert metrics.eq_translation(layer, images) > 50


def test_equivariance_bad_inputs(images):
    with pytest.raises(ValueError, match="rank-4"):
        metrics.eq_translation(lambda v: v, images[0])
    with pytest.raises(ValueError, match="max_shift"):
        metrics.eq_translation(lambda v: v, images, max_shift=2.0)
    with pytest.raises(ValueError, match="fn must map"):
        metrics.eq_rotation(lambda v: np.asarray(v)[0], images)


def test_rotation_consistency(images):
    good = lambda r, s: T.rotate(images, r)  # noqa: E731
    bad = lambda r, s: T.rotate(images, r * 0.5)  # noqa: E731
    assert metrics.rotation_consistency(good, angles=(30.0, 90.0)) > 50
    mean, per = metrics.rotation_consistency(bad, angles=(30.0, 90.0), return_per_angle=True)
    assert mean < 20 and set(per) == {30.0, 90.0}


def test_noisy_inputs_and_denoiser_fn(rng):
    x0 = np.zeros((2, 8, 8, 1), "float32")
    assert np.std(metrics.noisy_inputs(x0, 999)) > 0.9
    assert np.allclose(metrics.noisy_inputs(x0 + 0.5, 0), 0.5, atol=0.05)
    with pytest.raises(ValueError, match="timestep"):
        metrics.noisy_inputs(x0, 1000)
    xi = keras.Input((8, 8, 1))
    ti = keras.Input(())
    net = keras.Model([xi, ti], xi * keras.ops.reshape(ti, (-1, 1, 1, 1)))
    out = keras.ops.convert_to_numpy(metrics.denoiser_fn(net, 3)(x0 + 1.0))
    assert np.allclose(out, 3.0)


# -------------------------------------------------------------------------- extractors and cache


def _tiny_extractor(name="tiny"):
    inp = keras.Input((8, 8, 1))
    f = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, padding="same")(inp))
    p = keras.layers.Softmax()(keras.layers.Dense(3)(f))
    return E.FeatureExtractor(keras.Model(inp, [f, p]), name, "tiny test net", 8, 1)


def test_extractor_preprocess_and_batching(rng):
    ext = _tiny_extractor()
    x = rng.uniform(-1, 1, size=(10, 16, 16, 3)).astype("float32")
    pre = ext.preprocess(x)
    assert pre.shape == (10, 8, 8, 1)
    feats, probs = ext(x, batch_size=3, verbose=False)
    feats2, _ = ext(x, batch_size=10, verbose=False)
    assert feats.shape == (10, 4) and probs.shape == (10, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(feats, feats2, atol=1e-5)
    with pytest.raises(ValueError, match="rank-4"):
        ext(x[0])
    with pytest.raises(ValueError, match="channels"):
        ext(np.zeros((2, 8, 8, 2), "float32"))
    q = metrics.quantize(np.array([-1.5, 0.0011, 0.999]))
    assert q[0] == -1.0 and q[2] == 1.0 and np.allclose((q + 1) * 127.5, np.round((q + 1) * 127.5))


def test_reference_statistics_cache(tmp_path, rng):
    pytest.importorskip("keras_aliasfree.data")
    data = tmp_path / "toy.npz"
    np.savez(data, x=rng.integers(0, 255, size=(30, 8, 8), dtype=np.uint8), y=np.arange(30) % 3)
    ext = _tiny_extractor()
    kw = dict(split="train", image_size=8, channels=1, cache=tmp_path / "cache", verbose=False)
    r1 = E.reference_features(str(data), ext, count=20, **kw)
    assert not r1["cached"] and r1["features"].shape == (20, 4) and r1["mu"].shape == (4,)
    r2 = E.reference_features(str(data), ext, count=20, **kw)
    assert r2["cached"] and np.array_equal(r1["features"], r2["features"])
    assert r1["path"] == r2["path"]
    r3 = E.reference_features(str(data), ext, count=10, **kw)
    assert not r3["cached"] and r3["path"] != r1["path"]
    r4 = E.reference_features(str(data), ext, count=10, rotation=90.0, **kw)
    assert not r4["cached"] and r4["path"] != r3["path"]
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 3
    with pytest.raises(ValueError, match="fewer"):
        E.reference_features(str(data), ext, count=31, **kw)


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_ALIASFREE_CACHE_DIR", str(tmp_path))
    assert metrics.cache_dir() == tmp_path
    monkeypatch.delenv("KERAS_ALIASFREE_CACHE_DIR")
    assert str(metrics.cache_dir()).endswith(os.path.join(".cache", "keras_aliasfree"))


def test_shipped_mnist_classifier_loads():
    from keras_aliasfree.presets import resolve_preset

    folder = resolve_preset(E.DEFAULT_CLASSIFIER, kind="classifier")
    if not os.path.exists(os.path.join(folder, "classifier.keras")):
        pytest.fail(f"shipped classifier missing at {folder}")
    ext = metrics.load_classifier_extractor()
    assert ext.input_size == 32 and ext.channels == 1
    x = np.full((3, 28, 28, 1), -1.0, "float32")  # resized to 32 on the way in
    feats, probs = ext(x, verbose=False)
    assert feats.shape == (3, 128) and probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert os.path.getsize(os.path.join(folder, "classifier.keras")) < 2 * 1024 * 1024
    assert metrics.load_classifier_extractor("mnist-classifier").name == ext.name


def test_inception_weights_never_downloaded(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert metrics.inception_weights_path() is None
    with pytest.raises(FileNotFoundError, match="not found in the Keras cache"):
        metrics.inception_extractor("imagenet")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        metrics.inception_extractor(str(tmp_path / "missing.h5"))
    with pytest.raises(ValueError, match="unknown extractor"):
        metrics.get_extractor("vgg")
    ext = metrics.get_extractor("auto", verbose=False)  # no weights here: the offline classifier
    assert "classifier" in ext.name


@pytest.mark.slow
def test_inception_preprocessing(rng):
    """Grayscale tiling and the 299 resize, with the extractor settings InceptionV3 gets (building
    InceptionV3 itself costs a minute on JAX: the next test does that where it is cheap)."""
    inp = keras.Input((299, 299, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inp)
    ext = E.FeatureExtractor(keras.Model(inp, [pooled, pooled]), "stand-in", "stand-in", 299, 3,
                             resize_method="bilinear")
    x = rng.uniform(-1, 1, size=(2, 32, 32, 1)).astype("float32")
    pre = ext.preprocess(x)
    assert pre.shape == (2, 299, 299, 3)
    np.testing.assert_array_equal(pre[..., 0], pre[..., 2])
    # bilinear, half-pixel centres: the resize of a constant is the constant, values stay in range
    assert pre.min() >= -1.0 - 1e-6 and pre.max() <= 1.0 + 1e-6
    ref = keras.ops.convert_to_numpy(keras.ops.image.resize(
        metrics.quantize(x), (299, 299), interpolation="bilinear", antialias=False))
    np.testing.assert_allclose(pre[..., :1], ref, atol=1e-6)


@pytest.mark.skipif(BACKEND == "jax", reason="XLA compiles InceptionV3 in ~2 min on 2 CPU cores; "
                    "the forward pass is plain keras.applications, checked on TensorFlow and torch")
def test_inception_forward_with_random_weights(rng):
    """No ImageNet weights exist offline: the pipeline with random weights."""
    ext = metrics.inception_extractor(weights=None)
    assert ext.name.startswith("inception_v3-random") and ext.input_size == 299
    assert ext.resize_method == "bilinear" and ext.channels == 3
    x = rng.uniform(-1, 1, size=(2, 32, 32, 1)).astype("float32")
    feats, probs = ext(x, batch_size=2, verbose=False)
    assert feats.shape == (2, 2048) and probs.shape == (2, 1000)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)


# ------------------------------------------------------------------------------ evaluate command


def _tiny_checkpoint(path):
    from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
    from keras_aliasfree.unet import build_unet

    net = build_unet("D-1N", image_size=32, channels=1, base_width=8, channel_mults=(1, 2),
                     bottleneck_mult=2, attention=False, time_dim=16)
    return DiffusionModel(net, NoiseSchedule(1000), seed=0).save_checkpoint(str(path))


class _StubModel:
    """What noise_equivariance needs of a DiffusionModel, with a chosen eps_hat."""

    def __init__(self, fn):
        import contextlib

        from keras_aliasfree.diffusion import NoiseSchedule

        self.schedule, self._fn = NoiseSchedule(1000), fn
        self.ema_weights_applied = contextlib.nullcontext

    def predict_noise(self, x, t):
        return self._fn(keras.ops.convert_to_numpy(x))


def test_noise_equivariance_on_the_disc():
    from keras_aliasfree.metrics.evaluation import noise_equivariance

    x = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 1)).astype("float32")
    exact = noise_equivariance(_StubModel(lambda v: v), x, timesteps=(500,))
    shifted = noise_equivariance(_StubModel(lambda v: np.roll(v, 2, axis=2)), x, timesteps=(500,))
    assert set(exact) == {500} and set(exact[500]) == {
        "eq_r_disc", "eq_t_frac_disc", "eq_r_disc_floor", "eq_r_exact", "eq_r_exact_floor"}
    exact, shifted = exact[500], shifted[500]
    # with the exact rotation the ceiling is far higher, and the identity reaches it
    assert exact["eq_r_exact"] == pytest.approx(exact["eq_r_exact_floor"], abs=0.05)
    assert exact["eq_r_exact_floor"] > exact["eq_r_disc_floor"] + 8.0
    assert shifted["eq_r_exact"] < exact["eq_r_exact"] - 20.0
    # an exactly equivariant eps_hat reaches the measurement's floor (a periodic image has no
    # exact rotation), not infinity; fractional shifts are exact
    assert exact["eq_r_disc"] == pytest.approx(exact["eq_r_disc_floor"], abs=0.05)
    assert exact["eq_t_frac_disc"] > 60.0
    # a shift does not commute with a rotation: far below the floor
    assert shifted["eq_r_disc"] < shifted["eq_r_disc_floor"] - 5.0


def test_format_table_and_json(tmp_path):
    from keras_aliasfree.metrics import evaluation

    rep = {"metrics": {"fd": 2.5, "kid_x100": 0.1, "kid_std_x100": 0.01, "eq_r": float("inf")},
           "meta": {"extractor": "ext"}}
    table = evaluation.format_table(rep)
    assert "| FD (ext) | 2.500 |" in table and "| EQ-R of the raw UNet output (dB) | inf |" in table
    rep["metrics"].update({"eq_r_disc_t900": 31.0, "eq_r_disc_t100": 30.0})
    table = evaluation.format_table(rep)
    assert table.index("t = 100 (dB) | 30.00") < table.index("t = 900 (dB) | 31.00")
    import json

    path = evaluation.write_json(rep, tmp_path / "r.json")
    assert json.loads(open(path).read())["metrics"]["eq_r"] == "inf"
    # the structured report round-trips through the file layout, per-angle sweeps included
    rep["metrics"].update({"rotation_consistency": 14.0, "rotation_consistency_bilinear": 12.0,
                           "rotation_consistency_per_angle": {"90": 14.0},
                           "rotation_consistency_per_angle_bilinear": {"90": 12.0}})
    report = evaluation.EvaluationReport.from_dict(rep)
    assert report.noise_equivariance == {100: {"eq_r_disc": 30.0}, 900: {"eq_r_disc": 31.0}}
    assert report.rotation_consistency["bilinear"] == {"mean": 12.0, "per_angle": {"90": 12.0}}
    assert report.to_dict() == rep
    assert "| rotation consistency, bilinear rotation (dB) | 12.00 |" in evaluation.format_table(report)


@pytest.mark.slow
@pytest.mark.data
def test_evaluate_command_end_to_end(tmp_path, capsys, monkeypatch):
    """`keras-aliasfree evaluate` on a (tiny, untrained) checkpoint against real MNIST."""
    if not os.environ.get("KERAS_ALIASFREE_DATA_DIR"):
        pytest.skip("KERAS_ALIASFREE_DATA_DIR is not set")
    monkeypatch.setenv("KERAS_ALIASFREE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))  # no Inception weights
    ck = _tiny_checkpoint(tmp_path / "ck")
    from keras_aliasfree.cli import main

    out_json = tmp_path / "eval.json"
    argv = ["evaluate", "--checkpoint", ck, "--data", "mnist", "--num", "100", "--steps", "2",
            "--batch-size", "100", "--kid-subsets", "5", "--angles", "30", "--rotation-num", "4",
            "--eq-num", "4", "--json", str(out_json), "--quiet"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "mnist-classifier" in text and "EQ-R of the raw UNet output" in text
    assert "EQ-R of eps_hat on the disc, t = 500" in text
    import json

    rep = json.loads(out_json.read_text())
    m = rep["metrics"]
    for key in ("fd", "kid_x100", "is", "is_real", "fd_rotated", "kid_rotated_x100", "eq_t",
                "eq_t_frac", "eq_r", "rotation_consistency", "eq_r_disc_t100", "eq_r_disc_t900",
                "eq_t_frac_disc_t500"):
        assert key in m, key
    # an untrained model makes noise: far from the data, and the data scores near the ceiling
    assert m["fd"] > 1.0 and 1.0 <= m["is"] < m["is_real"] <= 10.0
    assert rep["meta"]["extractor"].startswith("mnist-classifier")
    assert rep["meta"]["num"] == 100 and not rep["meta"]["reference_cached"]
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2  # plain + rotated reference


def test_kid_subsets_are_a_strict_part_of_the_samples():
    # at N == kid_subset_size every subset would be all N samples and KID's spread would read 0
    from keras_aliasfree.metrics.evaluation import generative_scores

    rng = np.random.default_rng(0)
    f = rng.normal(size=(40, 4))
    p = np.full((40, 3), 1 / 3)
    s = generative_scores(f, p, {"features": rng.normal(size=(40, 4))}, kid_subsets=20,
                          kid_subset_size=40)
    assert s["kid_subset_size"] == 20 and s["kid_std"] > 0
    assert generative_scores(f, p, {"features": f}, kid_subset_size=20)["kid_subset_size"] == 20
