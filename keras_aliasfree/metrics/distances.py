"""Distances between feature sets (numpy/scipy, float64): Frechet distance, KID, Inception Score.

These are the formulas of FID (Heusel et al. 2017), KID (Binkowski et al. 2018; the subset
estimator of torch-fidelity) and IS (Salimans et al. 2016). They are independent of which network
produced the features; see :mod:`keras_aliasfree.metrics.extractors`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def _check_features(feats, name, min_rows=2):
    f = np.asarray(feats)
    if f.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_samples, feature_dim), got shape "
                         f"{f.shape}")
    if f.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} samples, got {f.shape[0]}")
    if not np.all(np.isfinite(f)):
        raise ValueError(f"{name} contains NaN or inf")
    return f.astype(np.float64)


def _check_pair(a, b, min_rows=2):
    a = _check_features(a, "feats_a", min_rows)
    b = _check_features(b, "feats_b", min_rows)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: feats_a has {a.shape[1]}, feats_b has "
                         f"{b.shape[1]} (were they made by the same extractor?)")
    return a, b


def feature_statistics(feats):
    """Mean and (unbiased, ``ddof=1``) covariance of ``feats`` ``(N, D)``, float64.

    Example:
        >>> mu, sigma = feature_statistics(np.eye(3))
        >>> mu.shape, sigma.shape
        ((3,), (3, 3))
    """
    f = _check_features(feats, "feats")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance_from_statistics(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """Frechet distance between Gaussians ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``:
    ``|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``.

    The matrix square root is ``scipy.linalg.sqrtm``; if the product is singular, ``eps`` is added to
    the diagonals (as pytorch-fid does); a tiny imaginary part from round-off is dropped, a large one
    is an error.

    Example:
        >>> float(frechet_distance_from_statistics(np.zeros(2), np.eye(2), np.ones(2), np.eye(2)))
        2.0
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} "
                         f"vs {s2.shape}")
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(s1.dot(s2))  # (the `disp` argument goes in SciPy 1.18)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm gave a complex result (max imaginary part "
                             f"{np.max(np.abs(covmean.imag)):.3g}); the covariances are degenerate")
        covmean = covmean.real
    value = float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))
    # The distance is >= 0 by definition; round-off in sqrtm can leave a tiny negative (or -0.0)
    # when the two sets are (nearly) the same. Clamp that, but not a negative beyond round-off.
    scale = float(diff.dot(diff) + abs(np.trace(s1)) + abs(np.trace(s2))) + 1.0
    if value < -1e-6 * scale:
        raise ValueError(f"the Frechet distance came out negative ({value:.3g}); the covariances "
                         "are not positive semi-definite")
    return max(value, 0.0) + 0.0  # + 0.0 turns a -0.0 into 0.0


def frechet_distance(feats_a, feats_b):
    """Frechet distance (FID when the features are InceptionV3 pool3) between two feature sets.

    Args:
        feats_a, feats_b: arrays ``(N_a, D)`` and ``(N_b, D)``, at least 2 rows each. For a stable
            covariance use more samples than feature dimensions.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a = rng.normal(size=(500, 4))
        >>> round(frechet_distance(a, a), 6)
        0.0
        >>> frechet_distance(a, a + 1.0) > 3.9
        True
    """
    a, b = _check_pair(feats_a, feats_b)
    return frechet_distance_from_statistics(*feature_statistics(a), *feature_statistics(b))


def _mmd2_unbiased(x, y):
    """Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3."""
    d = x.shape[1]
    m = x.shape[0]
    n = y.shape[0]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
            + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2.0 * kxy.mean())


def kernel_distance(feats_a, feats_b, subsets=100, subset_size=1000, seed=0, return_std=False):
    """Kernel distance (KID when the features are InceptionV3 pool3): unbiased MMD^2 with the cubic
    polynomial kernel ``(x.y / d + 1)^3``, averaged over ``subsets`` random subsets of
    ``subset_size`` samples drawn without replacement from each set (torch-fidelity's estimator).

    Args:
        feats_a, feats_b: ``(N_a, D)``, ``(N_b, D)``; both need at least ``subset_size`` rows.
        subsets: number of subsets (>= 1).
        subset_size: samples per subset (>= 2).
        seed: seed of the subset draws (results are deterministic).
        return_std: also return the standard deviation over subsets.

    Returns:
        The mean MMD^2 (a float; can be slightly negative for identical distributions), or
        ``(mean, std)``. Papers often report KID x 100 or x 1000.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
        >>> abs(kernel_distance(a, b, subsets=10, subset_size=100)) < 0.05
        True
    """
    subsets, subset_size = int(subsets), int(subset_size)
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"need subsets >= 1 and subset_size >= 2, got {subsets}, {subset_size}")
    a, b = _check_pair(feats_a, feats_b)
    for name, f in (("feats_a", a), ("feats_b", b)):
        if f.shape[0] < subset_size:
            raise ValueError(f"{name} has {f.shape[0]} samples, fewer than subset_size="
                             f"{subset_size}; pass a smaller subset_size or more samples")
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = a[rng.choice(a.shape[0], subset_size, replace=False)]
        y = b[rng.choice(b.shape[0], subset_size, replace=False)]
        values[i] = _mmd2_unbiased(x, y)
    mean, std = float(values.mean()), float(values.std())
    return (mean, std) if return_std else mean


def inception_score(probs, splits=10, return_std=False):
    """Inception Score ``exp(E_x KL(p(y|x) || p(y)))``, mean over ``splits`` equal splits.

    Args:
        probs: ``(N, num_classes)`` class probabilities (rows sum to 1), N >= splits.
        splits: number of splits (10 is the usual value).
        return_std: also return the standard deviation over splits.

    The score lies in ``[1, num_classes]``: 1 when every sample gets the same prediction, the
    number of classes when predictions are confident and classes are used evenly.

    Example:
        >>> round(inception_score(np.eye(10)[np.arange(100) % 10], splits=10), 4)
        10.0
    """
    p = _check_features(probs, "probs", min_rows=1)
    splits = int(splits)
    if splits < 1 or p.shape[0] < splits:
        raise ValueError(f"inception_score: need 1 <= splits <= num_samples, got splits={splits} "
                         f"with {p.shape[0]} samples")
    if (p < -1e-6).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("probs must be probabilities: non-negative rows that sum to 1 "
                         "(apply softmax to logits first)")
    p = np.clip(p, 0.0, None)
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * (np.log(part) - np.log(py)), 0.0)
        scores.append(np.exp(kl.sum(axis=1).mean()))
    mean, std = float(np.mean(scores)), float(np.std(scores))
    return (mean, std) if return_std else mean
