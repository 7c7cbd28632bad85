"""Where each source's files are looked for, how they are read, and the online fallbacks.

No TensorFlow here (tfds lives in ``_pipeline``).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from keras_aliasfree.data import _io

logger = logging.getLogger("keras_aliasfree.data")

NAMED_SOURCES = ("mnist", "cifar10", "mnist_m")
ALIASES = {
    "mnist": "mnist",
    "cifar10": "cifar10",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
    "mnist_m": "mnist_m",
    "mnist-m": "mnist_m",
    "mnistm": "mnist_m",
}
SPLITS = ("train", "test")
ENV_DATA_DIR = "KERAS_ALIASFREE_DATA_DIR"
DOWNLOAD_HOST = ("storage.googleapis.com", 443)  # where keras.datasets and tfds fetch from


class MissingDataError(FileNotFoundError):
    """The files a source needs are not on disk and cannot be downloaded (message says what/where)."""


@dataclass
class RawData:
    """Pixels in [0, 255] (N, H, W, C), labels or None, and where they came from."""

    x: np.ndarray
    y: np.ndarray | None
    origin: str
    class_names: list | None = None
    at_target_size: bool = False  # image folders are resized while decoding
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------ data dir
def resolve_data_dir(data_dir=None) -> Path:
    """The data folder: ``data_dir`` if given, else ``$KERAS_ALIASFREE_DATA_DIR``, else ``~/.keras/datasets``.

    Example:
        >>> resolve_data_dir("/tmp/some/where")
        PosixPath('/tmp/some/where')
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    return Path("~/.keras/datasets").expanduser()


# ---------------------------------------------------------------------------------- source spec
@dataclass
class SourceSpec:
    kind: str  # mnist | cifar10 | mnist_m | tfds | folder | csv | npz
    arg: str = ""  # tfds name or path


def parse_source(source, split: str = "train") -> SourceSpec:
    """Classify ``source``: a named dataset, ``tfds:NAME``, or a path (folder, .csv, .npz).

    Names win over paths: to read a local folder called ``mnist`` write ``./mnist``.
    ``{split}`` in a path is replaced by the split (``data/mnist_{split}.csv``).

    Example:
        >>> parse_source("tfds:fashion_mnist")
        SourceSpec(kind='tfds', arg='fashion_mnist')
    """
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"source must be a non-empty string or path, got {source!r}")
    s = source.strip()
    key = s.lower()
    if key in ALIASES:
        return SourceSpec(ALIASES[key])
    if key.startswith("tfds:"):
        name = s[5:].strip()
        if not name:
            raise ValueError("source 'tfds:' needs a dataset name, e.g. 'tfds:fashion_mnist'")
        return SourceSpec("tfds", name)
    path = Path(s.replace("{split}", split)).expanduser()
    if path.is_dir():
        return SourceSpec("folder", str(path))
    suffix = path.suffix.lower()
    if path.is_file():
        if suffix == ".csv":
            return SourceSpec("csv", str(path))
        if suffix == ".npz":
            return SourceSpec("npz", str(path))
        raise ValueError(f"{path}: unsupported file type {suffix!r}; expected a folder of images, a .csv or a .npz")
    if suffix in (".csv", ".npz") or os.sep in s or "/" in s or s.startswith((".", "~")):
        raise MissingDataError(f"{path}: no such file or folder")
    raise ValueError(
        f"unknown data source {source!r}; expected one of {', '.join(NAMED_SOURCES)}, 'tfds:NAME' "
        f"(any tensorflow-datasets image dataset), or the path of an image folder, a .csv or a .npz"
    )


def check_split(split: str, kind: str) -> None:
    if not isinstance(split, str) or not split:
        raise ValueError(f"split must be a non-empty string, got {split!r}")
    if kind in NAMED_SOURCES and split not in SPLITS:
        raise ValueError(f"split for {kind!r} must be one of {SPLITS}, got {split!r}")


# ----------------------------------------------------------------------------------- download
_net_lock = threading.Lock()
_net_cache: dict = {}


def network_available(host=DOWNLOAD_HOST, timeout: float = 3.0) -> bool:
    """True if a TCP connection to ``host`` opens within ``timeout`` s (result cached per process).

    Runs in a daemon thread so a stalled DNS lookup cannot hang the caller.
    """
    with _net_lock:
        if host in _net_cache:
            return _net_cache[host]
    result = [False]

    def probe():
        try:
            with socket.create_connection(host, timeout=timeout):
                result[0] = True
        except OSError:
            result[0] = False

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    with _net_lock:
        _net_cache[host] = result[0]
    return result[0]


def may_download(download) -> bool:
    """Resolve the ``download`` choice: True / False, or "auto" (only when the network answers)."""
    if download is True:
        return True
    if download is False or download is None:
        return False
    if download == "auto":
        return network_available()
    raise ValueError(f"download must be True, False or 'auto', got {download!r}")


# ------------------------------------------------------------------------------------- locating
def _first_existing(dirs, names):
    for d in dirs:
        for n in names:
            p = d / n
            if p.is_file():
                return p
    return None


def _uniq(paths):
    seen, out = set(), []
    for p in paths:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def mnist_dirs(root: Path):
    return _uniq([root / "mnist", root / "MNIST" / "raw", root / "mnist" / "MNIST" / "raw", root])


def _idx_names(prefix: str, kind: str):
    # kind: "images-idx3" / "labels-idx1"; accept gz or raw, '-' or '.' before idx (both circulate)
    base = [f"{prefix}-{kind}-ubyte", f"{prefix}-{kind.replace('-', '.')}-ubyte"]
    return [b + ".gz" for b in base] + base


def locate_mnist(root: Path, split: str):
    """-> ("idx", images, labels) | ("npz", path) | None, and the folders searched."""
    dirs = mnist_dirs(root)
    prefix = "train" if split == "train" else "t10k"
    img = _first_existing(dirs, _idx_names(prefix, "images-idx3"))
    lab = _first_existing(dirs, _idx_names(prefix, "labels-idx1"))
    if img is not None:
        return ("idx", img, lab), dirs
    npz = _first_existing(dirs, ["mnist.npz"])
    if npz is not None:
        return ("npz", npz), dirs
    return None, dirs


def cifar_dirs(root: Path):
    return _uniq(
        [root / "cifar10", root / "cifar-10", root / "cifar-10-batches-py", root / "cifar10" / "cifar-10-batches-py"]
    )


def _split_npzs(d: Path, split: str):
    """*.npz files in ``d`` whose name mentions ``split`` (and not the other split)."""
    if not d.is_dir():
        return []
    other = [s for s in SPLITS if s != split]
    out = []
    for p in sorted(d.glob("*.npz")):
        words = set(re.split(r"[^a-z0-9]+", p.stem.lower()))
        stem = p.stem.lower()
        if split in words or (split in stem and not any(o in stem for o in other)):
            out.append(p)
    return out


def locate_cifar10(root: Path, split: str):
    """-> ("pickles", [files]) | ("npz", [files]) | ("npzkey", file) | None, and the folders searched."""
    dirs = cifar_dirs(root)
    for d in dirs:
        if split == "train":
            files = sorted(d.glob("data_batch_[0-9]*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0))
        else:
            files = [d / "test_batch"] if (d / "test_batch").is_file() else []
        files = [f for f in files if f.is_file()]
        if files:
            return ("pickles", files), dirs
    for d in dirs:
        files = _split_npzs(d, split)
        if files:
            return ("npz", files), dirs
    for d in dirs:
        for p in sorted(d.glob("*.npz")) if d.is_dir() else []:
            try:
                with np.load(p, allow_pickle=False) as z:
                    if f"x_{split}" in z.files:
                        return ("npzkey", p), dirs
            except Exception:  # noqa: BLE001 - unreadable npz: not ours
                continue
    return None, dirs


def mnist_m_dirs(root: Path):
    return _uniq([root / "mnist_m", root / "mnist-m", root / "mnistm", root / "MNIST-M", root / "MNIST_M"])


def locate_mnist_m(root: Path, split: str):
    """-> ("npz", [files]) | ("folder", folder, labels_file) | None, and the folders searched."""
    dirs = mnist_m_dirs(root)
    for d in dirs:
        files = _split_npzs(d, split)
        if files:
            return ("npz", files), dirs
    for d in dirs:
        folder, labels = d / f"mnist_m_{split}", d / f"mnist_m_{split}_labels.txt"
        if folder.is_dir() and labels.is_file():
            return ("folder", folder, labels), dirs
    return None, dirs


def _searched(dirs) -> str:
    return ", ".join(str(d) for d in dirs)


def missing_message(kind: str, root: Path, split: str, dirs) -> str:
    if kind == "mnist":
        prefix = "train" if split == "train" else "t10k"
        what = (
            f"MNIST {split} split not found. Put {prefix}-images-idx3-ubyte.gz and {prefix}-labels-idx1-ubyte.gz "
            f"(the original idx files, as LeCun's site, torchvision and tfds distribute them) in {root / 'mnist'}/, "
            f"or Keras' mnist.npz in {root}/"
        )
    elif kind == "cifar10":
        files = "data_batch_1 .. data_batch_5 (any subset)" if split == "train" else "test_batch"
        what = (
            f"CIFAR-10 {split} split not found. Put the python pickles {files} (from cifar-10-python.tar.gz) "
            f"in {root / 'cifar-10-batches-py'}/ or {root / 'cifar10'}/, or an .npz with arrays x (N,32,32,3 uint8) "
            f"and y whose file name contains '{split}' in {root / 'cifar10'}/"
        )
    else:
        what = (
            f"MNIST-M {split} split not found. Put an .npz with arrays x (N,H,W,3 uint8) and y whose file name "
            f"contains '{split}' (e.g. mnistm_{split}.npz) in {root / 'mnist_m'}/, or the original release's "
            f"folder mnist_m_{split}/ with mnist_m_{split}_labels.txt there; or build one from MNIST with "
            f"keras_aliasfree.data.build_mnist_m(...)"
        )
    return (
        f"{what}. Searched: {_searched(dirs)}. The data folder comes from the data_dir argument, "
        f"else ${ENV_DATA_DIR}, else ~/.keras/datasets."
    )


# ------------------------------------------------------------------------------------- reading
def read_named(kind: str, split: str, data_dir, download="auto", image_size=(32, 32), channels=None, method="bilinear") -> RawData:
    """Read a named source (mnist / cifar10 / mnist_m) from the data folder, or download it."""
    root = resolve_data_dir(data_dir)
    locate = {"mnist": locate_mnist, "cifar10": locate_cifar10, "mnist_m": locate_mnist_m}[kind]
    found, dirs = locate(root, split)
    if found is None:
        if kind in ("mnist", "cifar10") and may_download(download):
            return _download_keras(kind, split)
        msg = missing_message(kind, root, split, dirs)
        if kind in ("mnist", "cifar10"):
            msg += (
                " No download was attempted: "
                + ("download=False." if download is False or download is None else "the download server is not reachable (offline).")
            )
        raise MissingDataError(msg)
    how = found[0]
    if kind == "mnist":
        if how == "idx":
            _, img, lab = found
            x = _io.read_idx(img)
            if x.ndim != 3:
                raise ValueError(f"{img}: expected an idx3 image file (N, 28, 28), got shape {x.shape}")
            y = _io.read_idx(lab).astype(np.int64) if lab is not None else None
            if y is not None and len(y) != len(x):
                raise ValueError(f"{img} has {len(x)} images but {lab} has {len(y)} labels")
            return RawData(x[..., None].astype(np.uint8), y, str(img))
        x, y = _io.read_npz(found[1], split)
        return RawData(x, y, f"{found[1]}[x_{split}]")
    if kind == "cifar10":
        if how == "pickles":
            x, y = _io.read_cifar_pickles(found[1])
            return RawData(x, y, ", ".join(str(p) for p in found[1]))
        if how == "npz":
            return _concat_npz(found[1], split)
        x, y = _io.read_npz(found[1], split)
        return RawData(x, y, f"{found[1]}[x_{split}]")
    # mnist_m
    if how == "npz":
        return _concat_npz(found[1], split)
    _, folder, labels = found
    x, y = _io.read_labelled_image_folder(folder, labels, image_size, channels, method)
    return RawData(x, y, str(folder), at_target_size=True)


def _concat_npz(files, split) -> RawData:
    xs, ys = [], []
    for f in files:
        x, y = _io.read_npz(f, split)
        xs.append(x)
        ys.append(y)
    shapes = {x.shape[1:] for x in xs}
    if len(shapes) > 1:
        raise ValueError(f"{', '.join(map(str, files))}: image shapes differ between files: {sorted(shapes)}")
    y = None if any(v is None for v in ys) else np.concatenate(ys)
    return RawData(np.concatenate(xs) if len(xs) > 1 else xs[0], y, ", ".join(str(f) for f in files))


def _download_keras(kind: str, split: str) -> RawData:
    import keras

    logger.info("%s not found locally; downloading through keras.datasets.%s", kind, kind)
    mod = getattr(keras.datasets, kind)
    (xtr, ytr), (xte, yte) = mod.load_data()
    x, y = (xtr, ytr) if split == "train" else (xte, yte)
    from keras_aliasfree.data._image import to_nhwc_uint8_range

    return RawData(to_nhwc_uint8_range(x, kind), np.asarray(y).reshape(-1).astype(np.int64), f"keras.datasets.{kind}")


def read_path(spec: SourceSpec, split: str, image_size, channels, method) -> RawData:
    if spec.kind == "csv":
        x, y = _io.read_csv(spec.arg)
        return RawData(x, y, spec.arg)
    if spec.kind == "npz":
        x, y = _io.read_npz(spec.arg, split)
        return RawData(x, y, spec.arg)
    folder = Path(spec.arg)
    sub = folder / split
    if sub.is_dir():
        folder = sub
    else:
        logger.info("%s has no '%s' sub-folder; reading every image in it", folder, split)
    if not _io.list_images(folder):
        hint = ""
        if any(folder.glob("*idx*-ubyte*")):
            hint = f" It holds MNIST idx files: use source 'mnist' with data_dir={folder.parent}."
        elif any(folder.glob("data_batch_*")) or (folder / "test_batch").exists():
            hint = f" It holds CIFAR-10 pickles: use source 'cifar10' with data_dir={folder.parent}."
        elif any(folder.glob("*.npz")) or any(folder.glob("*.csv")):
            hint = " It holds .npz/.csv files: pass the file itself as the source."
        raise ValueError(
            f"{folder}: no image files found (looked recursively for {', '.join(_io.IMAGE_EXTENSIONS)}).{hint}"
        )
    x, y, names = _io.read_image_folder(folder, image_size, channels, method)
    return RawData(x, y, str(folder), class_names=names, at_target_size=True)


def describe(data_dir=None) -> list[tuple[str, str, str]]:
    """(source, split, where found or what is missing) for each named source. No files are decoded."""
    root = resolve_data_dir(data_dir)
    rows = []
    for kind, locate in (("mnist", locate_mnist), ("cifar10", locate_cifar10), ("mnist_m", locate_mnist_m)):
        for split in SPLITS:
            found, dirs = locate(root, split)
            if found is None:
                rows.append((kind, split, "MISSING - " + missing_message(kind, root, split, dirs)))
            else:
                parts = [x if isinstance(x, list) else [x] for x in found[1:]]
                files = [str(p) for group in parts for p in group if p is not None]
                rows.append((kind, split, f"{found[0]}: " + ", ".join(files)))
    return rows
