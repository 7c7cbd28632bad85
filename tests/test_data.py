"""Data sources and pipelines (keras_aliasfree.data).

Unit tests write small files into tmp dirs. Tests marked ``data`` read the real copies under
$KERAS_ALIASFREE_DATA_DIR and skip only when it is unset. ``tf_only`` tests use tf.data / tfds.
"""

import gzip
import logging
import os
import pickle
import struct
import time

import numpy as np
import pytest

from keras_aliasfree import data as kd
from keras_aliasfree.data import MissingDataError, NumpyImageDataset, build_mnist_m, load_numpy
from keras_aliasfree.data import _sources


# ------------------------------------------------------------------------------------ helpers
def write_idx(path, arr, gz=True):
    arr = np.asarray(arr, np.uint8)
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    payload = header + arr.tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(payload)


def make_mnist(root, n_train=7, n_test=5, seed=0, sub="mnist", gz=True):
    rng = np.random.default_rng(seed)
    d = root / sub
    d.mkdir(parents=True, exist_ok=True)
    out = {}
    ext = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(d / f"{prefix}-images-idx3-ubyte{ext}", x, gz)
        write_idx(d / f"{prefix}-labels-idx1-ubyte{ext}", y, gz)
        out[prefix] = (x, y)
    return out


def save_png(path, arr):
    from PIL import Image

    arr = np.asarray(arr, np.uint8)
    Image.fromarray(arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr).save(path)


@pytest.fixture
def offline(monkeypatch):
    """Pretend the download server is unreachable (as it is on these machines)."""
    monkeypatch.setattr(_sources, "network_available", lambda *a, **k: False)


@pytest.fixture(autouse=True)
def no_env_data_dir(monkeypatch, request):
    # unit tests must not pick up the real data through the environment
    if "data" not in request.keywords:
        monkeypatch.delenv(_sources.ENV_DATA_DIR, raising=False)


# ------------------------------------------------------------------------------- image helpers
def test_resize_matrix_rows_are_convex_and_constant_preserved():
    for a, b in ((28, 32), (64, 32), (32, 32), (5, 17)):
        r = kd.resize_matrix(a, b)
        assert r.shape == (b, a)
        assert np.all(r >= 0)
        np.testing.assert_allclose(r.sum(axis=1), 1.0, rtol=1e-6)
    x = np.full((2, 28, 28, 3), 77.0, np.float32)
    np.testing.assert_allclose(kd.resize_images(x, (32, 32)), 77.0, rtol=1e-6)


def test_resize_bilinear_matches_torch_interpolate():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, 28, 21, 3)).astype(np.float32)
    for size in ((32, 32), (14, 10), (40, 9)):
        ours = kd.resize_images(x, size)
        ref = torch.nn.functional.interpolate(
            torch.tensor(x).permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=False, antialias=True
        ).permute(0, 2, 3, 1).numpy()
        np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_pad_resize_keeps_pixels(tmp_path):
    m = make_mnist(tmp_path)
    x, _ = load_numpy("mnist", "test", data_dir=tmp_path, resize="pad")
    raw = m["t10k"][0].astype(np.float32) / 127.5 - 1.0
    np.testing.assert_array_equal(x[:, 2:30, 2:30, 0], raw)
    assert np.all(x[:, :2] == -1.0) and np.all(x[:, 30:] == -1.0)


def test_channel_conversion():
    rgb = np.zeros((1, 4, 4, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    g = kd._image.process(rgb, 4, 1)
    expected = (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 127.5 - 1.0
    np.testing.assert_allclose(g, expected, rtol=1e-5)
    gray = np.full((1, 4, 4, 1), 51, np.uint8)
    c = kd._image.process(gray, 4, 3)
    assert c.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(c, 51 / 127.5 - 1.0, rtol=1e-6)
    rgba = np.concatenate([rgb, np.zeros((1, 4, 4, 1), np.uint8)], -1)
    assert kd._image.process(rgba, 4, None).shape == (1, 4, 4, 3)


# ----------------------------------------------------------------------------------------- mnist
@pytest.mark.parametrize("layout", ["mnist_gz", "torchvision_raw", "root"])
def test_mnist_idx_layouts(tmp_path, layout):
    sub, gz = {"mnist_gz": ("mnist", True), "torchvision_raw": ("MNIST/raw", False), "root": (".", True)}[layout]
    m = make_mnist(tmp_path, sub=sub, gz=gz)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x, y = load_numpy("mnist", split, data_dir=tmp_path)
        raw_x, raw_y = m[prefix]
        assert x.shape == (len(raw_x), 32, 32, 1) and x.dtype == np.float32
        assert x.min() >= -1.0 and x.max() <= 1.0
        np.testing.assert_array_equal(y, raw_y)
        # 28 -> 32 bilinear of the original pixels
        np.testing.assert_allclose(x, kd.resize_images(raw_x[..., None], (32, 32)) / 127.5 - 1, atol=1e-5)


def test_mnist_keras_npz_and_env_data_dir(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    xtr, xte = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=xtr, y_train=np.arange(6), x_test=xte, y_test=np.arange(3))
    monkeypatch.setenv(_sources.ENV_DATA_DIR, str(tmp_path))
    x, y = load_numpy("mnist", "test", image_size=28)
    np.testing.assert_allclose(x[..., 0], xte / 127.5 - 1, atol=1e-6)
    assert y.tolist() == [0, 1, 2]


def test_limit_channels_and_size(tmp_path):
    make_mnist(tmp_path, n_train=9)
    x, y = load_numpy("mnist", data_dir=tmp_path, limit=4, channels=3, image_size=(16, 20))
    assert x.shape == (4, 16, 20, 3) and y.shape == (4,)
    np.testing.assert_array_equal(x[..., 0], x[..., 2])


def test_truncated_idx_is_a_clear_error(tmp_path):
    d = tmp_path / "mnist"
    d.mkdir()
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28)))
    write_idx(d / "t10k-labels-idx1-ubyte.gz", np.zeros(3))
    raw = gzip.open(d / "t10k-images-idx3-ubyte.gz").read()
    with gzip.open(d / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(raw[:-10])
    with pytest.raises(ValueError, match="bytes"):
        load_numpy("mnist", "test", data_dir=tmp_path)


def test_missing_mnist_fails_fast_naming_files(tmp_path, offline):
    t = time.perf_counter()
    with pytest.raises(MissingDataError) as e:
        load_numpy("mnist", "test", data_dir=tmp_path)
    assert time.perf_counter() - t < 5
    msg = str(e.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and str(tmp_path / "mnist") in msg and "offline" in msg
    with pytest.raises(MissingDataError, match="download=False"):
        load_numpy("mnist", "train", data_dir=tmp_path, download=False)


def test_download_fallback_uses_keras_datasets(tmp_path, monkeypatch):
    import keras

    xtr = np.full((4, 28, 28), 255, np.uint8)
    xte = np.zeros((2, 28, 28), np.uint8)
    calls = []

    def fake_load_data():
        calls.append(1)
        return (xtr, np.arange(4)), (xte, np.arange(2))

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fake_load_data)
    x, y = load_numpy("mnist", "test", data_dir=tmp_path, download=True)
    assert calls and x.shape == (2, 32, 32, 1) and np.all(x == -1.0) and y.tolist() == [0, 1]
    monkeypatch.setattr(_sources, "network_available", lambda *a, **k: True)
    x, _ = load_numpy("mnist", "train", data_dir=tmp_path)  # download="auto", server "answers"
    assert x.shape == (4, 32, 32, 1) and np.all(x == 1.0)


def test_network_probe_is_bounded():
    t = time.perf_counter()
    ok = _sources.network_available(("192.0.2.1", 9), timeout=0.5)  # TEST-NET-1: never answers
    assert ok is False and time.perf_counter() - t < 2.0


# --------------------------------------------------------------------------------------- cifar10
def cifar_pickle(path, x_hwc, labels):
    data = x_hwc.transpose(0, 3, 1, 2).reshape(len(x_hwc), -1)
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"x", b"labels": list(map(int, labels)), b"data": data}, f)


def test_cifar_pickles_subset_of_batches(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(2)
    xs = [rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8) for n in (3, 2, 4)]
    cifar_pickle(d / "data_batch_3", xs[1], [3, 3])
    cifar_pickle(d / "data_batch_1", xs[0], [1, 1, 1])
    cifar_pickle(d / "test_batch", xs[2], [0, 1, 2, 9])
    x, y = load_numpy("cifar10", "train", data_dir=tmp_path)
    np.testing.assert_allclose(x, np.concatenate(xs[:2]) / 127.5 - 1, atol=1e-6)  # batch 1 then 3, HWC
    assert y.tolist() == [1, 1, 1, 3, 3]
    x, y = load_numpy("cifar10", "test", data_dir=tmp_path, channels=1)
    assert x.shape == (4, 32, 32, 1) and y.tolist() == [0, 1, 2, 9]


def test_cifar_npz_by_file_name(tmp_path):
    d = tmp_path / "cifar10"
    d.mkdir()
    rng = np.random.default_rng(3)
    xtr, xte = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8), rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    np.savez_compressed(d / "cifar10_train_first5.npz", x=xtr, y=np.arange(5))
    np.savez_compressed(d / "cifar10_test_first2.npz", x=xte, y=np.arange(2))
    x, y = load_numpy("cifar10", "test", data_dir=tmp_path)
    np.testing.assert_allclose(x, xte / 127.5 - 1, atol=1e-6)
    x, y = load_numpy("cifar-10", "train", data_dir=tmp_path)
    assert len(x) == 5 and y.tolist() == list(range(5))


def test_missing_cifar_message(tmp_path, offline):
    with pytest.raises(MissingDataError, match="test_batch") as e:
        load_numpy("cifar10", "test", data_dir=tmp_path)
    assert "cifar-10-batches-py" in str(e.value)


# --------------------------------------------------------------------------------------- mnist_m
def test_mnist_m_npz_and_release_folder(tmp_path):
    rng = np.random.default_rng(4)
    d = tmp_path / "mnist_m"
    (d / "mnist_m_train").mkdir(parents=True)
    imgs = rng.integers(0, 256, (3, 28, 28, 3), dtype=np.uint8)
    lines = []
    for i, im in enumerate(imgs):
        save_png(d / "mnist_m_train" / f"{i:08d}.png", im)
        lines.append(f"{i:08d}.png {i + 4}")
    (d / "mnist_m_train_labels.txt").write_text("\n".join(lines) + "\n")
    xte = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    np.savez(d / "mnistm_test.npz", x=xte, y=[7, 8])
    x, y = load_numpy("mnist_m", "train", data_dir=tmp_path)
    assert x.shape == (3, 32, 32, 3) and y.tolist() == [4, 5, 6]
    np.testing.assert_allclose(x, kd.resize_images(imgs, (32, 32)) / 127.5 - 1, atol=1e-5)
    x, y = load_numpy("mnist-m", "test", data_dir=tmp_path)
    np.testing.assert_allclose(x, xte / 127.5 - 1, atol=1e-6)
    assert y.tolist() == [7, 8]


def test_missing_mnist_m_points_to_build(tmp_path):
    with pytest.raises(MissingDataError, match="build_mnist_m"):
        load_numpy("mnist_m", "train", data_dir=tmp_path)


def test_build_mnist_m_formula_and_seed(tmp_path):
    rng = np.random.default_rng(5)
    digits = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    const = np.empty((40, 50, 3), np.uint8)
    const[...] = (10, 128, 250)
    out = build_mnist_m(digits, [const], seed=0)
    assert out.shape == (6, 28, 28, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.abs(np.array([10, 128, 250]) - digits[..., None].astype(int)))
    # zero digits leave the photo patch itself: each output is a window of its background
    photo = rng.integers(0, 256, (45, 37, 3), dtype=np.uint8)
    blank = build_mnist_m(np.zeros((3, 28, 28), np.uint8), [photo], seed=1)
    for im in blank:
        hits = [
            (t, l) for t in range(45 - 27) for l in range(37 - 27) if np.array_equal(photo[t : t + 28, l : l + 28], im)
        ]
        assert hits
    np.testing.assert_array_equal(build_mnist_m(digits, [photo, const], seed=3), build_mnist_m(digits, [photo, const], seed=3))
    assert not np.array_equal(build_mnist_m(digits, [photo], seed=3), build_mnist_m(digits, [photo], seed=4))
    # folder of backgrounds (one smaller than a digit: enlarged to cover it)
    (tmp_path / "bg").mkdir()
    save_png(tmp_path / "bg" / "a.png", photo)
    save_png(tmp_path / "bg" / "small.png", photo[:10, :12])
    assert build_mnist_m(digits[..., None], str(tmp_path / "bg"), seed=0).shape == (6, 28, 28, 3)


# ---------------------------------------------------------------------------------- folder / csv / npz
def test_image_folder_mixed_sizes_classes_and_bad_files(tmp_path, caplog):
    rng = np.random.default_rng(6)
    root = tmp_path / "imgs"
    for cls, sizes in (("cat", [(20, 30), (64, 64)]), ("dog", [(32, 32)])):
        (root / cls / "nested").mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            save_png(root / cls / "nested" / f"{i}.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    from PIL import Image

    Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(root / "dog" / "gray.jpg")
    (root / "dog" / "broken.png").write_bytes(b"not a png at all")
    (root / "cat" / "notes.txt").write_text("not an image extension: ignored, not counted as unreadable")
    with caplog.at_level(logging.WARNING, logger="keras_aliasfree.data"):
        x, y = load_numpy(str(root), image_size=32)
    assert "skipped 1 unreadable" in caplog.text and "broken.png" in caplog.text
    assert x.shape == (4, 32, 32, 3) and x.min() >= -1 and x.max() <= 1
    assert sorted(y.tolist()) == [0, 0, 1, 1]
    # the 32x32 image is taken unchanged
    x1, _ = load_numpy(str(root / "dog"), image_size=32, channels=1)
    assert x1.shape == (2, 32, 32, 1)


def test_image_folder_split_subfolder_and_errors(tmp_path):
    (tmp_path / "ds" / "train").mkdir(parents=True)
    (tmp_path / "ds" / "test").mkdir()
    save_png(tmp_path / "ds" / "train" / "a.png", np.zeros((8, 8), np.uint8))
    save_png(tmp_path / "ds" / "train" / "b.png", np.zeros((8, 8), np.uint8))
    save_png(tmp_path / "ds" / "test" / "c.png", np.full((8, 8), 255, np.uint8))
    x, y = load_numpy(str(tmp_path / "ds"), "test", image_size=8)
    assert x.shape == (1, 8, 8, 1) and np.all(x == 1.0) and y is None
    assert len(load_numpy(str(tmp_path / "ds"), "train", image_size=8)[0]) == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        load_numpy(str(tmp_path / "empty"))
    make_mnist(tmp_path)
    with pytest.raises(ValueError, match="use source 'mnist' with data_dir="):
        load_numpy(str(tmp_path / "mnist"))
    (tmp_path / "allbad").mkdir()
    (tmp_path / "allbad" / "x.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="could be read"):
        load_numpy(str(tmp_path / "allbad"))


def test_csv_mnist_layout(tmp_path):
    rng = np.random.default_rng(7)
    pix = rng.integers(0, 256, (4, 784))
    labels = np.array([3, 1, 4, 1])
    rows = np.concatenate([labels[:, None], pix], 1)
    header = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
    np.savetxt(tmp_path / "mnist_train.csv", rows, fmt="%d", delimiter=",", header=header, comments="")
    np.savetxt(tmp_path / "mnist_test.csv", rows[:2], fmt="%d", delimiter=",")  # no header
    x, y = load_numpy(str(tmp_path / "mnist_train.csv"), resize="pad")
    assert y.tolist() == labels.tolist()
    np.testing.assert_allclose(x[:, 2:30, 2:30, 0], pix.reshape(4, 28, 28) / 127.5 - 1, atol=1e-6)
    x, y = load_numpy(str(tmp_path / "mnist_{split}.csv"), "test")
    assert x.shape == (2, 32, 32, 1) and y.tolist() == [3, 1]
    (tmp_path / "bad.csv").write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="square"):
        load_numpy(str(tmp_path / "bad.csv"))


def test_npz_keys_float_and_channels_first(tmp_path):
    rng = np.random.default_rng(8)
    a = rng.uniform(0, 1, (3, 3, 16, 16)).astype(np.float32)  # NCHW in [0, 1]
    np.savez(tmp_path / "f.npz", images=a)
    x, y = load_numpy(str(tmp_path / "f.npz"), image_size=16)
    assert y is None and x.shape == (3, 16, 16, 3)
    np.testing.assert_allclose(x, a.transpose(0, 2, 3, 1) * 2 - 1, atol=1e-5)
    np.savez(tmp_path / "k.npz", x_train=np.zeros((2, 8, 8), np.uint8), y_train=[1, 2], x_test=np.zeros((1, 8, 8), np.uint8), y_test=[5])
    assert load_numpy(str(tmp_path / "k.npz"), "test")[1].tolist() == [5]
    np.savez(tmp_path / "bad.npz", foo=np.zeros(3))
    with pytest.raises(ValueError, match="no image array"):
        load_numpy(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "range.npz", x=np.full((1, 4, 4), 300.0))
    with pytest.raises(ValueError, match="must lie in"):
        load_numpy(str(tmp_path / "range.npz"))


# ----------------------------------------------------------------------------------- bad input
def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown data source 'imagenet_tiny'"):
        load_numpy("imagenet_tiny")
    with pytest.raises(ValueError, match="needs a dataset name"):
        load_numpy("tfds:")
    with pytest.raises(MissingDataError, match="no such file"):
        load_numpy("./does/not/exist.csv")
    with pytest.raises(ValueError, match="split for 'mnist'"):
        load_numpy("mnist", "validation", data_dir=tmp_path)
    with pytest.raises(ValueError, match="channels"):
        load_numpy("mnist", channels=2, data_dir=tmp_path)
    with pytest.raises(ValueError, match="resize"):
        load_numpy("mnist", resize="bicubic", data_dir=tmp_path)
    with pytest.raises(ValueError, match="limit"):
        load_numpy("mnist", limit=0, data_dir=tmp_path)
    with pytest.raises(ValueError, match="download"):
        _sources.may_download("sometimes")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="unsupported file type"):
        load_numpy(str(tmp_path / "x.txt"))


def test_resolve_data_dir_order(tmp_path, monkeypatch):
    assert _sources.resolve_data_dir(tmp_path) == tmp_path
    monkeypatch.setenv(_sources.ENV_DATA_DIR, str(tmp_path / "env"))
    assert _sources.resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv(_sources.ENV_DATA_DIR)
    assert str(_sources.resolve_data_dir()) == os.path.expanduser("~/.keras/datasets")


# ------------------------------------------------------------------------------------ PyDataset
def test_numpy_image_dataset_epochs_and_labels():
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1) * np.ones((1, 2, 2, 1), np.float32)
    y = np.arange(10)
    ds = NumpyImageDataset(x, y, batch_size=4, seed=0)
    assert len(ds) == 3
    seen = []
    for i in range(len(ds)):
        xb, yb = ds[i]
        np.testing.assert_array_equal(xb[:, 0, 0, 0], yb)  # pairs stay aligned
        seen += yb.tolist()
    assert sorted(seen) == list(range(10))
    first = seen
    ds.on_epoch_end()
    second = [v for i in range(len(ds)) for v in ds[i][1].tolist()]
    assert sorted(second) == list(range(10)) and second != first
    again = NumpyImageDataset(x, y, batch_size=4, seed=0)
    assert [v for i in range(3) for v in again[i][1].tolist()] == first
    dr = NumpyImageDataset(x, batch_size=4, shuffle=False, drop_remainder=True)
    assert len(dr) == 2 and dr[1].shape == (4, 2, 2, 1) and dr[0][:, 0, 0, 0].tolist() == [0, 1, 2, 3]
    with pytest.raises(IndexError):
        dr[2]
    with pytest.raises(ValueError, match="labels"):
        NumpyImageDataset(x, y[:3])


def test_pydataset_trains_with_fit_on_current_backend(tmp_path):
    import keras

    make_mnist(tmp_path, n_train=12)
    ds = NumpyImageDataset.from_source("mnist", data_dir=tmp_path, batch_size=4, seed=0, image_size=8)
    assert len(ds) == 3 and ds[0].shape == (4, 8, 8, 1)
    labelled = NumpyImageDataset.from_source("mnist", data_dir=tmp_path, batch_size=4, with_labels=True)
    assert labelled[0][1].shape == (4,)
    inp = keras.Input((8, 8, 1))
    model = keras.Model(inp, keras.layers.Conv2D(1, 3, padding="same")(inp))
    model.compile(optimizer="sgd", loss="mse")
    pairs = NumpyImageDataset.from_source("mnist", data_dir=tmp_path, batch_size=4, seed=0, image_size=8)
    # an autoencoder-style target so fit has (x, y): reuse the images as targets
    pairs.y = pairs.x
    hist = model.fit(pairs, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


# ------------------------------------------------------------------------------ tf.data (TF only)
@pytest.mark.tf_only
def test_load_dataset_batches_match_numpy_path(tmp_path):
    import tensorflow as tf

    make_mnist(tmp_path, n_train=21)
    for kw in ({}, {"resize": "pad"}, {"channels": 3, "image_size": 24}):
        ds = kd.load_dataset("mnist", data_dir=tmp_path, batch_size=8, shuffle=False, **kw)
        batches = [b.numpy() for b in ds]
        assert [len(b) for b in batches] == [8, 8, 5]
        x, _ = load_numpy("mnist", data_dir=tmp_path, **kw)
        np.testing.assert_allclose(np.concatenate(batches), x, atol=1e-5)
        assert ds.element_spec.dtype == tf.float32
    ds = kd.load_dataset("mnist", data_dir=tmp_path, batch_size=8, drop_remainder=True)
    assert ds.element_spec.shape.as_list() == [8, 32, 32, 1] and sum(1 for _ in ds) == 2


@pytest.mark.tf_only
def test_load_dataset_shuffle_seed_and_labels(tmp_path):
    m = make_mnist(tmp_path, n_train=30)
    raw_x, raw_y = m["train"]
    ds = kd.load_dataset("mnist", data_dir=tmp_path, batch_size=7, seed=3, with_labels=True, resize="pad")
    epoch1 = [(xb.numpy(), yb.numpy()) for xb, yb in ds]
    epoch2 = [(xb.numpy(), yb.numpy()) for xb, yb in ds]
    y1 = np.concatenate([b[1] for b in epoch1])
    assert sorted(y1.tolist()) == sorted(raw_y.tolist())
    # every (image, label) pair is one of the originals
    lookup = {raw_x[i].tobytes(): int(raw_y[i]) for i in range(len(raw_x))}
    for xb, yb in epoch1:
        for img, lab in zip(xb, yb):
            key = np.round((img[2:30, 2:30, 0] + 1) * 127.5).astype(np.uint8).tobytes()
            assert lookup[key] == lab
    y2 = np.concatenate([b[1] for b in epoch2])
    assert not np.array_equal(y1, y2) or not np.array_equal(epoch1[0][0], epoch2[0][0])  # reshuffled
    again = kd.load_dataset("mnist", data_dir=tmp_path, batch_size=7, seed=3, with_labels=True, resize="pad")
    np.testing.assert_array_equal(np.concatenate([yb.numpy() for _, yb in again]), y1)


@pytest.mark.tf_only
def test_load_dataset_folder_without_labels(tmp_path):
    for i in range(3):
        save_png(tmp_path / f"{i}.png", np.full((10, 12, 3), 40 * i, np.uint8))
    ds = kd.load_dataset(str(tmp_path), batch_size=2, shuffle=False)
    xs = np.concatenate([b.numpy() for b in ds])
    assert xs.shape == (3, 32, 32, 3)
    np.testing.assert_allclose(xs[:, 5, 5, 0], [40 * i / 127.5 - 1 for i in range(3)], atol=1e-5)
    with pytest.raises(ValueError, match="no labels"):
        kd.load_dataset(str(tmp_path), with_labels=True)


@pytest.mark.tf_only
def test_numpy_resize_matches_tf_image_resize():
    import tensorflow as tf

    x = np.random.default_rng(9).uniform(0, 255, (2, 28, 19, 3)).astype(np.float32)
    for size in ((32, 32), (12, 9)):
        ref = tf.image.resize(x, size, method="bilinear", antialias=True).numpy()
        np.testing.assert_allclose(kd.resize_images(x, size), ref, atol=2e-3)


@pytest.mark.tf_only
def test_tfds_source_with_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=10):
        ds = kd.load_dataset("tfds:mnist", split="train", batch_size=4, data_dir=tmp_path, shuffle=False)
        xs = np.concatenate([b.numpy() for b in ds])
        assert xs.shape == (10, 32, 32, 1) and xs.min() >= -1 and xs.max() <= 1
        ds = kd.load_dataset("tfds:cifar10", split="test", batch_size=4, channels=1, with_labels=True, data_dir=tmp_path, limit=6)
        n = 0
        for xb, yb in ds:
            assert xb.shape[1:] == (32, 32, 1) and yb.dtype.is_integer
            n += len(xb)
        assert n == 6
        x, y = load_numpy("tfds:mnist", "test", image_size=28, data_dir=tmp_path)
        assert x.shape == (10, 28, 28, 1) and y.shape == (10,)
    with pytest.raises(ValueError, match="no dataset called"):
        kd.load_dataset("tfds:no_such_dataset_xyz")


@pytest.mark.tf_only
def test_tfds_missing_offline_fails_fast(tmp_path, offline):
    t = time.perf_counter()
    with pytest.raises(MissingDataError, match="tfds build mnist"):
        kd.load_dataset("tfds:mnist", data_dir=tmp_path)
    assert time.perf_counter() - t < 10


# -------------------------------------------------------------------------- real data (marked)
# Expected label counts: shared/data/SOURCES.md (computed there from the verified files).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
CIFAR_TRAIN10K_COUNTS = [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]
MNIST_M_TEST_COUNTS = [878, 1016, 933, 908, 890, 807, 856, 914, 880, 919]


@pytest.fixture(scope="module")
def real_dir():
    d = os.environ.get(_sources.ENV_DATA_DIR)
    if not d:
        pytest.skip(f"{_sources.ENV_DATA_DIR} is not set")
    return d


def _check_real(x, y, n, c, counts=None):
    assert x.shape == (n, 32, 32, c) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() <= 1.0 and x.max() > 0.9
    assert y.shape == (n,) and set(np.unique(y).tolist()) == set(range(10))
    if counts is not None:
        assert np.bincount(y, minlength=10).tolist() == counts


@pytest.mark.data
def test_real_mnist(real_dir):
    x, y = load_numpy("mnist", "train")  # data folder from the environment
    _check_real(x, y, 60000, 1, MNIST_TRAIN_COUNTS)
    x, y = load_numpy("mnist", "test", data_dir=real_dir)
    _check_real(x, y, 10000, 1, MNIST_TEST_COUNTS)


@pytest.mark.data
def test_real_cifar10(real_dir):
    x, y = load_numpy("cifar10", "train", data_dir=real_dir)
    _check_real(x, y, 10000, 3, CIFAR_TRAIN10K_COUNTS)
    # the first labels of data_batch_1 (SOURCES.md)
    assert y[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    x, y = load_numpy("cifar10", "test", data_dir=real_dir)
    _check_real(x, y, 1000, 3)
    assert y[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]


@pytest.mark.data
def test_real_mnist_m(real_dir):
    x, y = load_numpy("mnist_m", "test", data_dir=real_dir)
    _check_real(x, y, 9001, 3, MNIST_M_TEST_COUNTS)
    # MNIST-M test image i is MNIST test digit i: the labels must agree
    _, y_mnist = load_numpy("mnist", "test", data_dir=real_dir, limit=9001)
    np.testing.assert_array_equal(y, y_mnist)


@pytest.mark.data
@pytest.mark.tf_only
def test_real_mnist_test_through_tf_data(real_dir):
    ds = kd.load_dataset("mnist", split="test", data_dir=real_dir)
    n, lo, hi = 0, 1.0, -1.0
    for b in ds:
        assert tuple(b.shape[1:]) == (32, 32, 1)
        n += int(b.shape[0])
        lo, hi = min(lo, float(b.numpy().min())), max(hi, float(b.numpy().max()))
    assert n == 10000 and lo == -1.0 and 0.9 < hi <= 1.0


# ------------------------------------------------------------------------------------ CLI verb
def _cli(argv):
    import argparse

    from keras_aliasfree.commands import datasets

    p = argparse.ArgumentParser()
    datasets.register(p.add_subparsers())
    a = p.parse_args(["datasets", *argv])
    return a.func(a)


def test_datasets_command_lists_inspects_and_builds(tmp_path, capsys, offline):
    make_mnist(tmp_path, n_train=5, n_test=3)
    assert _cli(["--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "t10k-images-idx3-ubyte.gz" in out and "cifar10  train  MISSING" in out
    assert _cli(["--data-dir", str(tmp_path), "--inspect", "mnist", "--split", "test"]) == 0
    assert "3 images, shape (32, 32, 1)" in capsys.readouterr().out
    assert _cli(["--data-dir", str(tmp_path), "--inspect", "cifar10"]) == 1
    assert "data_batch_1" in capsys.readouterr().err
    (tmp_path / "photos").mkdir()
    save_png(tmp_path / "photos" / "p.png", np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    out_npz = tmp_path / "mnist_m" / "mnistm_train.npz"
    assert _cli(["--data-dir", str(tmp_path), "--build-mnist-m", str(tmp_path / "photos"), "--out", str(out_npz)]) == 0
    x, y = load_numpy("mnist_m", "train", data_dir=tmp_path)  # found by the file-name convention
    assert x.shape == (5, 32, 32, 3) and len(y) == 5


# ---------------------------------------------------------------------------------- docstrings
@pytest.mark.parametrize(
    "name",
    [
        "keras_aliasfree.data",
        "keras_aliasfree.data._image",
        "keras_aliasfree.data._io",
        "keras_aliasfree.data._sources",
        "keras_aliasfree.data.mnist_m",
        pytest.param("keras_aliasfree.data._pipeline", marks=pytest.mark.tf_only),  # load_dataset: tf.data
    ],
)
def test_data_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
