"""Real images for parity checks, shaped to a model's input.

A parity check on random inputs alone can miss errors that only real image statistics
expose (e.g. large flat regions at the border where padding matters). The images here come
from files on disk: the Fashion-MNIST test images (found as for training: a `data_dir`,
`$ADAMBNN_FASHION_MNIST_DIR`, then Debian's `dataset-fashion-mnist`), an IDX3 file, a
folder of image files, or a NumPy `.npz`/`.npy` array. They are resized to the model's
spatial size, their channels tiled to the model's channel count, and scaled to [-1, 1].
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from adambnn_tf.data.fashion_mnist import (
    FashionMnistNotFoundError,
    find_fashion_mnist_dir,
    load_fashion_mnist_arrays,
)
from adambnn_tf.data.idx import read_idx

__all__ = ["fashion_mnist_available", "load_images"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def fashion_mnist_available(data_dir: str | os.PathLike | None = None) -> bool:
    """Whether the Fashion-MNIST files are where `load_images("fashion-mnist")` looks.

    # Arguments
        data_dir: the Fashion-MNIST folder; by default `$ADAMBNN_FASHION_MNIST_DIR`, then
            Debian's (see `adambnn_tf.data.find_fashion_mnist_dir`).

    # Returns
        `True` when a folder holds all four IDX files.
    """
    try:
        find_fashion_mnist_dir(data_dir)
    except FashionMnistNotFoundError:
        return False
    return True


def _read_idx_images(path: str, count: int) -> np.ndarray:
    images = read_idx(path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{path} is not an IDX3 unsigned-byte image file: it holds {images.dtype} data of "
            f"shape {images.shape}, expected uint8 (N, rows, cols)."
        )
    return images[:count]


def _read_folder(folder: str, count: int) -> list[np.ndarray]:
    files = sorted(name for name in os.listdir(folder) if name.lower().endswith(_IMAGE_SUFFIXES))
    if not files:
        raise ValueError(
            f"No image files ({', '.join(_IMAGE_SUFFIXES)}) in {folder}; pass a folder of "
            "images, an .npz/.npy array or 'fashion-mnist'."
        )
    images = []
    for name in files[:count]:
        data = tf.io.read_file(os.path.join(folder, name))
        images.append(tf.io.decode_image(data, expand_animations=False).numpy())
    return images


def _read_array(path: str, count: int) -> np.ndarray:
    if path.endswith(".npy"):
        return np.load(path)[:count]
    with np.load(path) as archive:
        for key in ("images", "x", "x_test", "arr_0"):
            if key in archive:
                return archive[key][:count]
        return archive[archive.files[0]][:count]


def _fit(image: np.ndarray, height: int, width: int, channels: int) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] != channels:
        if channels % image.shape[-1]:
            raise ValueError(
                f"Cannot tile an image with {image.shape[-1]} channels to the model's "
                f"{channels} channels."
            )
        image = np.tile(image, (1, 1, channels // image.shape[-1]))
    return tf.image.resize(image, (height, width)).numpy()


def load_images(
    source: str | None,
    input_shape: tuple,
    count: int = 16,
    *,
    data_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Loads real images shaped and scaled for a model's input.

    !!! example
        ```python
        images = load_images("fashion-mnist", model.input_shape, count=8)  # (8, H, W, C)
        ```

    # Arguments
        source: `None` or `"fashion-mnist"` for the offline Fashion-MNIST test images, a
            folder of image files, an `.npz` (key `images`, `x`, `x_test` or the first
            array) or `.npy` file of `uint8` images in `[0, 255]`, or an IDX3 file.
        input_shape: the model's input shape, `(batch, height, width, channels)`.
        count: how many images to load (at most).
        data_dir: the Fashion-MNIST folder for `source` `None` or `"fashion-mnist"`; by
            default `$ADAMBNN_FASHION_MNIST_DIR`, then Debian's (see
            `adambnn_tf.data.find_fashion_mnist_dir`).

    # Returns
        A `float32` array `(N, height, width, channels)` with values in `[-1, 1]`.

    # Raises
        FileNotFoundError: if the source does not exist (for Fashion-MNIST, a
            `FashionMnistNotFoundError` that says where it looked).
        ValueError: for a source of an unknown kind or unusable images.
    """
    if len(input_shape) != 4 or any(size is None for size in input_shape[1:]):
        raise ValueError(
            f"Real-image parity needs an image model with a fixed (H, W, C) input, got "
            f"input shape {tuple(input_shape)}."
        )
    _, height, width, channels = input_shape
    if source in (None, "fashion-mnist"):
        test_images, _ = load_fashion_mnist_arrays("test", data_dir)
        raw = list(test_images[:count])
    elif not os.path.exists(source):
        raise FileNotFoundError(
            f"Parity images not found: {source}. Pass a folder of images, an .npz/.npy "
            "array, an IDX3 file or 'fashion-mnist'."
        )
    elif os.path.isdir(source):
        raw = _read_folder(source, count)
    elif source.endswith((".npz", ".npy")):
        raw = list(_read_array(source, count))
    elif "idx3" in os.path.basename(source):
        raw = list(_read_idx_images(source, count))
    else:
        raise ValueError(
            f"Unknown parity image source {source!r}: expected a folder, .npz, .npy, an IDX3 "
            "file or 'fashion-mnist'."
        )
    images = np.stack([_fit(image, height, width, channels) for image in raw])
    return images / 127.5 - 1.0
