"""The ``keras-aliasfree`` command.

Each verb lives in its own module under ``keras_aliasfree/commands/`` and exposes
``register(subparsers)``, which adds an ``argparse`` sub-parser and sets ``func`` on it.
Modules import Keras/TensorFlow lazily inside their ``run`` functions so that
``keras-aliasfree --help`` and ``--version`` answer at once.

Example:
    $ keras-aliasfree --version
"""

from __future__ import annotations

import argparse
import importlib
import sys

from keras_aliasfree.version import __version__

# verb modules, in the order `--help` lists them; each defines register(subparsers)
_COMMAND_MODULES = [
    "keras_aliasfree.commands.filters",
    "keras_aliasfree.commands.bench",
    "keras_aliasfree.commands.train_classifier",
    "keras_aliasfree.commands.evaluate",
    "keras_aliasfree.commands.datasets",
    "keras_aliasfree.commands.train",
    "keras_aliasfree.commands.sample",
    "keras_aliasfree.commands.export",
    "keras_aliasfree.commands.demo",
    "keras_aliasfree.commands.presets",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-aliasfree",
        description="Alias-free diffusion models for Keras 3: train, sample (with rotation), "
        "evaluate, export, demo, bench; presets lists the pretrained models.",
    )
    parser.add_argument("--version", action="version", version=f"keras-aliasfree {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # e.g. to say how to resume
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
