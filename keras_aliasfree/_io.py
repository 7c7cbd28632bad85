"""Small file-system helpers shared by checkpoints and exports (not public)."""

from __future__ import annotations

import os
import shutil


def replace_directory(tmp: str, target: str) -> None:
    """Move the finished directory ``tmp`` to ``target``, replacing any old one, by renames only.

    At every moment either the old or the new ``target`` exists complete: the old one is renamed
    aside, the new one renamed into place, and only then is the old one deleted.

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(os.path.join(root, "new"))
        >>> replace_directory(os.path.join(root, "new"), os.path.join(root, "out"))
        >>> sorted(os.listdir(root))
        ['out']
    """
    if os.path.exists(target):
        old = target + ".old-" + os.path.basename(tmp)
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def make_temp_dir(parent: str, name: str) -> str:
    """A new empty ``parent/.tmp-<name>-XXXX`` directory with the permissions of a normal
    ``mkdir`` (``0o777`` less the umask; ``tempfile.mkdtemp`` alone gives ``0o700``, which a
    serving process running as another user cannot read once the directory is renamed into place).

    Example:
        >>> import stat, tempfile
        >>> d = make_temp_dir(tempfile.mkdtemp(), "ckpt")
        >>> os.path.basename(d).startswith(".tmp-ckpt-"), stat.S_IMODE(os.stat(d).st_mode) != 0o700
        (True, True)
    """
    import tempfile

    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    return tmp


def remove_stale_temps(parent: str, name: str | None = None) -> list:
    """Delete leftovers of interrupted writes in ``parent``: ``.tmp-<name>-*`` directories (every
    ``.tmp-*`` when ``name`` is None) and ``.latest.tmp-*`` files. Call only after a successful
    write or at the start of a run: one writer per directory is assumed. Returns what was removed.

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(os.path.join(root, ".tmp-epoch_0002-abcd"))
        >>> [os.path.basename(p) for p in remove_stale_temps(root)]
        ['.tmp-epoch_0002-abcd']
    """
    removed = []
    if not os.path.isdir(parent):
        return removed
    prefix = ".tmp-" if name is None else f".tmp-{name}-"
    for entry in sorted(os.listdir(parent)):
        path = os.path.join(parent, entry)
        if entry.startswith(prefix) and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        elif entry.startswith(".latest.tmp-") and os.path.isfile(path):
            os.remove(path)
            removed.append(path)
    return removed
