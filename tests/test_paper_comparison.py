"""scripts/results_table.py on a synthetic grid of cells (complete, failed, missing, part-trained,
stale), and the library options scripts/paper_comparison.sh relies on: evaluate's
``consistency_methods`` / ``save_samples`` and ``sample --frames K --out strip.png``."""

import importlib.util
import json
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _results_table():
    spec = importlib.util.spec_from_file_location(
        "results_table", os.path.join(ROOT, "scripts", "results_table.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cell(root, cell, metrics=None, step=20, log="", evaluated_epoch=2, extractor=None,
          noise_turned=True):
    run = root / cell
    ck = run / "checkpoints" / "epoch_0002"
    ck.mkdir(parents=True)
    (run / "checkpoints" / "latest").write_text("epoch_0002\n")
    (ck / "training_state.json").write_text(json.dumps({"step": step, "loss": 0.0123}))
    (run / "train_args.json").write_text("{}")
    (root / (cell + ".train.log")).write_text(log)
    if metrics is not None:
        meta = {"checkpoint": str(run / "checkpoints" / f"epoch_{evaluated_epoch:04d}"),
                "seconds": 12.0, "extractor": "clf-abc"}
        if noise_turned:
            meta["format_version"] = 2
        (run / "evaluation.json").write_text(json.dumps({"metrics": metrics, "meta": meta}))
        (run / "cell.json").write_text(json.dumps({"extractor": extractor}))


def _metrics(fd, eq_r=30.0, **extra):
    m = {"fd": fd, "kid_x100": fd / 10, "kid_std_x100": 0.1, "is": 5.0, "is_std": 0.1,
         "fd_rotated": 2 * fd, "kid_rotated_x100": fd / 5, "eq_t": 40.0, "eq_t_frac": 35.0,
         "eq_r": "inf", "eq_r_exact_t100": eq_r, "eq_r_exact_t500": eq_r + 10,
         "eq_r_exact_t900": eq_r + 12, "rotation_consistency": 15.0,
         "rotation_consistency_per_angle": {"30": 16.0, "60": 15.0, "90": 14.0},
         "rotation_consistency_bilinear": 11.0,
         "rotation_consistency_per_angle_bilinear": {"30": 12.0, "60": 11.0, "90": 10.0}}
    m.update(extra)
    return m


LOG = ("Epoch 1/2\n10/10 - 30s - 3000ms/step - loss: 0.1\nEpoch 2/2\n"
       "10/10 - 1s - 100ms/step - loss: 0.05\nA-s0 trained in 35 s (this call)\n"
       "resumed from x\n10/10 - 9s - 900ms/step - loss: 0.04\n"
       "10/10 - 1s - 120ms/step - loss: 0.03\n"
       "A-s0 trained in 11 s (this call)\n")


@pytest.fixture
def grid(tmp_path):
    root, assets = tmp_path / "runs", tmp_path / "assets"
    clf = tmp_path / "clf"
    clf.mkdir()
    (clf / "classifier.json").write_text(json.dumps(
        {"test_accuracy": 0.9855, "test_set": "10000 images (test split)", "command": "kaf x"}))
    cells = ["mnist/A-s0", "mnist/A-s1", "mnist/D-1N-s0", "mnist/D-6N-k12-s0", "cifar10/A-s0",
             "cifar10/D-1N-s0", "cifar10/B-1N-s0", "mnist_m/A-s0"]
    root.mkdir()
    (root / "grid.json").write_text(json.dumps(
        {"cells": cells, "steps": 20, "num": 1000, "assets": str(assets),
         "command": "bash scripts/paper_comparison.sh 20"}))
    _cell(root, "mnist/A-s0", _metrics(9.0, 30.0), log=LOG, extractor=str(clf))
    _cell(root, "mnist/A-s1", _metrics(11.0, 32.0), log=LOG.replace("120ms", "140ms"))
    _cell(root, "mnist/D-1N-s0", _metrics(12.0, 31.0), log=LOG)
    (root / "mnist" / "D-6N-k12-s0.status").write_text("failed (exit 1) at 12:00 UTC; see x.log")
    _cell(root, "cifar10/D-1N-s0", step=10)  # interrupted: 10 of 20 steps
    _cell(root, "cifar10/B-1N-s0", _metrics(50.0), evaluated_epoch=1)  # evaluation is stale
    (root / "cifar10" / "B-1N-s0.status").write_text("running since 12:00 UTC")
    # scored before the sampler turned its noise: its rotation consistency is not comparable
    _cell(root, "mnist_m/A-s0", _metrics(7.0), noise_turned=False)
    (assets / "mnist").mkdir(parents=True)
    (assets / "mnist" / "A-s0.png").write_bytes(b"png")
    np.savez_compressed(assets / "mnist" / "A-s0-samples.npz", x=np.zeros((2, 4, 4, 1), "uint8"))
    return root, assets, tmp_path / "docs" / "RESULTS.md"


def test_step_time_leaves_out_each_calls_compile_epoch(tmp_path):
    log = tmp_path / "x.train.log"
    log.write_text(LOG)
    ms, n = _results_table().step_time_ms(str(log))
    assert (ms, n) == (110.0, 2)  # 3000 and 900 ms are the two calls' first (compiling) epochs
    # a resumed call of one epoch adds nothing; a log of first epochs only is all there is
    log.write_text(LOG + "resumed\n10/10 - 26s - 3s/step - loss: 0.1\n"
                   "D trained in 9 s (this call)\n")
    assert _results_table().step_time_ms(str(log)) == (110.0, 2)
    log.write_text("1/1 - 5s - 5s/step - loss: 1\n")
    assert _results_table().step_time_ms(str(log)) == (5000.0, 1)


def test_results_table_on_a_partial_grid(grid):
    root, assets, out = grid
    rt = _results_table()
    assert rt.main(["--root", str(root), "--out", str(out)]) == 0
    text = out.read_text()
    assert "**3 of 8 cells complete**" in text
    lines = text.splitlines()

    def row(prefix, after=0):
        return next(line for line in lines[after:] if line.startswith(prefix))

    mnist = lines.index("## MNIST")
    a = row("| A | none", mnist)
    # FD mean 10 +- 1 over the two seeds, KID 1.00 +- 0.10; D-1N (seed 0 only) is 33 % worse
    # than A's seed 0 (FD 9), not 20 % worse than A's mean over seeds 0 and 1
    assert "| 2 | 10.0 ± 1.0 | – | 1.00 ± 0.10 |" in a
    d1n = row("| D-1N | resampling + activations: paper 3x3 beta 1", mnist)
    assert "| 1 | 12.0 | +33.3 % |" in d1n
    eq_a = [line for line in lines[mnist:] if line.startswith("| A | none")][1]
    # raw EQ-R inf, exact EQ-R 31 +- 1, step time: the seeds' medians 110 and 120 ms
    assert "| inf | 31.0 ± 1.0 | 41.0 ± 1.0 |" in eq_a and eq_a.endswith("| 115 ± 5 |")
    assert "jinc 12x12 beta 6, sum 1, rank 2 | 0 | not run |" in text
    assert "| D-6N-k12-s0 | failed (exit 1) at 12:00 UTC; see x.log |" in text
    assert "| A-s0 | not run yet |" in text
    assert "| D-1N-s0 | training stopped at step 10 of 20 (rerun to resume) |" in text
    assert ("| B-1N-s0 | trained (20 steps), not evaluated yet (running since 12:00 UTC, or "
            "interrupted) |") in text
    assert "30: 16.0, 60: 15.0, 90: 14.0; 30: 12.0, 60: 11.0, 90: 10.0" in text
    assert ("| A-s0 | trained (20 steps), evaluated with an older sampler (evaluation format 1: "
            "rotated runs added unturned noise); rerun to re-evaluate |") in text
    assert "](../assets/mnist/A-s0.png)" in text and "[A-s0-samples.npz]" in text
    # beside the paper: its figures and changes; ours where run, "not run" where not
    paper = text[text.index("## Beside the paper"):text.index("## MNIST")]
    assert "| 98.77 | D-1N: 90.21 | -8.7 % | not run |" in paper
    assert "| 6.23 | D-2N: 5.35 | -14.1 % |" in paper
    assert "| FD 10.0 | best alias-free D-1N: 12.0 | +33.3 % | D-6N-k12: not run |" in paper
    assert "| 98.55 % | 10000 images (test split) |" in text
    assert "bash scripts/paper_comparison.sh 20" in text
    from PIL import Image

    for name in ("fd_per_config.png", "eqr_per_config.png"):
        assert Image.open(assets / name).size[0] > 500
    assert not (assets / "fd_vs_steps.png").exists()  # no cell has earlier checkpoints scored
    # a hand-written reading survives regeneration
    out.write_text(text.replace("Reading: to be written by hand", "My reading."))
    assert rt.main(["--root", str(root), "--out", str(out)]) == 0
    assert "My reading." in out.read_text() and "to be written by hand" not in out.read_text()


def test_results_table_keeps_complete_cells_when_the_runs_are_gone(grid):
    import shutil

    root, assets, out = grid
    rt = _results_table()
    assert rt.main(["--root", str(root), "--out", str(out)]) == 0
    before = out.read_text()
    rec = json.loads((assets / "mnist" / "A-s1.json").read_text())
    assert rec["metrics"]["fd"] == 11.0 and rec["step_ms"] == 120.0 and rec["steps"] == 20
    assert rec["per_angle"]["rotation_consistency_per_angle"] == {"30": 16.0, "60": 15.0,
                                                                  "90": 14.0}
    # only complete cells get a record; the accuracy of the extractor travels with it
    assert sorted(p.name for p in (assets / "mnist").glob("*.json")) == [
        "A-s0.json", "A-s1.json", "D-1N-s0.json"]
    assert not (assets / "cifar10").exists() or not list((assets / "cifar10").glob("*.json"))
    assert json.loads((assets / "mnist" / "A-s0.json").read_text())[
        "extractor_info"]["test_accuracy"] == 0.9855

    shutil.rmtree(root)  # a new clone: no runs, no classifier
    shutil.rmtree(root.parent / "clf")
    assert rt.main(["--root", str(root), "--out", str(out), "--assets", str(assets)]) == 0
    text = out.read_text()
    assert "**3 of 8 cells complete**" in text  # the plan came back from ASSETS/grid.json
    for line in ("| 2 | 10.0 ± 1.0 | – | 1.00 ± 0.10 |", "| 1 | 12.0 | +33.3 % |",
                 "| 98.55 % | 10000 images (test split) |", "| A-s0 | not run yet |",
                 "bash scripts/paper_comparison.sh 20"):
        assert line in before and line in text
    assert "| A-s1 | done ([record](../assets/mnist/A-s1.json)) | 20 | 0.0123 | 120 |" in text

    # a record rebuilt from an older table says so, once under the cells
    rec["recovered_from"] = "the table of abc123"
    (assets / "mnist" / "A-s1.json").write_text(json.dumps(rec))
    assert rt.main(["--root", str(root), "--out", str(out), "--assets", str(assets)]) == 0
    text = out.read_text()
    assert "| A-s1 | done ([record](../assets/mnist/A-s1.json), recovered) |" in text
    assert text.count("rebuilt from the table of abc123") == 1

    # a record of another cell, or one without metrics, is not taken
    (assets / "mnist" / "D-1N-s0.json").write_text(json.dumps({"cell": "mnist/A-s0"}))
    assert rt.main(["--root", str(root), "--out", str(out), "--assets", str(assets)]) == 0
    assert "**2 of 8 cells complete**" in out.read_text()


def test_fd_curve_from_the_earlier_checkpoints(grid):
    from PIL import Image

    root, assets, out = grid
    rt = _results_table()
    for cell, fds in (("mnist/A-s0", (30.0,)), ("mnist/A-s1", (50.0,)),
                      ("mnist/D-1N-s0", (40.0,))):
        run = root / cell
        ck = run / "checkpoints" / "epoch_0001"
        ck.mkdir()
        (ck / "training_state.json").write_text(json.dumps({"step": 10}))
        (run / "fd_curve").mkdir()
        (run / "fd_curve" / "epoch_0001.json").write_text(json.dumps({"metrics": {"fd": fds[0]}}))
    # a curve file of a checkpoint that is gone has no step: left out
    (root / "mnist/A-s0" / "fd_curve" / "epoch_0009.json").write_text(
        json.dumps({"metrics": {"fd": 1.0}}))
    assert rt.main(["--root", str(root), "--out", str(out)]) == 0
    rec = json.loads((assets / "mnist" / "A-s0.json").read_text())
    assert rec["fd_curve"] == {"10": 30.0, "20": 9.0}
    assert rt.curves([rt.read_record(str(assets / "mnist" / f"{n}.json"), f"mnist/{n}")
                      for n in ("A-s0", "A-s1", "D-1N-s0")], "mnist") == [
        ("A", [(10, 40.0), (20, 10.0)]), ("D-1N", [(10, 40.0), (20, 12.0)])]
    text = out.read_text()
    assert "![FD vs steps](../assets/fd_vs_steps.png)" in text
    assert "checkpoint per epoch (MNIST: A-s0, A-s1, D-1N-s0)" in text
    assert Image.open(assets / "fd_vs_steps.png").size[0] > 500


def test_results_table_without_any_cell(tmp_path):
    out = tmp_path / "R.md"
    assert _results_table().main(["--root", str(tmp_path / "none"), "--out", str(out),
                                  "--assets", str(tmp_path / "a")]) == 0
    assert "**0 of 0 cells complete**" in out.read_text()
    assert "No complete cell yet." in out.read_text()


# --- the library options the script uses -------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from keras_aliasfree.diffusion import DiffusionModel, NoiseSchedule
    from keras_aliasfree.unet import build_unet

    d = tmp_path_factory.mktemp("tiny")
    net = build_unet("A", image_size=32, channels=1, base_width=4, channel_mults=(1, 2),
                     bottleneck_mult=2, attention=False, time_dim=8)
    ck = DiffusionModel(net, NoiseSchedule(10), seed=0).save_checkpoint(str(d / "ck"))
    data = d / "toy.npz"
    np.savez(data, x=(np.random.default_rng(0).random((8, 32, 32)) * 255).astype("uint8"))
    return ck, str(data), d


@pytest.mark.filterwarnings("ignore:Matrix is singular")  # FD of 4 samples in 128-d
def test_evaluate_saves_samples_and_sweeps_two_rotation_methods(tiny, monkeypatch):
    from keras_aliasfree.metrics import evaluation

    ck, data, d = tiny
    monkeypatch.setenv("KERAS_HOME", str(d / "keras_home"))  # no Inception weights
    npz = str(d / "s" / "samples.npz")
    rep = evaluation.evaluate_checkpoint(
        ck, data=data, num=4, extractor="classifier", steps=2, batch_size=4, angles=(90.0,),
        rotation_num=2, rotated_fd_angle=0, eq_num=2, eq_timestep=5, eq_timesteps=(), kid_subsets=2,
        consistency_methods=("fft", "bilinear"), save_samples=npz, verbose=False, eta=1.0)
    assert set(rep.rotation_consistency) == {"fft", "bilinear"}
    m = rep.to_dict()["metrics"]
    assert rep.meta["consistency_methods"] == ["fft", "bilinear"]
    assert set(m["rotation_consistency_per_angle"]) == {"90"}
    assert set(m["rotation_consistency_per_angle_bilinear"]) == {"90"}
    # two sweeps, each with its own rotation (45 deg per step: bilinear blurs, fft does not)
    assert m["rotation_consistency_bilinear"] != m["rotation_consistency"]
    assert "rotation consistency, bilinear rotation (dB)" in evaluation.format_table(rep)
    x = np.load(npz)["x"]
    assert x.dtype == np.uint8 and x.shape == (4, 32, 32, 1) and x.std() > 0
    with pytest.raises(ValueError, match="rotation method"):
        evaluation.evaluate_checkpoint(ck, data=data, consistency_methods=("nearest",))
    with pytest.raises(ValueError, match=".npz"):
        evaluation.evaluate_checkpoint(ck, data=data, save_samples=str(d / "s.png"))


def test_sample_strip_png(tiny):
    from PIL import Image

    from keras_aliasfree.cli import main

    ck, _, d = tiny
    strip, plain = str(d / "strip.png"), str(d / "plain.png")
    common = ["sample", "--checkpoint", ck, "--num", "2", "--steps", "2", "--seed", "3"]
    assert main(common + ["--rotation", "90", "--frames", "3", "--out", strip]) == 0
    assert main(common + ["--nrow", "1", "--out", plain]) == 0
    s, p = np.asarray(Image.open(strip)), np.asarray(Image.open(plain))
    assert s.shape[:2] == (2 + 2 * 34, 2 + 3 * 34)  # a row per image, a column per frame
    # the middle frame is rotation 0: the plain samples of the same seed
    np.testing.assert_array_equal(s[:, 34:70], p)
    assert not np.array_equal(s[:, 0:36], s[:, 34:70])
