"""Serving under load: N threads x M `sample` calls on one loaded SavedModel (TensorFlow only).

Scenarios, in one TensorFlow child process:

* ``serial``: loads the SavedModel once with ``tf.saved_model.load`` (the model needs nothing of
  this library; the harness's child imports the package, so Keras sits in the RSS baseline), warms
  it up and draws every seed once serially: the reference images, the 1-thread latency and the
  RSS baseline. The other scenarios reuse this state (it is made by whichever runs first).
* ``threads-N`` for each ``--threads`` count: ``--rounds`` rounds of the N x M calls run
  concurrently; per call latency percentiles (p50/p90/p99), throughput (calls/s and images/s,
  the median of the rounds), whether every result is byte-equal to the serial one of its seed,
  errors, and resident memory (RSS, sampled every 20 ms): the peak over the baseline and the growth
  from the end of the first concurrent round to the end of the last (what a leak would show).

A thread count whose result differs, whose call raises, or whose RSS growth exceeds
``--max-growth-mb`` is a failed check: the page lists it and the command exits with status 1.

Usage:
    python benchmarks/serving_load.py saved_models/mnist-d --threads 1 4 8 --calls 4 \\
        --num-images 4 --steps 10
    python benchmarks/serving_load.py --quick --out -        # a smoke run (1 and 2 threads)
Writes docs/benchmarks/serving_load.md (``--out -`` to print only).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, progress

MODEL = Path(__file__).resolve().parents[1] / "saved_models" / "mnist-d"


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


def _ms(values, q):
    import numpy as np

    return float(np.percentile(np.asarray(values, "float64"), q)) * 1e3


_SERVED = {}


def _served(args):
    """The loaded model's ``call(seed)``, the serial reference images, latencies and RSS baseline
    (made once per child process)."""
    if _SERVED:
        return _SERVED
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
    serial, latency = {}, []
    for s in seeds:
        serial[s], dt = call(s)
        latency.append(dt)
    progress(f"loaded in {load_s:.1f} s, {len(seeds)} serial calls, p50 {_ms(latency, 50):.0f} ms")
    _SERVED.update(call=call, seeds=seeds, serial=serial, base=rss_mb(), load_s=load_s,
                   latency=latency, tf=tf.__version__)
    return _SERVED


def serial(args):
    s = _served(args)
    return {"load_s": s["load_s"], "calls": len(s["latency"]), "p50": _ms(s["latency"], 50),
            "rss_mb": s["base"], "tensorflow": s["tf"]}


def _threads(n):
    def run(args):
        import numpy as np

        s = _served(args)
        call, my_seeds, base = s["call"], s["seeds"][:n * args.calls], s["base"]
        lat, errors, mismatched, round_end, peak, walls = [], 0, 0, [], base, []

        def worker(k):
            out = []
            for seed in my_seeds[k::n]:
                try:
                    images, dt = call(seed)
                    out.append((seed, images, dt, None))
                except Exception as e:  # noqa: BLE001 - counted and reported
                    out.append((seed, None, 0.0, e))
            return out

        for _ in range(max(1, args.rounds)):
            with RssSampler() as rss:
                t = time.perf_counter()
                with ThreadPoolExecutor(n) as pool:
                    results = [r for rs in pool.map(worker, range(n)) for r in rs]
                walls.append(time.perf_counter() - t)
            peak = max(peak, rss.peak)
            round_end.append(rss_mb())
            for seed, images, dt, err in results:
                if err is not None:
                    errors += 1
                    continue
                lat.append(dt)
                mismatched += int(not np.array_equal(images, s["serial"][seed]))
        growth, wall = round_end[-1] - round_end[0], float(np.median(walls))
        failed = []
        if errors or mismatched:
            failed.append(f"{n} threads: {errors} errors, {mismatched} results differ from the "
                          "serial ones")
        if growth > args.max_growth_mb:
            failed.append(f"{n} threads: RSS grew {growth:.1f} MB between rounds "
                          f"(bound {args.max_growth_mb:g} MB)")
        ms = {q: _ms(lat, q) if lat else None for q in (50, 90, 99)}
        p50 = "n/a" if ms[50] is None else f"{ms[50]:.0f} ms"
        progress(f"{n} threads: {len(lat)} calls ok, {errors} errors, p50 {p50}")
        return dict(threads=n, calls=len(my_seeds) * len(walls), errors=errors,
                    p50=ms[50], p90=ms[90], p99=ms[99], calls_s=len(my_seeds) / wall,
                    images_s=len(my_seeds) * args.num_images / wall,
                    equal=f"{len(lat) - mismatched}/{len(lat)}", peak=peak - base, growth=growth,
                    failed=failed)

    return run


def scenarios(args):
    return [Scenario("serial", serial, backends=("tensorflow",))] + [
        Scenario(f"threads-{n}", _threads(n), backends=("tensorflow",)) for n in args.threads]


def render(results, args) -> str:
    res = results.get("tensorflow", {})
    if not res:
        return ("Serving is measured on TensorFlow only (the SavedModel is a TensorFlow graph); "
                "run with `--backends tensorflow`.")
    ref = res.get("serial", {})
    parts = [f"SavedModel `{os.path.basename(os.path.normpath(args.model))}`, {args.num_images} "
             f"images per `sample` call, steps input {args.steps}, rotation {args.rotation:g} deg "
             f"on odd seeds, {args.calls} calls per thread, {args.rounds} concurrent rounds per "
             "thread count."]
    if "load_s" in ref:
        parts[0] += (f" TensorFlow {ref['tensorflow']}; loaded in {ref['load_s']:.1f} s. Serial "
                     f"(reference) calls: {ref['calls']}, p50 {ref['p50']:.0f} ms. RSS after "
                     f"warm-up and the serial calls: {ref['rss_mb']:.0f} MB (the child imports "
                     "Keras and this package too).")
    rows = []
    for n in args.threads:
        r = res.get(f"threads-{n}")
        if not isinstance(r, dict) or "error" in r:
            continue
        ms = ["n/a" if r[k] is None else f"{r[k]:.0f}" for k in ("p50", "p90", "p99")]
        rows.append([r["threads"], r["calls"], *ms, f"{r['calls_s']:.2f}",
                     f"{r['images_s']:.1f}", r["equal"], r["errors"], f"{r['peak']:.1f}",
                     f"{r['growth']:+.1f}"])
    parts.append(md_table(["threads", "calls", "p50 ms", "p90 ms", "p99 ms", "calls/s",
                           "images/s", "equal to serial", "errors", "RSS peak over baseline MB",
                           "RSS growth first->last round MB"], rows))
    parts.append(f"Asserted: every result byte-equal to the serial call of its seed, no error, and "
                 f"RSS growth from the first concurrent round's end to the last's at most "
                 f"{args.max_growth_mb:g} MB. Latency is per call, measured inside the worker "
                 "thread (it includes waiting for cores the other threads hold); throughput is "
                 "calls over the round's wall time (median of the rounds). A check that did not "
                 "hold is listed at the top of the page as FAILED.")
    return "\n\n".join(parts)


def add_arguments(p):
    p.add_argument("model", nargs="?", default=str(MODEL),
                   help="SavedModel directory (default saved_models/mnist-d)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--calls", type=int, default=4, help="sample calls per thread (M)")
    p.add_argument("--num-images", type=int, default=4, help="images per call")
    p.add_argument("--steps", type=int, default=10,
                   help="the steps input of each call (default 10: the shipped mnist-d's fixed "
                        "Heun steps; DDIM steps for an export without a fixed sampler)")
    p.add_argument("--rotation", type=float, default=30.0, help="rotation_degrees of odd seeds")
    p.add_argument("--rounds", type=int, default=2,
                   help="concurrent rounds per thread count (the growth is measured across them)")
    p.add_argument("--max-growth-mb", type=float, default=64.0,
                   help="fail when RSS grows by more than this from the first concurrent round's "
                        "end to the last's (default 64)")


BENCHMARK = Benchmark("serving_load", "Serving under load", scenarios, render, add_arguments,
                      backends=("tensorflow",),
                      quick={"threads": [1, 2], "calls": 1, "num_images": 1, "rounds": 2})

if __name__ == "__main__":
    sys.exit(BENCHMARK.main())
