"""The benchmark harness: its result protocol round-trips, children get the backend and the options
(with what --quick sets), a child that fails is reported with its error while the others still run,
a check a scenario reports as failed is listed and fails the run too,
hand-written notes survive a rewrite, the table writer aligns columns, the UNet variants carry the
requested resampling plan, and the bench verb is wired into the CLI."""

import subprocess
import sys
import textwrap

import keras
import pytest

from keras_aliasfree import benchmarking as B
from keras_aliasfree.cli import main


def test_result_protocol_round_trips():
    obj = {"tensorflow": {"ms": [1.5, 2.0], "shape": [2, 8, 8, 3], "ok": True}}
    stdout = "log line\n" + B.result_line({"old": 1}) + "\nmore log\n" + B.result_line(obj) + "\n"
    assert B.parse_result(stdout) == obj


def test_missing_result_line_is_an_error():
    with pytest.raises(B.BenchmarkError, match="no result line"):
        B.parse_result("Traceback ...\nValueError: boom\n")


def test_table_writer_aligns_label_columns_left_and_figures_right():
    text = B.md_table(["backend", "plan", "ms"], [["jax", "dense", "1.00"]], left=2)
    assert text.splitlines() == ["| backend | plan | ms |", "|---|---|---:|",
                                 "| jax | dense | 1.00 |"]


def test_succeeded_skips_failed_scenarios():
    results = {"jax": {"a": {"s": 1.0}}, "torch": {"a": {"error": "boom"}}, "tensorflow": {}}
    assert B.succeeded(results, "a") == {"jax": {"s": 1.0}}


SCRIPT = """
import os, sys
from keras_aliasfree.benchmarking import Benchmark, Scenario, md_table, succeeded

def good(args):
    return {"backend": os.environ["KERAS_BACKEND"], "n": args.n, "m": args.m}

def bad(args):
    raise ValueError("boom in the child")

def crash(args):
    os._exit(3)

def check(args):
    return {"x": 1.0, "failed": ["x differs"]}

def render(results, args):
    rows = [[b, r["backend"], r["n"], r["m"]] for b, r in succeeded(results, "good").items()]
    return md_table(["backend", "child saw", "n", "m"], rows)

def options(p):
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--m", type=int, default=1)

BENCH = Benchmark("toy", "Toy benchmark",
                  [Scenario("bad", bad), Scenario("good", good), Scenario("crash", crash, "own"),
                   Scenario("check", check)],
                  render, add_arguments=options, quick={"m": 5})
if __name__ == "__main__":
    sys.exit(BENCH.main())
"""


def test_children_run_per_backend_and_failures_are_reported(tmp_path):
    script = tmp_path / "toy.py"
    script.write_text(textwrap.dedent(SCRIPT))
    out = tmp_path / "toy.md"
    out.write_text("# old page\n\n<!-- notes -->\nA hand-written reading.\n")
    backend = keras.backend.backend()
    p = subprocess.run([sys.executable, str(script), "--backends", backend, "--n", "7", "--quick",
                        "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr[-2000:]  # a failed child makes the run fail
    page = out.read_text()
    assert page.startswith("# Toy benchmark\n")
    assert f"Made by `python benchmarks/toy.py --backends {backend} --n 7 --quick`" in page
    assert "Load average" in page
    # the child saw KERAS_BACKEND, the options and what --quick sets
    assert f"| {backend} | {backend} | 7 | 5 |" in page
    assert f"{backend}, bad: failed" in page and "ValueError: boom in the child" in page
    assert f"{backend}, crash: failed" in page and "exit status 3" in page
    assert f"{backend}, check: FAILED check: x differs" in page  # a failed check fails the run too
    assert "old page" not in page and page.endswith("<!-- notes -->\nA hand-written reading.\n")


def test_unet_variant_carries_the_resampling_plan():
    kw = dict(image_size=16, base_width=8, attention=False)
    net = B.unet("D-1N", impl="dense", **kw)
    plans = {layer.impl for layer in net.layers if hasattr(layer, "impl")}
    assert plans == {"dense"}
    assert net.count_params() == B.unet("D-1N", **kw).count_params()


def test_bench_verb_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--rounds" in out and "--quick" in out and "--baseline" in out
