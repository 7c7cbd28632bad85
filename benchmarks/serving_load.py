"""Serving under load: N threads x M `sample` calls on one loaded SavedModel.

Loads the SavedModel once with plain TensorFlow (this library is not imported), warms it up,
draws every seed once serially (the reference images and the 1-thread latency), then, for each
thread count, runs the calls concurrently and reports per call latency percentiles (p50/p90/p99),
throughput (calls/s and images/s), whether every result is byte-equal to the serial one of its
seed, errors, and resident memory (RSS, sampled every 20 ms): the peak over the warmed-up baseline
and the growth from the end of the first concurrent round to the end of the last (what a leak
would show). The script fails (exit 1) when a result differs, a call raises, or that growth
exceeds ``--max-growth-mb``. Writes the table to docs/benchmarks/serving_load.md.

Usage:
    python benchmarks/serving_load.py saved_models/mnist-d --threads 1 4 8 --calls 4 \\
        --num-images 4 --steps 10
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def rss_mb():
    """Resident set size of this process in MB (Linux /proc; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class RssSampler:
    """Samples RSS every ``interval`` seconds in a background thread; ``peak`` is the highest."""

    def __init__(self, interval=0.02):
        self.interval, self.peak, self._stop = interval, rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def percentile(values, q):
    import numpy as np

    return float(np.percentile(np.asarray(values, "float64"), q))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", nargs="?", default=str(Path(__file__).resolve().parents[1]
                                                   / "saved_models" / "mnist-d"),
                   help="SavedModel directory (default saved_models/mnist-d)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--calls", type=int, default=4, help="sample calls per thread (M)")
    p.add_argument("--num-images", type=int, default=4, help="images per call")
    p.add_argument("--steps", type=int, default=10, help="DDIM steps per call")
    p.add_argument("--rotation", type=float, default=30.0, help="rotation_degrees of odd seeds")
    p.add_argument("--rounds", type=int, default=2,
                   help="concurrent rounds per thread count (the growth is measured across them)")
    p.add_argument("--max-growth-mb", type=float, default=64.0,
                   help="fail when RSS grows by more than this from the first concurrent round's "
                        "end to the last's (default 64)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs"
                                        / "benchmarks" / "serving_load.md"))
    args = p.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    t0 = time.perf_counter()
    sample = tf.saved_model.load(args.model).signatures["sample"]
    load_s = time.perf_counter() - t0

    def call(seed):
        t = time.perf_counter()
        images = sample(seed=tf.constant(seed, tf.int64),
                        num_images=tf.constant(args.num_images),
                        rotation_degrees=tf.constant(args.rotation * (seed % 2)),
                        steps=tf.constant(args.steps))["images"].numpy()
        return images, time.perf_counter() - t

    call(10 ** 6)  # warm-up: the first call builds the graph's kernels
    seeds = list(range(max(args.threads) * args.calls))
    serial, serial_lat = {}, []
    for s in seeds:
        serial[s], dt = call(s)
        serial_lat.append(dt)
    base = rss_mb()
    rows, failures = [], []
    for n in args.threads:
        my_seeds = seeds[:n * args.calls]
        lat, errors, mismatched, round_end, peak, walls = [], 0, 0, [], base, []
        for _ in range(max(1, args.rounds)):
            def worker(k):
                out = []
                for s in my_seeds[k::n]:
                    try:
                        images, dt = call(s)
                        out.append((s, images, dt, None))
                    except Exception as e:  # noqa: BLE001 - counted and reported
                        out.append((s, None, 0.0, e))
                return out

            with RssSampler() as rss:
                t = time.perf_counter()
                with ThreadPoolExecutor(n) as pool:
                    results = [r for rs in pool.map(worker, range(n)) for r in rs]
                walls.append(time.perf_counter() - t)
            peak = max(peak, rss.peak)
            round_end.append(rss_mb())
            for s, images, dt, err in results:
                if err is not None:
                    errors += 1
                    continue
                lat.append(dt)
                mismatched += int(not np.array_equal(images, serial[s]))
        growth = round_end[-1] - round_end[0]
        calls = len(my_seeds)
        wall = float(np.median(walls))
        rows.append(dict(threads=n, calls=calls * len(walls), p50=percentile(lat, 50),
                         p90=percentile(lat, 90), p99=percentile(lat, 99),
                         calls_s=calls / wall, images_s=calls * args.num_images / wall,
                         equal=f"{len(lat) - mismatched}/{len(lat)}", errors=errors,
                         peak=peak - base, growth=growth))
        if errors or mismatched:
            failures.append(f"{n} threads: {errors} errors, {mismatched} results differ from "
                            "the serial ones")
        if growth > args.max_growth_mb:
            failures.append(f"{n} threads: RSS grew {growth:.1f} MB between rounds "
                            f"(bound {args.max_growth_mb:g} MB)")

    cmd = "python benchmarks/serving_load.py " + " ".join(argv if argv is not None
                                                          else sys.argv[1:])
    md = ["# Serving under load", "",
          f"`{cmd}`", "",
          f"SavedModel `{os.path.basename(os.path.normpath(args.model))}`, {args.num_images} "
          f"images per `sample` call, {args.steps} DDIM steps, rotation {args.rotation:g} deg on "
          f"odd seeds; TensorFlow {tf.__version__}, {platform.machine()}, {os.cpu_count()} CPUs "
          f"(shared); loaded in {load_s:.1f} s. Serial (reference) calls: p50 "
          f"{percentile(serial_lat, 50) * 1e3:.0f} ms. RSS after warm-up and the serial calls: "
          f"{base:.0f} MB.", "",
          "| threads | calls | p50 ms | p90 ms | p99 ms | calls/s | images/s | equal to serial "
          "| errors | RSS peak over baseline MB | RSS growth first->last round MB |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['threads']} | {r['calls']} | {r['p50'] * 1e3:.0f} | "
                  f"{r['p90'] * 1e3:.0f} | {r['p99'] * 1e3:.0f} | {r['calls_s']:.2f} | "
                  f"{r['images_s']:.1f} | {r['equal']} | {r['errors']} | {r['peak']:.1f} | "
                  f"{r['growth']:+.1f} |")
    md += ["", f"Asserted: every result byte-equal to the serial call of its seed, no error, and "
               f"RSS growth from the first concurrent round's end to the last's at most "
               f"{args.max_growth_mb:g} MB. Latency is per call, measured inside the worker "
               "thread (it includes waiting for cores the other threads hold); throughput is "
               "calls over the round's wall time (median of the rounds).",
           "" if not failures else "FAILED: " + "; ".join(failures), ""]
    text = "\n".join(md)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
