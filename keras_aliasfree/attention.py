"""The UNet's attention core, ``softmax(q kᵀ · scale) v`` over all pixels, with a faster JAX path.

:class:`UNetMultiHeadAttention` is ``keras.layers.MultiHeadAttention`` (same weights, names and
checkpoints) whose core product takes the ``"sliced"`` path below where :func:`layer_impl` says so,
and Keras' own attention elsewhere. :func:`dot_product_attention` holds both of this module's
forms:

* ``impl="reference"``: ``keras.ops`` only (einsum, softmax, einsum), every backend; the
  expression Keras' own layer computes.
* ``impl="sliced"`` (**JAX only**): the same product as one 2-D matrix product per (image, head),
  looped with ``jax.lax.map``, with a hand-written gradient (``jax.custom_vjp``) that recomputes
  the attention weights slice by slice from the saved log-sum-exp instead of storing the
  ``(B, heads, T, S)`` tensor. Why: XLA's CPU backend runs a *batched* matrix product with a
  small inner dimension (here the head width, 8-32) several times slower than the same work as
  plain 2-D products (measured in docs/benchmarks/backend_profile.md,
  ``python benchmarks/backend_profile.py``).

The layer's ``impl`` argument: ``"auto"`` (the default) takes ``"sliced"`` on JAX when every
device is a CPU and no ``keras.distribution`` is set (a loop over a sharded batch axis would
defeat the sharding; accelerators have fast batched products), else Keras' own attention
(``"keras"``, which may use a backend's fused kernel); ``"keras"`` and ``"sliced"`` force one.

Both give the same result up to float rounding, values and gradients (``tests/test_attention.py``).
Masks, dropout and returned scores are not needed by the UNet; a layer asked for any of them takes
Keras' own path.
"""

from __future__ import annotations

import keras
from keras import ops

IMPLS = ("reference", "sliced")
#: The ``impl`` values of :class:`UNetMultiHeadAttention`: ``"auto"``, ``"keras"``, ``"sliced"``.
LAYER_IMPLS = ("auto", "keras", "sliced")


def layer_impl(impl="auto"):
    """The attention path ``impl`` resolves to here and now: ``"keras"`` or ``"sliced"``.

    Example:
        >>> layer_impl("keras")
        'keras'
    """
    if impl not in LAYER_IMPLS:
        raise ValueError(f"attention impl must be one of {LAYER_IMPLS}, got {impl!r}")
    if impl != "auto":
        return impl
    if keras.backend.backend() != "jax" or keras.distribution.distribution() is not None:
        return "keras"
    import jax

    return "sliced" if all(d.platform == "cpu" for d in jax.devices()) else "keras"


def dot_product_attention(query, key, value, scale, impl="reference"):
    """``softmax(q kᵀ · scale, over S) v`` for ``query (B, T, N, D)``, ``key (B, S, N, D)``,
    ``value (B, S, N, Dv)``; returns ``(B, T, N, Dv)`` in the query's dtype (the softmax runs in
    float32).

    Example:
        >>> import numpy as np
        >>> q = np.ones((1, 3, 2, 4), "float32")
        >>> v = np.arange(3 * 2 * 5, dtype="float32").reshape(1, 3, 2, 5)
        >>> out = dot_product_attention(q, q, v, 0.5, impl="reference")
        >>> bool(np.allclose(np.asarray(out), np.asarray(v).mean(axis=1, keepdims=True)))
        True
    """
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    for name, t in (("query", query), ("key", key), ("value", value)):
        if len(t.shape) != 4:
            raise ValueError(f"{name} must be (batch, length, heads, width), got shape "
                             f"{tuple(t.shape)}")
    if impl == "sliced":
        if keras.backend.backend() != "jax":
            raise ValueError(f"impl='sliced' is the JAX path; this backend is "
                             f"{keras.backend.backend()}")
        return _sliced_jax(query, key, value, float(scale))
    dtype = query.dtype
    q, k, v = (ops.cast(t, "float32") for t in (query, key, value))
    weights = ops.softmax(ops.einsum("btnd,bsnd->bnts", q, k) * scale, axis=-1)
    return ops.cast(ops.einsum("bnts,bsnd->btnd", weights, v), dtype)


_SLICED = {}


def _sliced_jax(query, key, value, scale):
    fn = _SLICED.get(scale)
    if fn is None:
        fn = _SLICED[scale] = _make_sliced(scale)
    dtype = query.dtype
    out = fn(*(t.astype("float32") for t in (query, key, value)))
    return out.astype(dtype)


def _make_sliced(scale):
    import jax
    import jax.numpy as jnp

    def heads_first(a):  # (B, L, N, D) -> (B*N, L, D)
        b, n_len, n, d = a.shape
        return jnp.transpose(a, (0, 2, 1, 3)).reshape(b * n, n_len, d)

    def heads_back(a, b, n):  # (B*N, L, D) -> (B, L, N, D)
        _, n_len, d = a.shape
        return jnp.transpose(a.reshape(b, n, n_len, d), (0, 2, 1, 3))

    def forward(q, k, v):
        def one(args):
            qs, ks, vs = args
            s = (qs * scale) @ ks.T
            m = jnp.max(s, axis=-1, keepdims=True)
            e = jnp.exp(s - m)
            z = jnp.sum(e, axis=-1, keepdims=True)
            return (e @ vs) / z, (m + jnp.log(z))[:, 0]
        o, lse = jax.lax.map(one, (heads_first(q), heads_first(k), heads_first(v)))
        return o, lse

    @jax.custom_vjp
    def attend(q, k, v):
        return heads_back(forward(q, k, v)[0], q.shape[0], q.shape[2])

    def attend_fwd(q, k, v):
        o, lse = forward(q, k, v)
        return heads_back(o, q.shape[0], q.shape[2]), (q, k, v, o, lse)

    def attend_bwd(res, d_out):
        q, k, v, o, lse = res

        def one(args):
            qs, ks, vs, os_, ls, ds = args
            p = jnp.exp((qs * scale) @ ks.T - ls[:, None])   # the weights, recomputed
            dv = p.T @ ds
            dp = ds @ vs.T
            dz = p * (dp - jnp.sum(ds * os_, axis=-1, keepdims=True))
            return (dz @ ks) * scale, (dz.T @ qs) * scale, dv
        dq, dk, dv = jax.lax.map(one, (heads_first(q), heads_first(k), heads_first(v), o, lse,
                                       heads_first(d_out)))
        b, n = q.shape[0], q.shape[2]
        return heads_back(dq, b, n), heads_back(dk, b, n), heads_back(dv, b, n)

    attend.defvjp(attend_fwd, attend_bwd)
    return attend


@keras.saving.register_keras_serializable(package="keras_aliasfree")
class UNetMultiHeadAttention(keras.layers.MultiHeadAttention):
    """``keras.layers.MultiHeadAttention`` whose core product takes the JAX-on-CPU path of
    :func:`dot_product_attention` where :func:`layer_impl` says so.
    Weights, names, config and results are Keras' own layer's; elsewhere, and for a call with a
    mask, dropout or ``return_attention_scores``, it is Keras' own attention.

    Args:
        num_heads, key_dim, **kwargs: as ``keras.layers.MultiHeadAttention``.
        impl: ``"auto"`` (default), ``"keras"`` or ``"sliced"`` (see the module docstring).

    Example:
        >>> import numpy as np
        >>> mha = UNetMultiHeadAttention(2, 4, impl="keras")
        >>> x = np.zeros((1, 5, 8), "float32")
        >>> tuple(mha(x, x).shape), mha.get_config()["impl"]
        ((1, 5, 8), 'keras')
    """

    def __init__(self, num_heads, key_dim, impl="auto", **kwargs):
        super().__init__(num_heads, key_dim, **kwargs)
        layer_impl(impl)  # validates
        self.impl = impl

    def get_config(self):
        return {**super().get_config(), "impl": self.impl}

    def _compute_attention(self, query, key, value, attention_mask=None, training=None,
                           return_attention_scores=False, **kwargs):
        scale = getattr(self, "_inverse_sqrt_key_dim", None)
        if (layer_impl(self.impl) != "sliced" or scale is None or attention_mask is not None
                or return_attention_scores or getattr(self, "_dropout", 1.0) > 0.0
                or kwargs.get("use_causal_mask") or len(query.shape) != 4):
            return super()._compute_attention(query, key, value, attention_mask, training,
                                              return_attention_scores, **kwargs)
        return dot_product_attention(query, key, value, float(scale), impl="sliced"), None


__all__ = ["IMPLS", "LAYER_IMPLS", "UNetMultiHeadAttention", "dot_product_attention",
           "layer_impl"]
