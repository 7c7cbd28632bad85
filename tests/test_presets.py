"""Presets: the registry of pretrained models by name (list, resolve, register), loading them with
``DiffusionModel.from_preset`` on every backend, the command line, and the packaging that puts
them in the wheel (scripts/check_wheel.sh installs that wheel and runs it; CI calls it)."""

import os
import sys

import numpy as np
import pytest

from keras_aliasfree import presets as P
from keras_aliasfree.diffusion import DiffusionModel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def registered():
    """Names registered by a test, removed afterwards (the registry is per process)."""
    names = []
    yield names
    for n in names:
        if n in P.list_presets():
            P.unregister_preset(n)


# --------------------------------------------------------------------------- the registry

def test_the_shipped_presets_are_listed_by_kind():
    assert P.list_presets()[:4] == ["mnist-d", "mnist-a", "mnist-e", "mnist-classifier"]
    assert P.list_presets("diffusion") == ["mnist-d", "mnist-a", "mnist-e"]
    assert P.list_presets("classifier") == ["mnist-classifier"]
    with pytest.raises(ValueError, match="kind must be one of"):
        P.list_presets("gan")


def test_every_card_says_what_it_is_its_budget_and_scores():
    for name in ("mnist-d", "mnist-a", "mnist-classifier"):
        p = P.get_preset(name)
        assert p.shipped and p.description and p.config and p.training and p.scores
    d, a = P.get_preset("mnist-d"), P.get_preset("mnist-a")
    assert (d.config["unet"], a.config["unet"]) == ("D-1N", "A")
    assert d.training["steps"] == a.training["steps"] == 18_000
    assert d.scores["fd"] == 3.95 and a.scores["fd"] == 3.14  # saved_models/README.md
    # a card handed out is a copy: editing it leaves the registry alone
    d.config["unet"] = "X"
    assert P.get_preset("mnist-d").config["unet"] == "D-1N"


def test_a_name_resolves_to_its_folder_and_a_folder_to_itself():
    d = P.resolve_preset("mnist-d")
    assert os.path.isfile(os.path.join(d, "saved_model.pb"))
    assert os.path.isfile(os.path.join(P.resolve_preset("mnist-classifier"), "classifier.keras"))
    assert P.resolve_preset(d) == d
    assert P.folder_kind(d) == "saved_model"
    assert os.path.dirname(d) == P.data_root()


def test_an_unknown_name_is_a_preset_error_that_lists_the_names(tmp_path):
    with pytest.raises(P.PresetError) as e:
        P.resolve_preset("mnist-z")
    assert isinstance(e.value, KeyError)
    assert str(e.value) == ("no preset named 'mnist-z' and no folder at that path; the presets "
                            "are: mnist-d, mnist-a, mnist-e, mnist-classifier")
    with pytest.raises(P.PresetError, match="the diffusion presets are: mnist-d, mnist-a, mnist-e$"):
        P.resolve_preset(str(tmp_path / "missing"), kind="diffusion")
    with pytest.raises(P.PresetError, match="is a classifier preset, not a diffusion one"):
        P.resolve_preset("mnist-classifier", kind="diffusion")
    with pytest.raises(P.PresetError, match="holds a saved model, not a classifier"):
        P.resolve_preset(P.resolve_preset("mnist-a"), kind="classifier")
    with pytest.raises(P.PresetError, match="no preset named 'x'; the presets are: mnist-d"):
        P.get_preset("x")


def test_a_users_folder_registers_and_resolves_like_a_shipped_one(registered, tmp_path):
    src = P.resolve_preset("mnist-a")
    p = P.register_preset("my-a", src, description="my copy", scores={"fd": 1.0})
    registered.append("my-a")
    assert p.kind == "diffusion" and not p.shipped
    assert P.list_presets("diffusion") == ["mnist-d", "mnist-a", "mnist-e", "my-a"]
    assert P.resolve_preset("my-a", kind="diffusion") == src
    assert "| my-a | diffusion | my copy |" in P.presets_table()
    with pytest.raises(P.PresetError, match="registered already"):
        P.register_preset("my-a", src)
    P.register_preset("my-a", P.resolve_preset("mnist-classifier"), overwrite=True)
    assert P.get_preset("my-a").kind == "classifier"  # judged from classifier.keras
    with pytest.raises(P.PresetError, match="is a shipped preset"):
        P.register_preset("mnist-d", src, overwrite=True)
    with pytest.raises(P.PresetError, match="no folder at"):
        P.register_preset("gone", tmp_path / "gone")
    with pytest.raises(P.PresetError, match="cannot tell what"):
        P.register_preset("empty", tmp_path)
    P.unregister_preset("my-a")
    assert "my-a" not in P.list_presets()
    with pytest.raises(P.PresetError, match="cannot be removed"):
        P.unregister_preset("mnist-a")


# --------------------------------------------------------------------------- from_preset

def test_from_preset_samples_the_right_shape_deterministically_per_seed():
    dm = DiffusionModel.from_preset("mnist-a")
    assert dm.image_shape == (32, 32, 1) and dm.prediction == "v"
    assert (dm.loss_weighting, dm.ema_decay) == ("min_snr", 0.995)  # from the card
    assert dm.denoiser.count_params() == P.get_preset("mnist-a").config["params"]
    kw = dict(sampler="ddim", steps=3, eta=1.0, verbose=0)
    a = dm.sample(3, seed=5, **kw)
    assert a.shape == (3, 32, 32, 1) and a.dtype == np.float32
    assert a.min() >= -1.0 and a.max() <= 1.0 and a.std() > 0.1
    np.testing.assert_array_equal(a, dm.sample(3, seed=5, **kw))
    assert not np.array_equal(a, dm.sample(3, seed=6, **kw))


def test_from_preset_takes_a_name_a_folder_or_a_registered_name_alike(registered):
    by_name = DiffusionModel.from_preset("mnist-d")
    assert by_name.band_limit == "disc"
    by_path = DiffusionModel.from_preset(P.resolve_preset("mnist-d"))
    P.register_preset("mine", P.resolve_preset("mnist-d"))
    registered.append("mine")
    by_registered = DiffusionModel.from_preset("mine")
    kw = dict(sampler="ddim", steps=2, eta=1.0, seed=1, verbose=0)
    want = by_name.sample(2, **kw)
    np.testing.assert_array_equal(want, by_path.sample(2, **kw))
    np.testing.assert_array_equal(want, by_registered.sample(2, **kw))
    # an export without a card: the training options fall back to the library's defaults
    assert by_path.loss_weighting == "uniform" and by_name.loss_weighting == "min_snr"
    with pytest.raises(P.PresetError, match="the diffusion presets are: mnist-d, mnist-a, mnist-e, mine"):
        DiffusionModel.from_preset("mnist-classifier")


def test_from_preset_of_a_training_checkpoint_is_from_checkpoint(tmp_path):
    import keras

    from keras_aliasfree.diffusion import NoiseSchedule
    from keras_aliasfree.unet import build_unet

    net = build_unet("A", image_size=8, base_width=8, channel_mults=(1, 2), bottleneck_mult=2,
                     attention=False, time_dim=16)
    dm = DiffusionModel(net, NoiseSchedule(20), seed=0)
    for e in dm.ema_variables:
        e.assign(keras.ops.convert_to_numpy(e.value) * 0.5)
    ckpt = dm.save_checkpoint(str(tmp_path / "ckpt"))
    got = DiffusionModel.from_preset(ckpt)
    kw = dict(sampler="ddim", steps=3, seed=2, verbose=0)
    np.testing.assert_array_equal(got.sample(2, **kw), dm.sample(2, **kw))


@pytest.mark.tf_only
def test_from_preset_reproduces_the_shipped_saved_model():
    """The variables are read back in the right order: the Keras model's noise prediction and
    samples equal the SavedModel's own signatures."""
    import tensorflow as tf

    from keras_aliasfree.diffusion import Heun
    from keras_aliasfree.diffusion.exported import read_export_info
    from keras_aliasfree.export import load_saved_model

    dm = DiffusionModel.from_preset("mnist-d")
    served = load_saved_model("mnist-d")
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 1)).astype("float32")
    t = np.array([10, 600], "int32")
    want = served.signatures["denoise"](noisy_images=tf.constant(x),
                                        timesteps=tf.constant(t))["noise"].numpy()
    got = np.asarray(dm.predict_noise(x, t))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    # the shipped export serves its fixed sampler (Heun, 10 steps) on steps <= 0
    assert read_export_info(P.resolve_preset("mnist-d"))["sampler"]["name"] == "heun"
    images = served.signatures["sample"](seed=tf.constant(4, tf.int64),
                                         num_images=tf.constant(2),
                                         rotation_degrees=tf.constant(30.0),
                                         steps=tf.constant(0))["images"].numpy()
    mine = dm.sample(2, sampler=Heun(10), rotation=30.0, seed=4, verbose=0)
    mine = np.clip(np.round((mine + 1.0) * 127.5), 0, 255).astype("uint8")
    assert np.abs(mine.astype(int) - images.astype(int)).max() <= 1


def test_the_classifier_loads_by_preset_name():
    from keras_aliasfree.metrics import get_extractor, load_classifier_extractor

    ext = load_classifier_extractor("mnist-classifier")
    assert ext.name.startswith("mnist-classifier-") and ext.input_size == 32
    assert get_extractor("mnist-classifier").name == ext.name
    with pytest.raises(P.PresetError, match="the classifier presets are: mnist-classifier"):
        load_classifier_extractor("mnist-q")


# --------------------------------------------------------------------------- command line

def test_presets_command_prints_the_table(capsys):
    from keras_aliasfree.cli import main

    assert main(["presets", "--paths"]) == 0
    out = capsys.readouterr().out
    for name in ("mnist-d", "mnist-a", "mnist-e", "mnist-classifier"):
        assert f"| {name} |" in out
    assert P.resolve_preset("mnist-d") in out
    assert main(["presets", "--kind", "classifier"]) == 0
    assert "| mnist-d |" not in capsys.readouterr().out
    assert main(["presets", "mnist-q"]) == 2
    assert "no preset named 'mnist-q'" in capsys.readouterr().err


def test_sample_command_takes_a_preset_name(tmp_path, capsys):
    from keras_aliasfree.cli import main

    out = tmp_path / "grid.png"
    assert main(["sample", "--checkpoint", "mnist-a", "--num", "2", "--sampler", "ddim",
                 "--steps", "2", "--eta", "1",
                 "--out", str(out)]) == 0
    assert out.is_file()
    assert main(["sample", "--checkpoint", "mnist-q", "--out", str(out)]) == 2
    assert "the diffusion presets are: mnist-d, mnist-a" in capsys.readouterr().err


def test_demo_and_evaluate_name_the_presets_when_one_is_unknown(tmp_path, capsys):
    from keras_aliasfree.cli import main

    assert main(["demo", "--model", "mnist-q", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no SavedModel for --model mnist-q" in err and "mnist-d, mnist-a" in err
    assert main(["demo", "--baseline", "mnist-classifier", "--out", str(tmp_path / "o")]) == 2
    assert "is a classifier preset" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", "mnist-q"]) == 2
    assert "the diffusion presets are" in capsys.readouterr().err


def test_demo_default_is_the_preset_not_a_repository_path(monkeypatch):
    from keras_aliasfree.commands import demo

    monkeypatch.delenv(demo.MODEL_ENV, raising=False)
    assert demo.default_model_path() == P.resolve_preset("mnist-d")
    monkeypatch.setenv(demo.MODEL_ENV, "mnist-a")
    assert demo.default_model_path() == P.resolve_preset("mnist-a")


# --------------------------------------------------------------------------- packaging

def test_pyproject_lists_every_subpackage_and_maps_the_presets():
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is Python 3.11+")
    import tomllib

    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        st = tomllib.load(f)["tool"]["setuptools"]
    pkg = os.path.join(REPO, "keras_aliasfree")
    found = {"keras_aliasfree" + d[len(pkg):].replace(os.sep, ".")
             for d, _, files in os.walk(pkg) if "__init__.py" in files}
    assert found | {"keras_aliasfree.presets_data"} == set(st["packages"])
    assert st["package-dir"] == {"keras_aliasfree.presets_data": P.SOURCE_FOLDER}
    globs = st["package-data"]["keras_aliasfree.presets_data"]
    import fnmatch

    src = os.path.join(REPO, P.SOURCE_FOLDER)
    for name in P.list_presets():
        folder = os.path.join(src, P.get_preset(name).folder)
        for d, _, files in os.walk(folder):
            for fname in files:
                rel = os.path.relpath(os.path.join(d, fname), src)
                assert any(fnmatch.fnmatch(rel, g) for g in globs), f"{rel} not in the wheel"


def test_the_shipped_data_stays_small():
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(P.data_root())
               for f in fs)
    # three diffusion SavedModels (about 3-11 MB each, most of it the graph's constant filter and
    # basis matrices; mnist-d's graph with Heun fixed in it is 9.3 MB) and the classifier: 20.3 MB
    assert size < 22e6, f"{size / 1e6:.1f} MB of preset data"


@pytest.mark.tf_only
def test_the_shipped_equivariant_preset_turns_its_sample_at_quarter_turns():
    import tensorflow as tf

    from keras_aliasfree.export import load_saved_model

    m = load_saved_model("mnist-e")
    info = P.get_preset("mnist-e").config
    assert info["unet"] == "E4" and info["rotation_mode"] == "once"

    def call(rotation):
        return m.signatures["sample"](seed=tf.constant(3, tf.int64), num_images=tf.constant(2),
                                      rotation_degrees=tf.constant(rotation),
                                      steps=tf.constant(6))["images"].numpy()

    upright = call(0.0)
    for k in (1, 2, 3):
        turned = np.rot90(call(90.0 * k), -k, axes=(1, 2)).astype(int)
        assert np.abs(turned - upright.astype(int)).max() <= 1
    # and the Keras model rebuilt from the export samples the same way
    from keras_aliasfree.diffusion import DDIM, DiffusionModel

    dm = DiffusionModel.from_preset("mnist-e")
    assert dm.takes_up and dm.up_augment == info["up_augment"] == 0.5  # the card's training option
    assert dm.equivariance_weight == info["equivariance_weight"] == 4.0
    a = dm.sample(2, sampler=DDIM(6, 1.0), seed=1, verbose=0)
    b = dm.sample(2, sampler=DDIM(6, 1.0), seed=1, verbose=0, rotation=180.0,
                  rotation_mode="once")
    np.testing.assert_allclose(np.rot90(b, 2, axes=(1, 2)), a, atol=1e-4)
