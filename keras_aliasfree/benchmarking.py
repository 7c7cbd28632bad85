"""The one benchmark harness: a benchmark is a list of :class:`Scenario` run per backend.

:class:`Benchmark` runs every scenario of every backend in a child process with ``KERAS_BACKEND``
set (Keras fixes its backend at import; scenarios with the same ``process`` key share one child),
reads back the child's one result line (:func:`result_line` / :func:`parse_result`), and hands
``{backend: {scenario: result}}`` to the benchmark's ``render``. The Markdown it returns goes
under a header naming the command, the machine and its load average (:func:`machine_header`) to
``docs/benchmarks/<name>.md`` (:func:`write_page`; hand-written notes below a ``<!-- notes -->``
line are kept). A scenario that raises, or a child that dies or times out, is reported in the
page (with the error or the tail of its stderr) and the other scenarios still run. A scenario
whose result is a dict with a non-empty ``"failed"`` list (checks it made that did not hold) is
listed too and is still rendered. Either makes the command exit with status 1.

Every benchmark takes ``--backends``, ``--only`` (scenarios), ``--quick`` (a smoke run: the
option values of ``Benchmark(quick=...)`` and, where the scenarios read ``args.quick``, tiny
shapes), ``--timeout`` and ``--out``. The timing helpers (:func:`value_and_grad`,
:func:`time_grads`, :func:`interleave`, :func:`median_time`, :func:`step_stamps`) are what the
scenarios measure with. This module imports no framework itself; the scenarios import what they
time.

Example:
    >>> parse_result("noise\\n" + result_line({"jax": {"ms": 1.5}}))
    {'jax': {'ms': 1.5}}
    >>> print(md_table(["op", "ms"], [["gelu", "1.50"]]))
    | op | ms |
    |---|---:|
    | gelu | 1.50 |
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

RESULT = "BENCH_RESULT "
_ARGS_ENV = "KERAS_ALIASFREE_BENCH_ARGS"
_CHILD = "--bench-child"
#: the repository (or site-packages) directory holding the package: children import this copy
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DOCS = PACKAGE_ROOT / "docs" / "benchmarks"
BACKENDS = ("tensorflow", "jax", "torch")


class BenchmarkError(RuntimeError):
    """A child process failed, timed out or printed no result line."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One measurement: ``run(args)`` returns a JSON-able result, in a child process.

    Args:
        name: key of the result.
        run: called in the child with the parsed arguments (``args.quick`` etc.).
        process: scenarios with the same key share one child per backend (default ``"main"``);
            give a scenario its own key when it needs a fresh process (peak memory, devices).
        backends: run only on these backends (empty: every backend asked for).

    A result dict with a non-empty ``"failed"`` list of messages reports checks that did not
    hold: the page lists them, the figures are rendered, the command exits with status 1.
    """

    name: str
    run: Callable[[argparse.Namespace], Any]
    process: str = "main"
    backends: tuple = ()


def result_line(obj) -> str:
    """The line a child prints to report ``obj`` (JSON after :data:`RESULT`)."""
    return RESULT + json.dumps(obj, default=float)


def parse_result(stdout: str):
    """The object of the last result line in ``stdout``; :class:`BenchmarkError` when none."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT)]
    if not lines:
        raise BenchmarkError("no result line")
    return json.loads(lines[-1][len(RESULT):])


def installed_backends() -> tuple:
    """The Keras backends whose framework is importable here."""
    return tuple(b for b in BACKENDS if importlib.util.find_spec(b) is not None)


def progress(message: str) -> None:
    """Print ``[backend] message`` to stderr (a child's progress; the parent passes it on)."""
    print(f"[{os.environ.get('KERAS_BACKEND', '?')}] {message}", file=sys.stderr, flush=True)


def run_child(cmd, backend: str, timeout: float | None = None, env: dict | None = None):
    """Run ``cmd`` with ``KERAS_BACKEND=backend`` and this package first on ``PYTHONPATH``.

    Returns the object of its result line; raises :class:`BenchmarkError` with the exit status
    and the tail of its stderr when it fails, times out or prints none.
    """
    path = os.pathsep.join(p for p in (str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": path, **(env or {})}
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"timed out after {timeout:.0f} s") from None
    sys.stderr.write("".join(ln + "\n" for ln in p.stderr.splitlines() if ln.startswith("[")))
    try:
        return parse_result(p.stdout)
    except BenchmarkError:
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-12:])
        raise BenchmarkError(f"exit status {p.returncode}, no result line:\n{tail}") from None


def load_average() -> tuple:
    """The 1-, 5- and 15-minute load averages (NaN where the system has none)."""
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def machine_header(command: str, started: str, wall_s: float, loads: dict) -> str:
    """The paragraph every page opens with: command, machine, run time, load per backend."""
    load = "; ".join(f"{b} {a:.1f} → {z:.1f}" for b, (a, z) in loads.items())
    return (f"Made by `{command}` on {started} UTC, {platform.machine()} with {os.cpu_count()} "
            f"CPU cores, Python {platform.python_version()}, {wall_s / 60:.1f} min. Load average "
            f"(1 min) before → after each backend's children: {load or 'n/a'}. Each backend runs in its own "
            "process; ratios are measured side by side in one process, absolute times are context "
            "(the machine may be shared).")


def md_table(header, rows, left: int = 1) -> str:
    """A Markdown table; the first ``left`` columns left-aligned, the others right-aligned."""
    align = ["---"] * left + ["---:"] * (len(header) - left)
    return "\n".join(["| " + " | ".join(map(str, header)) + " |", "|" + "|".join(align) + "|"]
                     + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


NOTES = "<!-- notes -->"


def write_page(path, text: str) -> None:
    """Write ``text`` to ``path``, keeping what the old page had below a ``<!-- notes -->`` line
    (hand-written reading of the figures survives a rerun)."""
    path = Path(path)
    old = path.read_text() if path.exists() else ""
    if NOTES in old:
        text = text.rstrip() + "\n\n" + NOTES + old.split(NOTES, 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def succeeded(results: dict, scenario: str) -> dict:
    """``{backend: result}`` of the backends where ``scenario`` ran and did not fail."""
    return {b: r[scenario] for b, r in results.items()
            if scenario in r and not (isinstance(r[scenario], dict) and "error" in r[scenario])}


# ------------------------------------------------------------------------------ timing helpers

def median_time(fn, repeats: int, warmup: int = 2) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def interleave(fns: dict, rounds: int, args=(), inner: int = 1, warmup: int = 2,
               budget: float | None = None, rotate: bool = False) -> dict:
    """Seconds per call of each function, ``{name: [one per round]}``, timed in interleaved
    rounds so that machine noise hits all alike; ``rotate`` starts each round one later;
    ``budget`` (s) stops after the round that passes it (at least two rounds)."""
    for f in fns.values():
        for _ in range(warmup):
            f(*args)
    samples, order, t0 = {k: [] for k in fns}, list(fns), time.perf_counter()
    for i in range(rounds):
        shift = i % len(order) if rotate else 0
        for k in order[shift:] + order[:shift]:
            t = time.perf_counter()
            for _ in range(inner):
                fns[k](*args)
            samples[k].append((time.perf_counter() - t) / inner)
        if budget is not None and i >= 1 and time.perf_counter() - t0 > budget:
            break
    return samples


def medians(samples: dict) -> dict:
    """``{name: median}`` of :func:`interleave`'s samples."""
    return {k: statistics.median(v) for k, v in samples.items()}


def value_and_grad(fn):
    """``x -> (sum(fn(x)**2), d/dx)``, compiled as training compiles: ``tf.function(jit_compile=
    True)`` on TensorFlow, ``jax.jit`` on JAX, eager on PyTorch; returns when the work is done."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(fn(x) ** 2)
            return y, tape.gradient(y, x)

        return lambda x: [t.numpy() for t in step(x)]
    if backend == "jax":
        import jax

        g = jax.jit(jax.value_and_grad(lambda x: (fn(x) ** 2).sum()))
        return lambda x: jax.block_until_ready(g(x))

    def torch_step(x):
        x = x.detach().requires_grad_(True)
        y = (fn(x) ** 2).sum()
        y.backward()
        return y.item(), x.grad

    return torch_step


def time_grads(fns: dict, x, rounds: int, inner: int = 1) -> dict:
    """Median seconds of :func:`value_and_grad` of each function at ``x``, interleaved."""
    return medians(interleave({k: value_and_grad(f) for k, f in fns.items()}, rounds, (x,), inner))


def step_stamps():
    """``(callback, stamps)``: a Keras callback appending ``time.perf_counter()`` to ``stamps``
    after every training batch, once its loss is read back (asynchronous backends have finished
    the step). Step times are ``np.diff(stamps)``."""
    import keras

    stamps = []

    class _Stamp(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float(keras.ops.convert_to_numpy(logs["loss"]))
            stamps.append(time.perf_counter())

    return _Stamp(), stamps


def unet(config, impl: str = "auto", replace=None, **build_args):
    """``build_unet(config, **build_args)`` with every alias-free layer's resampling ``impl``.

    ``impl`` goes into the UNet's ``filters`` (:class:`~keras_aliasfree.FilterSpec`).
    ``replace`` (``layer -> layer or None``) swaps layers: the built UNet is then cloned
    (``keras.models.clone_model``: a functional ``keras.Model`` with fresh weights, for timing).
    """
    import keras

    from keras_aliasfree.filter_spec import FilterSpec
    from keras_aliasfree.unet import build_unet

    filters = FilterSpec.from_config(build_args.pop("filters", None)).replace(impl=impl)
    net = build_unet(config, filters=filters, **build_args)
    if replace is None:
        return net

    def clone(layer):
        new = replace(layer)
        return new if new is not None else type(layer).from_config(layer.get_config())

    return keras.models.clone_model(net, clone_function=clone)


# ----------------------------------------------------------------------------------- the runner

@dataclasses.dataclass
class Benchmark:
    """A benchmark: scenarios, a page, and the command line that runs them.

    Args:
        name: the page is ``docs/benchmarks/<name>.md``.
        title: the page's heading.
        scenarios: a list of :class:`Scenario`, or ``args -> list`` when the options decide.
        render: ``(results, args) -> Markdown`` of ``{backend: {scenario: result}}`` (a failed
            child's scenarios hold ``{"error": ...}``; :func:`succeeded` skips them).
        add_arguments: ``parser -> None``, the benchmark's own options.
        command: how the page names the command (default ``python benchmarks/<name>.py``).
        write: write the page by default (``--out -`` prints only; the CLI's verb prints only).
        backends: default backends (default: every installed one).
        quick: option values ``--quick`` sets (fewer repeats, smaller inputs), before the
            scenarios are listed and the children start; scenarios may also read ``args.quick``.
    """

    name: str
    title: str
    scenarios: Any
    render: Callable
    add_arguments: Callable | None = None
    command: str | None = None
    write: bool = True
    backends: tuple | None = None
    quick: dict | None = None

    def parser(self, parser=None):
        p = parser or argparse.ArgumentParser(description=self.title)
        p.add_argument("--backends", nargs="+", default=None,
                       help="backends to run (default: every installed one; commas also split)")
        p.add_argument("--only", default=None, help="comma list of scenarios to run (default: all)")
        p.add_argument("--quick", action="store_true",
                       help="smoke run: tiny shapes, one or two repeats (proves it runs end to end)")
        p.add_argument("--timeout", type=float, default=3600, help="seconds per child process")
        p.add_argument("--out", default=None,
                       help=f"page to write ('-': print only; default docs/benchmarks/{self.name}.md"
                            + ("" if self.write else ", when given") + ")")
        if self.add_arguments:
            self.add_arguments(p)
        return p

    def main(self, argv=None) -> int:
        argv = sys.argv[1:] if argv is None else list(argv)
        if argv[:1] == [_CHILD]:
            return self._child(argv[1])
        return self.run(self.parser().parse_args(argv), argv)

    def _scenarios(self, args):
        found = self.scenarios(args) if callable(self.scenarios) else list(self.scenarios)
        only = set(args.only.split(",")) if args.only else None
        return [s for s in found if only is None or s.name in only]

    def _child(self, process) -> int:
        args = argparse.Namespace(**json.loads(os.environ[_ARGS_ENV]))
        backend, out = os.environ.get("KERAS_BACKEND"), {}
        for s in self._scenarios(args):
            if s.process == process and (not s.backends or backend in s.backends):
                try:
                    out[s.name] = s.run(args)
                except Exception:  # reported in the page; the process's other scenarios go on
                    lines = traceback.format_exc().strip().splitlines()
                    print("\n".join(lines), file=sys.stderr, flush=True)
                    out[s.name] = {"error": "\n".join(lines[-8:])}
        print(result_line(out), flush=True)
        return 0

    def _child_cmd(self):
        module = self.render.__module__
        if module == "__main__":
            return [sys.executable, str(Path(sys.modules["__main__"].__file__).resolve())]
        return [sys.executable, "-m", module]

    def run(self, args, argv=()) -> int:
        """Run every scenario's child per backend, render, print and write the page."""
        backends = [b for a in (args.backends or self.backends or installed_backends())
                    for b in a.split(",") if b]
        if args.quick:
            for key, value in (self.quick or {}).items():
                setattr(args, key, value)
        scenarios = self._scenarios(args)
        out = args.out or (str(DOCS / f"{self.name}.md") if self.write else "-")
        shown = [a for i, a in enumerate(argv)  # the command line without --out PATH
                 if a != "--out" and argv[i - 1:i] != ["--out"] and not a.startswith("--out=")]
        command = " ".join([self.command or f"python benchmarks/{self.name}.py", *shown])
        env = {_ARGS_ENV: json.dumps(vars(args), default=str)}
        started, t0 = time.strftime("%Y-%m-%d %H:%M", time.gmtime()), time.perf_counter()
        results, loads, failures, text, drawn = {}, {}, [], "", True
        for backend in backends:
            res = results.setdefault(backend, {})
            before = load_average()[0]
            for process in dict.fromkeys(s.process for s in scenarios
                                         if not s.backends or backend in s.backends):
                names = [s.name for s in scenarios if s.process == process]
                print(f"== {backend} {process}: {', '.join(names)}", file=sys.stderr, flush=True)
                try:
                    got = run_child(self._child_cmd() + [_CHILD, process], backend, args.timeout,
                                    env)
                except BenchmarkError as e:
                    got = {n: {"error": str(e)} for n in names}
                res.update(got)
                for n, r in got.items():
                    if isinstance(r, dict) and "error" in r:
                        failures.append(f"{backend}, {n}: failed:\n\n```\n{r['error']}\n```")
                        print(f"{backend} {n} failed: {r['error']}", file=sys.stderr, flush=True)
                    elif isinstance(r, dict) and r.get("failed"):
                        checks = "; ".join(map(str, r["failed"]))
                        failures.append(f"{backend}, {n}: FAILED check: {checks}")
                        print(f"{backend} {n} FAILED check: {checks}", file=sys.stderr, flush=True)
            loads[backend] = (before, load_average()[0])
            try:
                body, drawn = self.render(results, args).strip(), True
            except Exception as e:  # keep the measurements when the page cannot be drawn
                body, drawn = (f"Rendering failed ({e!r}); the results:\n\n```json\n"
                               + json.dumps(results, indent=1, default=str) + "\n```"), False
            text = "\n\n".join([f"# {self.title}",
                                machine_header(command, started, time.perf_counter() - t0, loads),
                                *failures, body]) + "\n"
            if out != "-":  # after every backend: a cut-off run keeps what it measured
                write_page(out, text)
        print(text)
        if out != "-":
            print(f"wrote {out}", file=sys.stderr)
        return 1 if failures or not drawn else 0


__all__ = ["Benchmark", "BenchmarkError", "RESULT", "Scenario", "installed_backends",
           "interleave", "load_average", "machine_header", "md_table", "median_time", "medians",
           "parse_result", "progress", "result_line", "run_child", "step_stamps", "succeeded",
           "time_grads", "unet", "value_and_grad", "write_page"]
