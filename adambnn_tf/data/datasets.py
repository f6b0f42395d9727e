"""`load_dataset`: named datasets (tfds or local files) and image folders as batched tf.data."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from adambnn_tf.config.choices import IMAGENET_PIPELINES
from adambnn_tf.data import imagenet_pipeline as official
from adambnn_tf.data import preprocessing
from adambnn_tf.data.fashion_mnist import FashionMnistNotFoundError, load_fashion_mnist_arrays
from adambnn_tf.data.holdout import stratified_holdout
from adambnn_tf.data.seeds import epoch_seed

__all__ = [
    "KNOWN_DATASETS",
    "IMAGE_FOLDER",
    "DatasetSpec",
    "LoadedDataset",
    "UnknownDatasetError",
    "DatasetNotPreparedError",
    "load_dataset",
]

IMAGE_FOLDER = "image_folder"
"""The dataset name for a user's own folders: `data_dir/<split>/<label>/<image>`."""


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What the loader needs to know about a named dataset.

    # Arguments
        tfds_name: the tensorflow-datasets name.
        num_classes: the number of labels.
        image_shape: `(H, W, C)` of the stored images (`None` where sizes vary).
        mean: per-channel mean in [0, 1] units (small images only).
        std: per-channel standard deviation in [0, 1] units (small images only).
        crop_padding: zero padding for the random-crop augmentation (small images only).
        imagenet_style: ImageNet-style JPEG bytes of any size, preprocessed one at a time by
            the pipeline `load_dataset`'s `imagenet_pipeline` names.
    """

    tfds_name: str
    num_classes: int
    image_shape: tuple[int, int, int] | None
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    crop_padding: int = 0
    imagenet_style: bool = False


KNOWN_DATASETS: dict[str, DatasetSpec] = {
    "fashion_mnist": DatasetSpec("fashion_mnist", 10, (28, 28, 1), (0.2860,), (0.3530,), 2),
    "mnist": DatasetSpec("mnist", 10, (28, 28, 1), (0.1307,), (0.3081,), 2),
    "cifar10": DatasetSpec(
        "cifar10", 10, (32, 32, 3), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 4
    ),
    "cifar100": DatasetSpec(
        "cifar100", 100, (32, 32, 3), (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 4
    ),
    "imagenet2012": DatasetSpec("imagenet2012", 1000, None, imagenet_style=True),
}
"""The dataset names `load_dataset` knows, besides `"image_folder"`."""

_IMAGENET_SIZE = 224
_DEFAULT_SHUFFLE_BUFFER = 10_000
VALIDATION_SPLIT = "validation"
_SHUFFLE_GRAPH_SEED = 87654321  # TensorFlow's own default graph seed
_LOCAL_FASHION_MNIST = "local Fashion-MNIST IDX files"


class UnknownDatasetError(ValueError):
    """The dataset name is not one `load_dataset` knows."""


class DatasetNotPreparedError(FileNotFoundError):
    """The dataset is not on disk and `load_dataset` was not allowed to fetch it."""


@dataclasses.dataclass(frozen=True)
class LoadedDataset:
    """A batched `tf.data.Dataset` of `(image, label)` with what a model and `fit` need.

    # Arguments
        dataset: batches of `float32` images `(B, *input_shape)` and `int64` labels `(B,)`.
        name: the dataset name.
        split: the split name.
        num_classes: the number of labels.
        input_shape: the shape of one preprocessed image, e.g. `(28, 28, 1)`.
        num_examples: the number of examples in the split.
        batch_size: the batch size.
        steps_per_epoch: batches per epoch (pass it to `fit` when `repeat=True`).
        source: where the data came from, in words.
    """

    dataset: tf.data.Dataset
    name: str
    split: str
    num_classes: int
    input_shape: tuple[int, ...]
    num_examples: int
    batch_size: int
    steps_per_epoch: int
    source: str


def _check_name(name: str) -> None:
    if name != IMAGE_FOLDER and name not in KNOWN_DATASETS:
        known = ", ".join([*sorted(KNOWN_DATASETS), IMAGE_FOLDER])
        raise UnknownDatasetError(f"Unknown dataset {name!r}. Known datasets: {known}.")


def _tfds_is_prepared(builder: tfds.core.DatasetBuilder) -> bool:
    return tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json"))


def _tfds_source(
    spec: DatasetSpec,
    split: str,
    data_dir: str | None,
    download: bool,
    manual_dir: str | None,
) -> tuple[tf.data.Dataset, int, str]:
    builder = tfds.builder(spec.tfds_name, data_dir=data_dir)
    if not _tfds_is_prepared(builder):
        if not download:
            # The command line cannot download: say how to prepare the dataset by hand.
            how = (
                "download the ImageNet archives by hand into a folder ARCHIVES, run "
                f"`tfds build {spec.tfds_name} --manual_dir=ARCHIVES --data_dir=DIR`"
                if spec.imagenet_style
                else f"on a machine with internet access run `tfds build {spec.tfds_name} "
                "--data_dir=DIR` (copy DIR here if needed)"
            )
            raise DatasetNotPreparedError(
                f"{spec.tfds_name} is not prepared in {builder.data_dir} ({how}, then give DIR "
                "as --data-dir, or data_dir from Python, where load_dataset(download=True) "
                "also fetches it)"
            )
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
        )
    decoders = {"image": tfds.decode.SkipDecoding()} if spec.imagenet_style else None
    dataset = builder.as_dataset(
        split=split, as_supervised=True, shuffle_files=False, decoders=decoders
    )
    return dataset, _count(dataset, builder, split), f"tfds {spec.tfds_name} in {builder.data_dir}"


def _count(dataset: tf.data.Dataset, builder: tfds.core.DatasetBuilder, split: str) -> int:
    cardinality = int(dataset.cardinality())
    if cardinality >= 0:
        return cardinality
    return int(builder.info.splits[split].num_examples)


def _fashion_mnist_source(
    split: str, data_dir: str | None, download: bool
) -> tuple[tf.data.Dataset | tuple[np.ndarray, np.ndarray], int, str]:
    # A tfds-prepared copy wins when data_dir holds one; otherwise the local IDX files.
    spec = KNOWN_DATASETS["fashion_mnist"]
    if data_dir is not None and _tfds_is_prepared(tfds.builder("fashion_mnist", data_dir=data_dir)):
        return _tfds_source(spec, split, data_dir, download=False, manual_dir=None)
    try:
        images, labels = load_fashion_mnist_arrays(split, data_dir)
    except FashionMnistNotFoundError:
        if download:
            return _tfds_source(spec, split, data_dir, download=True, manual_dir=None)
        raise
    return (images[..., None], labels), len(labels), _LOCAL_FASHION_MNIST


def _carve_validation(
    examples, split: str, count: int, source: str
) -> tuple[tuple[np.ndarray, np.ndarray], int, str]:
    """The training split without its held-out validation examples, or those examples."""
    if not isinstance(examples, tuple):
        raise ValueError(
            "validation_examples carves a validation split from a training set held in memory "
            "(the local Fashion-MNIST files); for a tfds dataset or image folders, use their own "
            "validation split (split='validation') and validation_examples=0."
        )
    images, labels = examples
    held_out = stratified_holdout(labels, count)
    keep = held_out if split == VALIDATION_SPLIT else ~held_out
    described = f"{source}, {split}: {int(keep.sum())} of the training images"
    return (images[keep], labels[keep]), int(keep.sum()), described


def _image_folder_source(split: str, data_dir: str | None) -> tuple[tf.data.Dataset, int, int, str]:
    layout = "data_dir/<split>/<class>/<image>, e.g. train/cat/1.jpg and test/cat/2.jpg"
    if data_dir is None or not os.path.isdir(data_dir):
        raise DatasetNotPreparedError(
            f"image_folder needs data_dir to be a folder laid out as {layout}; got {data_dir!r}."
        )
    builder = tfds.folder_dataset.ImageFolder(data_dir)
    if split not in builder.info.splits:
        if not builder.info.splits:
            found = sorted(
                name for name in os.listdir(data_dir) if os.path.isdir(os.path.join(data_dir, name))
            )
            raise DatasetNotPreparedError(
                f"{data_dir} holds no split folder: image_folder needs train/ and test/ split "
                f"folders with one folder per class inside ({layout}); its sub-folders are: "
                f"{', '.join(found) or 'none'}."
            )
        raise DatasetNotPreparedError(
            f"Split {split!r} not found in {data_dir}; its sub-folders are: "
            f"{', '.join(sorted(builder.info.splits))}."
        )
    classes = builder.info.features["label"].names
    if len(classes) < 2:
        # One class trains to a meaningless 100% accuracy.
        raise ValueError(
            f"image_folder {data_dir} has {len(classes)} class folder ({', '.join(classes)}); a "
            f"classifier needs at least 2: one folder per class in each split ({layout})."
        )
    examples = builder.info.splits[split].num_examples
    if not examples:
        raise DatasetNotPreparedError(
            f"{os.path.join(data_dir, split)} holds no images (.jpg, .jpeg or .png files in its "
            "class folders)."
        )
    raw = builder.as_dataset(
        split=split, shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()}
    )
    dataset = raw.map(_decode_folder_image, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset, examples, len(classes), f"image folders in {data_dir}"


# The first bytes of the formats tf.io.decode_image reads.
_IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def _decode_folder_image(example: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
    """Decodes one folder image as tfds would (RGB `uint8`), failing with the file's name.

    TensorFlow's decoder says only "Unknown image file format" for a file that is no image,
    without naming it; checking the format's signature first lets the error name the file.
    """
    encoded = example["image"]
    known = tf.reduce_any(
        [
            tf.equal(tf.strings.substr(encoded, 0, len(signature)), signature)
            for signature in _IMAGE_SIGNATURES
        ]
    )
    check = tf.debugging.Assert(
        known,
        ["image_folder: not a JPEG, PNG, GIF or BMP image:", example["image/filename"]],
    )
    with tf.control_dependencies([check]):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape((None, None, 3))
    return image, example["label"]


def _preprocessor(
    spec: DatasetSpec | None,
    image_size: int | None,
    augment: bool,
    imagenet_pipeline: str,
    lighting: float,
) -> tuple[Callable[[tf.Tensor, tf.Tensor], tf.Tensor], tuple[int, ...]]:
    """Returns `preprocess(image, seed) -> image` for ImageNet JPEGs or folder images (any
    size), and the preprocessed shape."""
    size = image_size or _IMAGENET_SIZE
    if imagenet_pipeline == "official":
        # tfds ImageNet yields the JPEG bytes (decoding is skipped); image folders, pixels.
        decode = official.decode_image if spec is not None else tf.identity

        def preprocess_official(image, seed):
            image = decode(image)
            if augment:
                return official.official_train_preprocess(
                    image, seed, image_size=size, lighting=lighting
                )
            return official.official_eval_preprocess(image, image_size=size)

        return preprocess_official, (size, size, 3)

    # larq-zoo's ImageNet helpers; imported late because larq_zoo pulls in Larq's layers.
    from larq_zoo.training import data as zoo_data

    if spec is None:  # a user's image folders: larq-zoo's center crop, resize and normalization

        def preprocess_folder(image, seed):
            image = zoo_data.preprocess_image_tensor(image, image_size=size)
            return tf.image.stateless_random_flip_left_right(image, seed) if augment else image

        return preprocess_folder, (size, size, 3)

    # ImageNet's JPEG bytes, exactly as larq-zoo trains ImageNet.
    def preprocess_imagenet(image_bytes, seed):
        del seed  # larq-zoo's random crops are stateful ops
        return zoo_data.preprocess_image_bytes(image_bytes, is_training=augment, image_size=size)

    return preprocess_imagenet, (size, size, 3)


def _batch_preprocessor(
    spec: DatasetSpec, image_size: int | None, augment: bool, crop_padding: int | None = None
) -> tuple[Callable[[tf.Tensor, tf.Tensor], tf.Tensor], tuple[int, ...]]:
    """Returns `preprocess(batch, seed) -> batch` for small fixed-size images, and its shape."""
    height, _, channels = spec.image_shape
    out_shape = (image_size, image_size, channels) if image_size else spec.image_shape
    if crop_padding is None:
        crop_padding = spec.crop_padding
    padding = crop_padding * (image_size or height) // height

    def preprocess_small(images, seed):
        images = preprocessing.normalize(images, spec.mean, spec.std)
        images = preprocessing.resize_if_needed(images, image_size)
        return preprocessing.augment_batch(images, seed, padding) if augment else images

    return preprocess_small, out_shape


def load_dataset(
    name: str,
    split: str,
    *,
    batch_size: int,
    data_dir: str | os.PathLike | None = None,
    image_size: int | None = None,
    augment: bool = False,
    shuffle: bool | None = None,
    repeat: bool | None = None,
    seed: int = 0,
    initial_epoch: int = 0,
    drop_remainder: bool | None = None,
    shuffle_buffer: int = _DEFAULT_SHUFFLE_BUFFER,
    download: bool = False,
    manual_dir: str | os.PathLike | None = None,
    imagenet_pipeline: str = "larq_zoo",
    lighting: float = 0.1,
    validation_examples: int = 0,
    crop_padding: int | None = None,
) -> LoadedDataset:
    """Loads a split of a dataset as batches of preprocessed `(image, label)`.

    Sources, by name:

    - `"fashion_mnist"` (the default of the recipe): a tfds-prepared copy when `data_dir` holds
      one, else the local IDX files (`data_dir`, else `$ADAMBNN_FASHION_MNIST_DIR`, else
      `/usr/share/datasets/fashion-mnist` from Debian's `dataset-fashion-mnist`). Needs no
      download.
    - `"mnist"`, `"cifar10"`, `"cifar100"`: tensorflow-datasets, prepared in `data_dir`.
    - `"imagenet2012"`: tensorflow-datasets with the archives in `manual_dir`.
    - `"image_folder"`: `tfds.folder_dataset.ImageFolder` over `data_dir/<split>/<label>/*`.

    Small images are standardized with the dataset's per-channel mean and standard deviation;
    `augment=True` adds a random crop after zero padding and a random horizontal flip.

    ImageNet-style sources (`"imagenet2012"` and `"image_folder"`) come out
    `image_size` x `image_size` (224 by default), preprocessed by the `imagenet_pipeline`
    named (`adambnn_tf.config.choices.IMAGENET_PIPELINES`):

    - `"larq_zoo"` (the default): larq-zoo's helpers. ImageNet as larq-zoo trains it (random
      crop and flip for training, center crop for evaluation, ImageNet mean and standard
      deviation); image folders center-cropped and normalized, with a random flip when
      `augment`.
    - `"official"`: the official AdamBNN code's torchvision pipelines
      (`adambnn_tf.data.imagenet_pipeline`). With `augment=True`,
      `RandomResizedCrop(224, scale=(0.08, 1))` -> `Lighting(lighting)` ->
      `RandomHorizontalFlip()` -> mean/std; otherwise the validation pipeline,
      `Resize(256)` -> `CenterCrop(224)` -> mean/std. Another `image_size` replaces 224,
      and 256 by `round(image_size * 256 / 224)`.

    The order is reproducible: epoch `e` is shuffled with a seed derived from `(seed, e)` and
    the augmentation uses stateless ops seeded by `(seed, e, batch or image position)`, so
    that a training resumed at `initial_epoch=e` sees exactly the batches an uninterrupted
    one would. (ImageNet's larq-zoo random crops are not seeded; the official pipeline's
    are.)

    # Arguments
        name: one of `KNOWN_DATASETS` or `"image_folder"`.
        split: the split, e.g. `"train"`, `"test"`, `"validation"`, or a tfds slice such as
            `"train[:10%]"` for tfds sources.
        batch_size: the global batch size.
        data_dir: tfds's data directory, the Fashion-MNIST IDX folder, or the image-folder root.
        image_size: resize images to this square size (default: the stored size; 224 for
            ImageNet and image folders).
        augment: apply training augmentation.
        shuffle: shuffle each epoch (default: for `"train"` splits and slices of them).
        repeat: yield epochs `initial_epoch, initial_epoch + 1, ...` forever, each a whole
            number of batches; pass `steps_per_epoch` to `fit` (default: same as `shuffle`).
            Without it the dataset is one pass, epoch `initial_epoch`.
        seed: the seed of the data order and augmentation.
        initial_epoch: the first epoch to yield (for resuming).
        drop_remainder: drop the last partial batch of each epoch (default: same as `repeat`).
        shuffle_buffer: the shuffle buffer for tfds and folder sources (in-memory arrays, such
            as the local Fashion-MNIST files, shuffle exactly).
        download: let tensorflow-datasets download and prepare a dataset that is missing.
        manual_dir: tfds's manual directory (ImageNet archives).
        imagenet_pipeline: the preprocessing of ImageNet-style sources, `"larq_zoo"` or
            `"official"` (small-image datasets ignore it).
        lighting: the strength (standard deviation) of the official pipeline's PCA lighting
            noise in training, 0.1 in the official code; 0 turns it off. Only the official
            pipeline with `augment=True` uses it.
        validation_examples: when above 0, a fixed class-stratified validation split of this
            many images is carved from the training set (`adambnn_tf.data.holdout`): split
            `"train"` is then the rest, and split `"validation"` the held-out images, so that
            choices are made without the test split (in-memory datasets only, e.g. the local
            Fashion-MNIST files).
        crop_padding: the zero padding of the random crop of `augment` on small images
            (`None`: the dataset's, e.g. 2 pixels for Fashion-MNIST; 0: no crop, the random
            flip only).

    # Returns
        A `LoadedDataset`: the batched `dataset` with `num_classes`, `input_shape`,
        `num_examples` and `steps_per_epoch`.

    # Raises
        UnknownDatasetError: for a name not in `KNOWN_DATASETS` (the message lists them).
        FashionMnistNotFoundError: when the Fashion-MNIST files are missing (the message says
            where it looked and how to install them).
        DatasetNotPreparedError: when a tfds dataset is not prepared and `download` is off, or
            an image folder or split is missing.
        ValueError: for a batch size below 1 or larger than the split with `drop_remainder`,
            an `imagenet_pipeline` not in `IMAGENET_PIPELINES` (the message lists them) or a
            negative `lighting`.

    !!! example
        ```python
        train = load_dataset("fashion_mnist", "train", batch_size=128, augment=True, seed=1)
        test = load_dataset("fashion_mnist", "test", batch_size=256)
        model.fit(
            train.dataset, epochs=10, steps_per_epoch=train.steps_per_epoch,
            validation_data=test.dataset,
        )
        # The official AdamBNN ImageNet preprocessing on a folder of ImageNet-style images:
        train = load_dataset(
            "image_folder", "train", batch_size=256, data_dir="/data/imagenet", augment=True,
            imagenet_pipeline="official",
        )
        ```
    """
    _check_name(name)
    if imagenet_pipeline not in IMAGENET_PIPELINES:
        raise ValueError(
            f"Unknown imagenet_pipeline {imagenet_pipeline!r}; choose one of "
            f"{', '.join(IMAGENET_PIPELINES)}."
        )
    if lighting < 0:
        raise ValueError(f"lighting is a standard deviation, at least 0; got {lighting}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    data_dir = os.fspath(data_dir) if data_dir is not None else None
    manual_dir = os.fspath(manual_dir) if manual_dir is not None else None
    shuffle = split.startswith("train") if shuffle is None else shuffle
    repeat = shuffle if repeat is None else repeat
    drop_remainder = repeat if drop_remainder is None else drop_remainder

    carved = validation_examples > 0 and split in ("train", VALIDATION_SPLIT)
    source_split = "train" if carved else split
    if name == IMAGE_FOLDER:
        spec = None
        examples, num_examples, num_classes, source = _image_folder_source(source_split, data_dir)
    else:
        spec = KNOWN_DATASETS[name]
        num_classes = spec.num_classes
        if name == "fashion_mnist":
            examples, num_examples, source = _fashion_mnist_source(source_split, data_dir, download)
        else:
            examples, num_examples, source = _tfds_source(
                spec, source_split, data_dir, download, manual_dir
            )
    if carved:
        examples, num_examples, source = _carve_validation(
            examples, split, validation_examples, source
        )
    if drop_remainder and batch_size > num_examples:
        raise ValueError(
            f"batch_size {batch_size} exceeds the {num_examples} examples of {name} {split!r}, "
            "so dropping the partial batch would leave nothing."
        )
    # Fixed-size small images are preprocessed a batch at a time (fast); JPEGs and folder
    # images of any size one at a time, before batching.
    per_batch = spec is not None and not spec.imagenet_style
    if per_batch:
        preprocess, input_shape = _batch_preprocessor(spec, image_size, augment, crop_padding)
    else:
        preprocess, input_shape = _preprocessor(
            spec, image_size, augment, imagenet_pipeline, lighting
        )
    if isinstance(examples, tuple):
        images, labels = (tf.constant(array) for array in examples)
    buffer = min(num_examples, shuffle_buffer)

    def one_epoch(epoch: tf.Tensor) -> tf.data.Dataset:
        this_epoch_seed = epoch_seed(tf.cast(seed, tf.int64), epoch)
        if isinstance(examples, tuple):
            # In memory: an exact shuffle of the indices, then whole batches gathered at once.
            order = tf.range(num_examples, dtype=tf.int64)
            if shuffle:
                shuffle_seed = tf.stack([tf.cast(seed, tf.int64), epoch])
                order = tf.random.experimental.stateless_shuffle(order, seed=shuffle_seed)
            raw = (
                tf.data.Dataset.from_tensor_slices(order)
                .batch(batch_size, drop_remainder=drop_remainder)
                .map(lambda index: (tf.gather(images, index), tf.gather(labels, index)))
            )
        else:
            ordered = examples
            if shuffle:
                # The graph-level half of the shuffle's seed pair, fixed inside this dataset
                # function: the order then depends on (seed, epoch) only, not on whether a
                # global seed was set before; and a global seed of 0 would otherwise make
                # TensorFlow test the tensor op seed as a Python bool (an error in graph mode).
                tf.random.set_seed(_SHUFFLE_GRAPH_SEED)
                ordered = ordered.shuffle(
                    buffer, seed=this_epoch_seed, reshuffle_each_iteration=False
                )
            if not per_batch:

                def prepare_one(position, example):
                    image, label = example
                    image_seed = tf.stack([this_epoch_seed, position])
                    return preprocess(image, image_seed), tf.cast(label, tf.int64)

                prepared = ordered.enumerate().map(prepare_one, num_parallel_calls=tf.data.AUTOTUNE)
                return prepared.batch(batch_size, drop_remainder=drop_remainder)
            raw = ordered.batch(batch_size, drop_remainder=drop_remainder)

        def prepare_batch(position, batch):
            batch_images, batch_labels = batch
            batch_seed = tf.stack([this_epoch_seed, position])
            return preprocess(batch_images, batch_seed), tf.cast(batch_labels, tf.int64)

        return raw.enumerate().map(prepare_batch, num_parallel_calls=tf.data.AUTOTUNE)

    epochs = tf.data.Dataset.range(initial_epoch, initial_epoch + 1)
    if repeat:
        epochs = tf.data.Dataset.range(initial_epoch, 2**62)
    dataset = epochs.flat_map(one_epoch).prefetch(tf.data.AUTOTUNE)
    steps = num_examples // batch_size if drop_remainder else math.ceil(num_examples / batch_size)
    return LoadedDataset(
        dataset=dataset,
        name=name,
        split=split,
        num_classes=num_classes,
        input_shape=tuple(input_shape),
        num_examples=num_examples,
        batch_size=batch_size,
        steps_per_epoch=steps,
        source=source,
    )
