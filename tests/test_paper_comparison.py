"""The library options scripts/paper_comparison.sh relies on: evaluate's
``consistency_methods`` / ``save_samples`` and ``sample --frames K --out strip.png``."""

import numpy as np
import pytest

# --- the library options the script uses -------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
    from keras_aliasfree.unet import build_unet

    d = tmp_path_factory.mktemp("tiny")
    net = build_unet("A", image_size=32, channels=1, base_width=4, channel_mults=(1, 2),
                     bottleneck_mult=2, attention=False, time_dim=8)
    ck = DiffusionModel(net, NoiseSchedule(10), seed=0).save_checkpoint(str(d / "ck"))
    data = d / "toy.npz"
    np.savez(data, x=(np.random.default_rng(0).random((8, 32, 32)) * 255).astype("uint8"))
    return ck, str(data), d


@pytest.mark.filterwarnings("ignore:Matrix is singular")  # FD of 4 samples in 128-d
def test_evaluate_saves_samples_and_sweeps_two_rotation_methods(tiny, monkeypatch):
    from keras_aliasfree.metrics import evaluation

    ck, data, d = tiny
    monkeypatch.setenv("KERAS_HOME", str(d / "keras_home"))  # no Inception weights
    npz = str(d / "s" / "samples.npz")
    rep = evaluation.evaluate_checkpoint(
        ck, data=data, num=4, extractor="classifier", steps=2, batch_size=4, angles=(90.0,),
        rotation_num=2, rotated_fd_angle=0, eq_num=2, eq_timestep=5, eq_timesteps=(), kid_subsets=2,
        consistency_methods=("fft", "bilinear"), save_samples=npz, verbose=False, eta=1.0)
    m = rep["metrics"]
    assert rep["meta"]["consistency_methods"] == ["fft", "bilinear"]
    assert set(m["rotation_consistency_per_angle"]) == {"90"}
    assert set(m["rotation_consistency_per_angle_bilinear"]) == {"90"}
    # two sweeps, each with its own rotation (45 deg per step: bilinear blurs, fft does not)
    assert m["rotation_consistency_bilinear"] != m["rotation_consistency"]
    assert "rotation consistency, bilinear rotation (dB)" in evaluation.format_table(rep)
    x = np.load(npz)["x"]
    assert x.dtype == np.uint8 and x.shape == (4, 32, 32, 1) and x.std() > 0
    with pytest.raises(ValueError, match="rotation method"):
        evaluation.evaluate_checkpoint(ck, data=data, consistency_methods=("nearest",))
    with pytest.raises(ValueError, match=".npz"):
        evaluation.evaluate_checkpoint(ck, data=data, save_samples=str(d / "s.png"))


def test_sample_strip_png(tiny):
    from PIL import Image

    from keras_aliasfree.cli import main

    ck, _, d = tiny
    strip, plain = str(d / "strip.png"), str(d / "plain.png")
    common = ["sample", "--checkpoint", ck, "--num", "2", "--steps", "2", "--seed", "3"]
    assert main(common + ["--rotation", "90", "--frames", "3", "--out", strip]) == 0
    assert main(common + ["--nrow", "1", "--out", plain]) == 0
    s, p = np.asarray(Image.open(strip)), np.asarray(Image.open(plain))
    assert s.shape[:2] == (2 + 2 * 34, 2 + 3 * 34)  # a row per image, a column per frame
    # the middle frame is rotation 0: the plain samples of the same seed
    np.testing.assert_array_equal(s[:, 34:70], p)
    assert not np.array_equal(s[:, 0:36], s[:, 34:70])
