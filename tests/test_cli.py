"""The keras-aliasfree command: --version, --help, and the filters verb (in-process)."""

import pytest

from keras_aliasfree import __version__
from keras_aliasfree.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_verbs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "filters" in out and "--version" in out


def test_filters_verb(capsys):
    assert main(["filters", "--preset", "paper", "--beta", "2"]) == 0
    out = capsys.readouterr().out
    assert "3x3 kernel" in out and "imbalance 5.1" in out
    assert main(["filters"]) == 0
    assert "8x8 kernel" in capsys.readouterr().out


def test_filters_verb_bad_argument(capsys):
    assert main(["filters", "--cutoff", "9"]) == 2
    assert "cutoff must be in (0, pi]" in capsys.readouterr().out


@pytest.mark.parametrize("verb", ["filters", "bench", "train-classifier", "evaluate", "datasets",
                                  "train", "sample", "export", "demo",
                                  "presets"])
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    assert "usage: keras-aliasfree" in capsys.readouterr().out
