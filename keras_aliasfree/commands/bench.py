"""``keras-aliasfree bench``: time the alias-free ops against plain GELU, bilinear upsampling,
max pooling and the reference algorithm on this machine, per installed backend.

Example:
    $ keras-aliasfree bench --backends jax --rounds 3
"""


def register(subparsers):
    import sys

    from keras_aliasfree import bench

    p = subparsers.add_parser("bench", help="time the alias-free ops on this machine (ratios per backend)",
                              description=bench.__doc__.split("\n\n")[0])
    bench.BENCHMARK.parser(p)
    p.set_defaults(func=lambda args: bench.BENCHMARK.run(
        args, sys.argv[2:] if sys.argv[1:2] == ["bench"] else ()))
    return p
