"""Training the distillation teacher: resumable per epoch, and a finished teacher is reused."""

import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.training.teacher import train_teacher
from adambnn_tf.zoo import ResNetTeacher


def _build():
    return ResNetTeacher(input_shape=(8, 8, 1), num_classes=3, width=2, classifier_activation=None)


def _batches(epoch: int) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(24, 8, 8, 1)).astype("float32")
    labels = rng.integers(0, 3, size=24)
    data = tf.data.Dataset.from_tensor_slices((images, labels))
    return data.shuffle(24, seed=epoch).batch(8)


class _KilledError(Exception):
    pass


class _KillInEpoch(tf.keras.callbacks.Callback):
    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise _KilledError(f"killed at the start of epoch {epoch}")


class _EpochRecorder(tf.keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def _train(output_dir, callbacks=()):
    return train_teacher(
        _build,
        _batches,
        output_dir,
        epochs=3,
        steps_per_epoch=3,
        learning_rate=2e-3,
        schedule="stepwise",
        callbacks=callbacks,
        seed=5,
    )


def test_killed_teacher_resumes_to_the_uninterrupted_result(tmp_path):
    reference, reference_history = _train(tmp_path / "uninterrupted")
    with pytest.raises(_KilledError):
        _train(tmp_path / "killed", callbacks=[_KillInEpoch(2)])
    assert not (tmp_path / "killed" / "model.h5").exists()
    recorder = _EpochRecorder()
    resumed, history = _train(tmp_path / "killed", callbacks=[recorder])
    assert recorder.epochs == [2]  # epochs 0 and 1 came from the checkpoint
    assert history == reference_history and len(history["loss"]) == 3
    for a, b in zip(reference.weights, resumed.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)


def test_a_finished_teacher_is_loaded_not_trained(tmp_path):
    trained, history = _train(tmp_path)
    loaded, loaded_history = _train(tmp_path, callbacks=[_KillInEpoch(0)])  # would raise
    assert loaded_history == history
    images = _batches(0).unbatch().batch(24).get_single_element()[0]
    np.testing.assert_allclose(loaded(images), trained(images, training=False), rtol=1e-6)


def test_bad_lengths_are_refused(tmp_path):
    with pytest.raises(ValueError, match="must be positive"):
        train_teacher(
            _build,
            _batches,
            tmp_path,
            epochs=0,
            steps_per_epoch=3,
            learning_rate=2e-3,
            schedule="stepwise",
            seed=0,
        )
