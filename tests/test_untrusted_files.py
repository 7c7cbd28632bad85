"""Data files from strangers: a CIFAR-10 batch is a pickle, and a pickle can run code. The loader
must read real batches (Python 2 and 3 pickles of a dict with a numpy array) and refuse anything
else, naming the file, before any of it runs."""

import os
import pickle

import numpy as np
import pytest

from keras_aliasfree.data import UnsafeFileError, load_numpy
from keras_aliasfree.data._io import read_npz, safe_unpickle


def _batch(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"training batch 1 of 5",
            b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [b"img_%d.png" % i for i in range(n)]}


def _write(path, obj, protocol=pickle.DEFAULT_PROTOCOL):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_cifar_batch_of_any_pickle_protocol_loads_with_its_pixels(tmp_path, protocol):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    batch = _batch()
    _write(d / "data_batch_1", batch, protocol)
    x, y = load_numpy("cifar10", "train", data_dir=tmp_path)
    want = batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1) / 127.5 - 1
    np.testing.assert_allclose(x, want, atol=1e-6)
    assert y.tolist() == batch[b"labels"]


def test_a_python_2_style_batch_naming_numpy_core_loads(tmp_path):
    # the real batches were written by Python 2 + numpy 1: protocol 2, GLOBAL numpy.core.multiarray
    raw = pickle.dumps(_batch(), protocol=2)
    for new in (b"numpy._core.multiarray", b"numpy._core.numeric"):
        raw = raw.replace(new + b"\n", new.replace(b"._core", b".core") + b"\n")
    assert b"cnumpy.core.multiarray\n_reconstruct" in raw
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw)
    assert safe_unpickle(path)[b"data"].shape == (3, 3072)


class _Payload:
    """Unpickling this runs a shell command that creates a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _PythonPayload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.mark.parametrize("payload", [_Payload, _PythonPayload])
@pytest.mark.parametrize("where", ["top", "inside_dict"])
def test_a_batch_with_a_reduce_payload_is_refused_by_name_and_nothing_runs(tmp_path, payload,
                                                                         where):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    marker = tmp_path / "owned"
    evil = payload(marker)
    obj = evil if where == "top" else {**_batch(), b"data": evil}
    _write(d / "data_batch_1", obj)
    # the payload is real: an ordinary pickle.load would run it
    with open(d / "data_batch_1", "rb") as f:
        pickle.load(f)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UnsafeFileError) as e:
        load_numpy("cifar10", "train", data_dir=tmp_path)
    assert not marker.exists()
    msg = str(e.value)
    assert str(d / "data_batch_1") in msg and "refused" in msg
    assert ("system" in msg) if payload is _Payload else ("exec" in msg)
    assert isinstance(e.value, ValueError)  # commands report it as a one-line error, exit 2


def test_an_object_array_in_a_batch_is_refused(tmp_path):
    path = tmp_path / "test_batch"
    _write(path, {b"data": np.array([b"x", 1], dtype=object), b"labels": [0, 1]})
    with pytest.raises(UnsafeFileError, match="object array"):
        safe_unpickle(path)


def test_a_batch_naming_an_allowed_module_but_another_function_is_refused(tmp_path):
    path = tmp_path / "test_batch"
    raw = pickle.dumps(_batch(), protocol=2).replace(b"\n_reconstruct\n", b"\nfromfile\n", 1)
    path.write_bytes(raw)
    with pytest.raises(UnsafeFileError, match="fromfile"):
        safe_unpickle(path)


def test_an_npz_with_a_pickled_object_array_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "owned"
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([_Payload(marker)], dtype=object))
    with pytest.raises(ValueError, match=str(path).replace(".", r"\.")):
        read_npz(path)
    assert not marker.exists()


def test_the_command_line_reports_an_unsafe_batch_in_one_line(tmp_path, capsys):
    from keras_aliasfree.cli import main

    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    marker = tmp_path / "owned"
    _write(d / "data_batch_1", _Payload(marker))
    rc = main(["train", "--data", "cifar10", "--data-dir", str(tmp_path), "--out",
               str(tmp_path / "run"), "--epochs", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "refused to load" in err and "data_batch_1" in err
    assert "Traceback" not in err and not marker.exists()
