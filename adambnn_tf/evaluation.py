"""Top-1 accuracy of a model on a dataset split: a Keras model, a saved one, or an LCE `.tflite`.

Shared by the main job (the final model and its export) and `adambnn evaluate`.

!!! example
    ```python
    images, labels = dataset_arrays(load_dataset("fashion_mnist", "test", batch_size=256).dataset)
    top1(predict("runs/quickstart/export/model.tflite", images), labels)
    ```
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

__all__ = ["dataset_arrays", "predict", "top1"]


def dataset_arrays(dataset: tf.data.Dataset, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of a dataset of `(images, labels)` batches, as arrays.

    # Arguments
        dataset: batches of `(images, labels)`.
        limit: keep the first `limit` examples only (0: all).

    # Returns
        `(images, labels)`.
    """
    if limit:
        dataset = dataset.unbatch().take(limit).batch(1024)
    images, labels = [], []
    for batch_images, batch_labels in dataset:
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
    return np.concatenate(images), np.concatenate(labels)


def predict(model: tf.keras.Model | str, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The outputs of a model for a batch of images.

    # Arguments
        model: a Keras model, a saved Keras model (`.h5` or SavedModel folder), or a `.tflite`
            file (run with Larq Compute Engine's interpreter, one image at a time).
        images: the preprocessed images.
        batch_size: Keras' batch size.

    # Returns
        One row of outputs (logits or probabilities) per image.

    # Raises
        FileNotFoundError: if a path does not exist.
    """
    if isinstance(model, tf.keras.Model):
        return model.predict(images, batch_size=batch_size, verbose=0)
    path = os.fspath(model)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path!r} does not exist; give a .tflite, .h5 or SavedModel path.")
    if path.endswith(".tflite"):
        from larq_compute_engine.tflite.python.interpreter import Interpreter

        with open(path, "rb") as file:
            return Interpreter(file.read(), num_threads=os.cpu_count() or 1).predict(images)
    loaded = tf.keras.models.load_model(path, compile=False)
    return loaded.predict(images, batch_size=batch_size, verbose=0)


def top1(outputs: np.ndarray, labels: np.ndarray) -> float:
    """The share of rows whose largest output is at the label.

    # Arguments
        outputs: `(examples, classes)` logits or probabilities.
        labels: `(examples,)` integer labels.

    # Returns
        The top-1 accuracy in [0, 1].
    """
    return float(np.mean(np.argmax(outputs, axis=-1) == labels))
