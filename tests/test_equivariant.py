"""The C_N layers and the equivariant UNet commute with turns: exactly (float round-off) for quarter
turns, measurably for 45 degrees with C_8."""

import keras
import numpy as np
import pytest

from conftest import to_numpy
from keras_aliasfree import AliasFreeDownsample
from keras_aliasfree.equivariant import (FieldBroadcast, FieldGroupNorm, GroupConv2D,
                                         LiftingConv2D, OrientationPool, UpEncoding,
                                         steerable_basis, turn_fields, up_encoding)
from keras_aliasfree.equivariant_unet import EquivariantUNet, build_equivariant_unet

ATOL = 1e-5  # relative to the output's largest magnitude


def _images(size, channels=3, batch=2, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, size, size, channels)).astype("float32")


def _turn(x, k=1):
    return np.rot90(x, k, axes=(1, 2)).copy()


def _assert_turns(fn, x, group_order, k=1, out_is_fields=True):
    y = to_numpy(fn(x))
    got = to_numpy(fn(_turn(x, k)))
    want = turn_fields(y, k, group_order) if out_is_fields else _turn(y, k)
    scale = max(float(np.max(np.abs(y))), 1.0)
    np.testing.assert_allclose(got / scale, want / scale, atol=ATOL, rtol=0)


def test_basis_turned_a_quarter_is_the_rotated_grid():
    for n in (4, 8):
        b = steerable_basis(5, n)
        np.testing.assert_allclose(b[n // 4], np.rot90(b[0], 1), atol=1e-6)
        np.testing.assert_allclose(b[n // 2], np.rot90(b[0], 2), atol=1e-6)


def test_basis_has_no_harmonic_at_the_centre_and_unit_norm():
    b = steerable_basis(5, 4)[0]
    assert np.allclose(np.sum(b ** 2, axis=(0, 1)), 1.0, atol=1e-5)
    assert np.count_nonzero(np.abs(b[2, 2]) > 1e-6) == 3  # the m = 0 function of each ring


@pytest.mark.parametrize("size", [8, 9])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_lifting_conv_commutes_with_quarter_turns_exactly(size, k):
    keras.utils.set_random_seed(0)
    layer = LiftingConv2D(3, group_order=4)
    _assert_turns(layer, _images(size), 4, k)


@pytest.mark.parametrize("size", [8, 9])
@pytest.mark.parametrize("group_order", [4, 8])
def test_group_conv_commutes_with_quarter_turns_exactly(size, group_order):
    keras.utils.set_random_seed(0)
    lift = LiftingConv2D(2, group_order)
    conv = GroupConv2D(3, group_order, use_bias=True, bias_initializer="random_normal")
    _assert_turns(lambda v: conv(lift(v)), _images(size), group_order)
    _assert_turns(lambda v: conv(lift(v)), _images(size), group_order, k=3)


def test_pointwise_group_conv_commutes_with_orientation_shifts():
    keras.utils.set_random_seed(0)
    layer = GroupConv2D(2, 4, kernel_size=1)
    x = _images(5, channels=8)
    for k in (1, 2, 3):
        np.testing.assert_allclose(to_numpy(layer(turn_fields(x, k, 4))),
                                   turn_fields(to_numpy(layer(x)), k, 4), atol=ATOL)


def test_orientation_pool_is_invariant_up_to_the_spatial_turn():
    keras.utils.set_random_seed(0)
    lift = LiftingConv2D(2, 4)
    for mode in ("mean", "max"):
        pool = OrientationPool(4, mode)
        _assert_turns(lambda v: pool(lift(v)), _images(8), 4, out_is_fields=False)


def test_field_group_norm_and_pointwise_activations_commute():
    keras.utils.set_random_seed(0)
    lift = LiftingConv2D(4, 4)
    norm = FieldGroupNorm(4, groups=2)
    norm.build((None, 8, 8, 16))
    norm.set_weights([np.arange(1, 5, dtype="float32"), np.arange(4, dtype="float32")])
    _assert_turns(lambda v: keras.activations.gelu(norm(lift(v))), _images(8), 4)


def test_field_group_norm_normalises_whole_fields():
    x = _images(4, channels=8) * np.repeat([1.0, 10.0], 4) + np.repeat([0.0, 5.0], 4)
    y = to_numpy(FieldGroupNorm(4, groups=2)(x.astype("float32")))
    for g in range(2):
        part = y[0, ..., 4 * g:4 * g + 4]
        assert abs(part.mean()) < 1e-5 and abs(part.std() - 1.0) < 1e-3


def test_field_broadcast_adds_the_same_to_every_orientation():
    y = to_numpy(FieldBroadcast(4)(np.array([[1.0, 2.0]], "float32")))
    assert np.array_equal(turn_fields(y.reshape(1, 1, 1, 8), 1, 4), y.reshape(1, 1, 1, 8))


def test_up_encoding_turned_with_the_image_is_a_cyclic_shift():
    for n, step in ((4, 90.0), (8, 45.0)):
        phi = np.array([0.0, 17.0, 200.0])
        e = to_numpy(up_encoding(phi, n))
        np.testing.assert_allclose(to_numpy(up_encoding(phi + step, n)), np.roll(e, 1, axis=1),
                                   atol=1e-5)
    np.testing.assert_allclose(to_numpy(UpEncoding(4)(np.array([90.0], "float32"))),
                               [[0.0, 1.0, 0.0, -1.0]], atol=1e-6)


def test_c8_error_for_45_degree_turns_is_small():
    # an exact rotation of band-limited content (metrics.exact_rotation turns clockwise for a
    # positive angle, hence -45); fields compared on the central disc
    from keras_aliasfree.discs import disc_mask
    from keras_aliasfree.metrics.equivariance import exact_rotation, radial_window

    n = 32
    x = np.random.default_rng(0).normal(size=(2, n, n, 1)) * radial_window(n)[None, :, :, None]
    x = exact_rotation(x, 0.0, radius=0.25).astype("float32")
    mask = disc_mask(n, n, n / 2 - 1)[None, :, :, None]

    def error(group_order, taper=None):
        keras.utils.set_random_seed(0)
        lift = LiftingConv2D(4, group_order, taper=taper)
        conv = GroupConv2D(4, group_order, taper=taper)
        f = lambda v: to_numpy(conv(lift(v)))  # noqa: E731
        want = exact_rotation(f(x), -45.0)
        fields = want.shape[-1] // group_order
        want = np.roll(want.reshape(2, n, n, fields, group_order), group_order // 8,
                       -1).reshape(want.shape)
        got = exact_rotation(f(exact_rotation(x, -45.0).astype("float32")), 0.0)
        m = np.broadcast_to(mask, got.shape)
        return float(np.sqrt(np.sum((got - want) ** 2 * m) / np.sum(want ** 2 * m)))

    e8, e4 = error(8), error(4)   # C_4 has no 45-degree element: its fields are not turned
    assert e8 < 0.15 and e8 < e4 / 4, (e8, e4)
    # the square support's corners are what a 45-degree turn moves; the windowed basis fades them
    tapered = error(8, taper=3.5)
    assert tapered < e8 / 2, (tapered, e8)


def test_tapered_basis_keeps_quarter_turns_and_round_trips():
    b, t = steerable_basis(5, 8), steerable_basis(5, 8, taper=3.5)
    assert t.shape == b.shape and not np.allclose(t, b)
    np.testing.assert_allclose(t[2], np.rot90(t[0], 1), atol=1e-6)
    assert np.allclose(np.sum(t[0] ** 2, axis=(0, 1)), 1.0, atol=1e-5)
    np.testing.assert_array_equal(steerable_basis(5, 8, taper=None), b)
    keras.utils.set_random_seed(0)
    lift, conv = LiftingConv2D(2, 4, taper=3.5), GroupConv2D(3, 4, taper=3.5)
    _assert_turns(lambda v: conv(lift(v)), _images(9), 4)
    again = GroupConv2D.from_config(conv.get_config())
    assert again.taper == 3.5 and np.array_equal(again._basis, conv._basis)
    assert LiftingConv2D(2, 4).get_config()["taper"] is None
    for bad in (2.0, 1.0, True):  # not beyond the 5x5 kernel's outer ring (radius 2)
        with pytest.raises(ValueError, match="taper"):
            steerable_basis(5, 4, taper=bad)


def test_steerable_layers_reject_even_kernels_and_partial_fields():
    with pytest.raises(ValueError, match="odd"):
        LiftingConv2D(2, 4, kernel_size=4)
    with pytest.raises(ValueError, match="fields x group_order"):
        GroupConv2D(2, 4)(np.zeros((1, 5, 5, 6), "float32"))
    with pytest.raises(ValueError, match="max_frequency"):
        GroupConv2D(2, 4, max_frequency=True)
    with pytest.raises(ValueError, match="mode"):
        OrientationPool(4, "median")
    with pytest.raises(ValueError, match="multiple of 4"):
        turn_fields(np.zeros((1, 2, 2, 3)), 1, 3)


def test_jinc_resampling_commutes_with_quarter_turns_on_even_sizes_but_the_paper_preset_does_not():
    x = _images(16)
    default = AliasFreeDownsample(2)
    _assert_turns(default, x, 4, out_is_fields=False)
    paper = AliasFreeDownsample(2, preset="paper")
    y, got = to_numpy(paper(x)), to_numpy(paper(_turn(x)))
    assert np.max(np.abs(got - _turn(y))) > 0.1


# ------------------------------------------------------------------------------------- the UNet

def _small_unet(**kw):
    keras.utils.set_random_seed(0)
    return build_equivariant_unet(16, channels=1, base_width=2, channel_mults=(1, 2),
                                  bottleneck_mult=2, time_dim=8, **kw)


def _inputs():
    x = _images(16, channels=1)
    return x, np.array([10.0, 700.0], "float32"), np.array([0.0, 30.0], "float32")


@pytest.mark.parametrize("group_order", [4, 8])
def test_unet_commutes_with_quarter_turns_of_the_image_and_up_together(group_order):
    m = _small_unet(group_order=group_order)
    x, t, up = _inputs()
    y = to_numpy(m([x, t, up]))
    for k in (1, 2):
        got = to_numpy(m([_turn(x, k), t, up + 90.0 * k]))
        np.testing.assert_allclose(got, _turn(y, k), atol=ATOL * max(1.0, np.abs(y).max()))


def test_unet_uses_the_up_input():
    m = _small_unet()
    x, t, up = _inputs()
    y0, y90 = to_numpy(m([x, t, up])), to_numpy(m([x, t, up + 90.0]))
    assert np.max(np.abs(y90 - y0)) > 1e-2 * np.max(np.abs(y0))
    # turning the image alone is not a symmetry any more
    assert np.max(np.abs(to_numpy(m([_turn(x), t, up])) - _turn(y0))) > 1e-2 * np.max(np.abs(y0))


def test_unet_without_up_is_equivariant_in_the_image_alone():
    m = _small_unet(use_up=False, activation="filtered_gelu")
    assert len(m.inputs) == 2
    x, t, _ = _inputs()
    y = to_numpy(m([x, t]))
    np.testing.assert_allclose(to_numpy(m([_turn(x), t])), _turn(y),
                               atol=ATOL * max(1.0, np.abs(y).max()))


def test_unet_config_round_trips_and_saves(tmp_path):
    m = _small_unet()
    clone = EquivariantUNet.from_config(m.get_config())
    assert clone.get_config() == m.get_config()
    path = str(tmp_path / "eq.keras")
    m.save(path)
    loaded = keras.saving.load_model(path)
    x, t, up = _inputs()
    np.testing.assert_allclose(to_numpy(loaded([x, t, up])), to_numpy(m([x, t, up])), atol=1e-6)


def test_tapered_unet_windows_every_wide_kernel_and_keeps_quarter_turns():
    m = _small_unet(group_order=8, kernel_taper=1.5)
    tapers = {layer.name: (layer.kernel_size, layer.taper) for layer in m.layers
              if isinstance(layer, (LiftingConv2D, GroupConv2D))}
    assert tapers["lift"] == (5, 3.5) and tapers["up_fields"] == (1, None)
    assert all(t == (k - 1) / 2 + 1.5 for k, t in tapers.values() if k > 1)
    x, t, up = _inputs()
    y = to_numpy(m([x, t, up]))
    np.testing.assert_allclose(to_numpy(m([_turn(x), t, up + 90.0])), _turn(y),
                               atol=ATOL * max(1.0, np.abs(y).max()))
    clone = EquivariantUNet.from_config(m.get_config())
    assert clone.unet_config["kernel_taper"] == 1.5
    clone.set_weights(m.get_weights())
    np.testing.assert_allclose(to_numpy(clone([x, t, up])), y, atol=1e-6)
    square = _small_unet(group_order=8)  # the same coefficients on the square basis differ
    assert "kernel_taper" not in square.unet_config
    square.set_weights(m.get_weights())
    assert np.max(np.abs(to_numpy(square([x, t, up])) - y)) > 1e-3 * np.max(np.abs(y))
    for bad in (0.0, -1.0, True):
        with pytest.raises(ValueError, match="kernel_taper"):
            _small_unet(kernel_taper=bad)


def test_unet_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        _small_unet(activation="relu6")
