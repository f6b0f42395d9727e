"""Shared pieces of the `fit` speed benchmarks: random 28x28 batches and a per-step timer.

The benchmarks run as scripts (`python bench/NAME.py`), so this folder is on `sys.path` and
they import this module as `_fit_timing`.
"""

import time

import numpy as np
import tensorflow as tf

import adambnn_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

__all__ = ["StepTimes", "random_image_batches"]


def random_image_batches(batch_size: int, batches: int = 8, seed: int = 0) -> tf.data.Dataset:
    """`batches` fixed batches of normal-noise 28x28x1 images and 10-class labels, repeated.

    # Arguments
        batch_size: images per batch.
        batches: distinct batches before the data repeats.
        seed: NumPy seed, so that every variant of a benchmark sees the same batches.

    # Returns
        An endless `tf.data.Dataset` of `(images, labels)` batches.
    """
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(batch_size * batches, 28, 28, 1)).astype("float32")
    labels = rng.integers(0, 10, size=batch_size * batches)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size).repeat()


class StepTimes(tf.keras.callbacks.Callback):
    """Times each step; reading `logs` makes Keras copy them to the host, as in the job."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])
        self.seconds.append(time.perf_counter() - self._start)
