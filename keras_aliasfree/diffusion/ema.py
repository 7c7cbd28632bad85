"""The exponential moving average of a :class:`~keras_aliasfree.DiffusionModel`'s weights: the
decay rule, the update after each training step, and swapping the average in for sampling or
measuring (a mixin; the model owns the EMA variables, ``_ema_pairs`` and ``ema_updates``).

Example:
    >>> import keras, numpy as np
    >>> from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
    >>> from keras_aliasfree.unet import build_unet
    >>> net = build_unet("A", image_size=8, base_width=8, channel_mults=(1, 2),
    ...                  bottleneck_mult=2, attention=False, time_dim=16)
    >>> dm = DiffusionModel(net, NoiseSchedule(20))
    >>> w = net.trainable_variables[0]
    >>> raw = keras.ops.convert_to_numpy(w.value).copy()
    >>> _ = w.assign(raw + 1.0)            # the trained weights move; the EMA copy does not
    >>> with dm.ema_weights_applied():
    ...     bool(np.allclose(keras.ops.convert_to_numpy(w.value), raw))
    True
    >>> bool(np.allclose(keras.ops.convert_to_numpy(w.value), raw + 1.0))   # back on exit
    True
"""

from __future__ import annotations

import contextlib

from keras import ops


class EMAMethods:
    """:class:`~keras_aliasfree.DiffusionModel`'s EMA methods. The effective decay at update n is
    ``min(ema_decay, (1 + n) / (10 + n))``."""

    def _ema_decay_tensor(self, n):
        n = ops.cast(n, "float32")
        return ops.minimum(ops.convert_to_tensor(self.ema_decay, "float32"),
                           (1.0 + n) / (10.0 + n))

    def _update_ema(self):
        d = self._ema_decay_tensor(self.ema_updates.value)
        for raw, ema in self._ema_pairs:
            ema.assign(ops.cast(d * ema.value + (1.0 - d) * raw.value, ema.dtype))
        self.ema_updates.assign(self.ema_updates.value + 1)

    @contextlib.contextmanager
    def ema_weights_applied(self):
        """Inside the ``with`` block the denoiser holds the EMA weights; the trained weights come
        back on exit (e.g. to measure or call the denoiser as it samples)."""
        raw = [ops.convert_to_numpy(v.value).copy() for v in self.denoiser.trainable_variables]
        try:
            for v, e in self._ema_pairs:
                v.assign(ops.convert_to_numpy(e.value))
            yield self.denoiser
        finally:
            for v, val in zip(self.denoiser.trainable_variables, raw):
                v.assign(val)

    def reset_ema(self):
        """Copy the current weights into the EMA copy (e.g. after loading raw weights)."""
        for raw, ema in self._ema_pairs:
            ema.assign(ops.convert_to_numpy(raw.value))


__all__ = ["EMAMethods"]
