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
