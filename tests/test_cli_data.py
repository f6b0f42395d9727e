"""Corrupt and odd datasets fail before training with a message naming the file (issue 19)."""

import gzip
import os
import struct

import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf import data
from adambnn_tf.cli import main


def _write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())


def _fashion_mnist_dir(folder, labels=None):
    rng = np.random.default_rng(0)
    labels = np.arange(20) % 10 if labels is None else labels
    for prefix in ("train", "t10k"):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (20, 28, 28)))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


def _error_line(capsys, command: str) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"adambnn {command}: error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_gzip_file_is_named(tmp_path, damage):
    _fashion_mnist_dir(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    whole = path.read_bytes()
    path.write_bytes(b"\x1f\x8b" + os.urandom(500) if damage == "garbage" else whole[:300])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz is not a readable gzip file"):
        data.read_idx(path)
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz"):
        data.load_dataset("fashion_mnist", "test", batch_size=4, data_dir=tmp_path)


def test_a_corrupt_gzip_file_fails_the_command_in_one_line(tmp_path, capsys):
    _fashion_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08" + os.urandom(64))
    inputs = tf.keras.Input((28, 28, 1))
    outputs = tf.keras.layers.Dense(10)(tf.keras.layers.Flatten()(inputs))
    tf.keras.Model(inputs, outputs).save(tmp_path / "model.h5")
    assert main(["evaluate", str(tmp_path / "model.h5"), "--data-dir", str(tmp_path)]) == 2
    line = _error_line(capsys, "evaluate")
    assert "t10k-labels-idx1-ubyte.gz is not a readable gzip file" in line


def test_labels_out_of_range_fail_before_training_naming_file_and_range(tmp_path):
    labels = np.arange(20) % 10
    labels[7] = 12
    _fashion_mnist_dir(tmp_path, labels)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.gz holds labels outside 0\.\.9"):
        data.load_dataset("fashion_mnist", "train", batch_size=4, data_dir=tmp_path)


def _png(path, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 255, size=(12, 10, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(pixels))


def test_an_undecodable_image_is_named(tmp_path):
    for label in ("cat", "dog"):
        for index in range(2):
            _png(tmp_path / "train" / label / f"{index}.png", index)
    (tmp_path / "train" / "dog" / "bad.png").write_bytes(b"this is no image at all")
    loaded = data.load_dataset("image_folder", "train", batch_size=5, data_dir=tmp_path)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"train/dog/bad\.png"):
        for _ in loaded.dataset.take(loaded.steps_per_epoch):
            pass


def test_good_images_still_load_as_before(tmp_path):
    for label in ("cat", "dog"):
        _png(tmp_path / "test" / label / "0.png")
    loaded = data.load_dataset("image_folder", "test", batch_size=2, data_dir=tmp_path)
    images, labels = next(iter(loaded.dataset))
    assert images.shape == (2, 224, 224, 3) and sorted(labels.numpy()) == [0, 1]


def test_an_image_folder_without_split_folders_says_what_layout_it_needs(tmp_path):
    _png(tmp_path / "cat" / "0.png")
    _png(tmp_path / "dog" / "0.png")
    with pytest.raises(data.DatasetNotPreparedError) as raised:
        data.load_dataset("image_folder", "train", batch_size=2, data_dir=tmp_path)
    message = str(raised.value)
    assert "train/ and test/" in message and "cat, dog" in message
    assert "sub-folders are: none" not in message


def test_a_one_class_image_folder_is_refused(tmp_path):
    for index in range(3):
        _png(tmp_path / "train" / "cat" / f"{index}.png", index)
    with pytest.raises(ValueError, match="1 class folder .*cat.* at least 2"):
        data.load_dataset("image_folder", "train", batch_size=2, data_dir=tmp_path)


def test_an_unprepared_tfds_dataset_says_how_to_prepare_it(tmp_path):
    with pytest.raises(data.DatasetNotPreparedError) as raised:
        data.load_dataset("cifar10", "test", batch_size=8, data_dir=tmp_path)
    message = str(raised.value)
    assert "tfds build cifar10" in message and "--data-dir" in message
    assert "pass download=True" not in message
