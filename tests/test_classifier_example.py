"""examples/antialiased_classifier.py: the model pair and the consistency metrics (tiny data, every backend)."""

import importlib.util
import pathlib

import keras
import numpy as np
import pytest

from keras_aliasfree import AliasFreeDownsample, FilteredActivation

_PATH = pathlib.Path(__file__).resolve().parents[1] / "examples" / "antialiased_classifier.py"
_spec = importlib.util.spec_from_file_location("antialiased_classifier", _PATH)
ac = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ac)


def _images(n, size=16, channels=1, seed=0):
    return np.random.default_rng(seed).normal(size=(n, size, size, channels)).astype("float32")


@pytest.mark.parametrize("channels", [1, 3])
def test_default_pair_has_equal_parameters(channels):
    models = ac.build_pair((32, 32, channels))
    plain, free = models["plain"], models["aliasfree"]
    assert plain.count_params() == free.count_params()
    # the same weights in the same order: the swapped layers are the only difference
    assert [tuple(w.shape) for w in plain.weights] == [tuple(w.shape) for w in free.weights]
    kinds = lambda m: {type(layer).__name__ for layer in m.layers}  # noqa: E731
    assert {"ReLU", "MaxPooling2D"} <= kinds(plain)
    assert not {"FilteredActivation", "AliasFreeDownsample"} & kinds(plain)
    assert {"FilteredActivation", "AliasFreeDownsample"} <= kinds(free)
    assert not {"ReLU", "MaxPooling2D"} & kinds(free)
    assert sum(isinstance(layer, FilteredActivation) for layer in free.layers) == \
        sum(type(layer).__name__ == "ReLU" for layer in plain.layers)
    assert sum(isinstance(layer, AliasFreeDownsample) for layer in free.layers) == \
        sum(type(layer).__name__ == "MaxPooling2D" for layer in plain.layers)


def test_build_classifier_rejects_unknown_variant():
    with pytest.raises(ValueError, match="variant"):
        ac.build_classifier("blurpool")


@pytest.mark.parametrize("variant", ac.VARIANTS)
def test_small_model_trains_one_step(variant):
    x, y = _images(8), np.arange(8) % 10
    keras.utils.set_random_seed(0)
    model = ac.compile_classifier(ac.build_classifier(variant, (16, 16, 1), widths=(4, 8),
                                                      convs_per_stage=1))
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    assert np.isfinite(float(loss))
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    pred = ac.predictor(model)(x)
    assert pred.shape == (8,) and pred.dtype.kind == "i"


def test_same_seed_gives_same_initial_weights():
    weights = {}
    for variant in ac.VARIANTS:
        keras.utils.set_random_seed(3)
        m = ac.build_classifier(variant, (16, 16, 1), widths=(4, 8), convs_per_stage=1)
        weights[variant] = [keras.ops.convert_to_numpy(w) for w in m.weights]
    for a, b in zip(weights["plain"], weights["aliasfree"]):
        np.testing.assert_array_equal(a, b)


def test_integer_shift_batch_is_a_per_image_roll():
    x = _images(6, size=8, channels=2)
    dy, dx = np.array([0, 1, -2, 3, 1, 0]), np.array([0, -1, 2, 4, -1, 7])
    out = ac.integer_shift_batch(x, dy, dx)
    for i in range(len(x)):
        np.testing.assert_array_equal(out[i], np.roll(x[i], (dy[i], dx[i]), axis=(0, 1)))


def _invariant_model(channels=1):
    # global average pooling of the input, then a Dense: invariant to circular shifts by construction
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, channels))
    outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(inputs))
    return keras.Model(inputs, outputs)


def _flatten_model(channels=1):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, channels))
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)


def test_consistency_is_one_for_an_invariant_model():
    x = _images(64)
    predict = ac.predictor(_invariant_model())
    assert ac.shift_consistency(predict, x, max_shift=4, seed=0)["consistency"] == 1.0
    # the FFT shift and rotation keep the image mean (the DC bin), so these are 1 too
    assert ac.shift_consistency(predict, x, fractional=True, seed=0)["consistency"] == 1.0
    assert ac.rotation_consistency(predict, x, max_angle=30, seed=0)["consistency"] == 1.0


def test_consistency_is_below_one_for_a_model_that_is_not_invariant():
    x = _images(64)
    predict = ac.predictor(_flatten_model())
    for fractional in (False, True):
        c = ac.shift_consistency(predict, x, max_shift=4, fractional=fractional, seed=0)
        assert 0.0 <= c["consistency"] < 0.9
    assert ac.rotation_consistency(predict, x, max_angle=30, seed=0)["consistency"] < 0.9


def test_consistency_and_accuracy_of_known_predictions():
    # a predictor that reads a label written into the top-left pixel: shifts move the pixel
    x = np.zeros((40, 8, 8, 1), "float32")
    y = np.arange(40) % 10
    x[:, 0, 0, 0] = y

    def predict(batch):
        return np.rint(np.asarray(batch)[:, 0, 0, 0]).astype(int)

    no_shift = ac.shift_consistency(predict, x, y, max_shift=0)
    assert no_shift == {"consistency": 1.0, "accuracy": 1.0}
    shifted = ac.shift_consistency(predict, x, y, max_shift=2, seed=1)
    assert shifted["consistency"] < 1.0 and shifted["accuracy"] < 1.0
    # the same seed gives the same shifts (two models are compared on the same images)
    assert ac.shift_consistency(predict, x, y, max_shift=2, seed=1) == shifted


def test_evaluate_classifier_and_table():
    x, y = _images(32), np.arange(32) % 10
    metrics = ac.evaluate_classifier(ac.predictor(_invariant_model()), x, y, seed=0)
    assert set(metrics) == {"accuracy"} | {f"{k}_{t}" for k in ("consistency", "accuracy")
                                           for t in ("int_shift", "frac_shift", "rotation")}
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert metrics["consistency_int_shift"] == 1.0
    assert metrics["accuracy_int_shift"] == metrics["accuracy"]
    runs = [dict(metrics, params=10, train_ms_per_image=1.0, infer_ms_per_image=0.5, seed=s)
            for s in (0, 1)]
    results = {"datasets": {"toy": {v: {"summary": ac.summarise(runs)} for v in ac.VARIANTS}}}
    table = ac.format_table(results).splitlines()
    assert len(table) == 4 and table[2].startswith("| toy | plain | 10 |")
    assert "100.0 ± 0.0" in table[3]
