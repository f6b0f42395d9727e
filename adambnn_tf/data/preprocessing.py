"""Per-example preprocessing: normalization and seeded (stateless) augmentation."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

__all__ = ["augment_batch", "normalize", "resize_if_needed"]


def normalize(image: tf.Tensor, mean: Sequence[float], std: Sequence[float]) -> tf.Tensor:
    """Scales `uint8` pixels to [0, 1], then standardizes each channel.

    # Arguments
        image: an `(H, W, C)` image or a `(B, H, W, C)` batch with values in [0, 255].
        mean: the per-channel mean of the dataset in [0, 1] units.
        std: the per-channel standard deviation in [0, 1] units.

    # Returns
        A `float32` image with roughly zero mean and unit variance per channel.
    """
    image = tf.cast(image, tf.float32) / 255.0
    return (image - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def resize_if_needed(image: tf.Tensor, image_size: int | None) -> tf.Tensor:
    """Resizes an image or a batch to `image_size` squared (bilinear), or leaves it."""
    if image_size is None:
        return image
    return tf.image.resize(image, (image_size, image_size), method="bilinear")


def augment_batch(images: tf.Tensor, seed: tf.Tensor, padding: int) -> tf.Tensor:
    """Random crop after zero padding, then a random horizontal flip, per image of a batch.

    The whole batch is transformed with a few gathers rather than image by image (faster on
    CPU: `bench/RESULTS.md`, section "Data pipeline throughput"). Stateless ops make the result
    a function of `seed`, so a resumed
    training sees the same augmented images as an uninterrupted one.

    # Arguments
        images: a `(B, H, W, C)` `float32` batch (already normalized, so zero padding is the
            mean).
        seed: an `int64` tensor of shape `(2,)`.
        padding: pixels of zero padding on each side before cropping back to `(H, W)`.

    # Returns
        The augmented batch, of the same shape.
    """
    offset_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    offsets = tf.random.stateless_uniform(
        [batch, 2], seed=offset_seed, minval=0, maxval=2 * padding + 1, dtype=tf.int32
    )
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    rows = offsets[:, :1] + tf.range(height)[None, :]
    columns = offsets[:, 1:] + tf.range(width)[None, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    cropped = tf.gather(cropped, columns, axis=2, batch_dims=1)
    flip = tf.random.stateless_uniform([batch], seed=flip_seed) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(cropped, axis=[2]), cropped)
