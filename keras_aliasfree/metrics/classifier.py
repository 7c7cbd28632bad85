"""A small CNN classifier used as an offline feature extractor (penultimate layer = features).

No ImageNet InceptionV3 weights can be obtained offline, so FD/KID/IS can also be computed with a
classifier trained on the real data (``keras-aliasfree train-classifier``). Absolute values from
different extractors are not comparable; only differences between models measured with the *same*
extractor are.
"""

from __future__ import annotations

FEATURES_LAYER = "features"
LOGITS_LAYER = "logits"


def build_classifier(image_size=32, channels=1, num_classes=10, width=16, feature_dim=128,
                     dropout=0.3):
    """Build the small classifier: 4 conv layers, global average pooling, a ``features`` dense
    layer (the embedding FD/KID use), ``logits`` and a softmax output (IS probabilities).

    Inputs are images in [-1, 1], ``(N, image_size, image_size, channels)``.

    Example:
        >>> m = build_classifier(32, 1)
        >>> m.output_shape, m.get_layer("features").units
        ((None, 10), 128)
    """
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, channels), name="images")
    x = inputs
    for i, filters in enumerate((width, width, 2 * width, 2 * width)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        if i % 2 == 1:
            x = layers.MaxPooling2D(2, name=f"pool{i // 2}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(feature_dim, activation="relu", name=FEATURES_LAYER)(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(num_classes, name=LOGITS_LAYER)(x)
    probs = layers.Activation("softmax", name="probs", dtype="float32")(logits)
    return keras.Model(inputs, probs, name="feature_classifier")


def load_real_images(dataset, split="train", image_size=32, channels=None, limit=None,
                     data_dir=None, with_labels=True):
    """Real images in [-1, 1] NHWC float32 and int labels (``keras_aliasfree.data.load_numpy``:
    MNIST, CIFAR-10, MNIST-M, paths, tfds).

    Example:
        >>> # x, y = load_real_images("mnist", "test", limit=100)   # needs the MNIST files
    """
    from keras_aliasfree.data import load_numpy

    return load_numpy(dataset, split=split, image_size=image_size, channels=channels,
                      limit=limit, data_dir=data_dir, with_labels=with_labels)
