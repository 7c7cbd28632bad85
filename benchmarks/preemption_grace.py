"""Grace period a preempted `keras-aliasfree train` needs: seconds from SIGTERM to exit.

One scenario per setting (``toy``: the tests' run, 26 generated 16x16 images, base width 4, no
attention, batch 8; ``paper``: the paper's recipe, 32x32, base width 32, batch 16, on ``--data``).
Each starts a real training process (with the child's ``KERAS_BACKEND``), waits until it has
trained ``--warm`` steps past its first step checkpoint (so the step is compiled and the run is in
its steady state), sends SIGTERM at a random moment and measures the time until the process has
exited, having finished its step and written the checkpoint (exit 143 and the checkpoint line
checked; a run that ends otherwise fails the scenario and the command). Repeats ``--repeats``
times per setting and reports every run, the median and the maximum, with the size of the
checkpoint written.

Usage:
    python benchmarks/preemption_grace.py --data mnist --limit 2000        # TensorFlow
    python benchmarks/preemption_grace.py --backends jax torch --only toy
    python benchmarks/preemption_grace.py --quick --out -                  # a smoke run (toy, once)
Writes docs/benchmarks/preemption_grace.md (``--out -`` to print only).
"""

from __future__ import annotations

import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, progress, succeeded

SETTINGS = {
    # the tests' toy run: 26 images of 16x16, base width 4, no attention, batch 8
    "toy": ("toy (16x16, width 4, batch 8)",
            ["--image-size", "16", "--base-width", "4", "--no-attention", "--timesteps", "10",
             "--batch-size", "8"]),
    # the paper's recipe: 32x32, base width 32 (5.9 M parameters for config D), batch 16
    "paper": ("paper size (32x32, width 32, batch 16)",
              ["--image-size", "32", "--batch-size", "16"]),
}


def toy_npz(folder):
    import numpy as np

    path = os.path.join(folder, "toy.npz")
    np.savez(path, x=(np.random.default_rng(0).random((26, 16, 16)) * 255).astype("uint8"))
    return path


def one_run(data, extra, folder, warm, jit):
    """Seconds from SIGTERM to the exit of one training process, and its checkpoint's bytes."""
    run = tempfile.mkdtemp(dir=folder)
    cmd = [sys.executable, "-m", "keras_aliasfree", "train", *data, "--out", run,
           "--epochs", "10000", "--checkpoint-every", "1", "--keep", "2", "--verbose", "0",
           "--seed", "0", "--sample-every", "0", *extra] + ([] if jit else ["--no-jit"])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    latest = os.path.join(run, "checkpoints", "latest")
    t_start = time.time()
    seen = set()
    while len(seen) < warm + 1:  # each step writes a checkpoint (--checkpoint-every 1)
        if proc.poll() is not None:
            raise RuntimeError(f"training ended early: {proc.stderr.read()[-2000:]}")
        if time.time() - t_start > 900:
            proc.kill()
            raise RuntimeError("no checkpoints after 900 s")
        if os.path.exists(latest):
            try:
                seen.add(open(latest).read().strip())
            except OSError:
                pass
        time.sleep(0.01)
    time.sleep(random.uniform(0.0, 0.5))
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=600)[1]
    grace = time.perf_counter() - t0
    m = re.search(r"checkpoint (\S+); resume with", err)
    if proc.returncode != 143 or not m:
        raise RuntimeError(f"exit {proc.returncode}: {err[-2000:]}")
    size = sum(os.path.getsize(os.path.join(m.group(1), f)) for f in os.listdir(m.group(1)))
    return grace, size


def _setting(key):
    def run(args):
        with tempfile.TemporaryDirectory() as folder:
            data = (["--data", toy_npz(folder)] if key == "toy" else
                    ["--data", args.data, "--limit", str(args.limit)])
            extra = SETTINGS[key][1] + ["--config", args.config]
            runs = []
            for i in range(args.repeats):
                runs.append(one_run(data, extra, folder, args.warm, not args.no_jit))
                progress(f"{key} run {i + 1}/{args.repeats}: {runs[-1][0]:.2f} s")
        graces = [g for g, _ in runs]
        return {"graces": graces, "median": statistics.median(graces), "max": max(graces),
                "checkpoint_mb": runs[-1][1] / 1e6}

    return run


def scenarios(args):
    # --quick: the toy setting only (the paper size compiles for minutes on a CPU)
    return [Scenario(key, _setting(key)) for key in SETTINGS if key == "toy" or not args.quick]


def render(results, args) -> str:
    parts = [f"SIGTERM at a random moment of steady training (config {args.config}, "
             f"{'eager' if args.no_jit else 'jit auto'}, `--warm {args.warm}` step checkpoints "
             "first), time until the process has finished its step, written the checkpoint and "
             f"exited 143; {args.repeats} runs per setting"
             + (f"; paper size on `{args.data}` (`--limit {args.limit}`)"
                if succeeded(results, "paper") else "")
             + ". Each backend's training processes run with its `KERAS_BACKEND`."]
    rows = [[b, SETTINGS[key][0], ", ".join(f"{g:.2f}" for g in r["graces"]),
             f"{r['median']:.2f}", f"{r['max']:.2f}", f"{r['checkpoint_mb']:.1f}"]
            for key in SETTINGS for b, r in succeeded(results, key).items()]
    parts.append(md_table(["backend", "setting", "runs s", "median s", "max s", "checkpoint MB"],
                          rows, left=2))
    return "\n\n".join(parts)


def add_arguments(p):
    p.add_argument("--data", default="mnist", help="data of the paper-size setting")
    p.add_argument("--limit", type=int, default=2000, help="images of the paper-size setting")
    p.add_argument("--config", default="A")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warm", type=int, default=3, help="step checkpoints seen before SIGTERM")
    p.add_argument("--no-jit", action="store_true")


BENCHMARK = Benchmark("preemption_grace", "Grace period of a preempted training run", scenarios,
                      render, add_arguments, backends=("tensorflow",),
                      quick={"repeats": 1, "warm": 1})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
