"""The fast resampling ops against a plain zero-insertion + full-convolution oracle, on every backend."""

import keras
import numpy as np
import pytest
from scipy.signal import correlate

from conftest import to_numpy
from keras_aliasfree import filters as F
from keras_aliasfree import ops as O


def _pads(n, factor, mode):
    # the padding that puts input sample i at fine index factor*i + s (see ops module docstring)
    if (n + factor) % 2 == 0:
        s = (factor - 1) / 2
    else:
        s = (factor - 2) / 2
    p0 = (n - 1) / 2 + s if mode == "up" else (n - 1) / 2 - s
    return int(round(p0))


def oracle_up(x, k, f):
    """Zero insertion, then a full 2-D correlation of the zero-stuffed image (the naive algorithm)."""
    n = k.shape[0]
    p0 = _pads(n, f, "up")
    p1 = n - 1 - p0
    b, h, w, c = x.shape
    z = np.zeros((b, h * f, w * f, c))
    z[:, ::f, ::f, :] = x
    out = np.empty_like(z)
    for i in range(b):
        for j in range(c):
            zp = np.pad(z[i, :, :, j], ((p0, p1), (p0, p1)))
            out[i, :, :, j] = correlate(zp, k, mode="valid") * f * f
    return out


def oracle_down(x, k, f):
    """Full 2-D correlation at every input position, then keep every f-th output."""
    n = k.shape[0]
    p0 = _pads(n, f, "down")
    b, h, w, c = x.shape
    lo = max(p0, 0)
    out = np.empty((b, h // f, w // f, c))
    for i in range(b):
        for j in range(c):
            zp = np.pad(x[i, :, :, j], ((lo, n), (lo, n)))
            full = correlate(zp, k, mode="valid")
            off = lo - p0
            out[i, :, :, j] = full[off::f, off::f][: h // f, : w // f]
    return out


@pytest.mark.parametrize("size", [3, 6, 8, 12])
@pytest.mark.parametrize("factor", [2, 4])
def test_fast_ops_match_oracle(size, factor, rng):
    k = F.jinc_lowpass(size, np.pi / factor, 4.0, window="radial")
    x = rng.normal(size=(2, 8, 12, 3)).astype("float32")
    up = to_numpy(O.upsample_2d(x, k, factor))
    np.testing.assert_allclose(up, oracle_up(x, k, factor), atol=2e-5)
    xd = rng.normal(size=(2, 8 * factor, 4 * factor, 3)).astype("float32")
    down = to_numpy(O.downsample_2d(xd, k, factor))
    np.testing.assert_allclose(down, oracle_down(xd, k, factor), atol=2e-5)


def test_channels_first_matches_channels_last(rng):
    x = rng.normal(size=(2, 16, 8, 3)).astype("float32")
    xc = np.transpose(x, (0, 3, 1, 2))
    for fn in (O.upsample_2d, O.downsample_2d):
        a = to_numpy(fn(x, data_format="channels_last"))
        b = to_numpy(fn(xc, data_format="channels_first"))
        np.testing.assert_allclose(np.transpose(b, (0, 2, 3, 1)), a, atol=1e-5)
    a = to_numpy(O.filtered_activation(x, "gelu", data_format="channels_last"))
    b = to_numpy(O.filtered_activation(xc, "gelu", data_format="channels_first"))
    np.testing.assert_allclose(np.transpose(b, (0, 2, 3, 1)), a, atol=1e-5)


def _fit_shift(y, freq, coords):
    """Least-squares shift d (in the units of coords) such that y ~ A cos(freq (coords + d))."""
    best, best_err = 0.0, np.inf
    for d in np.linspace(-1, 1, 4001):
        basis = np.cos(freq * (coords + d))
        amp = basis @ y / (basis @ basis)
        err = np.sum((y - amp * basis) ** 2)
        if err < best_err:
            best, best_err = d, err
    return best


@pytest.mark.parametrize("size", [6, 8, 3, 5])
def test_chain_does_not_translate(size, rng):
    """A mirror-symmetric image stays mirror-symmetric through up -> gelu -> down, any kernel size.

    A translation of even a fraction of a pixel would break the symmetry about the image centre.
    """
    k = F.jinc_lowpass(size, np.pi / 2, 4.0, window="radial")
    r = rng.normal(size=(1, 24, 24, 1))
    x = (r + r[:, ::-1, ::-1, :]).astype("float32")
    y = to_numpy(O.filtered_activation(x, "gelu", 2, k, k))[0, :, :, 0]
    b = 0 if size % 2 == 0 else 3  # odd kernels: the last fine sample breaks symmetry at the border
    inner = y[b:24 - b, b:24 - b]
    np.testing.assert_allclose(inner, inner[::-1, ::-1], atol=1e-5)
    if size % 2 == 0:  # even kernels: each op on its own is centred too
        for op in (O.upsample_2d, O.downsample_2d):
            z = to_numpy(op(x, k))[0, :, :, 0]
            np.testing.assert_allclose(z, z[::-1, ::-1], atol=1e-5)
        shifted = np.roll(x, 1, axis=1)  # and the test can fail: an off-centre input is not symmetric
        z = to_numpy(O.downsample_2d(shifted, k))[0, :, :, 0]
        assert np.max(np.abs(z - z[::-1, ::-1])) > 1e-2


@pytest.mark.parametrize("size", [6, 8, 3])
def test_upsample_phase_at_pixel_centres(size):
    """Upsampling a sampled cosine gives the cosine at the fine pixel centres (even kernels)."""
    k = F.jinc_lowpass(size, np.pi / 2, 4.0, window="radial")
    h, w = 64, 0.2 * np.pi
    x = np.tile(np.cos(w * (np.arange(h) + 0.5))[None, :, None, None], (1, 1, 4, 1)).astype("float32")
    up = to_numpy(O.upsample_2d(x, k))[0, :, 0, 0]
    cf = (np.arange(2 * h) + 0.5) / 2
    shift = _fit_shift(up[32:96], w, cf[32:96])
    if size % 2 == 0:
        assert abs(shift) < 2e-3  # pixel centres line up exactly
    else:
        assert abs(shift - 0.25) < 2e-2  # documented sample-aligned convention for odd kernels


def test_constant_preserved_factor4():
    y = to_numpy(O.upsample_2d(np.ones((1, 8, 8, 1), "float32"), factor=4))
    assert np.allclose(y[0, 12:20, 12:20, 0], 1.0, atol=1e-3)
    y = to_numpy(O.downsample_2d(np.ones((1, 32, 32, 1), "float32"), factor=4))
    assert np.allclose(y[0, 3:5, 3:5, 0], 1.0, atol=1e-3)


def test_gradients_flow():
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=(1, 8, 8, 2)), "float32")
    k = F.design_filter(2)
    # gradient of sum(downsample(x)) w.r.t. x is the transposed op applied to ones
    grad = _grad(lambda t: keras.ops.sum(O.downsample_2d(t, k)), x)
    cols, rows = F.low_rank_factors(k)
    a = [O.resampling_matrix(c, 8, 2, "down") for c in cols]
    b = [O.resampling_matrix(r, 8, 2, "down") for r in rows]
    expect = sum(np.outer(ak.sum(0), bk.sum(0)) for ak, bk in zip(a, b))
    np.testing.assert_allclose(grad[0, :, :, 0], expect, atol=1e-5)


def _grad(f, x):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        return tape.gradient(y, x).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(f)(x))
    import torch

    t = x.clone().detach().requires_grad_(True)
    f(t).backward()
    return t.grad.detach().cpu().numpy()


@pytest.mark.parametrize("fn, shape, match", [
    (O.upsample_2d, (8, 8, 3), "rank-4"),
    (O.downsample_2d, (1, 2, 8, 8, 3), "rank-4"),
    (O.downsample_2d, (1, 9, 8, 3), "divisible"),
])
def test_bad_input_shapes(fn, shape, match):
    with pytest.raises(ValueError, match=match):
        fn(np.zeros(shape, "float32"))


def test_bad_kernel_and_activation():
    with pytest.raises(ValueError, match="2-D"):
        O.upsample_2d(np.zeros((1, 4, 4, 1), "float32"), kernel=np.ones(3))
    with pytest.raises(ValueError, match="unknown activation"):
        O.filtered_activation(np.zeros((1, 4, 4, 1), "float32"), "gelux")
    with pytest.raises(ValueError, match="data_format"):
        O.upsample_2d(np.zeros((1, 4, 4, 1), "float32"), data_format="NHWC")


# --- the banded path (cost linear in pixels) against the dense reference and the oracle ---

@pytest.mark.parametrize("size", [3, 8, 12])
@pytest.mark.parametrize("factor", [2, 4])
def test_banded_ops_match_oracle(size, factor, rng):
    # sizes that split into several blocks, one of them not a power of two
    k = F.jinc_lowpass(size, np.pi / factor, 4.0, window="radial")
    x = rng.normal(size=(1, 24, 40, 2)).astype("float32")
    up = O.upsample_2d(x, k, factor, impl="banded")
    np.testing.assert_allclose(to_numpy(up), oracle_up(x, k, factor), atol=2e-5)
    xd = rng.normal(size=(1, 24 * factor, 40 * factor, 2)).astype("float32")
    down = O.downsample_2d(xd, k, factor, impl="banded")
    np.testing.assert_allclose(to_numpy(down), oracle_down(xd, k, factor), atol=2e-5)
    assert O.gemm_operands(k, 24, 40, factor, "up", "banded").impl == "banded"


@pytest.mark.parametrize("size", [8, 16, 32, 64, 128, 256])
def test_banded_matches_dense_at_every_size(size, rng):
    # the default kernel and D-1N's (beta 1, rank 4): values and gradients, up, down and the
    # filtered activation, at every size a UNet uses up to 256x256
    kernels = [None, F.design_filter(2, beta=1.0)]
    x = keras.ops.convert_to_tensor(rng.normal(size=(1, size, size, 1)).astype("float32"))
    weight = keras.ops.convert_to_tensor(rng.normal(size=(1, size, size, 1)).astype("float32"))
    for k in kernels:
        fns = {impl: (lambda t, impl=impl: O.filtered_activation(t, "gelu", up_kernel=k,
                                                                  down_kernel=k, impl=impl))
               for impl in ("dense", "banded")}
        for impl, f in list(fns.items()):
            fns[impl + "_up_down"] = lambda t, impl=impl: O.downsample_2d(
                O.upsample_2d(t, k, impl=impl), k, impl=impl)
        out = {n: to_numpy(f(x)) for n, f in fns.items()}
        grads = {n: _grad(lambda t, f=f: keras.ops.sum(f(t) * weight), x) for n, f in fns.items()}
        scale = np.abs(out["dense"]).max()
        np.testing.assert_allclose(out["banded"], out["dense"], atol=2e-6 * scale)
        np.testing.assert_allclose(out["banded_up_down"], out["dense_up_down"], atol=2e-6 * scale)
        gscale = np.abs(grads["dense"]).max()
        np.testing.assert_allclose(grads["banded"], grads["dense"], atol=2e-6 * gscale)
        np.testing.assert_allclose(grads["banded_up_down"], grads["dense_up_down"],
                                   atol=2e-6 * gscale)


@pytest.mark.parametrize("size", [1, 2, 4, 8, 16])
@pytest.mark.parametrize("factor", [2, 4])
def test_kron_matches_dense_and_oracle(size, factor, rng):
    # the one-matrix plan: values and gradients of up, down and the filtered activation equal the
    # dense reference (default kernel, D-1N's rank-4 one, the paper's odd 3x3), in both layouts,
    # on non-square images, and the oracle for the plain ops
    kernels = [F.design_filter(factor), F.design_filter(factor, beta=1.0),
               F.jinc_lowpass(3, np.pi / factor, 1.0, window="separable")]
    h, w = size, 2 * size
    x = keras.ops.convert_to_tensor(rng.normal(size=(2, h, w, 3)).astype("float32"))
    weight = keras.ops.convert_to_tensor(rng.normal(size=(2, h, w, 3)).astype("float32"))
    for k in kernels:
        assert O.gemm_operands(k, h, w, factor, "up", "kron").impl == "kron"
        fns = {impl: (lambda t, impl=impl: O.filtered_activation(
            t, "gelu", factor, up_kernel=k, down_kernel=k, impl=impl)) for impl in ("dense", "kron")}
        for impl in ("dense", "kron"):
            fns[impl + "_down_up"] = lambda t, impl=impl: O.downsample_2d(
                O.upsample_2d(t, k, factor, impl=impl) ** 2, k, factor, impl=impl)
        out = {n: to_numpy(f(x)) for n, f in fns.items()}
        grads = {n: _grad(lambda t, f=f: keras.ops.sum(f(t) * weight), x) for n, f in fns.items()}
        for name in ("", "_down_up"):
            scale = np.abs(out["dense" + name]).max()
            np.testing.assert_allclose(out["kron" + name], out["dense" + name], atol=2e-6 * scale)
            gscale = np.abs(grads["dense" + name]).max()
            np.testing.assert_allclose(grads["kron" + name], grads["dense" + name],
                                       atol=2e-6 * gscale)
        xc = np.transpose(to_numpy(x), (0, 3, 1, 2))
        yc = O.filtered_activation(xc, "gelu", factor, up_kernel=k, down_kernel=k,
                                   data_format="channels_first", impl="kron")
        np.testing.assert_allclose(np.transpose(to_numpy(yc), (0, 2, 3, 1)), out["kron"],
                                   atol=2e-6 * np.abs(out["dense"]).max())
        xn = to_numpy(x)
        np.testing.assert_allclose(to_numpy(O.upsample_2d(xn, k, factor, impl="kron")),
                                   oracle_up(xn, k, factor), atol=2e-5)
        xd = rng.normal(size=(1, h * factor, w * factor, 2)).astype("float32")
        np.testing.assert_allclose(to_numpy(O.downsample_2d(xd, k, factor, impl="kron")),
                                   oracle_down(xd, k, factor), atol=2e-5)


def test_kron_plan_auto_choice_and_limit():
    k = F.design_filter(2)
    # "auto" folds both axes into one matrix where the low-resolution side is 8x8 or smaller
    assert O.gemm_operands(k, 8, 8, 2, "up").impl == "kron"
    assert O.gemm_operands(k, 16, 16, 2, "down").impl == "kron"
    assert O.gemm_operands(k, 4, 16, 2, "up").impl == "kron"
    assert O.gemm_operands(k, 16, 8, 2, "up").impl == "dense"
    assert O.gemm_operands(k, 32, 32, 2, "down").impl == "dense"
    # on PyTorch (eager per-op costs) also 16x16 for a rank-4 kernel (one matrix: 2.7x the
    # multiply-adds), never for rank 2 (5.3x) or at 32x32
    k4 = F.design_filter(2, beta=1.0)
    assert F.low_rank_factors(k4)[0].shape[0] == 4
    at16 = "kron" if keras.backend.backend() == "torch" else "dense"
    assert O.gemm_operands(k4, 16, 16, 2, "up").impl == at16
    assert O.gemm_operands(k4, 32, 32, 2, "down").impl == at16
    assert O.gemm_operands(k4, 32, 32, 2, "up").impl == "dense"
    g = O.gemm_operands(k, 8, 4, 2, "up")
    assert g.kron.shape == (8 * 4, 16 * 8) and g.kron.dtype == np.float32
    # the matrix grows with the square of the pixels: refused above the limit, with the way out
    O.gemm_operands(k, 32, 32, 2, "up", "kron")
    with pytest.raises(ValueError, match="kron.*'auto', 'dense' or 'banded'"):
        O.gemm_operands(k, 64, 32, 2, "up", "kron")
    with pytest.raises(ValueError, match="axis_plan"):
        O.axis_plan(np.ones((1, 8)) / 8, 8, 2, "up", "kron")


def test_filtered_activation_mixes_kron_with_other_plans(rng):
    # operands built by hand may mix a one-matrix pass with an axis-wise one
    k = F.design_filter(2)
    x = rng.normal(size=(1, 8, 8, 2)).astype("float32")
    gelu = keras.activations.gelu
    ref = to_numpy(O.filtered_activation_with(x, gelu, O.gemm_operands(k, 8, 8, 2, "up", "dense"),
                                              O.gemm_operands(k, 16, 16, 2, "down", "dense"),
                                              "channels_last"))
    for up_impl, down_impl in (("kron", "dense"), ("dense", "kron"), ("kron", "banded")):
        up = O.gemm_operands(k, 8, 8, 2, "up", up_impl)
        down = O.gemm_operands(k, 16, 16, 2, "down", down_impl)
        y = O.filtered_activation_with(x, gelu, up, down, "channels_last")
        np.testing.assert_allclose(to_numpy(y), ref, atol=1e-5)


def test_auto_plan_is_dense_small_and_banded_large():
    k = F.design_filter(2)
    assert O.gemm_operands(k, 32, 32, 2, "up").impl == "dense"
    assert O.gemm_operands(k, 256, 256, 2, "up").impl == "banded"
    assert O.gemm_operands(k, 512, 512, 2, "down").impl == "banded"
    # the banded window is fixed by the kernel, not the image: the work per output is constant
    small = O.gemm_operands(k, 128, 128, 2, "up", "banded")
    large = O.gemm_operands(k, 512, 512, 2, "up", "banded")
    assert small.w.first.shape == large.w.first.shape
    assert large.w.blocks == 4 * small.w.blocks
    # an axis that cannot be cut into blocks (a prime length) falls back to the dense plan
    assert O.gemm_operands(k, 97, 97, 2, "up", "banded").impl == "dense"
    with pytest.raises(ValueError, match="impl"):
        O.upsample_2d(np.zeros((1, 4, 4, 1), "float32"), impl="fast")


def test_filtered_activation_mixes_dense_and_banded_plans(rng):
    # "auto" can give the up and the down pass different plans (64 px: up banded, down dense);
    # every combination must equal the dense reference, in both data formats
    k = F.design_filter(2)
    x = rng.normal(size=(1, 64, 64, 2)).astype("float32")
    ref = None
    for up_impl in ("dense", "banded"):
        for down_impl in ("dense", "banded"):
            up = O.gemm_operands(k, 64, 64, 2, "up", up_impl)
            down = O.gemm_operands(k, 128, 128, 2, "down", down_impl)
            assert (up.impl, down.impl) == (up_impl, down_impl)
            y = to_numpy(O.filtered_activation_with(x, keras.activations.gelu, up, down,
                                                    "channels_last"))
            yc = to_numpy(O.filtered_activation_with(np.transpose(x, (0, 3, 1, 2)),
                                                     keras.activations.gelu, up, down,
                                                     "channels_first"))
            ref = y if ref is None else ref
            np.testing.assert_allclose(y, ref, atol=1e-5)
            np.testing.assert_allclose(np.transpose(yc, (0, 2, 3, 1)), ref, atol=1e-5)
    auto = O.gemm_operands(k, 64, 64, 2, "up"), O.gemm_operands(k, 128, 128, 2, "down")
    assert [g.impl for g in auto] == ["banded", "dense"]


# --- impl="ref": the textbook algorithm, against the scipy oracle and against every plan -------

@pytest.mark.parametrize("shape", [(3, 3), (8, 8), (3, 5), (2, 4)])
@pytest.mark.parametrize("factor", [2, 4])
def test_reference_matches_oracle_for_square_and_odd_kernels(shape, factor, rng):
    k = rng.normal(size=shape) if shape[0] != shape[1] else \
        F.jinc_lowpass(shape[0], np.pi / factor, 4.0, window="radial")
    x = rng.normal(size=(2, 6, 5, 2)).astype("float32")
    up = to_numpy(O.upsample_2d(x, k, factor, impl="ref"))
    if shape[0] == shape[1]:  # the oracle pads square kernels only
        np.testing.assert_allclose(up, oracle_up(x, k, factor), atol=2e-5)
        xd = rng.normal(size=(2, 4 * factor, 3 * factor, 2)).astype("float32")
        np.testing.assert_allclose(to_numpy(O.downsample_2d(xd, k, factor, impl="ref")),
                                   oracle_down(xd, k, factor), atol=2e-5)
    assert up.shape == (2, 6 * factor, 5 * factor, 2)


@pytest.mark.parametrize("impl", [i for i in O.IMPLS if i != "ref"])
@pytest.mark.parametrize("kernel", ["jinc8", "asym3x5"])
def test_every_impl_matches_the_reference(impl, kernel, rng):
    k = F.design_filter(2) if kernel == "jinc8" else rng.normal(size=(3, 5)) / 4
    h, w = (16, 24) if impl != "kron" else (8, 12)
    x = rng.normal(size=(2, h, w, 3)).astype("float32")
    for fn in (O.upsample_2d, O.downsample_2d):
        ref = to_numpy(fn(x, k, 2, impl="ref"))
        np.testing.assert_allclose(to_numpy(fn(x, k, 2, impl=impl)), ref, atol=3e-5,
                                   err_msg=f"{fn.__name__} impl={impl}")
        ref_cf = to_numpy(fn(np.transpose(x, (0, 3, 1, 2)), k, 2, "channels_first", impl="ref"))
        np.testing.assert_allclose(np.transpose(ref_cf, (0, 2, 3, 1)), ref, atol=1e-5)
    ref = to_numpy(O.filtered_activation(x, "gelu", 2, k, k, impl="ref"))
    np.testing.assert_allclose(to_numpy(O.filtered_activation(x, "gelu", 2, k, k, impl=impl)),
                               ref, atol=3e-5, err_msg=f"filtered_activation impl={impl}")


def test_reference_gradient_matches_the_fast_path(rng):
    x = keras.ops.convert_to_tensor(rng.normal(size=(1, 16, 16, 2)).astype("float32"))
    w = keras.ops.convert_to_tensor(rng.normal(size=(1, 16, 16, 2)).astype("float32"))
    grads = {impl: _grad(lambda t, impl=impl: keras.ops.sum(
        w * O.filtered_activation(t, "gelu", impl=impl)), x) for impl in ("ref", "auto")}
    np.testing.assert_allclose(grads["auto"], grads["ref"], atol=3e-5)


def test_gemm_operands_refuses_ref():
    with pytest.raises(ValueError, match="'ref' has no precomputed operands"):
        O.gemm_operands(F.design_filter(2), 8, 8, 2, "up", "ref")
