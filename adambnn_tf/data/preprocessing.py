"""Per-example preprocessing: normalization and seeded (stateless) augmentation."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

__all__ = ["normalize", "augment_small_image", "resize_if_needed"]


def normalize(image: tf.Tensor, mean: Sequence[float], std: Sequence[float]) -> tf.Tensor:
    """Scales `uint8` pixels to [0, 1], then standardizes each channel.

    # Arguments
        image: an `(H, W, C)` image with values in [0, 255].
        mean: the per-channel mean of the dataset in [0, 1] units.
        std: the per-channel standard deviation in [0, 1] units.

    # Returns
        A `float32` image with roughly zero mean and unit variance per channel.
    """
    image = tf.cast(image, tf.float32) / 255.0
    return (image - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def resize_if_needed(image: tf.Tensor, image_size: int | None) -> tf.Tensor:
    """Resizes an `(H, W, C)` image to `image_size` squared (bilinear), or leaves it."""
    if image_size is None:
        return image
    return tf.image.resize(image, (image_size, image_size), method="bilinear")


def augment_small_image(image: tf.Tensor, seed: tf.Tensor, padding: int) -> tf.Tensor:
    """Random crop after zero padding, then a random horizontal flip (CIFAR style).

    Stateless ops make the augmentation a function of `seed`, so a resumed training sees the
    same augmented images as an uninterrupted one.

    # Arguments
        image: an `(H, W, C)` `float32` image (already normalized, so zero padding is the mean).
        seed: an `int64` tensor of shape `(2,)`.
        padding: pixels of zero padding on each side before cropping back to `(H, W)`.

    # Returns
        The augmented image, of the same shape.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    shape = tf.shape(image)
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    cropped = tf.image.stateless_random_crop(padded, size=shape, seed=crop_seed)
    return tf.image.stateless_random_flip_left_right(cropped, seed=flip_seed)
