"""The validation split carved from the training set: stratified, fixed, disjoint, and used."""

import json

import numpy as np
import pytest
import tensorflow as tf
from multiworker_training import TRAIN_EXAMPLES, write_idx_files  # beside this file

from adambnn_tf.data import load_dataset
from adambnn_tf.data.holdout import stratified_holdout
from adambnn_tf.evaluation import dataset_arrays


def test_holdout_keeps_the_class_proportions_and_the_exact_count():
    labels = np.repeat(np.arange(3), [50, 30, 20])  # shares 0.5, 0.3, 0.2
    held_out = stratified_holdout(labels, 11)  # 5.5, 3.3, 2.2 -> 5 + 1 (largest rest), 3, 2
    assert held_out.sum() == 11
    assert [int(held_out[labels == label].sum()) for label in range(3)] == [6, 3, 2]
    # The split belongs to the data: the same labels give the same split every time.
    np.testing.assert_array_equal(stratified_holdout(labels, 11), held_out)
    assert not np.array_equal(stratified_holdout(labels, 11, seed=1), held_out)
    for bad in (0, 100):
        with pytest.raises(ValueError, match="cannot be carved"):
            stratified_holdout(labels, bad)


def test_train_and_validation_splits_partition_the_training_set(tmp_path):
    write_idx_files(str(tmp_path))
    common = {"batch_size": 7, "data_dir": tmp_path, "validation_examples": 20}
    train = load_dataset("fashion_mnist", "train", shuffle=False, **common)
    validation = load_dataset("fashion_mnist", "validation", **common)
    whole = load_dataset("fashion_mnist", "train", batch_size=7, data_dir=tmp_path, shuffle=False)
    assert (train.num_examples, validation.num_examples) == (TRAIN_EXAMPLES - 20, 20)
    train_images, _ = dataset_arrays(train.dataset)
    validation_images, validation_labels = dataset_arrays(validation.dataset)
    whole_images, whole_labels = dataset_arrays(whole.dataset)
    held_out = stratified_holdout(whole_labels, 20)
    np.testing.assert_array_equal(validation_images, whole_images[held_out])
    np.testing.assert_array_equal(validation_labels, whole_labels[held_out])
    np.testing.assert_array_equal(train_images, whole_images[~held_out])
    # The test split is untouched.
    test = load_dataset("fashion_mnist", "test", **common)
    plain_test = load_dataset("fashion_mnist", "test", batch_size=7, data_dir=tmp_path)
    assert test.num_examples == plain_test.num_examples


def test_main_job_validates_on_the_carved_split_and_tests_once(tmp_path):
    from adambnn_tf.config import RunConfig
    from adambnn_tf.main_job import run_main_job

    (tmp_path / "data").mkdir()
    write_idx_files(str(tmp_path / "data"))
    config = RunConfig().with_overrides(
        {
            "output_dir": str(tmp_path / "run"),
            "data.data_dir": str(tmp_path / "data"),
            "data.validation_examples": 24,
            "data.train_examples": 0,
            "data.batch_size": 16,
            "model.width_multiplier": 0.125,
            "output.export": False,
            "output.report": False,
            "output.progress": False,
        }
    )
    summary = run_main_job(config)
    validation = load_dataset(
        "fashion_mnist", "validation", batch_size=16, data_dir=tmp_path / "data",
        validation_examples=24,
    )  # fmt: skip
    summary_model = tf.keras.models.load_model(tmp_path / "run" / "final_model.h5", compile=False)
    images, labels = dataset_arrays(validation.dataset)
    accuracy = float(np.mean(np.argmax(summary_model.predict(images, verbose=0), -1) == labels))
    assert summary.validation_accuracy == pytest.approx(accuracy)
    # The stage-2 history's validation is the carved split's, not the test split's.
    assert summary.history["stage2"]["val_accuracy"][-1] == pytest.approx(accuracy)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["validation_accuracy"] == pytest.approx(accuracy)
    assert results["test_accuracy"] == summary.test_accuracy
