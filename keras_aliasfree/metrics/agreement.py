"""Rotation agreement: does rotation-aware sampling draw the *same* image, turned?

For each angle ``phi``, the samples drawn with ``rotation=phi`` are turned back by ``-phi`` and
compared with the upright samples of the same seeds:

* **kept class** -- the fraction whose class (the data's classifier, e.g. the shipped
  ``mnist-classifier``) equals the upright sample's class;
* **turned-back PSNR** -- dB between the turned-back and the upright sample inside the central
  disc (the part a turn maps onto itself), per image, then averaged.

Chance for the kept class is about ``1 / classes``. A model whose rotation-aware sampling works
scores near 1 and a high PSNR; one that draws another image when turned scores near chance.

Example:
    >>> import numpy as np
    >>> from keras_aliasfree.transforms import rotate
    >>> base = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 1)).astype("float32")
    >>> perfect = lambda r, n, s: np.asarray(rotate(base[:n], r))
    >>> probs = lambda x: np.stack([x.mean((1, 2, 3)), -x.mean((1, 2, 3))], 1)
    >>> r = rotation_agreement(perfect, probs, angles=(90.0,), num=4)
    >>> r["90"]["kept"], r["90"]["psnr_db"] > 100
    (1.0, True)
"""

from __future__ import annotations

import numpy as np

from keras_aliasfree.constants import AGREEMENT_ANGLES


def draw(sample_fn, rotation, num, batch_size, seed):
    """``num`` samples at ``rotation`` in batches (batch ``i``: seed ``seed + i``)."""
    out, i = [], 0
    while sum(len(o) for o in out) < num:
        n = min(int(batch_size), num - sum(len(o) for o in out))
        out.append(np.asarray(sample_fn(float(rotation), n, seed + i), np.float32))
        i += 1
    return np.concatenate(out)


def turned_back_psnr(upright, turned_back):
    """Per-image PSNR (dB, peak 2 for images in [-1, 1]) on the central disc."""
    from keras_aliasfree.discs import disc_mask, psnr

    mask = disc_mask(*upright.shape[1:3])
    return np.array([min(psnr(a[None], b[None], mask, peak=2.0), 200.0)
                     for a, b in zip(upright, turned_back)])


def rotation_agreement(sample_fn, classify, angles=AGREEMENT_ANGLES, num=200, batch_size=100,
                       seed=0, turn_back="cubic", upright=None):
    """Kept class and turned-back PSNR of rotation-aware sampling, per angle.

    Args:
        sample_fn: ``sample_fn(rotation_degrees, n, seed) -> (n, H, W, C)`` images in [-1, 1],
            e.g. ``lambda r, n, s: model.sample(n, sampler=DDIM(20, 1.0), rotation=r, seed=s)``.
        classify: ``classify(images) -> (N, K)`` class probabilities (or logits).
        angles: degrees (counter-clockwise, as :func:`keras_aliasfree.transforms.rotate`).
        num: seeds (images) per angle.
        batch_size: images per ``sample_fn`` call.
        seed: seed of the first batch.
        turn_back: the rotation that turns a sample back (:func:`~keras_aliasfree.transforms.rotate`
            method; quarter turns are exact with every method).
        upright: the upright samples of these seeds if already drawn
            (``draw(sample_fn, 0.0, num, batch_size, seed)``); drawn here when ``None``.

    Returns:
        ``{"<angle>": {"kept": fraction, "psnr_db": mean dB, "psnr_db_median": dB}}``.
    """
    from keras_aliasfree.transforms import rotate

    num = int(num)
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    if upright is None:
        upright = draw(sample_fn, 0.0, num, batch_size, seed)
    upright = np.asarray(upright, np.float32)
    if len(upright) != num:
        raise ValueError(f"upright holds {len(upright)} samples, num is {num}")
    base = np.argmax(np.asarray(classify(upright)), axis=-1)
    out = {}
    for phi in angles:
        turned = draw(sample_fn, phi, num, batch_size, seed)
        back = np.asarray(rotate(turned, -float(phi), method=turn_back), np.float32)
        cls = np.argmax(np.asarray(classify(back)), axis=-1)
        p = turned_back_psnr(upright, back)
        out[f"{float(phi):g}"] = {"kept": float(np.mean(cls == base)),
                                  "psnr_db": float(np.mean(p)),
                                  "psnr_db_median": float(np.median(p))}
    return out


__all__ = ["AGREEMENT_ANGLES", "rotation_agreement", "turned_back_psnr", "draw"]
