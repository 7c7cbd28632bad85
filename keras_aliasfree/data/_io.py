"""File-format readers. Each returns raw pixels (N, H, W, C) in [0, 255] and labels or None.

No TensorFlow: these back both the tf.data pipeline and the numpy / PyDataset path.
"""

from __future__ import annotations

import gzip
import logging
import os
import pickle
from pathlib import Path

import numpy as np

from keras_aliasfree.data._image import convert_channels, resize_images, to_nhwc_uint8_range

logger = logging.getLogger("keras_aliasfree.data")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


# ----------------------------------------------------------------------------------------- idx
def read_idx(path) -> np.ndarray:
    """Read an idx file (MNIST's format, optionally gzipped) into a numpy array.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
        >>> _ = open(p, "wb").write(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 3]))
        >>> read_idx(p).tolist()
        [7, 3]
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable idx file ({e})") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an idx file (expected magic 0x0000 then type and rank bytes)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise ValueError(f"{path}: unknown idx element type 0x{data[2]:02x}")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(dtypes[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{path}: idx header says shape {shape} ({expected} bytes) but the file has {len(data)} bytes")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


# --------------------------------------------------------------------------------------- cifar
class UnsafeFileError(ValueError):
    """A data file that asks to run code or build objects its format never holds; the message
    names the file and what it asked for. Nothing the file asked for was run."""


# What a CIFAR python batch needs: the dict/list/bytes/int opcodes need no global at all; a numpy
# array pickles as ndarray + dtype rebuilt by numpy's reconstructor (numpy < 2 and >= 2 module
# names; _frombuffer for pickle protocol 5); Python 3 protocol-2 pickles spell bytes with
# _codecs.encode. Every other global (os.system, builtins.eval, subprocess.*) is refused.
_CIFAR_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ``_CIFAR_GLOBALS`` and no persistent ids."""

    def __init__(self, fh, path):
        super().__init__(fh, encoding="bytes")
        self._path = path

    def find_class(self, module, name):
        # called when the GLOBAL / STACK_GLOBAL opcode is read, before any REDUCE can call it
        if (module, name) in _CIFAR_GLOBALS:
            return super().find_class(module, name)
        raise UnsafeFileError(f"{self._path}: refused to load: the pickle asks for "
                              f"{module}.{name}, which a CIFAR batch never holds (only dicts, "
                              "lists, bytes, numbers and numpy arrays are allowed); nothing from "
                              "the file was run. Do not use this file")

    def persistent_load(self, pid):
        raise UnsafeFileError(f"{self._path}: refused to load: the pickle uses persistent ids, "
                              "which a CIFAR batch never holds")


def safe_unpickle(path):
    """Unpickle ``path`` allowing only dicts, lists, bytes/str, numbers and numpy arrays.

    Any other class or function the pickle names (a ``__reduce__`` payload that would call
    ``os.system``, say) raises :class:`UnsafeFileError` naming the file when the unpickler reads
    that name, before anything in the file is called. Object arrays are refused too. Strings of
    Python 2 pickles come back as ``bytes`` (``encoding="bytes"``).

    Example:
        >>> import tempfile, os, pickle
        >>> p = os.path.join(tempfile.mkdtemp(), "batch")
        >>> pickle.dump({b"data": np.arange(3, dtype=np.uint8), b"labels": [1]}, open(p, "wb"))
        >>> safe_unpickle(p)[b"data"].tolist()
        [0, 1, 2]
        >>> class Evil:
        ...     def __reduce__(self):
        ...         return (os.system, ("echo owned",))
        >>> pickle.dump(Evil(), open(p, "wb"))
        >>> try:
        ...     safe_unpickle(p)
        ... except UnsafeFileError as e:
        ...     print(str(e).split(": ", 1)[1].split(",")[0])
        refused to load: the pickle asks for posix.system
    """
    with open(path, "rb") as fh:
        obj = _RestrictedUnpickler(fh, os.fspath(path)).load()
    stack = [obj]
    while stack:  # an object array could smuggle arbitrary (allowed) objects past the checks
        o = stack.pop()
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
        elif isinstance(o, np.ndarray) and o.dtype.hasobject:
            raise UnsafeFileError(f"{path}: refused to load: it holds a numpy object array, "
                                  "which a CIFAR batch never holds")
    return obj


def read_cifar_pickles(files) -> tuple[np.ndarray, np.ndarray]:
    """Read CIFAR-10 python pickles (``data_batch_*``, ``test_batch``) into (x NHWC uint8, y).

    The files are read with :func:`safe_unpickle`: a batch that names anything beyond dicts,
    lists, bytes, numbers and numpy arrays raises :class:`UnsafeFileError` before it runs.

    Example:
        >>> import tempfile, os, pickle
        >>> p = os.path.join(tempfile.mkdtemp(), "test_batch")
        >>> d = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}
        >>> pickle.dump(d, open(p, "wb"))
        >>> x, y = read_cifar_pickles([p]); x.shape, y.tolist()
        ((2, 32, 32, 3), [1, 2])
    """
    xs, ys = [], []
    for f in files:
        try:
            d = safe_unpickle(f)
        except UnsafeFileError:
            raise
        except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
            raise ValueError(f"{f}: not a readable CIFAR pickle ({type(e).__name__}: {e})") from e
        if not isinstance(d, dict):
            raise ValueError(f"{f}: expected a CIFAR batch dict, got {type(d).__name__}")
        d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
        if "data" not in d or not ("labels" in d or "fine_labels" in d):
            raise ValueError(f"{f}: expected a CIFAR batch dict with 'data' and 'labels', got keys {sorted(map(str, d))}")
        data = np.asarray(d["data"], np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise ValueError(f"{f}: expected 'data' shaped (N, 3072), got {data.shape}")
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(d.get("labels", d.get("fine_labels")), np.int64))
    return np.concatenate(xs), np.concatenate(ys)


# ----------------------------------------------------------------------------------------- npz
_X_KEYS = ("x", "images", "image", "X", "arr_0")
_Y_KEYS = ("y", "labels", "label", "Y", "arr_1")


def read_npz(path, split: str | None = None, strict_split: bool = False):
    """Read images (and labels) from an ``.npz``.

    Keys looked up, in order: ``x_<split>``/``y_<split>`` (the Keras ``mnist.npz`` layout),
    then ``x``/``y``, ``images``/``labels``, ``arr_0``/``arr_1``. With ``strict_split`` only the
    ``x_<split>`` keys count (returns None when absent).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "d.npz")
        >>> np.savez(p, x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4))
        >>> x, y = read_npz(p); x.shape, y.tolist()
        ((4, 8, 8, 1), [0, 1, 2, 3])
    """
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from e
    with z:
        keys = list(z.keys())
        xk = yk = None
        if split and f"x_{split}" in keys:
            xk, yk = f"x_{split}", f"y_{split}"
        elif strict_split:
            return None
        else:
            xk = next((k for k in _X_KEYS if k in keys), None)
            yk = _Y_KEYS[_X_KEYS.index(xk)] if xk else None
        if xk is None:
            raise ValueError(
                f"{path}: no image array found; expected key 'x' (or 'x_{split or 'train'}', 'images', "
                f"'arr_0'), got keys {keys}"
            )
        try:  # allow_pickle=False: an object array (a pickle inside the npz) is refused here
            xa = z[xk]
            ya = z[yk] if yk in keys else None
        except ValueError as e:
            raise UnsafeFileError(f"{path}: refused to load: {e} (pickled Python objects are "
                                  "never loaded from an .npz)") from None
        x = to_nhwc_uint8_range(xa, f"{path}[{xk}]")
        y = np.asarray(ya).astype(np.int64).reshape(-1) if ya is not None else None
    if y is not None and len(y) != len(x):
        raise ValueError(f"{path}: {len(x)} images but {len(y)} labels")
    return x, y


# ----------------------------------------------------------------------------------------- csv
def read_csv(path):
    """Read the MNIST CSV layout: one image per row, ``label, p0 .. p783`` (or pixels only).

    A header row (any non-numeric field) is skipped. A row of ``1 + s*s`` values is a label plus
    an s x s grayscale image; a row of ``s*s`` values is an image without a label.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "m.csv")
        >>> _ = open(p, "w").write("label," + ",".join(f"p{i}" for i in range(4)) + "\\n3,0,255,0,255\\n")
        >>> x, y = read_csv(p); x.shape, y.tolist()
        ((1, 2, 2, 1), [3])
    """
    path = Path(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline()
    if not first.strip():
        raise ValueError(f"{path}: empty CSV file")
    try:
        [float(v) for v in first.strip().split(",")]
        skip = 0
    except ValueError:
        skip = 1
    try:
        a = np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float32, ndmin=2)
    except ValueError as e:
        raise ValueError(f"{path}: expected comma-separated numbers (label + pixels per row): {e}") from e
    if a.shape[0] == 0:
        raise ValueError(f"{path}: the CSV has a header but no rows")
    ncol = a.shape[1]
    s_lab, s_nolab = _isqrt(ncol - 1), _isqrt(ncol)
    if s_lab:
        y, pix, s = a[:, 0].astype(np.int64), a[:, 1:], s_lab
    elif s_nolab:
        y, pix, s = None, a, s_nolab
    else:
        raise ValueError(
            f"{path}: rows have {ncol} values; expected a label plus a square image (e.g. 1 + 784 = 785 "
            f"for MNIST 28x28) or a square image alone"
        )
    x = to_nhwc_uint8_range(pix.reshape(-1, s, s), str(path))
    if x.dtype != np.uint8 and np.all(pix == np.round(pix)):
        x = x.astype(np.uint8)
    return x, y


def _isqrt(n: int) -> int:
    if n <= 0:
        return 0
    r = int(round(n**0.5))
    return r if r * r == n else 0


# -------------------------------------------------------------------------------- image folders
def list_images(folder) -> list[Path]:
    """All image files under ``folder`` (recursive, sorted, hidden files skipped)."""
    out = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS):
                out.append(Path(root) / name)
    return out


def decode_image(path) -> np.ndarray:
    """Decode one image file with Pillow into (H, W, C) uint8, C = 1 (gray) or 3 (RGB).

    Palette images become RGB; alpha is dropped; 16-bit / float grayscale is scaled to 8 bits.
    """
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        mode = im.mode
        if mode in ("1", "L", "LA"):
            return np.asarray(im.convert("L"), np.uint8)[..., None]
        if mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            a = np.asarray(im, np.float64)
            hi = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
            return np.clip(np.round(a * (255.0 / hi)), 0, 255).astype(np.uint8)[..., None]
        return np.asarray(im.convert("RGB"), np.uint8)


def read_image_files(files, image_size, channels, method, what: str):
    """Decode, convert and resize a list of image files; unreadable files are skipped and counted.

    Returns (x float32 (N, h, w, C) in [0, 255], kept indices). Raises if none could be read.
    """
    h, w = image_size
    small, kept, bad = [], [], []
    for i, f in enumerate(files):
        try:
            d = decode_image(f)
        except Exception as e:  # noqa: BLE001 - Pillow raises many types for broken files
            bad.append((f, f"{type(e).__name__}: {e}"))
            continue
        # resize right away (both steps are linear, so resizing before the channel conversion
        # gives the same result) so that only target-size images are kept in memory
        small.append(resize_images(d[None].astype(np.float32), (h, w), method)[0])
        kept.append(i)
    if bad:
        shown = "; ".join(f"{p} ({why})" for p, why in bad[:5])
        logger.warning(
            "%s: skipped %d unreadable image file(s) of %d: %s%s",
            what, len(bad), len(files), shown, " ..." if len(bad) > 5 else "",
        )
    if not small:
        raise ValueError(f"{what}: none of the {len(files)} image files could be read (first: {bad[0][1]})")
    if channels is None:
        channels = 3 if any(a.shape[-1] == 3 for a in small) else 1
    out = np.empty((len(small), h, w, channels), np.float32)
    for j, a in enumerate(small):
        out[j] = convert_channels(a[None], channels)[0]
    return out, np.asarray(kept, np.int64), len(bad)


def read_image_folder(folder, image_size, channels, method):
    """Read every image under ``folder`` (recursive). Labels come from class sub-folders.

    When every image sits inside a first-level sub-folder, those sub-folder names (sorted) are
    the classes and labels are their indices; otherwise there are no labels.
    Returns (x float32 in [0, 255], y or None, class_names or None).
    """
    folder = Path(folder)
    files = list_images(folder)
    if not files:
        raise ValueError(
            f"{folder}: no image files found (looked recursively for {', '.join(IMAGE_EXTENSIONS)})"
        )
    rel = [f.relative_to(folder).parts for f in files]
    class_names = None
    if all(len(p) >= 2 for p in rel):
        class_names = sorted({p[0] for p in rel})
    x, kept, _ = read_image_files(files, image_size, channels, method, str(folder))
    y = None
    if class_names is not None:
        index = {c: i for i, c in enumerate(class_names)}
        y = np.asarray([index[rel[i][0]] for i in kept], np.int64)
    return x, y, class_names


def read_labelled_image_folder(folder, labels_file, image_size, channels, method):
    """Read images listed in a labels file (``name label`` per line, MNIST-M's release layout)."""
    folder, labels_file = Path(folder), Path(labels_file)
    names, labels = [], []
    with open(labels_file, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise ValueError(f"{labels_file}:{n}: expected '<file name> <label>', got {line.strip()!r}")
            names.append(parts[0])
            labels.append(int(parts[1]))
    if not names:
        raise ValueError(f"{labels_file}: no entries")
    files = [folder / n for n in names]
    x, kept, _ = read_image_files(files, image_size, channels, method, str(folder))
    return x, np.asarray(labels, np.int64)[kept]
