"""Speed of the alias-free ops vs their plain counterparts on every backend: the scenarios of
``keras-aliasfree bench`` (keras_aliasfree/bench.py), writing docs/benchmarks/ops.md.

Usage:
    python benchmarks/ops.py             # every installed backend
    python benchmarks/ops.py --quick     # a smoke run
"""

import dataclasses
import sys

from keras_aliasfree import bench

if __name__ == "__main__":
    sys.exit(dataclasses.replace(bench.BENCHMARK, command="python benchmarks/ops.py",
                                 write=True).main())
