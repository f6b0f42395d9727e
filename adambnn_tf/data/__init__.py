"""Data pipelines: named datasets (tfds or local files) and image folders, as batched tf.data.

!!! example
    ```python
    from adambnn_tf.data import load_dataset

    train = load_dataset("fashion_mnist", "train", batch_size=128, augment=True, seed=0)
    print(train.num_classes, train.input_shape, train.steps_per_epoch)

    # ImageNet-style folders with the official AdamBNN preprocessing:
    imagenet = load_dataset(
        "image_folder", "train", batch_size=256, data_dir="/data/imagenet", augment=True,
        imagenet_pipeline="official",
    )
    ```
"""

from adambnn_tf.data.datasets import (
    IMAGE_FOLDER,
    KNOWN_DATASETS,
    DatasetNotPreparedError,
    DatasetSpec,
    LoadedDataset,
    UnknownDatasetError,
    load_dataset,
)
from adambnn_tf.data.fashion_mnist import (
    FASHION_MNIST_DIR_ENV,
    FashionMnistNotFoundError,
    find_fashion_mnist_dir,
    load_fashion_mnist_arrays,
)
from adambnn_tf.data.idx import read_idx
from adambnn_tf.data.imagenet_pipeline import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    official_eval_preprocess,
    official_train_preprocess,
    random_resized_crop_box,
)

__all__ = [
    "IMAGE_FOLDER",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KNOWN_DATASETS",
    "FASHION_MNIST_DIR_ENV",
    "DatasetNotPreparedError",
    "DatasetSpec",
    "FashionMnistNotFoundError",
    "LoadedDataset",
    "UnknownDatasetError",
    "find_fashion_mnist_dir",
    "load_dataset",
    "load_fashion_mnist_arrays",
    "official_eval_preprocess",
    "official_train_preprocess",
    "random_resized_crop_box",
    "read_idx",
]
