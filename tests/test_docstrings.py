"""Every example in the public docstrings runs and prints what it says (on every backend)."""

import doctest
import importlib

import pytest

MODULES = [
    "keras_aliasfree",
    "keras_aliasfree.filters",
    "keras_aliasfree.ops",
    "keras_aliasfree.layers",
    "keras_aliasfree.analysis",
    "keras_aliasfree._io",
    "keras_aliasfree.transforms",
    "keras_aliasfree.metrics.distances",
    "keras_aliasfree.metrics.equivariance",
    "keras_aliasfree.metrics.extractors",
    "keras_aliasfree.metrics.evaluation",
    "keras_aliasfree.metrics.classifier",
    "keras_aliasfree.commands.train",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0
