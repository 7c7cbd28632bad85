"""Every example in the docstrings of every library module runs and prints what it says (on every
backend). Modules are found by walking the package, so a new module is checked without a list."""

import doctest
import importlib
import pkgutil

import pytest

import keras_aliasfree

# modules without runnable examples, and why
NO_EXAMPLES = {
    "keras_aliasfree.__main__": "runs the command on import",
    "keras_aliasfree.version": "a version string",
    "keras_aliasfree.bench": "scenarios run in subprocesses; tests/test_bench.py runs the harness",
}
# the command's verbs carry shell examples ($ keras-aliasfree ...), run by tests/test_cli.py,
# tests/test_train_cli.py and tests/test_export.py
SHELL_EXAMPLES = ("keras_aliasfree.cli", "keras_aliasfree.commands")


def _modules():
    names = ["keras_aliasfree"]
    for info in pkgutil.walk_packages(keras_aliasfree.__path__, "keras_aliasfree."):
        if info.name not in NO_EXAMPLES and not info.name.startswith(SHELL_EXAMPLES):
            names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_walk_finds_the_core_modules():
    for name in ("keras_aliasfree.diffusion.model", "keras_aliasfree.diffusion.sampling",
                 "keras_aliasfree.unet", "keras_aliasfree.export", "keras_aliasfree.layers"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0
