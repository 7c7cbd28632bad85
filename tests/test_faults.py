"""Faults a demanding user meets, each injected and its outcome checked: damaged checkpoint files,
a kill -9 in the middle of a checkpoint write, leftovers of interrupted writes, absurd requests to
the SavedModel, and bad command-line values (one line, exit 2, before any long work)."""

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import warnings

import keras
import numpy as np
import pytest

from keras_aliasfree.cli import main
from keras_aliasfree.diffusion import (DiffusionModel, NoiseSchedule, TrainingCheckpoint,
                                       find_checkpoint, load_checkpoint)
from keras_aliasfree.diffusion.checkpoint import CheckpointError, checkpoint_problems
from keras_aliasfree.unet import build_unet

BACKEND = keras.backend.backend()
FILES = ("ema.weights.h5", "raw.weights.h5", "config.json", "training_state.json",
         "optimizer.npz")


def _model():
    net = build_unet("A", image_size=8, base_width=4, channel_mults=(1, 2), bottleneck_mult=2,
                     attention=False, time_dim=8)
    dm = DiffusionModel(net, NoiseSchedule(10), seed=0)
    dm.compile(optimizer=keras.optimizers.AdamW(1e-3))
    return dm


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run with two complete checkpoints (epochs 1 and 2) written by TrainingCheckpoint."""
    root = tmp_path_factory.mktemp("faults")
    dm = _model()
    x = np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 1)).astype("float32")
    dm.fit(x, batch_size=4, epochs=2, verbose=0, callbacks=[TrainingCheckpoint(root, verbose=0)])
    return str(root)


def _copy(run_dir, tmp_path):
    import shutil

    dst = str(tmp_path / "run")
    shutil.copytree(run_dir, dst)
    return dst


def _damage(path, how):
    if how == "truncate":
        with open(path, "r+b") as f:
            f.truncate(max(os.path.getsize(path) // 2, 1))
    elif how == "garble":
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 3)
            f.write(b"\xff\xfe garbage \x00" * 4)
    else:
        os.remove(path)


def test_intact_checkpoint_has_a_manifest_and_no_problems(run_dir):
    ckpt = find_checkpoint(run_dir)
    assert ckpt.endswith("epoch_0002") and checkpoint_problems(ckpt, for_resume=True) == []
    with open(os.path.join(ckpt, "manifest.json")) as f:
        listed = json.load(f)["files"]
    assert set(FILES) <= set(listed)


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("how", ["truncate", "garble"])
def test_damaged_file_is_named_older_used_for_sampling_refused_for_resume(run_dir, tmp_path,
                                                                          name, how):
    run = _copy(run_dir, tmp_path)
    newest = os.path.join(run, "checkpoints", "epoch_0002")
    _damage(os.path.join(newest, name), how)
    assert any(p.startswith(name) for p in checkpoint_problems(newest))
    with pytest.warns(UserWarning, match=name):
        assert find_checkpoint(run).endswith("epoch_0001")  # safe: sample / evaluate / export
    with pytest.raises(CheckpointError, match=name):
        find_checkpoint(run, allow_older=False, for_resume=True)  # resume: refused
    with pytest.raises(CheckpointError, match=name):
        find_checkpoint(newest)  # named directly: never silently replaced
    with pytest.warns(UserWarning):
        assert load_checkpoint(run).ema_updates.value is not None


@pytest.mark.parametrize("name", ["training_state.json", "optimizer.npz"])
def test_deleted_state_file_refuses_resume(run_dir, tmp_path, name):
    run = _copy(run_dir, tmp_path)
    _damage(os.path.join(run, "checkpoints", "epoch_0002", name), "delete")
    with pytest.raises(CheckpointError, match=f"{name}: missing"):
        find_checkpoint(run, allow_older=False, for_resume=True)
    with pytest.warns(UserWarning, match=name):  # allowed explicitly: the older one, announced
        assert find_checkpoint(run, allow_older=True, for_resume=True).endswith("epoch_0001")


def test_latest_with_non_utf8_bytes(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    with open(os.path.join(run, "checkpoints", "latest"), "wb") as f:
        f.write(b"\xff\xfe\x00epoch")
    with pytest.warns(UserWarning, match="latest"):
        assert find_checkpoint(run).endswith("epoch_0002")


def test_no_intact_checkpoint_at_all(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    for e in ("epoch_0001", "epoch_0002"):
        _damage(os.path.join(run, "checkpoints", e, "config.json"), "garble")
    with pytest.raises(CheckpointError, match="no intact checkpoint"):
        find_checkpoint(run)


def test_write_cleans_leftovers_and_uses_normal_permissions(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    ck = os.path.join(run, "checkpoints")
    os.makedirs(os.path.join(ck, ".tmp-epoch_0003-dead"))
    open(os.path.join(ck, ".latest.tmp-123"), "w").close()
    dm = load_checkpoint(run)
    path = dm.save_checkpoint(os.path.join(ck, "epoch_0003"))
    assert not [e for e in os.listdir(ck) if e.startswith(".")]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o777 & ~umask


@pytest.mark.skipif(BACKEND != "torch", reason="atomic checkpoint files do not depend on the "
                    "backend; run once, on the backend whose child process starts fastest")
def test_kill_9_in_the_middle_of_checkpoint_writes(run_dir, tmp_path):
    # a child rewrites the newest checkpoint over and over; SIGKILL lands at a random moment
    run = _copy(run_dir, tmp_path)
    ck = os.path.join(run, "checkpoints")
    script = textwrap.dedent(f"""
        import os, sys
        from keras_aliasfree.diffusion import load_checkpoint, write_latest
        dm = load_checkpoint({run!r})
        print("ready", flush=True)
        i = 3
        while True:
            name = "epoch_%04d" % i
            dm.save_checkpoint(os.path.join({ck!r}, name), {{"epoch": i}})
            write_latest({ck!r}, name)
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0 + np.random.default_rng().uniform(0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the newest complete checkpoint is intact: no fallback
        ckpt = find_checkpoint(run, allow_older=False, for_resume=True)
    assert checkpoint_problems(ckpt, for_resume=True) == []
    load_checkpoint(ckpt).sample(1, sampler="ddim", steps=2, seed=0, verbose=0)


def test_nan_without_any_checkpoint_says_so(tmp_path, capsys):
    cb = TrainingCheckpoint(str(tmp_path / "run"), verbose=0)
    cb.set_model(_model())
    cb.on_epoch_begin(0)
    cb.on_train_batch_end(0, {"loss": float("nan")})
    cb.on_epoch_end(0, {"loss": float("nan")})
    assert cb.nan_epoch == 1 and cb.last_good_checkpoint() is None
    assert "none (no epoch finished)" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


# --- the command line: one line, exit 2, before the work ---------------------------------------

@pytest.fixture
def toy_npz(tmp_path):
    path = tmp_path / "toy.npz"
    np.savez(path, x=(np.random.default_rng(0).random((16, 16, 16)) * 255).astype("uint8"))
    return str(path)


TINY = ["--image-size", "16", "--base-width", "4", "--no-attention", "--timesteps", "10",
        "--verbose", "0", "--no-jit", "--sample-every", "0"]


@pytest.mark.parametrize("extra, match", [
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--batch-size", "64"], "larger than the 16 training images"),
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--lr", "nan"], "--lr must be a positive number"),
    (["--steps-per-epoch", "0"], "--steps-per-epoch must be >= 1"),
])
def test_train_bad_values(toy_npz, tmp_path, capsys, extra, match):
    assert main(["train", "--data", toy_npz, "--out", str(tmp_path / "r"), *TINY, *extra]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


def test_train_out_is_a_file(toy_npz, tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["train", "--data", toy_npz, "--out", str(f), *TINY]) == 2
    assert "is a file" in capsys.readouterr().err


def test_resume_refuses_a_damaged_newest_checkpoint_and_notes_ignored_flags(run_dir, tmp_path,
                                                                          capsys, toy_npz):
    run = _copy(run_dir, tmp_path)
    # a run directory made by the library, not the command: give it the command's record
    with open(os.path.join(run, "train_args.json"), "w") as f:
        json.dump({"lr": 3e-4, "prediction": "epsilon"}, f)
    _damage(os.path.join(run, "checkpoints", "epoch_0002", "raw.weights.h5"), "truncate")
    common = ["train", "--data", toy_npz, "--out", run, "--resume", "--epochs", "3",
              "--image-size", "8", "--batch-size", "4", "--verbose", "0", "--no-jit",
              "--sample-every", "0", "--timesteps", "10"]
    assert main(common) == 2
    err = capsys.readouterr().err
    assert "raw.weights.h5" in err and "--allow-older-checkpoint" in err
    # toy_npz is 16x16; resize it to the run's 8x8 via --image-size 8 above
    assert main(common + ["--allow-older-checkpoint", "--lr", "0.5"]) == 0
    err = capsys.readouterr().err
    assert "raw.weights.h5" in err  # the fallback is announced
    assert "ignored flags: --lr 0.0003 (given 0.5)" in err
    with open(os.path.join(run, "train_args.json")) as f:
        assert json.load(f)["lr"] == 3e-4  # the stored setting stays


@pytest.mark.parametrize("extra, match", [
    (["--out", "x.jpgg"], "unknown image extension"),
    (["--frames", "3", "--out", "x.jpg"], "must end in .gif"),
    (["--steps", "0"], "DDIM steps must be >= 1, got 0"),
    (["--steps", "-4"], "DDIM steps must be >= 1, got -4"),
    (["--steps", "2000"], "DDIM steps must be in 1..10"),
    (["--rotation", "nan"], "--rotation must be a finite"),
    (["--rotation", "inf"], "--rotation must be a finite"),
    (["--eta", "-1"], "eta must be in [0, 1]"),
])
def test_sample_bad_values(run_dir, tmp_path, capsys, extra, match):
    args = ["sample", "--checkpoint", run_dir, "--num", "1", "--sampler", "ddim"] + extra
    if "--out" not in extra:
        args += ["--out", str(tmp_path / "g.png")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and err.count("\n") == 1


def test_sample_out_is_a_directory(run_dir, tmp_path, capsys):
    assert main(["sample", "--checkpoint", run_dir, "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


# --- the SavedModel ------------------------------------------------------------------------------

@pytest.mark.tf_only
def test_saved_model_caps_num_images_and_broadcasts_a_scalar_timestep(run_dir, tmp_path):
    import tensorflow as tf

    from keras_aliasfree.export import export_saved_model

    out = str(tmp_path / "sm")
    os.makedirs(str(tmp_path / ".tmp-sm-leftover"))
    export_saved_model(run_dir, out, verbose=False, max_images=4)
    assert not os.path.exists(str(tmp_path / ".tmp-sm-leftover"))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o777 & ~umask
    m = tf.saved_model.load(out)
    args = dict(seed=tf.constant(0, tf.int64), rotation_degrees=tf.constant(0.0),
                steps=tf.constant(2))
    assert m.signatures["sample"](num_images=tf.constant(4), **args)["images"].shape[0] == 4
    t0 = time.perf_counter()
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_images"):
        m.signatures["sample"](num_images=tf.constant(100000), **args)
    assert time.perf_counter() - t0 < 30
    x = tf.constant(np.zeros((3, 8, 8, 1), "float32"))
    scalar = m.signatures["denoise"](noisy_images=x, timesteps=tf.constant(5))["noise"]
    vector = m.signatures["denoise"](noisy_images=x, timesteps=tf.constant([5, 5, 5]))["noise"]
    np.testing.assert_allclose(scalar.numpy(), vector.numpy(), atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one timestep per image"):
        m.signatures["denoise"](noisy_images=x, timesteps=tf.constant([1, 2]))


def test_loading_hashes_each_file_once_and_still_sees_a_later_change(run_dir, tmp_path,
                                                                     monkeypatch):
    import hashlib

    from keras_aliasfree.diffusion import checkpoint as C

    run = _copy(run_dir, tmp_path)
    ckpt = os.path.join(run, "checkpoints", "epoch_0002")
    old = time.time() - 60  # files written long ago: their hashes may be remembered
    for name in os.listdir(ckpt):
        os.utime(os.path.join(ckpt, name), (old, old))
    calls, real_sha256 = [], hashlib.sha256

    def counting_sha256(*a):
        calls.append(1)
        return real_sha256(*a)

    monkeypatch.setattr(C.hashlib, "sha256", counting_sha256)
    load_checkpoint(run)
    with open(os.path.join(ckpt, C.MANIFEST)) as f:
        assert len(calls) == len(json.load(f)["files"])  # not once per helper that checks
    _damage(os.path.join(ckpt, "ema.weights.h5"), "garble")
    assert any("ema.weights.h5" in p for p in checkpoint_problems(ckpt))
