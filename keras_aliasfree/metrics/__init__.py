"""Evaluation metrics: FD/FID, KID, IS on features, feature extractors, and equivariance in dB.

* Distances (numpy): :func:`frechet_distance`, :func:`kernel_distance`, :func:`inception_score`.
* Extractors: :func:`inception_extractor` (keras.applications InceptionV3), the offline
  :func:`load_classifier_extractor` (small CNN trained on real data; MNIST one shipped),
  :func:`get_extractor`, cached :func:`reference_features`.
* Equivariance (after StyleGAN3): :func:`eq_translation` (EQ-T / EQ-T_frac), :func:`eq_rotation`
  (EQ-R), :func:`rotation_consistency` of a rotation-aware sampler, :func:`denoiser_fn`.

See docs/METRICS.md for what every number means.

Example:
    >>> import numpy as np
    >>> from keras_aliasfree import metrics
    >>> a = np.random.default_rng(0).normal(size=(300, 8))
    >>> round(metrics.frechet_distance(a, a), 6)
    0.0
"""

from keras_aliasfree.metrics.distances import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
    inception_score,
    kernel_distance,
)
from keras_aliasfree.metrics.equivariance import (
    denoiser_fn,
    eq_rotation,
    eq_rotation_exact,
    eq_translation,
    noisy_inputs,
    rotation_consistency,
)
from keras_aliasfree.metrics.extractors import (
    FeatureExtractor,
    cache_dir,
    get_extractor,
    inception_extractor,
    inception_weights_path,
    load_classifier_extractor,
    quantize,
    reference_features,
)
from keras_aliasfree.discs import disc_mask, psnr

__all__ = [
    "feature_statistics", "frechet_distance", "frechet_distance_from_statistics",
    "inception_score", "kernel_distance", "denoiser_fn", "eq_rotation", "eq_rotation_exact", "eq_translation",
    "noisy_inputs", "rotation_consistency", "FeatureExtractor", "cache_dir", "get_extractor",
    "inception_extractor", "inception_weights_path", "load_classifier_extractor", "quantize",
    "reference_features", "disc_mask", "psnr",
]
