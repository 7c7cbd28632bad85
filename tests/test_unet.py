"""UNet configs A-D: name parsing, parameter counts, shapes and clear errors (all backends)."""

import keras
import numpy as np
import pytest

from keras_aliasfree import AliasFreeDownsample, AliasFreeUpsample, FilteredActivation, FilterSpec
from keras_aliasfree.unet import BilinearUpsample, build_unet, parse_config, unet_from_config

TINY = dict(image_size=16, base_width=8, attention=(False, False, True, True, False, False),
            time_dim=16)


@pytest.mark.parametrize("name,letter,beta,norm", [
    ("A", "A", None, False), ("B-0", "B", 0.0, False), ("C-2N", "C", 2.0, True),
    ("D-1N", "D", 1.0, True), ("d-1n", "D", 1.0, True), ("D", "D", None, True),
    ("B-0.5N", "B", 0.5, True)])
def test_parse_config(name, letter, beta, norm):
    c = parse_config(name)
    assert (c.letter, c.beta, c.normalize) == (letter, beta, norm)
    assert c.alias_free_resampling == (letter in "BD")
    assert c.filtered_activation == (letter in "CD")


@pytest.mark.parametrize("bad", ["E", "D-x", "B-1Q", "A-1N", "", "D-", "DD-1", "D--1", 3])
def test_parse_config_rejects_malformed(bad):
    with pytest.raises(ValueError) as e:
        parse_config(bad)
    assert "D-1N" in str(e.value)  # the message lists the valid forms


def _layer_types(model):
    return {type(l) for l in model.layers}


def test_configs_use_the_right_layers():
    a, b, c, d = (build_unet(n, **TINY) for n in ("A", "B-1N", "C-1N", "D-1N"))
    assert BilinearUpsample in _layer_types(a) and AliasFreeUpsample not in _layer_types(a)
    assert FilteredActivation not in _layer_types(a) | _layer_types(b)
    assert {AliasFreeUpsample, AliasFreeDownsample} <= _layer_types(b)
    assert FilteredActivation in _layer_types(c) and AliasFreeDownsample not in _layer_types(c)
    assert {AliasFreeUpsample, AliasFreeDownsample, FilteredActivation} <= _layer_types(d)
    f = next(l for l in d.layers if isinstance(l, FilteredActivation))
    assert f.beta == 1.0 and f.normalize and f.kernel.shape == (8, 8)


def test_paper_filter_preset():
    m = build_unet("D-2N", filters={"preset": "paper"}, **TINY)
    f = next(l for l in m.layers if isinstance(l, AliasFreeDownsample))
    assert f.kernel.shape == (3, 3) and f.beta == 2.0
    m = build_unet("B-0", filters=FilterSpec(kernel_size=6), **TINY)
    f = next(l for l in m.layers if isinstance(l, AliasFreeUpsample))
    assert f.kernel.shape == (6, 6) and not f.normalize


def test_equal_parameter_counts_tiny():
    counts = {n: build_unet(n, **TINY).count_params() for n in ("A", "B-0", "C-2N", "D-1N")}
    assert len(set(counts.values())) == 1, counts


def test_paper_size_matches_reference_count():
    # the reference PyTorch UNet has 5,896,513 parameters at 32x32x1 for every variant
    assert build_unet("A", image_size=32, channels=1).count_params() == 5_896_513
    assert build_unet("D-1N", image_size=32, channels=1).count_params() == 5_896_513


def test_forward_shape_and_time_dependence(rng):
    m = build_unet("D-1N", channels=3, **TINY)
    x = rng.normal(size=(2, 16, 16, 3)).astype("float32")
    y0 = keras.ops.convert_to_numpy(m([x, np.array([0.0, 0.0], "float32")]))
    y1 = keras.ops.convert_to_numpy(m([x, np.array([500.0, 500.0], "float32")]))
    assert y0.shape == (2, 16, 16, 3) and y0.dtype == np.float32
    assert not np.allclose(y0, y1)  # the time embedding reaches the output


def test_rebuild_from_config():
    m = build_unet("C-0", **TINY)
    m2 = unet_from_config(m.unet_config)
    assert m2.count_params() == m.count_params() and m2.unet_config == m.unet_config


@pytest.mark.parametrize("config", ["A", "D-1N"])
def test_unet_keras_file_round_trip(config, tmp_path):
    # the UNet is a registered functional subclass: .keras keeps its build config and weights
    from keras_aliasfree import UNet

    m = build_unet(config, **TINY, filters={"kernel_size": 6})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 16, 16, 1)).astype("float32")
    t = np.array([3.0, 700.0], "float32")
    want = keras.ops.convert_to_numpy(m([x, t]))
    path = str(tmp_path / "unet.keras")
    m.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, UNet) and loaded.unet_config == m.unet_config
    assert loaded.unet_config["filters"]["kernel_size"] == 6 and loaded.name == m.name
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded([x, t])), want)


def test_unet_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        m = build_unet("D-1N", **TINY)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    y = m([np.zeros((1, 16, 16, 1), "float32"), np.array([500.0], "float32")])
    assert keras.backend.standardize_dtype(y.dtype) == "float32"  # the output conv is float32
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(y)))


def test_isotropic_convs_make_the_unet_commute_with_quarter_turns(tmp_path):
    from keras_aliasfree.unet import IsotropicConv2D

    x = np.random.default_rng(0).normal(size=(2, 16, 16, 1)).astype("float32")
    t = np.array([100.0, 700.0], "float32")
    turn = lambda v: np.rot90(keras.ops.convert_to_numpy(v), 1, (1, 2))  # noqa: E731
    for config in ("A", "D-1N"):
        iso = build_unet(config, **TINY, conv="isotropic")
        free = build_unet(config, **TINY)
        # every part but the learned 3x3 convs treats the four directions alike
        err_iso = np.abs(turn(iso([x, t])) - keras.ops.convert_to_numpy(iso([turn(x), t]))).max()
        err_free = np.abs(turn(free([x, t])) - keras.ops.convert_to_numpy(free([turn(x), t]))).max()
        assert err_iso < 1e-4 < 0.01 < err_free
        assert iso.count_params() < free.count_params()
        assert iso.unet_config["conv"] == "isotropic" and free.unet_config["conv"] == "free"
    kernel = keras.ops.convert_to_numpy(
        [l for l in iso.layers if isinstance(l, IsotropicConv2D)][0].kernel())
    np.testing.assert_allclose(kernel, np.rot90(kernel, 1, (0, 1)), atol=1e-6)
    np.testing.assert_allclose(kernel, kernel[::-1], atol=1e-6)
    path = str(tmp_path / "iso.keras")
    iso.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded([x, t])),
                               keras.ops.convert_to_numpy(iso([x, t])), atol=1e-5)
    with pytest.raises(ValueError, match="conv must be one of"):
        build_unet("A", **TINY, conv="round")


def test_bilinear_upsample_align_corners():
    x = np.arange(6, dtype="float32").reshape(1, 2, 3, 1)
    y = keras.ops.convert_to_numpy(BilinearUpsample()(x))[0, :, :, 0]
    assert y.shape == (4, 6)
    np.testing.assert_allclose(y[0, [0, -1]], [0, 2], atol=1e-6)  # corners kept exactly
    np.testing.assert_allclose(y[-1, [0, -1]], [3, 5], atol=1e-6)
    np.testing.assert_allclose(y[:, 0], [0, 1, 2, 3], atol=1e-6)


@pytest.mark.parametrize("size,match", [(20, "divisible by 2\\*\\*3 = 8"), ((16, 12), "divisible"),
                                        (0, "positive"), ("big", "image_size")])
def test_bad_image_sizes(size, match):
    with pytest.raises(ValueError, match=match):
        build_unet("A", image_size=size, base_width=8)


def test_bad_arguments():
    with pytest.raises(ValueError, match="attention"):
        build_unet("A", image_size=16, base_width=8, attention=(True, False))
    with pytest.raises(ValueError, match="preset"):
        build_unet("B-1N", image_size=16, base_width=8, filters={"preset": "fancy"})
    with pytest.raises(ValueError, match="num_heads"):
        build_unet("A", image_size=16, base_width=6, attention=True)


@pytest.mark.parametrize("size", [64, 128])
def test_large_unets_train_and_sample(size):
    # at 64 and 128 px the filtered activations run the banded resampling; a D UNet
    # builds, trains a step (finite loss, weights move) and samples there on every backend
    from keras_aliasfree import ops as O
    from keras_aliasfree.diffusion import DiffusionModel

    net = build_unet("D-1N", image_size=size, channels=1, base_width=4, channel_mults=(1, 2),
                     bottleneck_mult=2, attention=False, time_dim=16)
    fas = [layer for layer in net.layers if isinstance(layer, FilteredActivation)]
    assert fas and fas[0]._operands[0].impl == "banded"
    dm = DiffusionModel(net, prediction="v", seed=0, ema_decay=0.0)
    dm.compile(optimizer=keras.optimizers.Adam(1e-3))
    before = keras.ops.convert_to_numpy(net.trainable_weights[0]).copy()
    x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 1)).astype("float32")
    logs = dm.train_on_batch(x, return_dict=True)
    assert np.isfinite(float(logs["loss"]))
    assert not np.allclose(keras.ops.convert_to_numpy(net.trainable_weights[0]), before)
    img = keras.ops.convert_to_numpy(dm.sample(1, steps=2, sampler="ddim", seed=0, verbose=0))
    assert img.shape == (1, size, size, 1) and np.isfinite(img).all()
    assert O.gemm_operands(fas[0].kernel, size, size, 2, "up").impl == "banded"


def test_a_config_with_the_older_separate_filter_keys_builds_the_same_unet():
    new = build_unet("D-1N", filters={"kernel_size": 6, "preset": "default", "rank": 2}, **TINY)
    old = dict(new.unet_config)
    filters = old.pop("filters")
    old.update(kernel_size=filters["kernel_size"], cutoff=None, filter_preset="default",
               window=None, filter_rank=2)
    old.pop("conv")  # configs from before the option had no "conv"
    rebuilt = unet_from_config(old)
    assert rebuilt.unet_config == new.unet_config
    f = next(l for l in rebuilt.layers if isinstance(l, FilteredActivation))
    assert f.kernel_size == 6 and f.rank == 2
    with pytest.raises(ValueError, match="both 'filters' and the older keys"):
        unet_from_config({**new.unet_config, "filter_preset": "paper"})
