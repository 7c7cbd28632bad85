"""The loop body every sampler runs, and the compiled reverse loop of :meth:`DiffusionModel.sample`.

:func:`sampler_iteration` turns x_t and what the sampler carries (rotation-aware sampling), then
calls the sampler's ``step`` (:mod:`keras_aliasfree.diffusion.samplers`).
:meth:`~keras_aliasfree.DiffusionModel.sample` runs it in a ``keras.ops.fori_loop`` and the
SavedModel's ``sample`` signature (:mod:`keras_aliasfree.export`) in a ``tf.while_loop``; both get
``eps_hat`` from :func:`noise_prediction`, so the band limit is applied the same way too.
"""

from __future__ import annotations

import collections

import keras
import numpy as np
from keras import ops

from keras_aliasfree.constants import ROTATION_MODES
from keras_aliasfree.diffusion.band_limit import apply_band_limit


def _per_image(v):
    v = ops.cast(ops.convert_to_tensor(v), "float32")
    return ops.reshape(v, (-1, 1, 1, 1)) if len(v.shape) == 1 else v




def takes_up(denoiser):
    """Whether ``denoiser`` takes the "up" angle as a third input
    (``[noisy_images, timesteps, up_degrees]``, e.g. an
    :class:`~keras_aliasfree.equivariant_unet.EquivariantUNet`)."""
    return len(denoiser.inputs or []) == 3


def denoiser_inputs(denoiser, x, t, up=None):
    """The input list for ``denoiser``: ``[x, t]``, plus ``up`` (degrees, one per image; 0 when
    ``None``) if it takes the "up" angle. ``t`` is float, one per image."""
    if not takes_up(denoiser):
        return [x, t]
    up = ops.zeros_like(t) if up is None else ops.cast(ops.broadcast_to(up, ops.shape(t)),
                                                        t.dtype)
    return [x, t, up]


def noise_prediction(denoiser_output, noisy_images, sigma, band_limit=None, prediction="epsilon",
                     sqrt_alpha_bar=None):
    """``eps_hat`` from the network's output: float32, with the band limit applied if any.

    ``prediction`` says what the network predicts: ``"epsilon"`` (its output is eps_hat),
    ``"v"`` (``eps_hat = sigma x_t + sqrt_alpha_bar v_hat``) or ``"x0"`` (``eps_hat = (x_t -
    sqrt_alpha_bar x0_hat) / sigma``). ``sigma = sqrt(1 - alpha_bar_t)`` and ``sqrt_alpha_bar``
    are scalars or one value per image.

    Example:
        >>> import keras, numpy as np
        >>> out = np.ones((1, 4, 4, 1), "float16")
        >>> keras.backend.standardize_dtype(noise_prediction(out, out, 1.0).dtype)
        'float32'
    """
    eps = ops.cast(denoiser_output, "float32")
    if prediction != "epsilon":
        x = ops.cast(noisy_images, "float32")
        s, a = _per_image(sigma), _per_image(sqrt_alpha_bar)
        if prediction == "v":
            eps = s * x + a * eps
        elif prediction == "x0":
            eps = (x - a * eps) / s
        else:
            raise ValueError(f"unknown prediction type {prediction!r}")
    if band_limit is None:
        return eps
    return apply_band_limit(eps, noisy_images, sigma)


def rotate_noise(noise, degrees):
    """Turn a reverse step's fresh noise ``z`` by the angle x_t has turned so far.

    Rotation-aware sampling turns x_t by ``phi / steps`` before every step. For its sample to be
    the plain sample of the same seed, turned, the noise a stochastic sampler (DDPM, DDIM with
    eta > 0) adds at step ``i`` must be the plain run's noise turned by ``(i + 1) phi / steps``;
    unturned, it is other noise, and the two runs draw different images however equivariant the
    denoiser is. The turn is always the band-limited FFT three-shear (whatever rotates x_t): it
    is unitary on the periodic grid, so the noise stays white with its variance (but for the
    Nyquist row), where an interpolating rotation would shrink it.

    Example:
        >>> import numpy as np
        >>> z = np.random.default_rng(0).normal(size=(8, 32, 32, 1)).astype("float32")
        >>> round(float(np.std(np.asarray(rotate_noise(z, 30.0)))), 1)
        1.0
    """
    from keras_aliasfree.transforms import rotate

    return rotate(noise, degrees, method="fft", data_format="channels_last")


def x0_prediction(eps, x_t, sigma, sqrt_alpha_bar, clip=True):
    """``x0_hat = (x_t - sigma eps) / sqrt_alpha_bar``, clipped to [-1, 1] when ``clip``.

    Example:
        >>> import numpy as np
        >>> x = np.full((1, 2, 2, 1), 3.0, "float32")
        >>> float(x0_prediction(np.zeros_like(x), x, 0.5, 1.0)[0, 0, 0, 0])
        1.0
    """
    x0 = (x_t - sigma * eps) / sqrt_alpha_bar
    return ops.clip(x0, -1.0, 1.0) if clip else x0


def sampler_iteration(sampler, x, state, row, denoise, noise=None, turn=None, turn_noise=None):
    """One iteration of every reverse loop (library and SavedModel): turn, then step.

    ``turn`` (``None`` = no turn this iteration) turns ``x`` and every image the sampler carries
    by this iteration's angle, ``turn_noise`` (``None`` = none) the fresh ``noise`` (``None`` for
    a deterministic sampler) by the angle turned so far (:func:`rotate_noise`); then
    ``sampler.step``. ``denoise`` is the iteration's model call (with the "up" angle bound, for a
    denoiser that takes it). Returns ``(x, state)``.

    Example:
        >>> # x, state = sampler_iteration(DDIM(20), x, (), row, denoise)
    """
    if turn is not None:
        x, state = turn(x), tuple(turn(s) for s in state)
    if noise is not None and turn_noise is not None:
        noise = turn_noise(noise)
    return sampler.step(x, tuple(state), row, denoise, noise)


def build_sample_loop(denoiser, band_limit, sampler, schedule, num, rotate=False,
                      rotation_method="fft", clip=True, prediction="epsilon",
                      rotation_mode="progressive"):
    """``(init, run, n_steps)``: the compiled reverse loop of :meth:`DiffusionModel.sample`.

    ``sampler`` is a :class:`~keras_aliasfree.diffusion.samplers.Sampler`; its tables for
    ``schedule`` become constants of the loop and its ``step`` is the loop body (one model
    evaluation per iteration, ``n_steps`` = its NFE). ``init(seed_state, angle) -> (x_T,
    seed_state, ...)`` draws the initial noise; ``run(carry, weights, nt_weights, angle, start,
    stop)`` runs iterations ``start..stop-1`` on ``carry = (x, seed_state, *sampler_state)``
    with the given denoiser weights (stateless: EMA or raw weights are passed in).

    With ``rotate``, ``angle`` is what :func:`rotation_angles` gives for ``rotation_mode``:
    ``"progressive"`` (the paper's): ``x`` and every image of the sampler's state are turned by
    ``angle`` before each iteration, a stochastic sampler's fresh noise by the angle turned so
    far (:func:`rotate_noise`); ``"once"``: the initial noise and every fresh noise are turned
    by the whole ``angle`` and x_t is never resampled. A denoiser that takes "up"
    (:func:`takes_up`) is given the angle turned so far (0 without rotation).
    ``jax.jit`` / ``tf.function`` compile them once; PyTorch runs them eagerly under ``no_grad``.
    """
    if rotation_mode not in ROTATION_MODES:
        raise ValueError(f"rotation_mode must be one of {ROTATION_MODES}, got {rotation_mode!r}")
    shape = (int(num),) + tuple(int(d) for d in denoiser.inputs[0].shape[1:])
    rotate_fn = None
    if rotate:
        from keras_aliasfree.transforms import rotate as rotate_fn
    once = bool(rotate) and rotation_mode == "once"
    progressive = bool(rotate) and not once
    tables = sampler.tables(schedule)
    n_steps = int(len(tables["t"]))
    clip = bool(clip) and sampler.clip_x0
    stochastic = bool(sampler.stochastic)
    sg = keras.random.SeedGenerator(0, name="sample_seed_generator")
    tv_refs = list(denoiser.trainable_variables)
    ntv_refs = list(denoiser.non_trainable_variables)
    tabs = {k: ops.convert_to_tensor(v) for k, v in tables.items()}

    def draw(seed_state):
        with keras.StatelessScope(state_mapping=[(sg.state, seed_state)]) as scope:
            z = keras.random.normal(shape, dtype="float32", seed=sg)
            new_state = scope.get_current_value(sg.state)
        return z, new_state

    def run(carry, weights, nt_weights, angle, start, stop):
        mapping = list(zip(tv_refs, weights)) + list(zip(ntv_refs, nt_weights))

        def denoiser_at(up):
            def denoise(x, t, sqrt_ab, sigma):
                t = ops.broadcast_to(t, (shape[0],))
                with keras.StatelessScope(state_mapping=mapping):
                    out = denoiser(denoiser_inputs(denoiser, x, t, up), training=False)
                eps = noise_prediction(out, x, sigma, band_limit, prediction, sqrt_ab)
                return x0_prediction(eps, x, sigma, sqrt_ab, clip)
            return denoise

        def body(i, carry):
            x, seed_state, state = carry[0], carry[1], tuple(carry[2:])
            row = {k: ops.take(v, i) for k, v in tabs.items()}
            z = None
            if stochastic:
                z, seed_state = draw(seed_state)
            turned = angle * ops.cast(i + 1, "float32") if progressive else angle
            x, state = sampler_iteration(
                sampler, x, state, row, denoiser_at(turned if rotate else None), z,
                (lambda a: rotate_fn(a, angle, method=rotation_method)) if progressive else None,
                (lambda z: rotate_noise(z, turned)) if rotate else None)
            return (x, seed_state) + tuple(state)

        return ops.fori_loop(start, stop, body, tuple(carry))

    def init(seed_state, angle):
        x, seed_state = draw(seed_state)
        if once:
            x = rotate_noise(x, angle)
        return (x, seed_state) + tuple(sampler.init_state(x))

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        init, run = jax.jit(init), jax.jit(run)
    elif backend == "tensorflow":
        import tensorflow as tf

        init = tf.function(init, autograph=False, reduce_retracing=True)
        run = tf.function(run, autograph=False, reduce_retracing=True)
    elif backend == "torch":
        import torch

        init, run = torch.no_grad()(init), torch.no_grad()(run)
    return init, run, n_steps


def rotation_angles(rotation, n_steps, rotation_mode="progressive"):
    """The loop's ``angle`` for a total turn of ``rotation`` degrees over ``n_steps``: the
    per-iteration angle (``"progressive"``) or the whole angle (``"once"``)."""
    if rotation_mode not in ROTATION_MODES:
        raise ValueError(f"rotation_mode must be one of {ROTATION_MODES}, got {rotation_mode!r}")
    return float(rotation) / n_steps if rotation_mode == "progressive" else float(rotation)


def fresh_seed():
    """A random non-negative int32 seed (for ``seed=None``)."""
    return int(np.random.SeedSequence().generate_state(1)[0] & 0x7FFFFFFF)



class SampleOutput(collections.namedtuple("SampleOutput", ["images", "trajectory"])):
    """``sample(..., return_trajectory=True)``: ``images`` (N, H, W, C) in [-1, 1] and
    ``trajectory`` (K, N, H, W, C), x_t at about ten points of the reverse process (the first is
    the initial noise). A tuple, so ``images, trajectory = ...`` unpacks it."""

    __slots__ = ()


def run_sample_loop(init, run, n_steps, weights, nt_weights, rotation, seed=None, verbose="auto",
                    return_trajectory=False, rotation_mode="progressive"):
    """Run a loop from :func:`build_sample_loop` over all ``n_steps`` reverse steps.

    The loop runs in about ten compiled chunks when a progress bar or the trajectory is asked
    for (``verbose="auto"``: a bar for runs of 100 steps or more), else in one.

    Returns:
        float32 numpy images in [-1, 1]; with ``return_trajectory`` a :class:`SampleOutput`
        (``images``, ``trajectory``).

    Example:
        >>> # init, run, n = build_sample_loop(net, None, DDIM(20), schedule, 4, prediction="v")
        >>> # x = run_sample_loop(init, run, n, weights, [], 0.0, seed=0)
    """
    if seed is None:
        seed = fresh_seed()
    seed_state = keras.random.SeedGenerator(int(seed)).state.value
    angle = ops.convert_to_tensor(rotation_angles(rotation, n_steps, rotation_mode), "float32")
    if verbose == "auto":
        verbose = n_steps >= 100
    chunks = 10 if (return_trajectory or verbose) else 1
    bounds = np.unique(np.round(np.linspace(0, n_steps, chunks + 1)).astype(int))
    bar = keras.utils.Progbar(n_steps, unit_name="step") if verbose else None
    carry = init(seed_state, angle)
    trajectory = [ops.convert_to_numpy(carry[0])] if return_trajectory else None
    eager_bounds = keras.backend.backend() == "torch"
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if eager_bounds:
            start, stop = int(lo), int(hi)
        else:
            start = ops.convert_to_tensor(int(lo), "int32")
            stop = ops.convert_to_tensor(int(hi), "int32")
        carry = run(carry, weights, nt_weights, angle, start, stop)
        if return_trajectory:
            trajectory.append(ops.convert_to_numpy(carry[0]))
        if bar is not None:
            bar.update(int(hi))
    out = np.clip(ops.convert_to_numpy(carry[0]).astype("float32"), -1.0, 1.0)
    if return_trajectory:
        return SampleOutput(out, np.stack(trajectory).astype("float32"))
    return out

__all__ = ["SampleOutput", "ROTATION_MODES", "takes_up", "denoiser_inputs", "rotation_angles",
           "run_sample_loop", "noise_prediction", "rotate_noise", "build_sample_loop",
           "x0_prediction", "sampler_iteration"]
