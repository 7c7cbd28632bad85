"""The disc band limit of C/D diffusion models (see :class:`~keras_aliasfree.DiffusionModel`).

A C/D UNet's output is limited to the disc of frequencies a rotation maps onto itself, while the
noise it predicts fills the square band. Under ``band_limit="disc"`` the data are low-passed to the
disc, so outside it ``x_t`` is pure noise of known scale and its noise is predicted in closed form::

    eps_hat(x_t, t) = P(net(x_t, t)) + (x_t - P(x_t)) / sqrt(1 - alpha_bar_t)

with ``P`` the ideal disc projection (:func:`~keras_aliasfree.discs.disc_lowpass`).
"""

from __future__ import annotations

from keras import ops

from keras_aliasfree.constants import BAND_LIMITS
from keras_aliasfree.discs import disc_lowpass

#: raised-cosine roll-off of the training-data low-pass under ``band_limit="disc"``: flat up to
#: 0.8 x Nyquist, zero from Nyquist (the disc radius) on.
DATA_TAPER = 0.2


def resolve_band_limit(band_limit, denoiser=None):
    """``"auto"`` -> ``"disc"`` for a C/D UNet with the default filters, else ``None``.

    Example:
        >>> resolve_band_limit("auto"), resolve_band_limit("disc"), resolve_band_limit("none")
        (None, 'disc', None)
    """
    if isinstance(band_limit, str) and band_limit.lower() == "none":
        band_limit = None
    if band_limit not in BAND_LIMITS:
        raise ValueError(f"band_limit must be one of 'auto', 'disc' or None, got {band_limit!r}")
    if band_limit != "auto":
        return band_limit
    cfg = getattr(denoiser, "unet_config", None)
    if not cfg:
        return None
    from keras_aliasfree.unet import migrate_unet_config, parse_config

    if cfg.get("architecture") == "equivariant":
        fa, filters = cfg.get("activation") == "filtered_gelu", cfg.get("filters")
    else:
        fa = parse_config(cfg["config"]).filtered_activation
        filters = migrate_unet_config(cfg).get("filters")
    preset = (filters or {}).get("preset", "default")
    return "disc" if fa and preset != "paper" else None


def apply_band_limit(eps, noisy_images, sigma):
    """``P(eps) + (x_t - P(x_t)) / sigma`` with ``P`` the ideal disc projection (NHWC).

    ``sigma = sqrt(1 - alpha_bar_t)``: a scalar or one value per image.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(1, 8, 8, 1)).astype("float32")
        >>> bool(np.allclose(apply_band_limit(x, x, 1.0), x, atol=1e-5))  # pure noise: unchanged
        True
    """
    sigma = ops.cast(ops.convert_to_tensor(sigma), "float32")
    if len(sigma.shape) == 1:
        sigma = ops.reshape(sigma, (-1, 1, 1, 1))
    x = ops.cast(noisy_images, "float32")
    # one FFT round trip: eps_hat = x/s + P(eps - x/s)
    return x / sigma + disc_lowpass(ops.cast(eps, "float32") - x / sigma)


def band_limit_images(images, band_limit):
    """Training images as a model with ``band_limit`` sees them (low-passed to the disc)."""
    x0 = ops.cast(ops.convert_to_tensor(images), "float32")
    if band_limit is None:
        return x0
    return disc_lowpass(x0, taper=DATA_TAPER)


__all__ = ["resolve_band_limit", "apply_band_limit", "band_limit_images", "BAND_LIMITS",
           "DATA_TAPER"]
