"""`keras-aliasfree train` / `sample` end to end on a toy .npz (tiny model, few steps)."""

import json
import os

import numpy as np
import pytest

from keras_aliasfree.cli import main

TINY = ["--image-size", "16", "--base-width", "4", "--no-attention", "--timesteps", "10",
        "--batch-size", "8", "--verbose", "0", "--no-jit", "--seed", "1", "--sample-every", "0"]


@pytest.fixture
def toy_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "toy.npz"
    np.savez(path, x=(rng.random((16, 16, 16)) * 255).astype("uint8"))
    return str(path)


def _state(run):
    with open(os.path.join(run, "checkpoints", "latest")) as f:
        name = f.read().strip()
    with open(os.path.join(run, "checkpoints", name, "training_state.json")) as f:
        return name, json.load(f)


@pytest.mark.slow
def test_train_resume_sample(toy_npz, tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", "--config", "B-1N", "--data", toy_npz, "--epochs", "1", "--out", run,
                 "--sample-every", "1", "--sample-steps", "2", *TINY[:-2]]) == 0
    name, state = _state(run)
    assert name == "epoch_0001" and state["epoch"] == 1 and state["step"] == 2
    assert os.path.isfile(os.path.join(run, "samples", "epoch_0001.png"))
    assert os.path.isdir(os.path.join(run, "logs"))
    # a second run into the same directory must not silently overwrite it
    assert main(["train", "--data", toy_npz, "--epochs", "2", "--out", run, *TINY]) == 2
    capsys.readouterr()
    assert main(["train", "--data", toy_npz, "--epochs", "2", "--out", run, "--resume",
                 *TINY]) == 0
    assert "--config" not in capsys.readouterr().err  # no --config given: nothing was ignored
    name, state2 = _state(run)
    with open(os.path.join(run, "checkpoints", name, "config.json")) as f:
        assert json.load(f)["unet"]["config"] == "B-1N"  # no --config: the checkpoint's, not A
    assert name == "epoch_0002" and state2["epoch"] == 2 and state2["step"] == 4
    assert state2["ema_updates"] == 4 and state2["seed_state"] != state["seed_state"]
    png = str(tmp_path / "grid.png")
    assert main(["sample", "--checkpoint", run, "--num", "4", "--steps", "3", "--rotation", "45",
                 "--out", png]) == 0
    from PIL import Image

    assert Image.open(png).size == (2 + 2 * 18, 2 + 2 * 18)
    gif = str(tmp_path / "sweep.gif")
    assert main(["sample", "--checkpoint", run, "--num", "1", "--steps", "2", "--rotation", "20",
                 "--frames", "3", "--out", gif]) == 0
    assert Image.open(gif).n_frames == 3


def test_default_config_is_recorded_and_resume_notes_a_different_one(toy_npz, tmp_path, capsys):
    from keras_aliasfree.commands.train import DEFAULT_CONFIG

    run = str(tmp_path / "default")
    assert main(["train", "--data", toy_npz, "--epochs", "1", "--out", run, *TINY]) == 0
    with open(os.path.join(run, "train_args.json")) as f:
        assert json.load(f)["config"] == DEFAULT_CONFIG
    with open(os.path.join(run, "checkpoints", "epoch_0001", "config.json")) as f:
        assert json.load(f)["unet"]["config"] == DEFAULT_CONFIG
    capsys.readouterr()
    # an explicit --config that differs from the checkpoint's is named and ignored
    assert main(["train", "--config", "D-1N", "--data", toy_npz, "--epochs", "2", "--out", run,
                 "--resume", *TINY]) == 0
    assert f"--config {DEFAULT_CONFIG!r} (given 'D-1N')" in capsys.readouterr().err
    with open(os.path.join(run, "checkpoints", "epoch_0002", "config.json")) as f:
        assert json.load(f)["unet"]["config"] == DEFAULT_CONFIG


def test_train_errors(toy_npz, tmp_path, capsys):
    run = str(tmp_path / "r")
    assert main(["train", "--config", "F", "--data", toy_npz, "--out", run, *TINY]) == 2
    err = capsys.readouterr().err
    assert "invalid UNet config" in err and "E / E<N>" in err
    assert main(["train", "--config", "A", "--data", toy_npz, "--out", run, *TINY[2:],
                 "--image-size", "12"]) == 2
    err = capsys.readouterr().err
    assert "12" in err and "error" in err
    assert main(["sample", "--checkpoint", str(tmp_path / "none"), "--out", "x.png"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_steps_per_epoch_does_not_run_out_of_data(toy_npz, tmp_path):
    # 16 images at batch 8 are 2 batches a pass; 3 steps an epoch runs dry in the middle of epoch 1.
    # Keras keeps one iterator across epochs with steps_per_epoch, so the data must repeat.
    run = str(tmp_path / "spe")
    assert main(["train", "--data", toy_npz, "--epochs", "3", "--steps-per-epoch", "3",
                 "--conv", "isotropic", "--out", run, *TINY]) == 0
    name, state = _state(run)
    assert name == "epoch_0003" and state["epoch"] == 3 and state["step"] == 9
    with open(os.path.join(run, "checkpoints", name, "config.json")) as f:
        assert json.load(f)["unet"]["conv"] == "isotropic"  # --conv reaches the checkpoint


@pytest.mark.slow
def test_train_recipe_options_without_seed(toy_npz, tmp_path):
    # no --seed (a fresh data order), v-prediction, min-SNR, warmup + cosine decay; then resume
    run = str(tmp_path / "recipe")
    no_seed = [a for a in TINY if a not in ("--seed", "1")]
    opts = ["--prediction", "v", "--loss-weighting", "min_snr", "--lr-schedule", "cosine",
            "--warmup-steps", "2", "--steps-per-epoch", "2", "--out", run, *no_seed]
    assert main(["train", "--data", toy_npz, "--epochs", "2", *opts]) == 0
    with open(os.path.join(run, "checkpoints", "epoch_0002", "config.json")) as f:
        config = json.load(f)
    assert (config["prediction"], config["loss_weighting"]) == ("v", "min_snr")
    name, state = _state(run)
    lr = state["optimizer"]["config"]["learning_rate"]
    assert lr["class_name"] == "CosineDecay" and lr["config"]["warmup_steps"] == 2
    assert main(["train", "--data", toy_npz, "--epochs", "3", "--resume", *opts]) == 0
    assert _state(run)[1]["step"] == 6


def test_train_recipe_errors(toy_npz, tmp_path, capsys):
    run = str(tmp_path / "bad")
    assert main(["train", "--data", toy_npz, "--epochs", "1", "--lr-schedule", "cosine",
                 "--warmup-steps", "50", "--out", run, *TINY]) == 2
    assert "warmup" in capsys.readouterr().err


@pytest.mark.parametrize("flags, want", [([], ("v", "min_snr")),
                                         (["--recipe", "paper"], ("epsilon", "uniform")),
                                         (["--recipe", "paper", "--prediction", "x0"],
                                          ("x0", "uniform"))])
def test_train_defaults_to_the_measured_recipe(toy_npz, tmp_path, capsys, flags, want):
    run = str(tmp_path / "r")
    assert main(["train", "--data", toy_npz, "--epochs", "1", "--steps-per-epoch", "1",
                 "--out", run, *flags, *TINY]) == 0
    with open(os.path.join(run, "checkpoints", "epoch_0001", "config.json")) as f:
        config = json.load(f)
    assert (config["prediction"], config["loss_weighting"]) == want
    assert f"prediction {want[0]}, loss weighting {want[1]}" in capsys.readouterr().out
    with open(os.path.join(run, "train_args.json")) as f:
        assert json.load(f)["prediction"] == want[0]
