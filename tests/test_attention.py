"""The UNet's attention core: the keras.ops reference, the JAX sliced path, and the layer."""

import keras
import numpy as np
import pytest
from keras import ops

from conftest import BACKEND
from keras_aliasfree import attention as A
from keras_aliasfree.unet import SpatialSelfAttention

_rng = np.random.default_rng(0)


def _qkv(b=2, t=12, s=9, n=3, d=4, dv=5):
    return (_rng.normal(size=(b, t, n, d)).astype("float32"),
            _rng.normal(size=(b, s, n, d)).astype("float32"),
            _rng.normal(size=(b, s, n, dv)).astype("float32"))


def _numpy_attention(q, k, v, scale):
    s = np.einsum("btnd,bsnd->bnts", q.astype(np.float64), k) * scale
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return np.einsum("bnts,bsnd->btnd", w, v)


def test_reference_matches_numpy():
    q, k, v = _qkv()
    out = ops.convert_to_numpy(A.dot_product_attention(q, k, v, 0.7))
    assert out.shape == (2, 12, 3, 5)
    np.testing.assert_allclose(out, _numpy_attention(q, k, v, 0.7), rtol=1e-5, atol=1e-5)


def test_bad_arguments():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="impl must be one of"):
        A.dot_product_attention(q, k, v, 1.0, impl="flash")
    with pytest.raises(ValueError, match="query must be"):
        A.dot_product_attention(q[0], k, v, 1.0)
    if BACKEND != "jax":
        with pytest.raises(ValueError, match="JAX path"):
            A.dot_product_attention(q, k, v, 1.0, impl="sliced")


def test_layer_impl_choice(monkeypatch):
    assert A.layer_impl() == ("sliced" if BACKEND == "jax" else "keras")  # CPU-only test machines
    assert A.layer_impl("keras") == "keras"
    with pytest.raises(ValueError, match="impl must be one of"):
        A.layer_impl("fast")
    with pytest.raises(ValueError, match="impl must be one of"):
        SpatialSelfAttention(2, impl="fast")(np.zeros((1, 4, 4, 4), "float32"))


@pytest.mark.skipif(BACKEND != "jax", reason="the sliced path is JAX's")
def test_sliced_matches_reference_values_and_gradients():
    import jax
    import jax.numpy as jnp

    q, k, v = (jnp.asarray(a) for a in _qkv(t=33, s=17))
    w = jnp.asarray(_rng.normal(size=(2, 33, 3, 5)).astype("float32"))

    def loss(impl):
        return lambda q, k, v: jnp.sum(jnp.sin(A.dot_product_attention(q, k, v, 0.45, impl)) * w)
    ref = A.dot_product_attention(q, k, v, 0.45, "reference")
    got = jax.jit(lambda q, k, v: A.dot_product_attention(q, k, v, 0.45, "sliced"))(q, k, v)
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-5, atol=1e-6)
    g_ref = jax.grad(loss("reference"), argnums=(0, 1, 2))(q, k, v)
    g_got = jax.jit(jax.grad(loss("sliced"), argnums=(0, 1, 2)))(q, k, v)
    for a, b in zip(g_got, g_ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    # a half-precision input comes back in its dtype, computed in float32
    half = A.dot_product_attention(q.astype("bfloat16"), k.astype("bfloat16"),
                                   v.astype("bfloat16"), 0.45, "sliced")
    assert half.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(half, "float32"), np.asarray(ref), atol=0.05)


def test_unet_attention_layer_equals_keras_layer():
    """Same weights, same output as keras.layers.MultiHeadAttention, whichever path it takes."""
    x = _rng.normal(size=(2, 20, 8)).astype("float32")
    ours = A.UNetMultiHeadAttention(2, 4)
    theirs = keras.layers.MultiHeadAttention(2, 4)
    ours.build(x.shape, x.shape, x.shape)
    theirs.build(x.shape, x.shape, x.shape)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(ours(x, x, x)),
                               ops.convert_to_numpy(theirs(x, x, x)), rtol=1e-5, atol=1e-5)
    # a mask takes Keras' own path, and still agrees
    mask = np.tril(np.ones((2, 20, 20), bool))
    np.testing.assert_allclose(ops.convert_to_numpy(ours(x, x, x, attention_mask=mask)),
                               ops.convert_to_numpy(theirs(x, x, x, attention_mask=mask)),
                               rtol=1e-5, atol=1e-5)


def test_spatial_attention_same_with_either_path(monkeypatch):
    x = _rng.normal(size=(2, 6, 6, 8)).astype("float32")
    layer = SpatialSelfAttention(2)
    auto = ops.convert_to_numpy(layer(x))
    keras_path = SpatialSelfAttention(2, impl="keras")
    keras_path(x)
    keras_path.set_weights(layer.get_weights())
    np.testing.assert_allclose(auto, ops.convert_to_numpy(keras_path(x)), rtol=1e-5, atol=1e-5)
