"""Shared test set-up. The backend comes from KERAS_BACKEND (scripts/test.sh runs all three)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# reference statistics go to a folder of this run, not the user's cache: scripts/test.sh runs the
# backends side by side, and a test must not read what another process is half-way through writing
import tempfile  # noqa: E402

os.environ.setdefault("KERAS_ALIASFREE_CACHE_DIR", tempfile.mkdtemp(prefix="kaf-test-cache-"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.backend.backend()


def _versions():
    from importlib import metadata

    out = []
    for dist in ("keras", "tensorflow", "jax", "torch", "numpy", "scipy", "h5py"):
        try:
            out.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"{dist} -")
    return ", ".join(out)


def pytest_report_header(config):
    # the versions pip resolved: a failure that comes from a new release shows it here
    return f"backend {BACKEND}; {_versions()}"


def pytest_collection_modifyitems(config, items):
    # tf_only tests need TensorFlow itself; under other backends scripts/test.sh deselects them,
    # and a direct run skips them with the reason shown.
    if BACKEND == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"TensorFlow-only feature; backend is {BACKEND}")
    for item in items:
        if "tf_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)
