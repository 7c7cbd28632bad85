"""Filter design (numpy only; runs the same on every backend)."""

import numpy as np
import pytest
from scipy import special

from keras_aliasfree import filters as F


def test_jinc_matches_definition_unnormalized():
    wc, n = np.pi / 2, 5
    k = F.jinc_lowpass(n, wc, beta=0.0, normalize=False)
    c = np.arange(n) - (n - 1) / 2
    r = np.hypot(c[:, None], c[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = wc * special.j1(wc * r) / (2 * np.pi * r)
    ref[2, 2] = wc**2 / (4 * np.pi)
    np.testing.assert_allclose(k, ref, rtol=1e-12)


def test_jinc_kaiser_window_and_normalization():
    k = F.jinc_lowpass(6, np.pi / 2, beta=3.0, normalize=True)
    assert k.shape == (6, 6)
    assert abs(k.sum() - 1) < 1e-12
    np.testing.assert_allclose(k, k.T)
    np.testing.assert_allclose(k, k[::-1, ::-1])
    raw = F.jinc_lowpass(6, np.pi / 2, beta=0.0, normalize=False)
    windowed = F.jinc_lowpass(6, np.pi / 2, beta=3.0, normalize=False, window="separable")
    w = np.kaiser(6, 3.0)
    np.testing.assert_allclose(windowed, raw * np.outer(w, w), rtol=1e-12)


def test_paper_3x3_beta2_checkerboard():
    # the paper's 3x3, beta 2 kernel: ones -> 0.38/0.24/0.14 without the x4 gain (DESIGN.md)
    s = F.filter_summary(F.jinc_lowpass(3, np.pi / 2, 2.0))
    np.testing.assert_allclose(s.upsample_constant_response / 4,
                               [[0.38, 0.24], [0.24, 0.14]], atol=0.006)
    assert s.polyphase_imbalance > 0.3


def test_default_filter_is_balanced_and_a_real_lowpass():
    s = F.filter_summary(F.design_filter(2))
    assert s.polyphase_imbalance < 1e-3
    assert abs(s.dc_gain - 1) < 1e-9
    assert s.passband_ripple_db < 1.5
    assert s.stopband_attenuation_db >= 20


def test_separable_kaiser_sinc_is_rank_one():
    k = F.kaiser_sinc_lowpass(8, np.pi / 2, 4.0)
    cols, rows = F.low_rank_factors(k)
    assert cols.shape == (1, 8)
    np.testing.assert_allclose(np.outer(cols[0], rows[0]), k, atol=1e-12)


def test_low_rank_factors_reconstruct_jinc():
    k = F.design_filter(2)
    cols, rows = F.low_rank_factors(k)
    assert 1 < len(cols) < 8
    np.testing.assert_allclose(np.einsum("ri,rj->ij", cols, rows), k, atol=1e-7 * np.linalg.norm(k))


def test_frequency_response_dc_and_symmetry():
    k = F.design_filter(2)
    w, H = F.frequency_response(k, 32)
    assert w[16] == 0
    assert abs(H[16, 16] - 1) < 1e-9
    assert np.max(np.abs(H.imag)) < 1e-9  # symmetric kernel: zero phase about its centre
    assert abs(F.response_at(k, 0.0, 0.0) - 1) < 1e-9


@pytest.mark.parametrize("kwargs, match", [
    (dict(size=0, cutoff=1.0, beta=1.0), "size must be >= 1"),
    (dict(size=2.5, cutoff=1.0, beta=1.0), "integer"),
    (dict(size=4, cutoff=0.0, beta=1.0), r"\(0, pi\]"),
    (dict(size=4, cutoff=4.0, beta=1.0), r"\(0, pi\]"),
    (dict(size=4, cutoff=float("nan"), beta=1.0), r"\(0, pi\]"),
    (dict(size=4, cutoff=1.0, beta=-1.0), "beta"),
    (dict(size=4, cutoff=1.0, beta=1.0, window="hann"), "window"),
])
def test_invalid_filter_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        F.jinc_lowpass(**kwargs)


def test_invalid_preset_and_factor():
    with pytest.raises(ValueError, match="preset"):
        F.design_filter(2, preset="fancy")
    with pytest.raises(ValueError, match="factor"):
        F.design_filter(1)
    with pytest.raises(TypeError, match="factor"):
        F.design_filter(2.0)


def test_default_rank_depends_on_beta():
    # beta 4 (the default) runs as rank 2 and keeps its stopband; low betas keep the full kernel,
    # where rank 2 would lose ~10 dB of stopband
    k4 = F.design_filter(2)
    assert len(F.low_rank_factors(k4)[0]) == 2
    assert F.filter_summary(k4).stopband_attenuation_db > 35
    for beta in (0.0, 1.0, 2.0):
        k = F.design_filter(2, beta=beta)
        np.testing.assert_allclose(k, F.jinc_lowpass(8, np.pi / 2, beta, window="radial"), atol=1e-12)


def test_truncate_rank_arguments():
    k = F.design_filter(2)
    assert len(F.low_rank_factors(F.truncate_rank(k, 1))[0]) == 1
    with pytest.raises(ValueError, match="rank"):
        F.truncate_rank(k)
    with pytest.raises(ValueError, match="rank"):
        F.truncate_rank(k, 0)


def test_filtered_activation_passband_of_the_default_is_pinned():
    # the default filter's droop, measured: a change of default must change this test
    from keras_aliasfree.analysis import filtered_activation_passband

    np.testing.assert_allclose(filtered_activation_passband(), [-0.32, -1.55, -4.37], atol=0.03)


def test_a_longer_kernel_meets_the_flat_passband_target():
    # docs/benchmarks/passband.md: 16x16 jinc, beta 4 is flat within 0.5 dB to 0.7 pi
    from keras_aliasfree import filters as F
    from keras_aliasfree.analysis import filtered_activation_passband

    k = F.design_filter(2, kernel_size=16)
    assert max(abs(g) for g in filtered_activation_passband(k.astype("float32"))) <= 0.5
    assert F.filter_summary(k, 2).stopband_attenuation_db >= 30.0


def test_rank_two_12_tap_beta_6_kernel_meets_every_filter_target():
    # the targets for one filtered activation: within 0.5 dB to 0.5 pi, >= 30 dB stopband,
    # at the default kernel's rank (the fast path's cost goes with the rank)
    from keras_aliasfree import FilteredActivation
    from keras_aliasfree.analysis import PASSBAND_FREQS, filtered_activation_passband

    k = F.design_filter(2, kernel_size=12, beta=6.0, rank=2)
    assert F.low_rank_factors(k, rtol=1e-6)[0].shape[0] == 2 == \
        F.low_rank_factors(F.design_filter(2), rtol=1e-6)[0].shape[0]
    gains = filtered_activation_passband(k.astype("float32"))
    assert max(abs(g) for g, f in zip(gains, PASSBAND_FREQS) if f <= 0.5) <= 0.5
    assert F.filter_summary(k, 2).stopband_attenuation_db >= 30.0
    layer = FilteredActivation("gelu", kernel_size=12, beta=6.0, rank=2)
    again = FilteredActivation.from_config(layer.get_config())
    np.testing.assert_array_equal(again.kernel, k)
    assert FilteredActivation("gelu").get_config()["rank"] is None  # the preset's rule
    with pytest.raises(ValueError, match="rank"):
        F.design_filter(2, rank=0)
