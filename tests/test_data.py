"""Data pipelines: local Fashion-MNIST IDX files, tfds (mocked), image folders, seeded order."""

import gzip
import struct

import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf import data
from adambnn_tf.data import fashion_mnist

STEMS = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def _write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def real_test_split():
    return data.load_fashion_mnist_arrays("test")


@pytest.fixture
def small_fashion_mnist_dir(tmp_path, real_test_split):
    """Slices of the real files: 96 'train' and 40 'test' examples."""
    images, labels = real_test_split
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", images[:96])
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels[:96])
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images[96:136])
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels[96:136])
    return tmp_path


def _collect(dataset, batches):
    images, labels = [], []
    for image, label in dataset.take(batches):
        images.append(image.numpy())
        labels.append(label.numpy())
    return np.concatenate(images), np.concatenate(labels)


def test_read_idx_round_trips_a_hand_written_file(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "x.gz", array)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "x.gz"), array)
    (tmp_path / "plain").write_bytes(struct.pack(">BBBBI", 0, 0, 0x0C, 1, 2) + b"\0\0\0\7\0\0\1\0")
    np.testing.assert_array_equal(data.read_idx(tmp_path / "plain"), [7, 256])


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"PK\3\4 not an idx file")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(struct.pack(">BBBBI", 0, 0, 0x08, 1, 5) + b"\1\2")
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(tmp_path / "short")


@pytest.mark.needs_fashion_mnist
def test_real_fashion_mnist_files_are_read(real_test_split):
    images, labels = real_test_split
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    # Fashion-MNIST's test split holds 1,000 images of each of its 10 classes.
    np.testing.assert_array_equal(np.bincount(labels), [1000] * 10)


def test_missing_files_say_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv(data.FASHION_MNIST_DIR_ENV, str(tmp_path / "nowhere"))
    monkeypatch.setattr(fashion_mnist, "DEFAULT_FASHION_MNIST_DIRS", (str(tmp_path / "empty"),))
    with pytest.raises(data.FashionMnistNotFoundError) as error:
        data.load_dataset("fashion_mnist", "test", batch_size=8)
    message = str(error.value)
    assert str(tmp_path / "nowhere") in message and str(tmp_path / "empty") in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert data.FASHION_MNIST_DIR_ENV in message


@pytest.mark.needs_fashion_mnist
def test_environment_variable_overrides_the_default(small_fashion_mnist_dir, monkeypatch):
    monkeypatch.setenv(data.FASHION_MNIST_DIR_ENV, str(small_fashion_mnist_dir))
    loaded = data.load_dataset("fashion_mnist", "test", batch_size=16)
    assert loaded.num_examples == 40 and loaded.steps_per_epoch == 3  # 16 + 16 + 8


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(data.UnknownDatasetError, match="cifar10.*fashion_mnist.*image_folder"):
        data.load_dataset("fashion-mnist-typo", "train", batch_size=8)


@pytest.mark.needs_fashion_mnist
def test_test_split_is_in_file_order_and_standardized(real_test_split):
    images, labels = real_test_split
    loaded = data.load_dataset("fashion_mnist", "test", batch_size=256)
    assert (loaded.num_classes, loaded.input_shape) == (10, (28, 28, 1))
    assert loaded.steps_per_epoch == 40 and loaded.source == "local Fashion-MNIST IDX files"
    batch_images, batch_labels = next(iter(loaded.dataset))
    np.testing.assert_array_equal(batch_labels, labels[:256])
    expected = (images[:256, :, :, None] / 255.0 - 0.2860) / 0.3530
    np.testing.assert_allclose(batch_images, expected, atol=1e-5)


@pytest.mark.needs_fashion_mnist
def test_image_size_resizes(small_fashion_mnist_dir):
    loaded = data.load_dataset(
        "fashion_mnist", "test", batch_size=8, data_dir=small_fashion_mnist_dir, image_size=32
    )
    assert loaded.input_shape == (32, 32, 1)
    assert next(iter(loaded.dataset))[0].shape == (8, 32, 32, 1)


@pytest.mark.needs_fashion_mnist
def test_seeded_order_is_reproducible_and_resumable(small_fashion_mnist_dir):
    def stream(seed, initial_epoch=0):
        return data.load_dataset(
            "fashion_mnist",
            "train",
            batch_size=32,
            data_dir=small_fashion_mnist_dir,
            augment=True,
            seed=seed,
            initial_epoch=initial_epoch,
        )

    loaded = stream(seed=3)
    assert loaded.steps_per_epoch == 3
    images, labels = _collect(loaded.dataset, 6)  # epochs 0 and 1
    again_images, again_labels = _collect(stream(seed=3).dataset, 6)
    np.testing.assert_array_equal(images, again_images)
    np.testing.assert_array_equal(labels, again_labels)
    # Each epoch is a permutation of the 96 examples, and the two epochs differ in order.
    _, original = data.load_fashion_mnist_arrays("train", small_fashion_mnist_dir)
    for epoch_labels in (labels[:96], labels[96:]):
        np.testing.assert_array_equal(np.sort(epoch_labels), np.sort(original))
    assert not np.array_equal(labels[:96], labels[96:])
    # Resuming at epoch 1 replays epoch 1 exactly, augmentation included.
    resumed_images, resumed_labels = _collect(stream(seed=3, initial_epoch=1).dataset, 3)
    np.testing.assert_array_equal(resumed_images, images[96:])
    np.testing.assert_array_equal(resumed_labels, labels[96:])
    # Another seed, another order.
    assert not np.array_equal(_collect(stream(seed=4).dataset, 3)[1], labels[:96])


@pytest.mark.needs_fashion_mnist
def test_augmentation_shifts_and_flips_but_keeps_content(small_fashion_mnist_dir):
    plain = data.load_dataset(
        "fashion_mnist", "test", batch_size=40, data_dir=small_fashion_mnist_dir
    )
    augmented = data.load_dataset(
        "fashion_mnist", "test", batch_size=40, data_dir=small_fashion_mnist_dir, augment=True
    )
    original = next(iter(plain.dataset))[0].numpy()
    changed = next(iter(augmented.dataset))[0].numpy()
    assert changed.shape == original.shape
    assert not np.allclose(changed, original)
    # A crop of the zero-padded image and a flip keep each pixel value of the 24x24 centre.
    for index in range(5):
        centre = original[index, 2:-2, 2:-2, 0]
        found = any(
            np.allclose(window[dy : dy + 24, dx : dx + 24], centre, atol=1e-6)
            for window in (changed[index, :, :, 0], changed[index, :, ::-1, 0])
            for dy in range(5)
            for dx in range(5)
        )
        assert found


@pytest.mark.needs_fashion_mnist
def test_augmentation_without_the_crop_only_flips(small_fashion_mnist_dir):
    options = dict(batch_size=40, data_dir=small_fashion_mnist_dir)
    original = next(iter(data.load_dataset("fashion_mnist", "test", **options).dataset))[0]
    flipped_only = data.load_dataset(
        "fashion_mnist", "test", augment=True, crop_padding=0, **options
    )
    changed = next(iter(flipped_only.dataset))[0].numpy()
    original = original.numpy()
    same = [np.array_equal(c, o) for c, o in zip(changed, original, strict=True)]
    mirrored = [np.array_equal(c, o[:, ::-1]) for c, o in zip(changed, original, strict=True)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True))
    assert 5 < sum(mirrored) < 35  # about half of the 40 are flipped


def test_tfds_dataset_not_prepared_is_a_clear_error(tmp_path):
    with pytest.raises(data.DatasetNotPreparedError, match="cifar10 is not prepared in"):
        data.load_dataset("cifar10", "train", batch_size=8, data_dir=tmp_path)


def test_tfds_named_datasets_through_mock_data():
    from tensorflow_datasets import testing as tfds_testing

    with tfds_testing.mock_data(num_examples=12):
        cifar = data.load_dataset("cifar10", "train", batch_size=4, download=True, augment=True)
        assert (cifar.num_classes, cifar.input_shape, cifar.steps_per_epoch) == (10, (32, 32, 3), 3)
        images, labels = next(iter(cifar.dataset))
        assert images.shape == (4, 32, 32, 3) and images.dtype == tf.float32
        assert labels.dtype == tf.int64 and np.all((labels >= 0) & (labels < 10))

        imagenet = data.load_dataset(
            "imagenet2012", "validation", batch_size=3, image_size=64, download=True
        )
        assert imagenet.num_classes == 1000 and imagenet.input_shape == (64, 64, 3)
        images, _ = next(iter(imagenet.dataset))
        assert images.shape == (3, 64, 64, 3)
        # larq-zoo's ImageNet normalization, (pixel - mean) / std, leaves values of order 1
        # (bicubic resizing overshoots the [-2.12, 2.64] range of in-range pixels a little).
        assert np.all(np.isfinite(images)) and float(tf.reduce_max(tf.abs(images))) < 4


def test_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("test", 2)):
        for label in ("cat", "dog"):
            folder = tmp_path / split / label
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 255, size=(20, 24, 3), dtype=np.uint8)
                tf.io.write_file(str(folder / f"{index}.png"), tf.io.encode_png(pixels))
    loaded = data.load_dataset(
        "image_folder", "train", batch_size=2, data_dir=tmp_path, image_size=16
    )
    assert (loaded.num_classes, loaded.input_shape, loaded.num_examples) == (2, (16, 16, 3), 6)
    images, labels = _collect(loaded.dataset, loaded.steps_per_epoch)
    assert images.shape == (6, 16, 16, 3)
    np.testing.assert_array_equal(np.sort(labels), [0, 0, 0, 1, 1, 1])
    with pytest.raises(data.DatasetNotPreparedError, match="sub-folders are: test, train"):
        data.load_dataset("image_folder", "validation", batch_size=2, data_dir=tmp_path)
