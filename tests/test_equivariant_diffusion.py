"""The orientation-equivariant UNet inside DiffusionModel: "up" as an input, rotation-aware sampling
that turns the image (both rotation modes), checkpoints, the command line and the SavedModel.

The network is exactly equivariant to quarter turns of (x_t, up) together, so wherever every turn
a sampler makes is a quarter turn the rotated sample must be the plain sample turned, to float
round-off, whatever the (untrained) weights.
"""

import json
import os

import keras
import numpy as np
import pytest

from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
from keras_aliasfree.equivariant_unet import build_equivariant_unet, equivariant_group_order
from keras_aliasfree.unet import build_unet, unet_from_config

T = 40


def _net(use_up=True, seed=0):
    keras.utils.set_random_seed(seed)
    return build_equivariant_unet(16, base_width=2, channel_mults=(1, 2), bottleneck_mult=2,
                                  time_dim=8, use_up=use_up)


@pytest.fixture(scope="module")
def dm():
    model = DiffusionModel(_net(), NoiseSchedule(T), seed=0, prediction="v",
                           loss_weighting="min_snr")
    model.compile(optimizer=keras.optimizers.AdamW(1e-3))
    x = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 1)).astype("float32")
    model.fit(x, batch_size=4, epochs=1, verbose=0)
    return model


def _rot(x, k):
    return np.rot90(x, k, axes=(1, 2))


def test_config_names_and_rebuild():
    assert equivariant_group_order("E") == 4 and equivariant_group_order("e8") == 8
    assert equivariant_group_order("D-1N") is None and equivariant_group_order("A") is None
    net = _net()
    cfg = net.unet_config
    assert cfg["architecture"] == "equivariant" and cfg["config"] == "E4"
    again = unet_from_config(cfg)
    assert type(again).__name__ == "EquivariantUNet"
    assert again.count_params() == net.count_params() and len(again.inputs) == 3
    with pytest.raises(ValueError, match="group_order"):
        unet_from_config({**cfg, "config": "E8"})


def test_the_model_takes_up_and_the_loss_trains(dm):
    assert dm.takes_up and dm.band_limit is None
    assert np.isfinite(float(dm.diffusion_loss(np.zeros((2, 16, 16, 1), "float32"))))
    x = np.random.default_rng(1).normal(size=(2, 16, 16, 1)).astype("float32")
    t = np.array([10, 10])
    up0 = keras.ops.convert_to_numpy(dm.predict_noise(x, t))
    assert np.array_equal(up0, keras.ops.convert_to_numpy(dm.predict_noise(x, t, up_degrees=0.0)))
    # turning x_t and up together turns the prediction; turning up alone changes it
    turned = keras.ops.convert_to_numpy(dm.predict_noise(_rot(x, 1).copy(), t, up_degrees=90.0))
    np.testing.assert_allclose(turned, _rot(up0, 1), atol=2e-5 * np.abs(up0).max())
    other = keras.ops.convert_to_numpy(dm.predict_noise(x, t, up_degrees=90.0))
    assert np.abs(other - up0).max() > 1e-3


def test_up_for_a_network_without_it_is_an_error():
    dm = DiffusionModel(build_unet("A", 8, base_width=4, channel_mults=(1, 2), bottleneck_mult=2,
                                   attention=False, time_dim=8), NoiseSchedule(T))
    assert not dm.takes_up
    with pytest.raises(ValueError, match="no 'up' input"):
        dm.predict_noise(np.zeros((1, 8, 8, 1), "float32"), [3], up_degrees=90.0)


@pytest.mark.parametrize("sampler,steps,eta", [("ddim", 4, 1.0), ("dpm++2m", 4, 0.0),
                                               ("ddpm", None, 0.0), ("heun", 3, 0.0)])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_turning_once_draws_the_plain_sample_turned(dm, sampler, steps, eta, k):
    kw = dict(sampler=sampler, steps=steps, eta=eta, seed=5, verbose=0)
    plain = dm.sample(3, **kw)
    turned = dm.sample(3, rotation=90.0 * k, rotation_mode="once", **kw)
    np.testing.assert_allclose(turned, _rot(plain, k), atol=1e-4)


@pytest.mark.parametrize("rotation,steps", [(360.0, 4), (180.0, 2), (-90.0, 1)])
def test_progressive_turning_tells_the_denoiser_the_angle_so_far(dm, rotation, steps):
    # with steps = rotation / 90 every per-step turn is a quarter turn (exact), so the sample is
    # the plain one turned only if the denoiser is told the angle turned so far at every step
    kw = dict(sampler="ddim", steps=steps, eta=1.0, seed=2, verbose=0)
    plain = dm.sample(3, **kw)
    turned = dm.sample(3, rotation=rotation, **kw)
    np.testing.assert_allclose(turned, _rot(plain, int(rotation // 90) % 4), atol=1e-4)


def test_without_up_the_network_is_equivariant_in_the_image_alone():
    # the control: without "up", turning the noise alone turns the sample, so a model trained
    # on upright digits has nothing that tells it which way up to draw them (its samples are a
    # rotation-invariant mix; docs/EQUIVARIANT.md)
    dm = DiffusionModel(_net(use_up=False), NoiseSchedule(T), seed=0)
    kw = dict(sampler="ddim", steps=4, eta=1.0, seed=5, verbose=0)
    plain = dm.sample(3, **kw)
    np.testing.assert_allclose(dm.sample(3, rotation=90.0, rotation_mode="once", **kw),
                               _rot(plain, 1), atol=1e-4)


def test_bad_rotation_mode_is_a_clear_error(dm):
    with pytest.raises(ValueError, match="rotation_mode"):
        dm.sample(1, sampler="ddim", steps=2, rotation=90.0, rotation_mode="sometimes")


def test_up_augment_turns_the_image_and_up_together():
    """The loss under ``up_augment=1`` is the loss of the images turned (cubic) by the drawn angles
    with the denoiser told those angles: reproduced here from the same seed's draws."""
    from keras_aliasfree.transforms import rotate

    ops = keras.ops
    model = DiffusionModel(_net(), NoiseSchedule(T), seed=3, prediction="v",
                           loss_weighting="min_snr", up_augment=1.0)
    x = np.random.default_rng(2).uniform(-1, 1, (4, 16, 16, 1)).astype("float32")
    loss = float(model.diffusion_loss(x, training=False))
    g = keras.random.SeedGenerator(3)
    up = keras.random.uniform((4,), 0.0, 360.0, seed=g)
    keras.random.uniform((4,), seed=g)  # which images are turned: all of them here
    t = keras.random.randint((4,), 0, T, dtype="int32", seed=g)
    eps = keras.random.normal(x.shape, dtype="float32", seed=g)
    up_np = ops.convert_to_numpy(up)
    assert np.all(np.abs(up_np - 90 * np.round(up_np / 90)) > 1e-3)  # not quarter turns
    x0 = rotate(x, up, method="cubic", data_format="channels_last")
    ca = np.sqrt(model.schedule.alpha_bars)[ops.convert_to_numpy(t)].reshape(-1, 1, 1, 1)
    cb = np.sqrt(1 - model.schedule.alpha_bars)[ops.convert_to_numpy(t)].reshape(-1, 1, 1, 1)
    x_t = ops.convert_to_numpy(x0) * ca + ops.convert_to_numpy(eps) * cb
    pred = ops.convert_to_numpy(model.predict_noise(x_t.astype("float32"), t, up_degrees=up))
    w = model._loss_weights[ops.convert_to_numpy(t)].reshape(-1, 1, 1, 1)
    expected = float(np.mean(w * (pred - ops.convert_to_numpy(eps)) ** 2))
    assert loss == pytest.approx(expected, rel=1e-4)
    upright = DiffusionModel(model.denoiser, NoiseSchedule(T), seed=3, prediction="v",
                             loss_weighting="min_snr")
    assert float(upright.diffusion_loss(x, training=False)) != pytest.approx(loss, rel=1e-3)
    assert DiffusionModel.from_config(model.get_config()).up_augment == 1.0


def test_up_augment_needs_an_up_input_and_a_fraction():
    with pytest.raises(ValueError, match="has none"):
        DiffusionModel(_net(use_up=False), NoiseSchedule(T), up_augment=0.5)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        DiffusionModel(_net(), NoiseSchedule(T), up_augment=1.5)


def test_equivariance_term_compares_the_turned_input_with_the_turned_output():
    """The loss with ``equivariance_weight`` is the plain loss plus the weighted squared difference
    (central disc) between eps_hat(R x_t, phi) and R eps_hat(x_t, 0): reproduced here from the
    same seed's draws (t, noise, then one angle per image)."""
    from keras_aliasfree.discs import disc_mask
    from keras_aliasfree.transforms import rotate

    ops = keras.ops
    kw = dict(seed=5, prediction="v", loss_weighting="min_snr")
    model = DiffusionModel(_net(), NoiseSchedule(T), equivariance_weight=0.5, **kw)
    x = np.random.default_rng(4).uniform(-1, 1, (4, 16, 16, 1)).astype("float32")
    loss = float(model.diffusion_loss(x, training=False))
    g = keras.random.SeedGenerator(5)
    t = ops.convert_to_numpy(keras.random.randint((4,), 0, T, dtype="int32", seed=g))
    eps = ops.convert_to_numpy(keras.random.normal(x.shape, dtype="float32", seed=g))
    phi = ops.convert_to_numpy(keras.random.uniform((4,), -45.0, 45.0, seed=g))
    ca = np.sqrt(model.schedule.alpha_bars)[t].reshape(-1, 1, 1, 1)
    cb = np.sqrt(1 - model.schedule.alpha_bars)[t].reshape(-1, 1, 1, 1)
    x_t = (x * ca + eps * cb).astype("float32")
    w = model._loss_weights[t].reshape(-1, 1, 1, 1)
    pred = ops.convert_to_numpy(model.predict_noise(x_t, t))
    turned = ops.convert_to_numpy(model.predict_noise(
        rotate(x_t, phi, data_format="channels_last"), t, up_degrees=phi))
    target = ops.convert_to_numpy(rotate(pred, phi, data_format="channels_last"))
    disc = disc_mask(16, 16)
    term = np.mean((w * (turned - target) ** 2)[:, disc])
    plain = np.mean(w * (pred - eps) ** 2)
    assert term > 1e-4 * plain  # an untrained net is not equivariant between quarter turns
    assert loss == pytest.approx(plain + 0.5 * term, rel=1e-4)
    assert DiffusionModel.from_config(model.get_config()).equivariance_weight == 0.5
    with pytest.raises(ValueError, match="has none"):
        DiffusionModel(_net(use_up=False), NoiseSchedule(T), equivariance_weight=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        DiffusionModel(_net(), NoiseSchedule(T), equivariance_weight=-1.0)


def test_equivariance_term_at_its_own_timesteps():
    """With ``equivariance_timesteps=(low, high)`` the term is taken on the same images and noise
    at timesteps of its own, drawn in ``low..high-1`` after the main loss's (t, noise), and
    weighted there like the main loss: reproduced here from the same seed's draws."""
    from keras_aliasfree.discs import disc_mask
    from keras_aliasfree.transforms import rotate

    ops = keras.ops
    kw = dict(seed=7, prediction="v", loss_weighting="min_snr")
    model = DiffusionModel(_net(), NoiseSchedule(T), equivariance_weight=0.5,
                           equivariance_timesteps=(10, 20), **kw)
    x = np.random.default_rng(4).uniform(-1, 1, (4, 16, 16, 1)).astype("float32")
    loss = float(model.diffusion_loss(x, training=False))
    g = keras.random.SeedGenerator(7)
    t = ops.convert_to_numpy(keras.random.randint((4,), 0, T, dtype="int32", seed=g))
    eps = ops.convert_to_numpy(keras.random.normal(x.shape, dtype="float32", seed=g))
    s = ops.convert_to_numpy(keras.random.randint((4,), 10, 20, dtype="int32", seed=g))
    phi = ops.convert_to_numpy(keras.random.uniform((4,), -45.0, 45.0, seed=g))
    assert s.min() >= 10 and s.max() < 20

    def noised(steps):
        ab = model.schedule.alpha_bars[steps].reshape(-1, 1, 1, 1)
        x_t = (x * np.sqrt(ab) + eps * np.sqrt(1 - ab)).astype("float32")
        return x_t, ops.convert_to_numpy(model.predict_noise(x_t, steps)), \
            model._loss_weights[steps].reshape(-1, 1, 1, 1)

    x_t, pred, w = noised(t)
    plain = np.mean(w * (pred - eps) ** 2)
    x_s, pred_s, w_s = noised(s)
    turned = ops.convert_to_numpy(model.predict_noise(
        rotate(x_s, phi, data_format="channels_last"), s, up_degrees=phi))
    target = ops.convert_to_numpy(rotate(pred_s, phi, data_format="channels_last"))
    term = np.mean((w_s * (turned - target) ** 2)[:, disc_mask(16, 16)])
    assert loss == pytest.approx(plain + 0.5 * term, rel=1e-4)
    config = model.get_config()
    assert config["equivariance_timesteps"] == [10, 20]
    assert DiffusionModel.from_config(config).equivariance_timesteps == (10, 20)
    assert DiffusionModel(_net(), NoiseSchedule(T)).equivariance_timesteps is None
    for bad in ((20, 10), (0, T + 1), (-1, 5), (1.5, 3), "10:20", (1, 2, 3)):
        with pytest.raises(ValueError, match="equivariance_timesteps"):
            DiffusionModel(_net(), NoiseSchedule(T), equivariance_weight=1.0,
                           equivariance_timesteps=bad)


def test_checkpoint_round_trip(dm, tmp_path):
    path = dm.save_checkpoint(str(tmp_path / "ckpt"))
    with open(os.path.join(path, "config.json")) as f:
        assert json.load(f)["unet"]["architecture"] == "equivariant"
    again = DiffusionModel.from_checkpoint(path)
    kw = dict(sampler="ddim", steps=3, seed=1, verbose=0)
    np.testing.assert_array_equal(again.sample(2, **kw), dm.sample(2, **kw))
    np.testing.assert_array_equal(
        DiffusionModel.from_config(dm.get_config()).denoiser.count_params(),
        dm.denoiser.count_params())


def test_train_command_trains_an_equivariant_config(tmp_path, capsys):
    from keras_aliasfree.cli import main

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 255, (16, 16, 16, 1)).astype("uint8"))
    out = str(tmp_path / "run")
    args = ["train", "--config", "E", "--data", str(tmp_path / "d.npz"), "--image-size", "16",
            "--base-width", "1", "--epochs", "1", "--batch-size", "8", "--sample-every", "0",
            "--timesteps", "20", "--kernel-taper", "1.5", "--verbose", "0", "--out", out]
    assert main(args) == 0
    with open(os.path.join(out, "checkpoints", "epoch_0001", "config.json")) as f:
        cfg = json.load(f)["unet"]
    assert cfg["config"] == "E4" and cfg["use_up"] and cfg["base_width"] == 1
    assert cfg["kernel_taper"] == 1.5
    assert main(["train", "--config", "A", "--kernel-taper", "1.5", "--data",
                 str(tmp_path / "d.npz"), "--out", str(tmp_path / "bad"), "--epochs", "1"]) == 2
    assert main(["train", "--config", "A", "--no-up", "--data", str(tmp_path / "d.npz"),
                 "--out", str(tmp_path / "bad"), "--epochs", "1"]) == 2
    assert main(["train", "--config", "A", "--up-augment", "0.5", "--data",
                 str(tmp_path / "d.npz"), "--out", str(tmp_path / "bad"), "--epochs", "1"]) == 2
    assert main(["train", "--config", "A", "--equivariance-weight", "1", "--data",
                 str(tmp_path / "d.npz"), "--out", str(tmp_path / "bad"), "--epochs", "1"]) == 2
    # fine-tuning: the first run's network and weights, the new run's training options
    tuned = str(tmp_path / "tuned")
    first = DiffusionModel.from_checkpoint(os.path.join(out, "checkpoints", "epoch_0001"))
    assert main([*args[:-1], tuned, "--init-from", out, "--equivariance-weight", "0.5",
                 "--base-width", "3", "--lr", "1e-9"]) == 0
    note = [line for line in capsys.readouterr().err.splitlines() if "ignored:" in line]
    assert note and "--base-width" in note[0] and "--config" not in note[0]
    with open(os.path.join(tuned, "checkpoints", "epoch_0001", "config.json")) as f:
        cfg = json.load(f)
    assert cfg["equivariance_weight"] == 0.5 and cfg["unet"]["base_width"] == 1
    again = DiffusionModel.from_checkpoint(os.path.join(tuned, "checkpoints", "epoch_0001"))
    for a, b in zip(first.denoiser.get_weights(), again.denoiser.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)  # started from them; lr 1e-9 kept them
    assert main([*args[:-1], str(tmp_path / "none"), "--init-from", str(tmp_path)]) == 2
    assert main([*args[:-1], str(tmp_path / "none"), "--init-from", "no-such-preset"]) == 2
    # the term on timesteps of its own: stored, and kept on --resume
    mid = str(tmp_path / "mid")
    assert main([*args[:-1], mid, "--init-from", out, "--equivariance-weight", "1",
                 "--equivariance-timesteps", "5:15"]) == 0
    with open(os.path.join(mid, "checkpoints", "epoch_0001", "config.json")) as f:
        assert json.load(f)["equivariance_timesteps"] == [5, 15]
    assert DiffusionModel.from_checkpoint(mid).equivariance_timesteps == (5, 15)
    assert main(["train", "--config", "A", "--equivariance-timesteps", "5:15", "--data",
                 str(tmp_path / "d.npz"), "--out", str(tmp_path / "bad"), "--epochs", "1"]) == 2
    with pytest.raises(SystemExit):
        main([*args[:-1], str(tmp_path / "bad"), "--equivariance-timesteps", "15"])


def test_fine_tuning_starts_from_a_shipped_export(tmp_path):
    """``--init-from mnist-e``: the shipped export's network and weights (EMA as raw and EMA)."""
    from keras_aliasfree.cli import main
    from keras_aliasfree.diffusion.exported import denoiser_from_export
    from keras_aliasfree.presets import resolve_preset

    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).integers(0, 255, (2, 32, 32, 1))
             .astype("uint8"))
    out = str(tmp_path / "tuned")
    assert main(["train", "--init-from", "mnist-e", "--data", str(tmp_path / "d.npz"),
                 "--epochs", "1", "--batch-size", "2", "--lr", "1e-9", "--no-jit",
                 "--sample-every", "0", "--verbose", "0", "--out", out]) == 0
    _, shipped = denoiser_from_export(resolve_preset("mnist-e"))
    tuned = DiffusionModel.from_checkpoint(out)
    assert tuned.denoiser.unet_config == shipped.unet_config
    for a, b in zip(shipped.get_weights(), tuned.denoiser.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for a, b in zip(shipped.trainable_weights, tuned.ema_variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b),
                                   atol=1e-6)


def test_rotation_agreement_measures_kept_class_and_psnr():
    from keras_aliasfree.metrics.agreement import rotation_agreement
    from keras_aliasfree.transforms import rotate

    base = np.random.default_rng(0).uniform(-1, 1, (6, 16, 16, 1)).astype("float32")

    def classify(x):  # two "classes": which half of the image is brighter
        d = x[:, :8].mean((1, 2, 3)) - x[:, 8:].mean((1, 2, 3))
        return np.stack([d, -d], 1)

    good = rotation_agreement(lambda r, n, s: np.asarray(rotate(base[:n], r)), classify,
                              angles=(90.0, 180.0), num=6, batch_size=4)
    assert good["90"]["kept"] == 1.0 and good["180"]["psnr_db"] > 100
    # a sampler that draws other images when turned keeps about chance, at a low PSNR
    other = np.random.default_rng(1).uniform(-1, 1, (6, 16, 16, 1)).astype("float32")
    bad = rotation_agreement(lambda r, n, s: base[:n] if r == 0 else other[:n], classify,
                             angles=(90.0,), num=6, batch_size=6)
    assert bad["90"]["psnr_db"] < 10
    # upright samples drawn beforehand are used as given (the sampler's upright draw is not)
    given = rotation_agreement(lambda r, n, s: other[:n] if r == 0 else np.asarray(
        rotate(base[:n], r)), classify, angles=(90.0,), num=6, batch_size=6, upright=base)
    assert given["90"]["psnr_db"] > 100
    with pytest.raises(ValueError, match="upright holds 4 samples"):
        rotation_agreement(lambda r, n, s: base[:n], classify, angles=(90.0,), num=6,
                           upright=base[:4])


@pytest.mark.tf_only
@pytest.mark.parametrize("mode", ["once", "progressive"])
def test_saved_model_turns_x_t_and_up_together(dm, tmp_path, mode):
    import tensorflow as tf

    from keras_aliasfree.export import export_saved_model

    ckpt = dm.save_checkpoint(str(tmp_path / "ckpt"))
    out = export_saved_model(ckpt, str(tmp_path / "sm"), verbose=False, eta=1.0,
                             rotation_mode=mode)
    with open(os.path.join(out, "assets.extra", "keras_aliasfree.json")) as f:
        info = json.load(f)
    assert info["up_input"] and info["rotation_mode"] == mode
    m = tf.saved_model.load(out)
    x = np.random.default_rng(3).normal(size=(2, 16, 16, 1)).astype("float32")
    den = m.signatures["denoise"]
    y0 = den(noisy_images=x, timesteps=tf.constant(10), up_degrees=tf.constant(0.0))["noise"]
    y90 = den(noisy_images=_rot(x, 1).copy(), timesteps=tf.constant(10),
              up_degrees=tf.constant([90.0, 90.0]))["noise"]
    np.testing.assert_allclose(y90.numpy(), _rot(y0.numpy(), 1), atol=1e-4)
    moved = den(noisy_images=x, timesteps=tf.constant(10), up_degrees=tf.constant(90.0))["noise"]
    assert np.abs(moved.numpy() - y0.numpy()).max() > 1e-3
    with pytest.raises(tf.errors.InvalidArgumentError, match="up angle"):
        den(noisy_images=x, timesteps=tf.constant(10), up_degrees=tf.constant([1.0, 2.0, 3.0]))

    def call(rotation, steps):
        return m.signatures["sample"](
            seed=tf.constant(7, tf.int64), num_images=tf.constant(2),
            rotation_degrees=tf.constant(rotation), steps=tf.constant(steps))["images"].numpy()

    steps = 4 if mode == "progressive" else 5  # progressive: 360 / 4 = quarter turns
    plain = call(0.0, steps)
    assert np.array_equal(call(360.0 if mode == "progressive" else 90.0, steps),
                          plain if mode == "progressive" else _rot(plain, 1))
    lib = dm.sample(2, sampler="ddim", steps=steps, eta=1.0, seed=7, verbose=0,
                    rotation=90.0, rotation_mode=mode)
    got = call(90.0, steps).astype(np.int32)
    want = np.round((np.clip(lib, -1, 1) + 1) * 127.5).astype(np.int32)
    assert np.abs(got - want).max() <= 1


def _rotation_agreement_benchmark():
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "benchmarks", "rotation_agreement.py")
    spec = importlib.util.spec_from_file_location("rotation_agreement_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_blend_with_the_turning_frame_keeps_quarter_turns_and_the_model():
    # benchmarks/rotation_agreement.py --mix: (1 - lam) f(x, up) + lam R_up f(R_-up x, 0). At a
    # quarter turn the frame is f itself (f is exact there), whatever lam; lam 0 is f anywhere.
    blended_with_frame = _rotation_agreement_benchmark().blended_with_frame
    net = _net()
    x = np.random.default_rng(3).normal(size=(2, 16, 16, 1)).astype("float32")
    t = np.array([7.0, 7.0], "float32")

    def run(model, up):
        return keras.ops.convert_to_numpy(model([x, t, np.full((2,), up, "float32")]))

    for up in (90.0, -90.0):
        np.testing.assert_allclose(run(blended_with_frame(net, 1.0), up), run(net, up),
                                   atol=1e-4)
    np.testing.assert_allclose(run(blended_with_frame(net, 0.0), 30.0), run(net, 30.0),
                               atol=1e-6)
    half = run(blended_with_frame(net, 0.5), 30.0)
    assert np.abs(half - run(net, 30.0)).max() > 1e-3  # the frame differs between quarter turns
    # a blend confined to other timesteps leaves f alone; one that holds t = 7 does not
    np.testing.assert_allclose(run(blended_with_frame(net, 1.0, (100.0, 200.0)), 30.0),
                               run(net, 30.0), atol=1e-6)
    np.testing.assert_allclose(run(blended_with_frame(net, 0.5, (0.0, 8.0)), 30.0), half,
                               atol=1e-5)
