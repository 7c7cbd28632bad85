"""Preemption of a real `keras-aliasfree train` process: SIGTERM finishes the step, writes a
checkpoint, says where it is and how to resume, and exits 143; the resumed run ends where an
uninterrupted one does. kill -9 leaves the newest step checkpoint intact."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_aliasfree.cli import main
from keras_aliasfree.diffusion import find_checkpoint, load_checkpoint, read_training_state
from keras_aliasfree.diffusion.checkpoint import checkpoint_problems
from keras_aliasfree.diffusion.preemption import StopSignals

BACKEND = keras.backend.backend()
TINY = ["--image-size", "16", "--base-width", "4", "--no-attention", "--timesteps", "10",
        "--batch-size", "8", "--verbose", "0", "--no-jit", "--seed", "1", "--sample-every", "0"]
STEPS_PER_EPOCH = 3  # 26 images, full batches of 8


@pytest.fixture
def toy_npz(tmp_path):
    path = tmp_path / "toy.npz"
    np.savez(path, x=(np.random.default_rng(0).random((26, 16, 16)) * 255).astype("uint8"))
    return str(path)


def _start(args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_DETERMINISTIC_OPS="1",
               PYTHONPATH=os.pathsep.join(p for p in [os.getcwd(), os.environ.get("PYTHONPATH")]
                                          if p))
    return subprocess.Popen([sys.executable, "-m", "keras_aliasfree", "train", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(path, proc, timeout=300):
    t0 = time.time()
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.communicate()}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError(f"no {path} after {timeout} s")
        time.sleep(0.05)


def _weights(run):
    dm = load_checkpoint(run)
    return [keras.ops.convert_to_numpy(v.value) for v in dm.denoiser.weights + dm.ema_variables]


@pytest.mark.slow
def test_sigterm_writes_a_checkpoint_of_the_step_and_the_resumed_run_loses_nothing(
        toy_npz, tmp_path, capsys):
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    run = str(tmp_path / "run")
    args = ["--data", toy_npz, "--out", run, "--epochs", "1000", "--checkpoint-every", "2", *TINY]
    proc = _start(args)
    try:
        _wait_for(os.path.join(run, "checkpoints", "latest"), proc)  # training is under way
        time.sleep(np.random.default_rng().uniform(0.0, 0.5))
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        grace = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, (out, err)
    lines = [ln for ln in err.splitlines() if ln.startswith("stopped by SIGTERM")]
    assert len(lines) == 1, err
    m = re.match(r"stopped by SIGTERM after step (\d+) \(.*\): checkpoint (\S+); resume with: "
                 r"(.*)$", lines[0])
    assert m, lines[0]
    step, ckpt, command = int(m.group(1)), m.group(2), shlex.split(m.group(3))
    assert command[:2] == ["keras-aliasfree", "train"] and command[-1] == "--resume"
    assert command[2:-1] == args
    # the checkpoint written on the signal is the newest, intact, and holds that step
    assert find_checkpoint(run, allow_older=False, for_resume=True) == ckpt
    assert checkpoint_problems(ckpt, for_resume=True) == []
    state = read_training_state(ckpt)
    assert state["batches"] == state["step"] == step >= 2
    assert state["ema_updates"] == step
    print(f"SIGTERM to exit: {grace:.2f} s (step {step})")

    # resume as the line says (fewer epochs, to end soon) and compare with a run never stopped
    epochs = step // STEPS_PER_EPOCH + 2
    resume = command[1:-1]
    resume[resume.index("--epochs") + 1] = str(epochs)
    capsys.readouterr()
    assert main([*resume, "--resume"]) == 0
    assert f"step {step}" in capsys.readouterr().out
    assert read_training_state(run)["batches"] == epochs * STEPS_PER_EPOCH
    straight = str(tmp_path / "straight")
    assert main(["train", "--data", toy_npz, "--out", straight, "--epochs", str(epochs),
                 *TINY]) == 0
    for a, b in zip(_weights(run), _weights(straight)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "torch", reason="what kill -9 leaves does not depend on the "
                    "backend; run once, on the backend whose child process starts fastest")
def test_kill_9_while_training_leaves_the_newest_step_checkpoint_intact(toy_npz, tmp_path):
    run = str(tmp_path / "run")
    proc = _start(["--data", toy_npz, "--out", run, "--epochs", "1000", "--checkpoint-every",
                   "1", "--keep", "3", *TINY])
    try:
        _wait_for(os.path.join(run, "checkpoints", "latest"), proc)
        time.sleep(np.random.default_rng().uniform(0.5, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    ckpt = find_checkpoint(run, allow_older=False, for_resume=True)
    assert checkpoint_problems(ckpt, for_resume=True) == []
    with open(os.path.join(run, "checkpoints", "latest")) as f:
        assert os.path.basename(ckpt) == f.read().strip()
    state = read_training_state(ckpt)
    assert state["batches"] >= 1 and state["step"] == state["batches"]
    with open(os.path.join(run, "train_args.json")) as f:
        assert json.load(f)["checkpoint_every"] == 1


def test_a_second_signal_acts_at_once_and_handlers_come_back():
    # Python's own Ctrl-C handler as the one to come back to, whatever an earlier test in this
    # process left installed
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _second_signal_acts_at_once()
    finally:
        signal.signal(signal.SIGINT, outer)


def _second_signal_acts_at_once():
    before = signal.getsignal(signal.SIGINT)
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.received == signal.SIGINT and stop.exit_code == 130
        with pytest.raises(KeyboardInterrupt):  # Ctrl-C twice: stop now
            os.kill(os.getpid(), signal.SIGINT)
            # short sleeps: if the kernel hands the signal to another thread (TensorFlow keeps
            # thread pools), the main thread runs the handler at its next bytecode, not in a
            # sleep another thread's signal cannot interrupt
            for _ in range(200):
                time.sleep(0.005)
    assert signal.getsignal(signal.SIGINT) is before


def test_checkpoint_every_must_be_positive(toy_npz, tmp_path, capsys):
    assert main(["train", "--data", toy_npz, "--out", str(tmp_path / "r"),
                 "--checkpoint-every", "0", *TINY]) == 2
    assert "--checkpoint-every must be >= 1" in capsys.readouterr().err
