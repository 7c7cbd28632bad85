"""``keras-aliasfree bench``: time the alias-free ops against plain GELU, bilinear upsampling,
max pooling and the naive zero-insertion algorithm on this machine, per installed backend.

Example:
    $ keras-aliasfree bench --backend jax --rounds 3
"""


def register(subparsers):
    from keras_aliasfree import bench

    p = subparsers.add_parser("bench", help="time the alias-free ops on this machine (ratios per backend)",
                              description=bench.__doc__.split("\n\n")[0])
    bench.add_arguments(p)
    p.set_defaults(func=lambda args: bench.run(args))
    return p
