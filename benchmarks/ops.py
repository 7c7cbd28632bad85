"""Speed of the alias-free ops vs their plain counterparts on every backend (see keras_aliasfree/bench.py).

Usage:
    python benchmarks/ops.py          # writes docs/benchmarks/ops.md
"""

import os
import sys

from keras_aliasfree import bench

if __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.exit(bench.main(sys.argv[1:] or ["--out", os.path.join(root, "docs", "benchmarks", "ops.md")]))
