"""The benchmark's naive comparators compute the same thing as the fast ops (so the ratios compare like
with like), and the bench verb is wired into the CLI."""

import numpy as np
import pytest

from conftest import to_numpy
from keras_aliasfree import bench
from keras_aliasfree import filters as F
from keras_aliasfree import ops as O
from keras_aliasfree.cli import main


@pytest.mark.parametrize("size", [3, 6])
def test_naive_comparators_match_fast_ops(size, rng):
    k = F.jinc_lowpass(size, np.pi / 2, 4.0, window="radial")
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(to_numpy(bench._naive_up(2, k)(x)), to_numpy(O.upsample_2d(x, k)), atol=1e-5)
    np.testing.assert_allclose(to_numpy(bench._naive_down(2, k)(x)), to_numpy(O.downsample_2d(x, k)), atol=1e-5)


def test_bench_verb_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "--help"])
    assert e.value.code == 0
    assert "--rounds" in capsys.readouterr().out
