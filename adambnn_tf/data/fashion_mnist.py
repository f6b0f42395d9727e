"""Fashion-MNIST from local IDX files, so that the default dataset needs no download."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from adambnn_tf.data.idx import read_idx

__all__ = [
    "FASHION_MNIST_DIR_ENV",
    "DEFAULT_FASHION_MNIST_DIRS",
    "FashionMnistNotFoundError",
    "find_fashion_mnist_dir",
    "load_fashion_mnist_arrays",
]

FASHION_MNIST_DIR_ENV = "ADAMBNN_FASHION_MNIST_DIR"
"""Environment variable naming a folder with the four Fashion-MNIST IDX files."""

DEFAULT_FASHION_MNIST_DIRS: tuple[str, ...] = ("/usr/share/datasets/fashion-mnist",)
"""Where Debian's `dataset-fashion-mnist` package installs the files."""

NUM_CLASSES = 10

_FILE_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class FashionMnistNotFoundError(FileNotFoundError):
    """The Fashion-MNIST IDX files are not in any of the folders looked at."""


def _find_file(directory: str, stem: str) -> str | None:
    for name in (stem + ".gz", stem):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def _has_all_files(directory: str) -> bool:
    stems = [stem for pair in _FILE_STEMS.values() for stem in pair]
    return all(_find_file(directory, stem) for stem in stems)


def find_fashion_mnist_dir(data_dir: str | os.PathLike | None = None) -> str:
    """Finds the folder holding the Fashion-MNIST IDX files.

    The folders are tried in this order: `data_dir` (if given, the only one tried), the folder
    named by the environment variable `ADAMBNN_FASHION_MNIST_DIR`, then
    `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist`). Each file may be
    gzipped (`train-images-idx3-ubyte.gz`) or plain (`train-images-idx3-ubyte`).

    # Arguments
        data_dir: a folder to use instead of the environment variable and the default.

    # Returns
        The folder.

    # Raises
        FashionMnistNotFoundError: when no folder holds all four files; the message lists the
            folders looked at and how to install the files.
    """
    if data_dir is not None:
        candidates: Sequence[str] = [os.fspath(data_dir)]
    else:
        from_env = os.environ.get(FASHION_MNIST_DIR_ENV)
        candidates = [from_env] if from_env else []
        candidates = [*candidates, *DEFAULT_FASHION_MNIST_DIRS]
    for directory in candidates:
        if _has_all_files(directory):
            return directory
    wanted = ", ".join(f"{stem}[.gz]" for pair in _FILE_STEMS.values() for stem in pair)
    raise FashionMnistNotFoundError(
        f"Fashion-MNIST IDX files ({wanted}) not found in: {', '.join(candidates)}. "
        "Install them with `apt-get install dataset-fashion-mnist` (they go to "
        f"{DEFAULT_FASHION_MNIST_DIRS[0]}), or put the four files in a folder and name it with "
        f"the environment variable {FASHION_MNIST_DIR_ENV} or the data_dir option."
    )


def load_fashion_mnist_arrays(
    split: str, data_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Loads one Fashion-MNIST split from local IDX files.

    # Arguments
        split: `"train"` (60,000 images) or `"test"` (10,000 images).
        data_dir: the folder with the files (see `find_fashion_mnist_dir` for the default).

    # Returns
        `(images, labels)`: `uint8` images of shape `(N, 28, 28)` and `int64` labels of shape
        `(N,)`.

    # Raises
        ValueError: for an unknown split, a damaged file, labels outside 0..9, or images and
            labels that disagree in number (the message names the file).
        FashionMnistNotFoundError: when the files are missing.

    !!! example
        ```python
        images, labels = load_fashion_mnist_arrays("test")
        ```
    """
    if split not in _FILE_STEMS:
        raise ValueError(
            f"Unknown Fashion-MNIST split {split!r}; use one of {sorted(_FILE_STEMS)}."
        )
    directory = find_fashion_mnist_dir(data_dir)
    image_stem, label_stem = _FILE_STEMS[split]
    images = read_idx(_find_file(directory, image_stem))
    label_file = _find_file(directory, label_stem)
    labels = read_idx(label_file).astype(np.int64)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"Fashion-MNIST files in {directory} disagree: images {images.shape}, labels "
            f"{labels.shape}; expected (N, 28, 28) and (N,)."
        )
    # A label past the last class would only fail deep inside the loss, after training began.
    outside = labels[(labels < 0) | (labels >= NUM_CLASSES)]
    if outside.size:
        raise ValueError(
            f"{label_file} holds labels outside 0..{NUM_CLASSES - 1} ({outside.size} of them, "
            f"e.g. {sorted(set(outside.tolist()))[:5]}): Fashion-MNIST has {NUM_CLASSES} "
            "classes (the file is damaged or of another dataset)."
        )
    return images, labels
