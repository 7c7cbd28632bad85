"""What does the disc band limit cost the data itself?  FD / KID / IS of real MNIST test images,
as they are and low-passed to the disc the way ``DiffusionModel(band_limit="disc")`` trains on
them, against the training images the shipped model is evaluated against (the offline
MNIST-classifier features of ``keras-aliasfree evaluate``).

Usage:
    KERAS_ALIASFREE_DATA_DIR=../shared/data python scripts/band_limit_data_cost.py [--num 256]
"""

import argparse

import numpy as np

from keras_aliasfree.data import load_numpy
from keras_aliasfree.diffusion import DATA_TAPER
from keras_aliasfree.metrics import distances as D
from keras_aliasfree.metrics import extractors as E
from keras_aliasfree.metrics.evaluation import generative_scores
from keras_aliasfree.transforms import disc_lowpass

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--num", type=int, default=256, help="images on each side (default 256)")
args = p.parse_args()

ext = E.get_extractor("auto", verbose=False)
ref = E.reference_features("mnist", ext, count=args.num, image_size=32, channels=1, verbose=False)
test, _ = load_numpy("mnist", split="test", image_size=32, limit=args.num)
print(f"extractor: {ext.description}; {args.num} MNIST test images vs {args.num} training images")
print("| images | FD | KID x100 | IS |")
print("|---|---:|---:|---:|")
for name, x in (("as they are", test),
                ("low-passed to the disc (band_limit='disc')",
                 np.asarray(disc_lowpass(test, taper=DATA_TAPER)))):
    feats, probs = ext(np.clip(x, -1.0, 1.0), verbose=False)
    s = generative_scores(feats, probs, ref, kid_subsets=100, kid_subset_size=1000)
    print(f"| {name} | {s['fd']:.1f} | {100 * s['kid']:.1f} | {s['is']:.3f} |")
print(f"| (IS of the {args.num} training images) | | | {D.inception_score(ref['probs']):.3f} |")
