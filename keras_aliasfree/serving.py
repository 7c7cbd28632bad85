"""The SavedModel's signature functions (TensorFlow-only module; :mod:`keras_aliasfree.export`
saves them and documents the signatures).

:func:`make_serving_module` wraps a denoiser (EMA weights loaded) in a ``tf.Module`` whose
``sample`` runs the library's own loop body (:func:`~keras_aliasfree.diffusion.sampling
.sampler_iteration`) in a ``tf.while_loop`` and whose ``denoise`` is the noise prediction of
:meth:`~keras_aliasfree.DiffusionModel.predict_noise`.

Example:
    >>> from keras_aliasfree.serving import make_serving_module
    >>> # m = make_serving_module(unet, NoiseSchedule(), "fft", rotation_mode="once")
    >>> # m.sample(tf.constant(0, tf.int64), tf.constant(2), tf.constant(90.0), tf.constant(20))
"""

from __future__ import annotations

import numpy as np

from keras_aliasfree.constants import DEFAULT_MAX_IMAGES, ROTATION_MODES
from keras_aliasfree.diffusion.samplers import DDIM
from keras_aliasfree.diffusion.schedule import ddim_timesteps_tf

_INT32_SEED_MOD = 2**31 - 2  # keras' _cast_seed: floormod(seed, int32.max - 1)


def make_serving_module(denoiser, schedule, rotation_method, band_limit=None, eta=0.0,
                        prediction="epsilon", max_images=DEFAULT_MAX_IMAGES, sampler=None,
                        rotation_mode="progressive"):
    """The tf.Module holding the denoiser (EMA weights) and the two signature tf.functions.

    ``rotation_mode`` (fixed at export) is how ``sample`` turns: ``"progressive"`` or ``"once"``
    (:meth:`DiffusionModel.sample`). A denoiser that takes "up" is given the angle turned so far
    in ``sample``, and ``denoise`` takes ``up_degrees`` (a scalar or one per image).

    The loop body is :func:`~keras_aliasfree.diffusion.sampling.sampler_iteration` with the
    noise prediction of :func:`~keras_aliasfree.diffusion.sampling.noise_prediction`, as
    :meth:`DiffusionModel.sample` runs them; only the ``tf.while_loop`` and, with run-time steps,
    the DDIM tables (the same :func:`~keras_aliasfree.diffusion.schedule.ddim_coefficients`)
    are built here."""
    import tensorflow as tf

    from keras_aliasfree.diffusion.sampling import (denoiser_inputs, noise_prediction,
                                                     rotate_noise, sampler_iteration, takes_up,
                                                     x0_prediction)
    from keras_aliasfree.diffusion.schedule import SamplerTables, ddim_coefficients
    from keras_aliasfree.transforms import rotate

    if rotation_mode not in ROTATION_MODES:
        raise ValueError(f"rotation_mode must be one of {ROTATION_MODES}, got {rotation_mode!r}")
    once, has_up = rotation_mode == "once", takes_up(denoiser)
    h, w, c = (int(d) for d in denoiser.inputs[0].shape[1:])
    T = int(schedule.timesteps)
    alpha_bars = np.asarray(schedule.alpha_bars, np.float64)
    ddpm_tables = schedule.sampler_tables("ddpm").astype(np.float32)
    # run-time steps: the DDIM/DDPM step on in-graph tables (noise always drawn); else fixed
    fixed, fixed_tables = sampler, None if sampler is None else sampler.tables(schedule)
    step_sampler = DDIM(1, 1.0) if fixed is None else fixed

    module = tf.Module(name="keras_aliasfree_diffusion")
    # Track the underlying tf.Variables, not the Keras model: then session-based loaders (TF1
    # `loader.load`, `saved_model_cli run`, TensorFlow Serving's C++ SavedModelBundle) restore
    # them too; tracking the Keras model only works with the TF2 `tf.saved_model.load`.
    module.denoiser_variables = [v.value for v in denoiser.variables]
    module.timesteps = tf.Variable(T, dtype=tf.int32, trainable=False, name="timesteps")
    module.image_shape = tf.Variable([h, w, c], dtype=tf.int32, trainable=False,
                                     name="image_shape")

    def seed_pair(seed, k):
        s = tf.stack([tf.cast(seed, tf.int64), tf.cast(k, tf.int64)])
        return tf.cast(tf.math.floormod(s, tf.constant(_INT32_SEED_MOD, tf.int64)), tf.int32)

    sigma_table = tf.constant(np.sqrt(1.0 - alpha_bars).astype(np.float32))
    sqrt_ab_table = tf.constant(np.sqrt(alpha_bars).astype(np.float32))

    def run_denoiser(x, t_float, sigma, sqrt_ab, up=None):
        out = denoiser(denoiser_inputs(denoiser, x, t_float, up), training=False)
        return noise_prediction(out, x, sigma, band_limit, prediction, sqrt_ab)

    def ddpm():
        return tuple(tf.constant(v) for v in ddpm_tables)

    def ddim(n):
        t = ddim_timesteps_tf(n, T)
        ab_all = tf.constant(alpha_bars, tf.float64)
        ab = tf.gather(ab_all, t)
        ab_prev = tf.concat([tf.gather(ab_all, t[1:]), tf.ones([1], tf.float64)], axis=0)
        coeffs = ddim_coefficients(ab, ab_prev, eta, xp=tf.math)
        return tuple(tf.cast(v, tf.float32) for v in (t,) + tuple(coeffs))

    @tf.function(input_signature=[
        tf.TensorSpec([], tf.int64, name="seed"),
        tf.TensorSpec([], tf.int32, name="num_images"),
        tf.TensorSpec([], tf.float32, name="rotation_degrees"),
        tf.TensorSpec([], tf.int32, name="steps"),
    ], autograph=False)
    def sample(seed, num_images, rotation_degrees, steps):
        if fixed is None:
            steps_check = tf.debugging.assert_less_equal(
                steps, T, message=f"sample: steps must be <= T={T} (<= 0 or T = DDPM, "
                                  f"1..{T - 1} = DDIM)")
        else:  # the sampler is fixed: steps may only name it (or be <= 0)
            fixed_steps = getattr(fixed, "steps", None) or T
            steps_check = tf.debugging.Assert(
                tf.logical_or(steps <= 0, tf.equal(steps, fixed_steps)),
                [f"sample: this export's sampler is {fixed!r}; steps must be <= 0 or "
                 f"{fixed_steps}"])
        checks = [
            tf.debugging.assert_greater_equal(
                num_images, 1, message="sample: num_images must be >= 1"),
            tf.debugging.assert_less_equal(
                num_images, max_images,
                message=f"sample: num_images must be <= {max_images} (this export's max_images; "
                        "draw more in several calls, or re-export with a larger --max-images)"),
            steps_check,
            tf.debugging.assert_all_finite(
                rotation_degrees, message="sample: rotation_degrees must be finite"),
        ]
        with tf.control_dependencies(checks):
            if fixed is None:  # run-time steps: DDPM or DDIM(steps, eta), tables in-graph
                use_ddpm = tf.logical_or(steps <= 0, tf.equal(steps, T))
                tables = SamplerTables(*tf.cond(use_ddpm, ddpm, lambda: ddim(steps)))
                tabs = {"t": tables.timesteps, "sqrt_ab": tables.sqrt_alpha_bar,
                        "sigma": tables.sigma, "coef_x0": tables.coef_x0,
                        "coef_xt": tables.coef_xt, "noise_std": tables.noise_std}
            else:  # the sampler fixed at export time: its tables are constants of the graph
                tabs = {k: tf.constant(v) for k, v in fixed_tables.items()}
        n_steps = tf.shape(tabs["t"])[0]
        # progressive: the angle of one step; once: the whole angle (sampling.rotation_angles)
        angle = rotation_degrees if once else tf.cast(
            tf.cast(rotation_degrees, tf.float64) / tf.cast(n_steps, tf.float64), tf.float32)
        do_rotate = tf.not_equal(rotation_degrees, 0.0)
        shape = tf.stack([num_images, h, w, c])
        x0 = tf.random.stateless_normal(shape, seed=seed_pair(seed, 0), dtype=tf.float32)
        image = tf.TensorShape([None, h, w, c])
        if once:  # the initial noise turned once (x_t is never resampled)
            x0 = tf.cond(do_rotate, lambda: rotate_noise(x0, angle), lambda: tf.identity(x0))
        x0 = tf.ensure_shape(x0, [None, h, w, c])

        def turn(a):
            turned = tf.cond(do_rotate, lambda: rotate(a, angle, method=rotation_method),
                             lambda: tf.identity(a))
            return tf.ensure_shape(turned, image)

        def body(i, x, *state):
            row = {k: v[i] for k, v in tabs.items()}
            turned = angle if once else angle * tf.cast(i + 1, tf.float32)

            def denoise(x, t, sqrt_ab, sigma):
                eps = run_denoiser(x, tf.fill(tf.reshape(num_images, [1]), t), sigma, sqrt_ab,
                                   turned)
                return x0_prediction(eps, x, sigma, sqrt_ab, clip=step_sampler.clip_x0)

            z = tf.random.stateless_normal(shape, seed=seed_pair(seed, i + 1), dtype=tf.float32) \
                if step_sampler.stochastic else None

            def turn_noise(z):
                # the noise turned by the angle x_t has turned so far, as DiffusionModel.sample
                # does (skipped where the step adds none: DDIM with eta 0, the last step)
                go = tf.logical_and(do_rotate, tf.not_equal(row.get("noise_std", 1.0), 0.0))
                return tf.ensure_shape(tf.cond(go, lambda: rotate_noise(z, turned),
                                               lambda: tf.identity(z)), image)

            x, state = sampler_iteration(step_sampler, x, state, row, denoise, z,
                                         None if once else turn, turn_noise)
            return (i + 1, tf.ensure_shape(x, image)) + tuple(
                tf.ensure_shape(v, image) for v in state)

        init = (tf.constant(0), x0) + tuple(tf.zeros_like(x0) for _ in
                                            range(step_sampler.state_size))
        x = tf.while_loop(lambda i, *_: i < n_steps, body, init,
                          shape_invariants=(tf.TensorShape([]),) + (image,) * (len(init) - 1))[1]
        x = tf.clip_by_value(x, -1.0, 1.0)
        images = tf.cast(tf.clip_by_value(tf.round((x + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
        return {"images": images}

    def denoise_up(noisy_images, timesteps, up_degrees):
        n = tf.shape(noisy_images)[0]
        rank = tf.debugging.assert_less_equal(
            tf.rank(timesteps), 1, message="denoise: timesteps must be a scalar (every image) or "
                                           "a vector with one timestep per image")
        with tf.control_dependencies([rank]):
            flat = tf.reshape(timesteps, [-1])
        # a scalar applies to every image; a vector must hold one timestep per image
        timesteps = tf.cond(tf.equal(tf.rank(timesteps), 0), lambda: tf.fill([n], flat[0]),
                            lambda: flat)
        checks = [
            tf.debugging.assert_equal(
                tf.shape(noisy_images)[1:], tf.constant([h, w, c]),
                message=f"denoise: noisy_images must have shape (N, {h}, {w}, {c})"),
            tf.debugging.assert_equal(
                tf.shape(timesteps)[0], n,
                message="denoise: need one timestep per image (or a scalar for all)"),
            tf.debugging.assert_greater_equal(
                timesteps, 0, message=f"denoise: timesteps must be in 0..{T - 1}"),
            tf.debugging.assert_less(
                timesteps, T, message=f"denoise: timesteps must be in 0..{T - 1}"),
        ]
        up = None
        if up_degrees is not None:
            checks.append(tf.debugging.assert_less_equal(
                tf.rank(up_degrees), 1, message="denoise: up_degrees must be a scalar (every "
                                                "image) or one angle per image"))
            up = tf.reshape(up_degrees, [-1])
            up = tf.cond(tf.equal(tf.size(up), 1), lambda: tf.fill([n], up[0]), lambda: up)
            checks += [tf.debugging.assert_equal(
                tf.shape(up)[0], n, message="denoise: need one up angle per image (or a "
                                            "scalar for all)"),
                tf.debugging.assert_all_finite(up, message="denoise: up_degrees must be finite")]
        with tf.control_dependencies(checks):
            x = tf.identity(noisy_images)
            t = tf.cast(timesteps, tf.float32)
        return {"noise": run_denoiser(x, t, tf.gather(sigma_table, timesteps),
                                      tf.gather(sqrt_ab_table, timesteps), up)}

    spec = [tf.TensorSpec([None, h, w, c], tf.float32, name="noisy_images"),
            tf.TensorSpec(None, tf.int32, name="timesteps")]
    if has_up:
        denoise = tf.function(denoise_up, autograph=False, input_signature=spec + [
            tf.TensorSpec(None, tf.float32, name="up_degrees")])
    else:
        denoise = tf.function(lambda noisy_images, timesteps: denoise_up(
            noisy_images, timesteps, None), autograph=False, input_signature=spec)

    module.sample = sample
    module.denoise = denoise
    return module


__all__ = ["make_serving_module"]
