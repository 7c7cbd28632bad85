"""DiffusionModel: fit on every backend, RNG advances, EMA, sampling, rotation=0, checkpoints."""

import os

import keras
import numpy as np
import pytest

from keras_aliasfree.diffusion import (DiffusionModel, NoiseSchedule, TrainingCheckpoint,
                                       find_checkpoint, load_checkpoint, read_training_state)
from keras_aliasfree.unet import build_unet

BACKEND = keras.backend.backend()
T = 20


def tiny_unet(config="D-1N"):
    return build_unet(config, image_size=8, base_width=8, channel_mults=(1, 2), bottleneck_mult=2,
                      attention=False, time_dim=16)


def toy_images(n=32, seed=0):
    # smooth blobs in [-1, 1]: easy to learn, so a few epochs lower the loss
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:8, 0:8]
    c = rng.uniform(2, 5, size=(n, 2))
    r2 = (yy[None] - c[:, 0, None, None]) ** 2 + (xx[None] - c[:, 1, None, None]) ** 2
    return (2.0 * np.exp(-r2 / 4.0) - 1.0)[..., None].astype("float32")


class BatchLosses(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(keras.ops.convert_to_numpy(logs["loss"])))


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    dm = DiffusionModel(tiny_unet(), NoiseSchedule(T), ema_decay=0.9, seed=3)
    dm.compile(optimizer=keras.optimizers.AdamW(3e-3), jit_compile=BACKEND != "torch")
    hist = dm.fit(toy_images(), batch_size=8, epochs=6, verbose=0, shuffle=False)
    return dm, hist.history["loss"]


def test_the_model_class_is_registered_for_keras_serialisation():
    assert keras.saving.get_registered_object("keras_aliasfree>DiffusionModel") is DiffusionModel
    assert keras.saving.get_registered_name(DiffusionModel) == "keras_aliasfree>DiffusionModel"


def test_schedule():
    s = NoiseSchedule(1000)
    assert s.betas[0] == pytest.approx(1e-4) and s.betas[-1] == pytest.approx(0.02)
    assert np.all(np.diff(s.alpha_bars) < 0)
    c = NoiseSchedule(100, kind="cosine")
    assert c.betas.max() <= 0.999 and 0 < c.alpha_bars[-1] < 0.01
    with pytest.raises(ValueError, match="kind"):
        NoiseSchedule(10, kind="quadratic")
    with pytest.raises(ValueError, match="timesteps"):
        NoiseSchedule(0)


def test_sampler_tables_recover_x0():
    # with the true noise, one DDIM step from t to "before 0" returns x0 exactly
    s = NoiseSchedule(50)
    tab = s.sampler_tables("ddim", 1)
    x0, eps = 0.3, -1.2
    t = tab.timesteps[0]
    xt = np.sqrt(s.alpha_bars[t]) * x0 + np.sqrt(1 - s.alpha_bars[t]) * eps
    x0_hat = (xt - tab.sigma[0] * eps) / tab.sqrt_alpha_bar[0]
    assert tab.coef_x0[0] * x0_hat + tab.coef_xt[0] * xt == pytest.approx(x0)
    tab = s.sampler_tables("ddpm")
    t, sd = tab.timesteps, tab.noise_std
    assert len(t) == 50 and t[0] == 49 and t[-1] == 0 and sd[-1] == 0 and sd[0] > 0
    with pytest.raises(ValueError, match="DDPM runs all T"):
        s.sampler_tables("ddpm", 10)
    with pytest.raises(ValueError, match="DDIM steps"):
        s.sampler_tables("ddim", 51)
    with pytest.raises(ValueError, match="sampler"):
        s.sampler_tables("euler", 10)


def test_sampler_tables_are_the_textbook_updates_without_clipping():
    # unclipped, x_prev = cx * (x - sg * e) / ra + ce * x + sd * z must be Ho et al.'s Algorithm 2
    # (DDPM) and Song et al.'s eq. 12 with eta = 0 (DDIM), written with eps: x_prev = a x + b e
    s = NoiseSchedule(50)
    tab = s.sampler_tables("ddpm")
    al, ab, be = s.alphas[tab.timesteps], s.alpha_bars[tab.timesteps], s.betas[tab.timesteps]
    a, b = 1 / np.sqrt(al), -be / (np.sqrt(al) * np.sqrt(1 - ab))
    t = tab.timesteps
    np.testing.assert_allclose(tab.noise_std, np.where(t > 0, np.sqrt(be), 0.0))
    ddim = s.sampler_tables("ddim", 7)
    ab_d = s.alpha_bars[ddim.timesteps]
    ab_prev = np.concatenate([s.alpha_bars[ddim.timesteps[1:]], [1.0]])
    a_d = np.sqrt(ab_prev) / np.sqrt(ab_d)
    b_d = np.sqrt(1 - ab_prev) - np.sqrt(ab_prev) * np.sqrt(1 - ab_d) / np.sqrt(ab_d)
    assert not ddim.noise_std.any()
    for tb, want_a, want_b in ((tab, a, b), (ddim, a_d, b_d)):
        np.testing.assert_allclose(tb.coef_x0 / tb.sqrt_alpha_bar + tb.coef_xt, want_a, rtol=1e-9)
        np.testing.assert_allclose(-tb.coef_x0 * tb.sigma / tb.sqrt_alpha_bar, want_b, rtol=1e-9,
                                   atol=1e-12)
        assert tb.coef_x0[-1] == pytest.approx(1.0) and tb.coef_xt[-1] == pytest.approx(0.0)


def test_a_table_sampler_step_is_the_table_update():
    from keras_aliasfree.diffusion.samplers import DDPM
    from keras_aliasfree.diffusion.sampling import x0_prediction

    schedule = NoiseSchedule(50)
    tab = schedule.sampler_tables("ddpm")
    rng = np.random.default_rng(0)
    x, e, z = (rng.normal(size=(2, 4, 4, 1)).astype("float32") for _ in range(3))
    i = 10
    row = {k: v[i] for k, v in DDPM().tables(schedule).items()}
    x0 = (x - tab.sigma[i] * e) / tab.sqrt_alpha_bar[i]
    for clip in (False, True):
        def denoise(xt, t, sqrt_ab, sigma, clip=clip):
            return x0_prediction(e, xt, sigma, sqrt_ab, clip)

        got, state = DDPM().step(keras.ops.convert_to_tensor(x), (), row, denoise,
                                 keras.ops.convert_to_tensor(z))
        want = tab.coef_x0[i] * (np.clip(x0, -1, 1) if clip else x0) + tab.coef_xt[i] * x \
            + tab.noise_std[i] * z
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), want, rtol=1e-4, atol=1e-5)
        assert state == ()


def test_clip_denoised(trained):
    dm, _ = trained
    kw = dict(sampler="ddim", steps=6, seed=4, verbose=0, return_trajectory=True)
    _, clipped = dm.sample(2, **kw)
    _, free = dm.sample(2, clip_denoised=False, **kw)
    np.testing.assert_array_equal(clipped[0], free[0])  # same start
    # the last step returns x0_hat: clipped it lies in the data range
    assert np.abs(clipped[-1]).max() <= 1.0 + 1e-6
    assert not np.array_equal(clipped[-1], free[-1])


def test_fit_lowers_loss_and_updates_ema(trained):
    dm, losses = trained
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], losses
    assert int(keras.ops.convert_to_numpy(dm.ema_updates.value)) == 6 * 4
    raw = [keras.ops.convert_to_numpy(v.value) for v in dm.denoiser.trainable_variables]
    ema = [keras.ops.convert_to_numpy(e.value) for e in dm.ema_variables]
    assert any(not np.allclose(r, e) for r, e in zip(raw, ema))


def test_rng_state_advances_and_steps_draw_different_noise():
    dm = DiffusionModel(tiny_unet("A"), NoiseSchedule(T), seed=5)
    dm.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=BACKEND != "torch")
    s0 = keras.ops.convert_to_numpy(dm.seed_generator.state.value).copy()
    cb = BatchLosses()
    x = toy_images(8)
    dm.fit(x, batch_size=8, epochs=3, verbose=0, shuffle=False, callbacks=[cb])
    s1 = keras.ops.convert_to_numpy(dm.seed_generator.state.value)
    assert not np.array_equal(s0, s1)
    # same weights (lr 0), same batch every step: the loss differs only through t and noise,
    # and the running mean reported per batch changes only if the draws differ
    assert len(cb.losses) == 3 and len(set(cb.losses)) == 3, cb.losses


def test_sample_shape_range_and_determinism(trained):
    dm, _ = trained
    a = dm.sample(3, sampler="ddim", steps=5, seed=11, verbose=0)
    b = dm.sample(3, sampler="ddim", steps=5, seed=11, verbose=0)
    c = dm.sample(3, sampler="ddim", steps=5, seed=12, verbose=0)
    assert a.shape == (3, 8, 8, 1) and a.dtype == np.float32
    assert a.min() >= -1.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    d = dm.sample(2, seed=1, verbose=0)  # DDPM, all T steps
    assert d.shape == (2, 8, 8, 1) and np.all(np.abs(d) <= 1.0)
    raw = dm.sample(3, sampler="ddim", steps=5, seed=11, use_ema=False, verbose=0)
    assert not np.array_equal(a, raw)  # the EMA copy is what samples by default


def test_rotation_zero_reproduces_plain_sampling(trained):
    dm, _ = trained
    kw = dict(sampler="ddim", steps=6, seed=4, verbose=0)
    plain = dm.sample(2, **kw)
    zero = dm.sample(2, rotation=0.0, **kw)
    np.testing.assert_array_equal(plain, zero)
    turned = dm.sample(2, rotation=30.0, **kw)
    assert turned.shape == plain.shape and not np.array_equal(turned, plain)


@pytest.mark.parametrize("sampler,eta", [("ddpm", 0.0), ("ddim", 1.0)])
def test_rotated_stochastic_sampling_turns_the_plain_sample(sampler, eta):
    # a 1x1 convolution is exactly rotation-equivariant, so a sampler that turns x_t and each
    # step's fresh noise by the angle turned so far draws the plain sample of the same seed,
    # turned (up to the rotations' own error at the highest frequencies, hence the low-pass).
    # With the noise unturned, the two runs add different noise: 0.74-0.92 here
    from keras_aliasfree import discs

    x_in, t_in = keras.Input((16, 16, 1)), keras.Input(())
    y = keras.layers.Conv2D(1, 1, use_bias=False,
                            kernel_initializer=keras.initializers.Constant(0.9))(x_in)
    dm = DiffusionModel(keras.Model([x_in, t_in], y), NoiseSchedule(T), seed=0)
    kw = dict(sampler=sampler, steps=6 if sampler == "ddim" else None, eta=eta, seed=3,
              verbose=0)
    plain, turned = dm.sample(8, **kw), dm.sample(8, rotation=90.0, **kw)
    f = np.fft.fftfreq(16)
    low = np.hypot(*np.meshgrid(f, f, indexing="ij")) < 0.2
    disc = np.squeeze(np.asarray(discs.disc_mask(16, 16, 6.0))) > 0

    def smooth(a):
        return np.real(np.fft.ifft2(np.fft.fft2(a[..., 0]) * low))[:, disc]

    a, b = smooth(np.rot90(plain, 1, (1, 2))), smooth(turned)
    corr = [np.corrcoef(u, v)[0, 1] for u, v in zip(a, b)]
    assert min(corr) > 0.9 and np.mean(corr) > 0.95, corr


def test_trajectory(trained):
    dm, _ = trained
    res = dm.sample(2, sampler="ddim", steps=6, seed=0, return_trajectory=True, verbose=0)
    out, traj = res
    assert res.images is out and res.trajectory is traj
    assert traj.ndim == 5 and traj.shape[1:] == (2, 8, 8, 1) and traj.shape[0] >= 3
    np.testing.assert_allclose(np.clip(traj[-1], -1, 1), out)


def test_bad_sample_arguments(trained):
    dm, _ = trained
    with pytest.raises(ValueError, match="DDPM"):
        dm.sample(1, steps=5, sampler="ddpm")
    with pytest.raises(ValueError, match="rotation_method"):
        dm.sample(1, sampler="ddim", steps=2, rotation=5, rotation_method="nearest")
    with pytest.raises(ValueError, match="num_images"):
        dm.sample(0)


def test_wrong_image_shape_in_fit():
    dm = DiffusionModel(tiny_unet("A"), NoiseSchedule(T))
    dm.compile(optimizer="adam", jit_compile=False)
    with pytest.raises(ValueError, match=r"expects image batches of shape \(batch, 8, 8, 1\)"):
        dm.fit(np.zeros((4, 16, 16, 1), "float32"), epochs=1, verbose=0)


def test_checkpoint_round_trip(trained, tmp_path):
    dm, _ = trained
    before = [keras.ops.convert_to_numpy(v.value).copy() for v in dm.denoiser.trainable_variables]
    path = dm.save_checkpoint(tmp_path / "ck", {"epoch": 6})
    for b, v in zip(before, dm.denoiser.trainable_variables):  # saving must not alter weights
        np.testing.assert_array_equal(b, keras.ops.convert_to_numpy(v.value))
    assert sorted(os.listdir(path)) == ["config.json", "ema.weights.h5", "manifest.json",
                                        "optimizer.npz", "raw.weights.h5", "training_state.json"]
    assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp")] == []
    dm2 = load_checkpoint(path)
    for v1, v2 in zip(dm.denoiser.trainable_variables, dm2.denoiser.trainable_variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v1.value),
                                      keras.ops.convert_to_numpy(v2.value))
    for e1, e2 in zip(dm.ema_variables, dm2.ema_variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(e1.value),
                                      keras.ops.convert_to_numpy(e2.value))
    np.testing.assert_array_equal(dm.sample(2, sampler="ddim", steps=4, seed=2, verbose=0),
                                  dm2.sample(2, sampler="ddim", steps=4, seed=2, verbose=0))
    state = read_training_state(path)
    assert state["epoch"] == 6 and state["step"] == 24
    dm.save_checkpoint(path, {"epoch": 7})  # overwriting an existing checkpoint stays atomic
    assert read_training_state(path)["epoch"] == 7
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        find_checkpoint(tmp_path / "nothing")


def test_nan_loss_keeps_last_good_checkpoint(tmp_path):
    dm = DiffusionModel(tiny_unet("A"), NoiseSchedule(T), seed=1)
    dm.compile(optimizer=keras.optimizers.AdamW(1e-3), jit_compile=BACKEND != "torch")
    cb = TrainingCheckpoint(tmp_path, verbose=0)
    dm.fit(toy_images(8), batch_size=8, epochs=1, verbose=0, callbacks=[cb])
    assert cb.nan_epoch is None and find_checkpoint(tmp_path).endswith("epoch_0001")
    bad = toy_images(8)
    bad[0, 0, 0, 0] = np.nan
    dm.fit(bad, batch_size=8, initial_epoch=1, epochs=3, verbose=0, callbacks=[cb])
    assert cb.nan_epoch == 2
    assert find_checkpoint(tmp_path).endswith("epoch_0001")
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["epoch_0001", "latest"]


@pytest.mark.tf_only
def test_resume_matches_uninterrupted_run(tmp_path):
    """Deterministic toy run: 2 epochs straight == 1 epoch, checkpoint, new model, resume 1."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    x = toy_images(16)

    def new_model():
        keras.utils.set_random_seed(7)
        dm = DiffusionModel(tiny_unet("B-1N"), NoiseSchedule(T), ema_decay=0.9, seed=9)
        dm.compile(optimizer=keras.optimizers.AdamW(1e-3), jit_compile=False)
        return dm

    ref = new_model()
    ref.fit(x, batch_size=8, epochs=2, verbose=0, shuffle=False)

    first = new_model()
    first.fit(x, batch_size=8, epochs=1, verbose=0, shuffle=False,
              callbacks=[TrainingCheckpoint(tmp_path, verbose=0)])
    resumed = DiffusionModel.from_checkpoint(tmp_path)
    resumed.compile(optimizer=keras.optimizers.AdamW(1e-3), jit_compile=False)
    state = resumed.restore_training_state(tmp_path)
    assert state["epoch"] == 1 and state["step"] == 2
    resumed.fit(x, batch_size=8, initial_epoch=state["epoch"], epochs=2, verbose=0, shuffle=False)
    assert int(resumed.optimizer.iterations.numpy()) == 4
    for a, b in zip(ref.weights, resumed.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a.value),
                                   keras.ops.convert_to_numpy(b.value), rtol=1e-5, atol=1e-6,
                                   err_msg=a.path)


def test_resume_from_the_middle_of_an_epoch_matches_an_uninterrupted_run(tmp_path):
    """3 epochs of 3 steps straight == a run stopped by a signal after step 4 (inside epoch 2,
    with step checkpoints every 2 steps), rebuilt from its checkpoint and continued: same
    weights, EMA, RNG state, optimizer step and learning rate, so the same data order too."""
    import signal

    from keras_aliasfree.diffusion.preemption import fit_from_step, resume_step

    if BACKEND == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    x = toy_images(26)  # 3 full batches of 8 a pass; 2 images left over, different each pass

    def optimizer():
        lr = keras.optimizers.schedules.CosineDecay(0.0, 9, warmup_target=2e-3, warmup_steps=3)
        return keras.optimizers.AdamW(lr)

    def new_model():
        keras.utils.set_random_seed(7)
        dm = DiffusionModel(tiny_unet("B-1N"), NoiseSchedule(T), ema_decay=0.9, seed=9)
        dm.compile(optimizer=optimizer(), jit_compile=False)
        return dm

    ref = new_model()
    fit_from_step(ref, x, 8, epochs=3, steps_per_epoch=3, data_seed=5, verbose=0)

    class Stop:  # what StopSignals holds after a SIGTERM
        received = None

    class SignalAfter(keras.callbacks.Callback):
        def __init__(self, n):
            super().__init__()
            self.n = n

        def on_train_batch_end(self, batch, logs=None):
            self.n -= 1
            if self.n == 0:
                Stop.received = signal.SIGTERM

    cb = TrainingCheckpoint(tmp_path, keep=10, verbose=0, checkpoint_every=2, stop=Stop)
    fit_from_step(new_model(), x, 8, epochs=3, steps_per_epoch=3, data_seed=5,
                  callbacks=[SignalAfter(4), cb], verbose=0)
    assert cb.stopped_by == signal.SIGTERM and cb.step == 4
    assert sorted(os.listdir(tmp_path / "checkpoints")) == [
        "epoch_0000_step_00000002", "epoch_0001", "epoch_0001_step_00000004", "latest"]

    resumed = DiffusionModel.from_checkpoint(tmp_path)
    resumed.compile(optimizer=optimizer(), jit_compile=False)
    state = resumed.restore_training_state(tmp_path)
    assert (state["epoch"], state["steps_in_epoch"], state["batches"], state["step"]) == (1, 1, 4, 4)
    fit_from_step(resumed, x, 8, epochs=3, steps_per_epoch=3, data_seed=5,
                  start_step=resume_step(state, 3), verbose=0)
    assert int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)) == 9
    assert float(keras.ops.convert_to_numpy(resumed.optimizer.learning_rate)) == \
        float(keras.ops.convert_to_numpy(ref.optimizer.learning_rate))
    for a, b in zip(ref.weights + ref.optimizer.variables,
                    resumed.weights + resumed.optimizer.variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a.value),
                                   keras.ops.convert_to_numpy(b.value), rtol=1e-5, atol=1e-6,
                                   err_msg=a.path)


def test_find_checkpoint_ignores_partial_writes(tmp_path):
    """What a kill -9 can leave behind: a half-written temp dir, a stale `latest`."""
    from keras_aliasfree.diffusion import write_latest

    ck = tmp_path / "checkpoints"
    for name in ("epoch_0001", "epoch_0002"):
        (ck / name).mkdir(parents=True)
        (ck / name / "config.json").write_text("{}")
        for f in ("ema.weights.h5", "raw.weights.h5"):  # the HDF5 signature, no manifest
            (ck / name / f).write_bytes(b"\x89HDF\r\n\x1a\n")
    (ck / ".tmp-epoch_0003-abc").mkdir()  # interrupted before the rename
    (ck / ".tmp-epoch_0003-abc" / "config.json").write_text("{}")
    write_latest(str(ck), "epoch_0001")
    assert find_checkpoint(tmp_path).endswith("epoch_0001")  # `latest` wins
    write_latest(str(ck), "epoch_0003")  # points at nothing complete: newest complete one
    assert find_checkpoint(tmp_path).endswith("epoch_0002")
    (ck / "epoch_0002" / "raw.weights.h5").unlink()  # damaged: the older one, with a warning
    with pytest.warns(UserWarning, match="raw.weights.h5: missing"):
        assert find_checkpoint(tmp_path).endswith("epoch_0001")


def test_ddim_eta():
    s = NoiseSchedule(50)
    t, ra, sg, cx, ce, sd = s.sampler_tables("ddim", 10, eta=1.0)
    ab = s.alpha_bars[t]
    ab_prev = np.concatenate([s.alpha_bars[t[1:]], [1.0]])
    # eta = 1: the added noise is the DDPM posterior's on the shortened schedule
    np.testing.assert_allclose(sd ** 2, (1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev), rtol=1e-9)
    assert sd[-1] == 0.0 and sd[:-1].min() > 0
    # and x_prev keeps the marginal variance for x0_hat = 0: ce^2 sg^2 + s^2 = 1 - ab_prev
    np.testing.assert_allclose((ce * sg) ** 2 + sd ** 2, 1 - ab_prev, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="eta"):
        s.sampler_tables("ddim", 10, eta=1.5)
    with pytest.raises(ValueError, match="DDIM"):
        s.sampler_tables("ddpm", eta=0.5)


def test_sample_with_eta(trained):
    dm, _ = trained
    a = dm.sample(2, sampler="ddim", steps=5, seed=3, verbose=0, eta=1.0)
    b = dm.sample(2, sampler="ddim", steps=5, seed=3, verbose=0, eta=1.0)
    c = dm.sample(2, sampler="ddim", steps=5, seed=3, verbose=0)
    np.testing.assert_array_equal(a, b)   # same seed, same images
    assert not np.array_equal(a, c)       # eta adds noise


def test_the_model_config_is_the_checkpoint_config_and_older_files_migrate(tmp_path):
    import json

    from keras_aliasfree.diffusion.checkpoint import migrate_checkpoint_config

    dm = DiffusionModel(tiny_unet("D-1N"), NoiseSchedule(20), prediction="v",
                        loss_weighting="min_snr", seed=0)
    path = dm.save_checkpoint(str(tmp_path / "ck"))
    with open(os.path.join(path, "config.json")) as f:
        stored = json.load(f)
    config = {k: v for k, v in dm.get_config().items() if k not in ("name", "trainable", "dtype")}
    assert {k: stored[k] for k in config} == json.loads(json.dumps(config))
    rebuilt = DiffusionModel.from_config(stored)
    assert rebuilt.prediction == "v" and rebuilt.denoiser.unet_config == dm.denoiser.unet_config
    # a version-1 file: no prediction keys, the UNet's filter options as separate keys
    old = dict(stored, format_version=1)
    for key in ("prediction", "loss_weighting", "snr_gamma", "band_limit"):
        del old[key]
    unet = dict(old["unet"])
    filters = unet.pop("filters")
    unet.update(kernel_size=filters["kernel_size"], cutoff=filters["cutoff"],
                filter_preset=filters["preset"], window=filters["window"])
    old["unet"] = unet
    migrated = migrate_checkpoint_config(old)
    assert migrated["format_version"] == stored["format_version"] == 2
    assert (migrated["prediction"], migrated["loss_weighting"], migrated["band_limit"]) == \
        ("epsilon", "uniform", None)
    assert migrated["unet"]["filters"] == {**filters, "rank": None, "impl": "auto"}
    assert DiffusionModel.from_config(migrated).denoiser.count_params() == \
        dm.denoiser.count_params()
