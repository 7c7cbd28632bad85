"""Grace period a preempted `keras-aliasfree train` needs: seconds from SIGTERM to exit.

Starts a real training process per setting, waits until it has trained ``--warm`` steps past
its first step checkpoint (so the step is compiled and the run is in its steady state), sends
SIGTERM at a random moment and measures the time until the process has exited, having finished
its step and written the checkpoint (exit 143 checked). Repeats ``--repeats`` times per setting
and reports the median and the maximum, with the size of the checkpoint written. Writes the
table to docs/benchmarks/preemption_grace.md.

Usage:
    KERAS_BACKEND=tensorflow python benchmarks/preemption_grace.py --data mnist --limit 2000
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = {
    # the tests' toy run: 26 images of 16x16, base width 4, no attention, batch 8
    "toy (16x16, width 4, batch 8)": ["--image-size", "16", "--base-width", "4",
                                      "--no-attention", "--timesteps", "10", "--batch-size", "8"],
    # the paper's recipe: 32x32, base width 32 (5.9 M parameters for config D), batch 16
    "paper size (32x32, width 32, batch 16)": ["--image-size", "32", "--batch-size", "16"],
}


def toy_npz(folder):
    import numpy as np

    path = os.path.join(folder, "toy.npz")
    np.savez(path, x=(np.random.default_rng(0).random((26, 16, 16)) * 255).astype("uint8"))
    return path


def one_run(data, extra, folder, warm, jit):
    run = tempfile.mkdtemp(dir=folder)
    cmd = [sys.executable, "-m", "keras_aliasfree", "train", *data, "--out", run,
           "--epochs", "10000", "--checkpoint-every", "1", "--keep", "2", "--verbose", "0",
           "--seed", "0", "--sample-every", "0", *extra] + ([] if jit else ["--no-jit"])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env)
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="mnist", help="data of the paper-size setting")
    p.add_argument("--limit", type=int, default=2000, help="images of the paper-size setting")
    p.add_argument("--config", default="A")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warm", type=int, default=3, help="step checkpoints seen before SIGTERM")
    p.add_argument("--no-jit", action="store_true")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs"
                                        / "benchmarks" / "preemption_grace.md"))
    args = p.parse_args(argv)
    import statistics

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, extra in SETTINGS.items():
            data = (["--data", toy_npz(folder)] if name.startswith("toy") else
                    ["--data", args.data, "--limit", str(args.limit)])
            extra = extra + ["--config", args.config]
            runs = [one_run(data, extra, folder, args.warm, not args.no_jit)
                    for _ in range(args.repeats)]
            graces = [g for g, _ in runs]
            rows.append((name, statistics.median(graces), max(graces), runs[-1][1] / 1e6))
            print(f"{name}: {', '.join(f'{g:.2f}' for g in graces)} s", flush=True)
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    cmd = "python benchmarks/preemption_grace.py " + " ".join(argv if argv is not None
                                                              else sys.argv[1:])
    md = ["# Grace period of a preempted training run", "",
          f"`KERAS_BACKEND={backend} {cmd}`", "",
          f"SIGTERM at a random moment of steady training (config {args.config}, "
          f"{'eager' if args.no_jit else 'jit auto'}, backend {backend}), time until the "
          f"process has finished its step, written the checkpoint and exited 143; "
          f"{args.repeats} runs each; {platform.machine()}, {os.cpu_count()} CPUs shared with "
          "other work.", "",
          "| setting | median s | max s | checkpoint MB |", "|---|---|---|---|"]
    md += [f"| {n} | {med:.2f} | {mx:.2f} | {mb:.1f} |" for n, med, mx, mb in rows]
    md.append("")
    text = "\n".join(md)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
