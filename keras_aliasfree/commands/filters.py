"""``keras-aliasfree filters``: design a filter and print what it does.

Example:
    $ keras-aliasfree filters --preset paper --beta 2
"""

from __future__ import annotations


def register(subparsers):
    p = subparsers.add_parser("filters", help="print a resampling filter's figures (DC gain, ripple, "
                              "stopband, constant-image response)",
                              description="Design the low-pass kernel the layers would use and print "
                              "its DC gain, passband ripple, stopband attenuation and what x-factor "
                              "upsampling does to an image of ones.")
    p.add_argument("--factor", type=int, default=2)
    p.add_argument("--preset", choices=["default", "paper"], default="default")
    p.add_argument("--kernel-size", type=int, default=None)
    p.add_argument("--cutoff", type=float, default=None, help="radians/sample (pi = Nyquist)")
    p.add_argument("--beta", type=float, default=None, help="Kaiser window parameter")
    p.add_argument("--window", choices=["radial", "separable"], default=None)
    p.add_argument("--no-normalize", action="store_true", help="do not scale the kernel to sum 1")
    p.add_argument("--show-kernel", action="store_true")
    p.add_argument("--stack", type=int, default=22,
                   help="passes to compound the filtered-activation passband over (default 22: "
                        "the filtered GELUs of a D UNet's conv blocks)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import numpy as np

    from keras_aliasfree import filters

    try:
        kernel = filters.design_filter(args.factor, kernel_size=args.kernel_size, cutoff=args.cutoff,
                                       beta=args.beta, normalize=not args.no_normalize,
                                       preset=args.preset, window=args.window)
    except (TypeError, ValueError) as e:
        print(f"keras-aliasfree filters: {e}")
        return 2
    print(f"{kernel.shape[0]}x{kernel.shape[1]} kernel, preset {args.preset}")
    print(filters.filter_summary(kernel, args.factor))
    from keras_aliasfree.analysis import PASSBAND_FREQS, filtered_activation_passband

    gains = filtered_activation_passband(kernel.astype("float32"), args.factor)
    cells = ", ".join(f"{f:.1f}pi {g:+.2f} dB ({args.stack} passes: {args.stack * g:+.1f} dB)"
                      for f, g in zip(PASSBAND_FREQS, gains))
    print(f"one filtered activation with the identity (= round trip up x{args.factor}, down): "
          f"{cells}; ideal 0 dB")
    if args.show_kernel:
        print(np.array2string(kernel, precision=5, suppress_small=True))
    return 0
