"""One check list that every custom layer of the library goes through (as keras-hub's
``run_layer_test``): config round trip, ``compute_output_shape`` against a symbolic call and an
eager call, ``.keras`` save/load with identical outputs, ``mixed_float16`` / ``mixed_bfloat16``
(output in the compute dtype, finite, close to float32), and a ``fit`` step under ``jit_compile``
on the current backend.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from conftest import BACKEND, to_numpy

MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")
# |mixed - float32| allowed, relative to the float32 output's largest magnitude
MIXED_TOLERANCE = {"mixed_float16": 2e-2, "mixed_bfloat16": 8e-2}


def _wrap(layer, input_shape, input_dtype):
    """A functional model ``input -> layer -> Dense``: the Dense gives fit() something to train."""
    inp = keras.Input(input_shape[1:], dtype=input_dtype)
    y = layer(inp)
    out = keras.layers.Dense(2, name="head")(y)
    return keras.Model(inp, out)


def run_layer_test(cls, init_kwargs, input_data, expected_output_shape, tmp_path,
                   mixed_precision=True, fit=True, jit_compile=True):
    """Run every check on ``cls(**init_kwargs)`` with ``input_data`` (a numpy array)."""
    x = np.asarray(input_data)
    in_dtype = "float32" if x.dtype.kind == "f" else str(x.dtype)

    # 1. config round trip: same config, same output
    layer = cls(**init_kwargs, name="under_test")
    y = to_numpy(layer(x))
    assert tuple(y.shape) == tuple(expected_output_shape), (y.shape, expected_output_shape)
    config = layer.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())  # a layer with weights: same weights, same output
    np.testing.assert_array_equal(to_numpy(clone(x)), y)
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is cls and revived.get_config() == config

    # 2. compute_output_shape agrees with a symbolic call and the eager call
    batchless = (None,) + x.shape[1:]
    declared = tuple(layer.compute_output_shape(batchless))
    symbolic = tuple(cls(**init_kwargs)(keras.Input(x.shape[1:], dtype=in_dtype)).shape)
    assert declared == symbolic == (None,) + tuple(expected_output_shape[1:]), (declared, symbolic)
    assert tuple(layer.compute_output_shape(x.shape)) == tuple(expected_output_shape)

    # 3. .keras save and load inside a functional model: identical outputs
    model = _wrap(cls(**init_kwargs), x.shape, in_dtype)
    want = to_numpy(model(x))
    path = os.path.join(tmp_path, f"{cls.__name__}.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert any(type(lyr) is cls for lyr in reloaded.layers)
    np.testing.assert_array_equal(to_numpy(reloaded(x)), want)

    # 4. mixed precision: computes in the compute dtype, stays close to float32
    if mixed_precision:
        for policy in MIXED_POLICIES:
            keras.mixed_precision.set_global_policy(policy)
            try:
                mixed = cls(**init_kwargs)
                if layer.weights:  # same weights as the float32 layer
                    mixed(x)
                    mixed.set_weights(layer.get_weights())
                out = mixed(x)
            finally:
                keras.mixed_precision.set_global_policy("float32")
            compute = policy.split("_")[1]
            assert keras.backend.standardize_dtype(out.dtype) == compute, (policy, out.dtype)
            got = to_numpy(keras.ops.cast(out, "float32"))
            assert np.all(np.isfinite(got)), policy
            scale = max(float(np.max(np.abs(y))), 1.0)
            err = float(np.max(np.abs(got - y))) / scale
            assert err <= MIXED_TOLERANCE[policy], (policy, err)

    # 5. a fit step under jit_compile (XLA on TensorFlow and JAX, torch.compile on PyTorch)
    if fit:
        keras.utils.set_random_seed(0)
        model = _wrap(cls(**init_kwargs), x.shape, in_dtype)
        target = np.random.default_rng(0).normal(size=tuple(model.output.shape[1:])).astype(
            "float32")
        target = np.broadcast_to(target, (x.shape[0],) + target.shape).copy()
        model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse", jit_compile=jit_compile)
        before = [to_numpy(w).copy() for w in model.trainable_weights]
        hist = model.fit(x, target, batch_size=x.shape[0], epochs=1, verbose=0)
        assert np.isfinite(hist.history["loss"][0])
        after = [to_numpy(w) for w in model.trainable_weights]
        assert any(not np.array_equal(a, b) for a, b in zip(before, after)), "no weight moved"
    return layer


__all__ = ["run_layer_test", "BACKEND"]
