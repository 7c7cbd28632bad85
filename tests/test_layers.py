"""The three public layers: the signal-processing requirements and the Keras conventions."""

import os

import keras
import numpy as np
import pytest

from conftest import BACKEND, to_numpy
from keras_aliasfree import AliasFreeDownsample, AliasFreeUpsample, FilteredActivation
from keras_aliasfree import analysis as A

LAYERS = [
    (AliasFreeUpsample, dict(factor=2), (2, 8, 8, 3), (2, 16, 16, 3)),
    (AliasFreeDownsample, dict(factor=2), (2, 8, 8, 3), (2, 4, 4, 3)),
    (FilteredActivation, dict(activation="gelu"), (2, 8, 8, 3), (2, 8, 8, 3)),
    (AliasFreeUpsample, dict(factor=4, preset="paper", beta=1.0), (2, 4, 4, 3), (2, 16, 16, 3)),
    (FilteredActivation, dict(activation="gelu", impl="banded"), (1, 32, 24, 2), (1, 32, 24, 2)),
    (AliasFreeDownsample, dict(factor=2, impl="dense"), (1, 64, 64, 2), (1, 32, 32, 2)),
]


def test_impl_is_validated_and_same_result():
    x = np.random.default_rng(3).normal(size=(1, 64, 48, 2)).astype("float32")
    dense = to_numpy(FilteredActivation("gelu", impl="dense")(x))
    banded = to_numpy(FilteredActivation("gelu", impl="banded")(x))
    np.testing.assert_allclose(banded, dense, atol=1e-5)
    config = FilteredActivation("gelu", impl="banded").get_config()
    assert config["impl"] == "banded" and config["rank"] is None
    old = {k: v for k, v in config.items() if k not in ("impl", "rank")}  # a config from before
    assert FilteredActivation.from_config(old).impl == "auto"
    with pytest.raises(ValueError, match="impl"):
        AliasFreeUpsample(impl="cuda")


# --- signal processing with default arguments -------------------------------------------------

def test_default_upsample_keeps_constant():
    vals = A.constant_response(AliasFreeUpsample())
    assert np.max(np.abs(vals - 1.0)) <= 1e-3


def test_default_downsample_keeps_constant():
    vals = A.constant_response(AliasFreeDownsample(), size=32, border=4)
    assert np.max(np.abs(vals - 1.0)) <= 1e-3


@pytest.mark.parametrize("angle", [0.0, 45.0])
def test_default_downsample_stopband_and_passband(angle):
    layer = AliasFreeDownsample()
    assert A.cosine_gain_db(layer, 0.8 * np.pi, angle) <= -20.0
    assert abs(A.cosine_gain_db(layer, 0.15 * np.pi, angle)) <= 1.5


def test_filtered_gelu_more_rotation_equivariant_than_gelu():
    gelu = lambda x: keras.activations.gelu(keras.ops.convert_to_tensor(x))  # noqa: E731
    plain = A.activation_rotation_psnr(gelu, seeds=(0, 1))
    filtered = A.activation_rotation_psnr(FilteredActivation("gelu"), seeds=(0, 1))
    assert filtered >= plain + 6.0, (plain, filtered)


def test_paper_upsampler_makes_a_checkerboard():
    vals = A.constant_response(AliasFreeUpsample(preset="paper", beta=2.0))
    # four phases: 1.51 / 0.96 (twice) / 0.58 with the x4 gain; 0.38 / 0.24 / 0.14 without
    np.testing.assert_allclose(np.sort(vals) / 4, [0.14, 0.24, 0.38], atol=0.006)


def test_paper_downsampler_weaker_stopband_than_default():
    ours = A.cosine_gain_db(AliasFreeDownsample(), 0.8 * np.pi)
    for beta in (0.0, 1.0, 2.0):
        paper = A.cosine_gain_db(AliasFreeDownsample(preset="paper", beta=beta), 0.8 * np.pi)
        assert paper > ours + 5.0, (beta, paper, ours)


# --- Keras conventions ---------------------------------------------------------------------------

@pytest.mark.parametrize("cls, kwargs, in_shape, out_shape", LAYERS)
def test_shapes_and_no_weights(cls, kwargs, in_shape, out_shape):
    layer = cls(**kwargs)
    y = layer(np.random.default_rng(0).normal(size=in_shape).astype("float32"))
    assert tuple(y.shape) == out_shape
    assert layer.compute_output_shape(in_shape) == out_shape
    assert layer.weights == [] and layer.count_params() == 0


@pytest.mark.parametrize("cls, kwargs, in_shape, out_shape", LAYERS)
def test_config_round_trip(cls, kwargs, in_shape, out_shape):
    layer = cls(**kwargs, name="af")
    clone = cls.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = np.random.default_rng(1).normal(size=in_shape).astype("float32")
    np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(clone(x)))


def _conv(x, filters, kernel_size, data_format):
    """A Keras Conv2D on ``data_format`` tensors. For channels_first it runs channels_last between
    two transposes: TensorFlow's eager CPU Conv2D takes NCHW only where oneDNN is on (CPUs with
    AVX-512), and these tests are about the alias-free layers, not Keras' convolution."""
    if data_format == "channels_last":
        return keras.layers.Conv2D(filters, kernel_size, padding="same")(x)
    x = keras.layers.Permute((2, 3, 1))(x)
    x = keras.layers.Conv2D(filters, kernel_size, padding="same")(x)
    return keras.layers.Permute((3, 1, 2))(x)


def _model(data_format="channels_last"):
    shape = (16, 16, 4) if data_format == "channels_last" else (4, 16, 16)
    inp = keras.Input(shape)
    x = _conv(inp, 8, 3, data_format)
    x = FilteredActivation("gelu", data_format=data_format)(x)
    x = AliasFreeDownsample(2, data_format=data_format)(x)
    x = AliasFreeUpsample(2, preset="paper", beta=1.0, data_format=data_format)(x)
    out = _conv(x, 1, 1, data_format)
    return keras.Model(inp, out)


def test_functional_model_saves_and_reloads(tmp_path):
    model = _model()
    x = np.random.default_rng(2).normal(size=(2, 16, 16, 4)).astype("float32")
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(reloaded(x)))
    kinds = {type(layer).__name__ for layer in reloaded.layers}
    assert {"FilteredActivation", "AliasFreeDownsample", "AliasFreeUpsample"} <= kinds


def test_channels_first_layers_in_model():
    model = _model("channels_first")
    y = model(np.zeros((2, 4, 16, 16), "float32"))
    assert tuple(y.shape) == (2, 1, 16, 16)
    # the same weights on channels_last tensors give the same output, transposed
    last = _model("channels_last")
    last.set_weights(model.get_weights())
    x = np.random.default_rng(4).normal(size=(2, 4, 16, 16)).astype("float32")
    np.testing.assert_allclose(to_numpy(model(x)),
                               np.transpose(to_numpy(last(np.transpose(x, (0, 2, 3, 1)))),
                                            (0, 3, 1, 2)), atol=1e-5)


def test_fit_with_jit_compile_is_differentiable():
    keras.utils.set_random_seed(0)
    model = _model()
    # torch.compile on CPU is slow to warm up; jit on TF (XLA) and JAX is what matters for speed
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse",
                  jit_compile=BACKEND != "torch" or "auto")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 16, 16, 4)).astype("float32")
    y = np.tanh(x[..., :1])
    hist = model.fit(x, y, batch_size=8, epochs=4, verbose=0)
    losses = hist.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


@pytest.mark.skipif(BACKEND != "torch", reason="the torch.compile path of jit_compile=True (torch only)")
@pytest.mark.slow
def test_torch_jit_compile_fit():
    # model.compile(jit_compile=True) on torch runs the train step under torch.compile; the layers
    # keep numpy out of call() (matrices are built in build()), so tracing works
    keras.utils.set_random_seed(0)
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", jit_compile=True)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 16, 16, 4)).astype("float32")
    hist = model.fit(x, np.tanh(x[..., :1]), batch_size=8, epochs=3, verbose=0)
    losses = hist.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_layer_reused_at_another_size():
    layer = FilteredActivation("gelu")
    a = np.random.default_rng(5).normal(size=(1, 8, 8, 2)).astype("float32")
    b = np.random.default_rng(6).normal(size=(1, 16, 16, 2)).astype("float32")
    ya, yb = to_numpy(layer(a)), to_numpy(layer(b))  # built for 8x8, then called at 16x16
    from keras_aliasfree import ops as O

    np.testing.assert_allclose(yb, to_numpy(O.filtered_activation(b, "gelu", 2, layer.kernel, layer.kernel)),
                               atol=1e-5)
    assert ya.shape == a.shape


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        layers = [AliasFreeUpsample(), AliasFreeDownsample(), FilteredActivation("gelu")]
        x = np.random.default_rng(4).normal(size=(2, 16, 16, 3)).astype("float32")
        compute = "float16" if policy == "mixed_float16" else "bfloat16"
        for layer in layers:
            y = layer(x)
            assert keras.backend.standardize_dtype(y.dtype) == compute
            y32 = to_numpy(keras.ops.cast(y, "float32"))
            assert np.all(np.isfinite(y32))
        ref = to_numpy(FilteredActivation("gelu", dtype="float32")(x))
        tol = 2e-2 if compute == "float16" else 1e-1
        np.testing.assert_allclose(to_numpy(keras.ops.cast(layers[2](x), "float32")), ref, atol=tol)
    finally:
        keras.mixed_precision.set_global_policy("float32")


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make, shape, match", [
    (lambda: AliasFreeUpsample(), (8, 8, 3), "rank-4"),
    (lambda: AliasFreeDownsample(), (1, 7, 8, 3), "divisible"),
    (lambda: FilteredActivation(), (1, 8, 8), "rank-4"),
])
def test_bad_input(make, shape, match):
    with pytest.raises(ValueError, match=match):
        make()(np.zeros(shape, "float32"))


@pytest.mark.parametrize("make, exc, match", [
    (lambda: AliasFreeUpsample(factor=1), ValueError, "factor"),
    (lambda: AliasFreeUpsample(factor=2.5), TypeError, "factor"),
    (lambda: AliasFreeDownsample(kernel_size=0), ValueError, "size"),
    (lambda: AliasFreeDownsample(cutoff=5.0), ValueError, "cutoff"),
    (lambda: AliasFreeDownsample(beta=-2), ValueError, "beta"),
    (lambda: AliasFreeDownsample(preset="fast"), ValueError, "preset"),
    (lambda: FilteredActivation("not_an_activation"), ValueError, "unknown activation"),
    (lambda: FilteredActivation("gelu", data_format="NCHW"), ValueError, "data_format"),
])
def test_invalid_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_downsample_symbolic_shape_error():
    with pytest.raises(ValueError, match="divisible"):
        AliasFreeDownsample()(keras.Input((15, 16, 3)))


@pytest.mark.tf_only
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_unknown_batch_when_traced(data_format):
    # a SavedModel signature traces the layers with batch None
    import tensorflow as tf

    shape = [None, 8, 8, 3] if data_format == "channels_last" else [None, 3, 8, 8]
    x = np.random.default_rng(0).normal(size=[2] + shape[1:]).astype("float32")
    for layer in (AliasFreeUpsample(data_format=data_format),
                  AliasFreeDownsample(data_format=data_format),
                  FilteredActivation("gelu", data_format=data_format)):
        fn = tf.function(layer, input_signature=[tf.TensorSpec(shape, tf.float32)])
        np.testing.assert_allclose(fn(x).numpy(), to_numpy(layer(x)), atol=1e-6)
