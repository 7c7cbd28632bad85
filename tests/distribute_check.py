"""Run by tests/test_distribute.py in a fresh process (logical CPU devices must be set up before
the backend starts): data-parallel checks on 2 logical CPU devices for the current backend
(TensorFlow: MirroredStrategy; JAX: keras.distribution.DataParallel). Prints ``OK <check>`` per
check; any failure raises.

Usage: KERAS_BACKEND=tensorflow|jax python tests/distribute_check.py WORKDIR
"""

import os
import sys

from keras_aliasfree.distribute import get_distribution, set_cpu_devices

set_cpu_devices(2)  # first: before the backend touches a device

import contextlib  # noqa: E402
import io  # noqa: E402
import time  # noqa: E402

T0 = time.time()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from keras_aliasfree.cli import main  # noqa: E402
from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule, write_latest  # noqa: E402
from keras_aliasfree.unet import build_unet  # noqa: E402

BACKEND = keras.backend.backend()
MODE = "mirrored" if BACKEND == "tensorflow" else "data-parallel"
work = sys.argv[1]
dist = get_distribution(MODE)
assert dist.num_replicas == 2, dist.describe()
print(f"{time.time() - T0:5.1f}s OK replicas", dist.describe())


def make():
    net = build_unet("A", image_size=8, base_width=4, channel_mults=(1, 2), bottleneck_mult=2,
                     attention=False, time_dim=8)
    dm = DiffusionModel(net, NoiseSchedule(20), seed=3, ema_decay=0.5)
    # SGD: a wrong loss reduction across replicas (e.g. summed gradients) changes the update
    dm.compile(optimizer=keras.optimizers.SGD(0.05))
    return dm


def weights(dm):
    return [ops.convert_to_numpy(v.value) for v in dm.denoiser.trainable_variables]


def close(a, b, what, tol=1e-5):
    for u, v in zip(a, b):
        err = float(np.max(np.abs(np.asarray(u, "float64") - np.asarray(v, "float64"))))
        assert err <= tol * (1 + float(np.max(np.abs(u)))), f"{what}: differs by {err}"


x = np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 1)).astype("float32")
single = make()
init = weights(single)
with dist.scope():
    dp = make()
dp.denoiser.set_weights(init)
dp.reset_ema()
seed0 = ops.convert_to_numpy(single.seed_generator.state.value)
assert np.array_equal(seed0, ops.convert_to_numpy(dp.seed_generator.state.value))

# 1. every replica draws its own timesteps and noise; together they are the global draw
if BACKEND == "tensorflow":
    import tensorflow as tf

    strategy = dist.engine
    per = strategy.run(tf.function(lambda: dp._draw(4, 20, (4, 8, 8, 1))))
    t_r = [r.numpy() for r in strategy.experimental_local_results(per[0])]
    e_r = [r.numpy() for r in strategy.experimental_local_results(per[1])]
    t_g, e_g = (ops.convert_to_numpy(v) for v in single._draw(8, 20, (8, 8, 8, 1)))
    assert not np.array_equal(e_r[0], e_r[1]) and not np.array_equal(t_r[0], t_r[1])
    np.testing.assert_array_equal(np.concatenate(t_r), t_g)
    np.testing.assert_allclose(np.concatenate(e_r), e_g, atol=1e-6)
    for m in (single, dp):
        m.seed_generator.state.assign(seed0)
    print(f"{time.time() - T0:5.1f}s OK draws differ per replica and equal the global draw")
else:
    import jax

    jax_sharding = dist.engine.get_data_layout((8, 8, 8, 1)).backend_layout
    assert len(jax_sharding.device_set) == 2
    print(f"{time.time() - T0:5.1f}s OK batch sharded over {len(jax_sharding.device_set)} devices")

# 2. one data-parallel step == one single-device step on the same global batch
h1 = single.fit(x, batch_size=8, epochs=1, shuffle=False, verbose=0).history["loss"][0]
with dist.fit_scope():
    h2 = dp.fit(x, batch_size=8, epochs=1, shuffle=False, verbose=0).history["loss"][0]
assert abs(h1 - h2) <= 1e-5 * abs(h1), (h1, h2)
assert not np.allclose(weights(dp)[0], init[0]), "no update"
close(weights(single), weights(dp), "weights after the step")
close([ops.convert_to_numpy(e.value) for e in single.ema_variables],
      [ops.convert_to_numpy(e.value) for e in dp.ema_variables], "EMA")
assert int(ops.convert_to_numpy(dp.ema_updates.value)) == 1
np.testing.assert_array_equal(ops.convert_to_numpy(single.seed_generator.state.value),
                              ops.convert_to_numpy(dp.seed_generator.state.value))
print(f"{time.time() - T0:5.1f}s OK step equals one device: loss {h1:.6f} vs {h2:.6f}")

# 3. a checkpoint written under the strategy reloads on one device and samples the same images;
# --resume's restore under the strategy brings back weights, EMA, RNG and optimizer state
ck = dp.save_checkpoint(os.path.join(work, "ck"), {"epoch": 1})
alone = DiffusionModel.from_checkpoint(ck)  # outside the scope: one device
close(weights(dp), weights(alone), "reloaded weights", tol=0)
kw = dict(sampler="ddim", steps=2, seed=1, verbose=0)
np.testing.assert_allclose(dp.sample(2, **kw), alone.sample(2, **kw), atol=1e-6)
if BACKEND == "tensorflow":  # on JAX the command's --resume below restores under the engine
    with dist.scope():
        back = make()
        back.restore_training_state(ck)
    close(weights(dp), weights(back), "restored weights", tol=0)
    close([ops.convert_to_numpy(v.value) for v in dp.optimizer.variables],
          [ops.convert_to_numpy(v.value) for v in back.optimizer.variables], "optimizer", tol=0)
    np.testing.assert_array_equal(ops.convert_to_numpy(dp.seed_generator.state.value),
                                  ops.convert_to_numpy(back.seed_generator.state.value))
print(f"{time.time() - T0:5.1f}s OK checkpoint reloads on one device (same samples) and "
      "restores under the strategy")

# 4. the command: --distribute, --cpu-devices, --resume under the strategy (a run whose first
# epoch is the single-device model above: tiny, so the step compiles fast), the replica count
npz = os.path.join(work, "toy.npz")
np.savez(npz, x=(np.random.default_rng(1).random((8, 8, 8)) * 255).astype("uint8"))
run = os.path.join(work, "run")
single.save_checkpoint(os.path.join(run, "checkpoints", "epoch_0001"), {"epoch": 1})
write_latest(os.path.join(run, "checkpoints"), "epoch_0001")
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    rc = main(["train", "--data", npz, "--image-size", "8", "--batch-size", "8", "--verbose", "0",
               "--seed", "1", "--sample-every", "0", "--out", run, "--distribute", MODE,
               "--cpu-devices", "2", "--epochs", "2", "--resume"])
log = buf.getvalue()
assert rc == 0 and "2 replicas train" in log and "resumed from" in log, (rc, log)
again = DiffusionModel.from_checkpoint(run)  # epoch 2, trained on 2 replicas; one device here
assert int(ops.convert_to_numpy(again.ema_updates.value)) == 2
assert np.isfinite(again.sample(2, **kw)).all()
print(f"{time.time() - T0:5.1f}s OK command resumes on 2 replicas; reloads on one device")
