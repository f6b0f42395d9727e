"""The official AdamBNN ImageNet preprocessing, in TensorFlow with stateless random ops.

The official training code (torchvision on PIL images) trains on
`RandomResizedCrop(224, scale=(0.08, 1)) -> Lighting(0.1) -> RandomHorizontalFlip() ->
ToTensor() -> Normalize(mean, std)` and validates on
`Resize(256) -> CenterCrop(224) -> ToTensor() -> Normalize(mean, std)`. This module
rebuilds both pipelines. Every random draw comes from a stateless op seeded by the image's
seed, so a resumed training sees the same images as an uninterrupted one.

The images stay `uint8` between steps, as PIL images do. Resizing is antialiased bilinear,
like PIL's, and rounds back to `uint8`; it matches PIL to within one grey level (PIL rounds
between its horizontal and vertical passes). Lighting adds its offset in 0-255 space, clips
and truncates back to `uint8`, as the official code does.

!!! example
    ```python
    import tensorflow as tf
    from adambnn_tf.data import imagenet_pipeline

    image = tf.io.decode_jpeg(tf.io.read_file("cat.jpg"), channels=3)
    train = imagenet_pipeline.official_train_preprocess(image, seed=tf.constant([0, 7]))
    val = imagenet_pipeline.official_eval_preprocess(image)
    print(train.shape, val.shape)  # (224, 224, 3) (224, 224, 3)
    ```
"""

from __future__ import annotations

import math

import tensorflow as tf

from adambnn_tf.data.preprocessing import normalize

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PCA_EIGVAL",
    "PCA_EIGVEC",
    "apply_lighting",
    "center_crop",
    "decode_image",
    "lighting_offset",
    "official_eval_preprocess",
    "official_train_preprocess",
    "random_lighting",
    "random_resized_crop_box",
    "resize_shorter_side",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""The per-channel mean of `Normalize` in the official code, in [0, 1] units."""

IMAGENET_STD = (0.229, 0.224, 0.225)
"""The per-channel standard deviation of `Normalize` in the official code, in [0, 1] units."""

PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
"""The eigenvalues of ImageNet's RGB covariance (AlexNet's PCA lighting), as in the official
`utils.py`."""

PCA_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)
"""The eigenvectors of ImageNet's RGB covariance, one per column (row: the channel R, G, B),
as in the official `utils.py`."""

_EVAL_RESIZE_RATIO = 256 / 224  # Resize(256) before CenterCrop(224)


def decode_image(image_bytes: tf.Tensor) -> tf.Tensor:
    """Decodes encoded image bytes (JPEG, PNG, ...) to an RGB `uint8` image.

    # Arguments
        image_bytes: a scalar `tf.string` tensor.

    # Returns
        A `uint8` image of shape `(H, W, 3)` (grey images are repeated over the channels, as
        PIL's `convert("RGB")` does in torchvision's loader).
    """
    return tf.io.decode_image(image_bytes, channels=3, expand_animations=False)


def _to_uint8(image: tf.Tensor) -> tf.Tensor:
    # PIL returns uint8 pixels after a resize, rounded; Lighting then sees those pixels.
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def _resize_uint8(image: tf.Tensor, size: tuple[tf.Tensor | int, tf.Tensor | int]) -> tf.Tensor:
    # Antialiased bilinear is PIL's BILINEAR filter: the triangle kernel widens when shrinking.
    return _to_uint8(tf.image.resize(image, size, method="bilinear", antialias=True))


def random_resized_crop_box(
    height: tf.Tensor | int,
    width: tf.Tensor | int,
    seed: tf.Tensor,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    attempts: int = 10,
) -> tf.Tensor:
    """Samples the crop box of torchvision's `RandomResizedCrop`, statelessly.

    Each of `attempts` tries draws an area share uniformly in `scale` and an aspect ratio
    (width / height) log-uniformly in `ratio`, and rounds the crop's width and height to
    whole pixels. The first try that fits in the image wins, at a uniform random position.
    When none fits, the fallback is torchvision's: the whole image, or where its aspect is
    outside `ratio`, the largest centered crop at the nearest bound of `ratio`.

    # Arguments
        height: the image height.
        width: the image width.
        seed: an integer tensor of shape `(2,)`.
        scale: the range of the crop's share of the image area.
        ratio: the range of the crop's aspect ratio, width / height.
        attempts: how many tries before the fallback (torchvision: 10).

    # Returns
        An `int32` tensor `[top, left, crop_height, crop_width]`.

    !!! example
        ```python
        top, left, h, w = random_resized_crop_box(300, 400, seed=tf.constant([1, 2]))
        ```
    """
    height = tf.convert_to_tensor(height, tf.int32)
    width = tf.convert_to_tensor(width, tf.int32)
    area_seed, ratio_seed, top_seed, left_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=4)
    )
    float_height, float_width = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    # All tries are drawn at once, which keeps the op graph small; only the first fit counts.
    target_area = (float_height * float_width) * tf.random.stateless_uniform(
        [attempts], area_seed, minval=scale[0], maxval=scale[1], dtype=tf.float64
    )
    aspect = tf.exp(
        tf.random.stateless_uniform(
            [attempts],
            ratio_seed,
            minval=math.log(ratio[0]),
            maxval=math.log(ratio[1]),
            dtype=tf.float64,
        )
    )
    # tf.round rounds halves to even, as Python's round() in torchvision does.
    widths = tf.cast(tf.round(tf.sqrt(target_area * aspect)), tf.int32)
    heights = tf.cast(tf.round(tf.sqrt(target_area / aspect)), tf.int32)
    fits = (widths > 0) & (widths <= width) & (heights > 0) & (heights <= height)
    first = tf.reduce_min(tf.where(fits, tf.range(attempts), attempts))
    found = first < attempts
    index = tf.minimum(first, attempts - 1)

    image_ratio = float_width / float_height
    fallback_width = tf.where(
        image_ratio > ratio[1], tf.cast(tf.round(float_height * ratio[1]), tf.int32), width
    )
    fallback_height = tf.where(
        image_ratio < ratio[0], tf.cast(tf.round(float_width / ratio[0]), tf.int32), height
    )
    crop_height = tf.where(found, heights[index], fallback_height)
    crop_width = tf.where(found, widths[index], fallback_width)
    top = tf.where(
        found,
        tf.random.stateless_uniform(
            [], top_seed, minval=0, maxval=height - crop_height + 1, dtype=tf.int32
        ),
        (height - crop_height) // 2,
    )
    left = tf.where(
        found,
        tf.random.stateless_uniform(
            [], left_seed, minval=0, maxval=width - crop_width + 1, dtype=tf.int32
        ),
        (width - crop_width) // 2,
    )
    return tf.stack([top, left, crop_height, crop_width])


def lighting_offset(alpha: tf.Tensor) -> tf.Tensor:
    """The per-channel offset of AlexNet's PCA lighting: `eigvec @ (alpha * eigval)`.

    # Arguments
        alpha: the three random weights of the principal components, shape `(3,)`.

    # Returns
        A `float32` tensor of shape `(3,)`: what is added to the R, G and B values, in the
        units of the image (the official code adds it to 0-255 pixels).
    """
    alpha = tf.convert_to_tensor(alpha, tf.float32)
    eigval = tf.constant(PCA_EIGVAL, tf.float32)
    return tf.linalg.matvec(tf.constant(PCA_EIGVEC, tf.float32), alpha * eigval)


def apply_lighting(image: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """Adds the lighting offset of `alpha` to a `uint8` image as the official `Lighting` does.

    The offset is added in 0-255 space, the sum is clipped to [0, 255] and cast back to
    `uint8`, which truncates: an offset in (-1, 0) lowers a pixel by one grey level and one in
    [0, 1) leaves it (the eigenvalues are for [0, 1] pixels, so offsets are that small).

    # Arguments
        image: a `uint8` image `(H, W, 3)`.
        alpha: the weights of the principal components, shape `(3,)`.

    # Returns
        The `uint8` image with the lighting change.
    """
    shifted = tf.cast(image, tf.float32) + lighting_offset(alpha)
    return tf.cast(tf.clip_by_value(shifted, 0.0, 255.0), tf.uint8)  # the cast truncates


def random_lighting(image: tf.Tensor, strength: float, seed: tf.Tensor) -> tf.Tensor:
    """The official `Lighting(strength)`: `apply_lighting` with `alpha ~ N(0, strength^2)`.

    # Arguments
        image: a `uint8` image `(H, W, 3)`.
        strength: the standard deviation of `alpha` (official: 0.1); 0 returns `image`.
        seed: an integer tensor of shape `(2,)`.

    # Returns
        The `uint8` image with a random lighting change.
    """
    if strength == 0:  # the official code returns the image untouched, uint8 cast included
        return image
    alpha = strength * tf.random.stateless_normal([3], seed, dtype=tf.float32)
    return apply_lighting(image, alpha)


def resize_shorter_side(image: tf.Tensor, size: int) -> tf.Tensor:
    """torchvision's `Resize(size)`: the shorter side to `size`, the aspect kept.

    The longer side becomes `int(size * long / short)` (truncated, as torchvision does), and
    an image whose shorter side already is `size` is returned as it is.

    # Arguments
        image: a `uint8` image `(H, W, C)`.
        size: the new length of the shorter side.

    # Returns
        The resized `uint8` image (bilinear, antialiased, rounded to whole grey levels).
    """
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    new_height = tf.where(width < height, size * height // width, size)
    new_width = tf.where(width < height, size, size * width // height)
    return tf.cond(
        tf.minimum(height, width) == size,
        lambda: image,
        lambda: _resize_uint8(image, (new_height, new_width)),
    )


def center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """torchvision's `CenterCrop(size)`: offsets `round((H - size) / 2)` and likewise for `W`.

    # Arguments
        image: an image `(H, W, C)` at least `size` high and wide.
        size: the side of the square crop.

    # Returns
        The `(size, size, C)` crop.
    """
    shape = tf.shape(image)
    # Python's round() halves to even, as does tf.round: an odd margin of 117 puts 58 on top.
    top = tf.cast(tf.round(tf.cast(shape[0] - size, tf.float64) / 2), tf.int32)
    left = tf.cast(tf.round(tf.cast(shape[1] - size, tf.float64) / 2), tf.int32)
    return tf.slice(image, tf.stack([top, left, 0]), tf.stack([size, size, shape[2]]))


def official_train_preprocess(
    image: tf.Tensor, seed: tf.Tensor, *, image_size: int = 224, lighting: float = 0.1
) -> tf.Tensor:
    """The official training pipeline: random-resized crop, lighting, flip, mean/std.

    `RandomResizedCrop(image_size, scale=(0.08, 1))` -> `Lighting(lighting)` ->
    `RandomHorizontalFlip()` -> `ToTensor()` -> `Normalize(IMAGENET_MEAN, IMAGENET_STD)`.
    The crop, the lighting and the flip draw from three seeds split off `seed`, so turning
    lighting off leaves the crops and flips as they were.

    # Arguments
        image: a decoded `uint8` RGB image `(H, W, 3)` of any size.
        seed: an integer tensor of shape `(2,)`; the same seed gives the same result.
        image_size: the side of the square output.
        lighting: the strength of the PCA lighting noise (official: 0.1); 0 turns it off.

    # Returns
        A `float32` image `(image_size, image_size, 3)`, standardized per channel.
    """
    crop_seed, lighting_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=3)
    )
    shape = tf.shape(image)
    box = random_resized_crop_box(shape[0], shape[1], crop_seed)
    crop = tf.slice(image, tf.stack([box[0], box[1], 0]), tf.stack([box[2], box[3], 3]))
    image = _resize_uint8(crop, (image_size, image_size))
    image = random_lighting(image, lighting, lighting_seed)
    image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    image = normalize(image, IMAGENET_MEAN, IMAGENET_STD)
    return tf.ensure_shape(image, (image_size, image_size, 3))


def official_eval_preprocess(image: tf.Tensor, *, image_size: int = 224) -> tf.Tensor:
    """The official validation pipeline: shorter side to 256, center crop 224, mean/std.

    `Resize(resize)` -> `CenterCrop(image_size)` -> `ToTensor()` ->
    `Normalize(IMAGENET_MEAN, IMAGENET_STD)`, with `resize = round(image_size * 256 / 224)`
    (256 for the official 224).

    # Arguments
        image: a decoded `uint8` RGB image `(H, W, 3)` of any size.
        image_size: the side of the square output.

    # Returns
        A `float32` image `(image_size, image_size, 3)`, standardized per channel.
    """
    resize = round(image_size * _EVAL_RESIZE_RATIO)
    image = center_crop(resize_shorter_side(image, resize), image_size)
    image = normalize(image, IMAGENET_MEAN, IMAGENET_STD)
    return tf.ensure_shape(image, (image_size, image_size, 3))
