"""`adambnn evaluate MODEL`: test accuracy of a saved Keras model or an exported `.tflite`.

!!! example
    ```bash
    adambnn evaluate runs/fashion_mnist/final_model.h5
    adambnn evaluate runs/fashion_mnist/export/model.tflite --dataset fashion_mnist
    ```
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

__all__ = ["add_parser", "run", "evaluate_model"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `evaluate` subcommand.

    # Arguments
        subparsers: the `add_subparsers()` object of the `adambnn` parser.

    # Returns
        The subcommand's parser.
    """
    parser = subparsers.add_parser(
        "evaluate",
        help="test accuracy of a saved Keras model or an LCE .tflite",
        description="Evaluate a model on a dataset split: a saved Keras model (.h5 or "
        "SavedModel folder, logits or probabilities out) with Keras, or a .tflite with Larq "
        "Compute Engine's interpreter.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model", help="a .tflite file, an .h5 file or a SavedModel folder")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N examples")
    parser.set_defaults(run=run)
    return parser


def evaluate_model(path: str, images: np.ndarray) -> np.ndarray:
    """Runs a saved model on `images` and returns its outputs.

    # Arguments
        path: a `.tflite` file (LCE interpreter) or a saved Keras model.
        images: a batch of preprocessed images.

    # Returns
        The model outputs, one row per image.

    # Raises
        FileNotFoundError: if `path` does not exist.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path!r} does not exist; give a .tflite, .h5 or SavedModel path.")
    if path.endswith(".tflite"):
        from larq_compute_engine.tflite.python.interpreter import Interpreter

        with open(path, "rb") as file:
            return Interpreter(file.read(), num_threads=os.cpu_count() or 1).predict(images)
    import tensorflow as tf

    model = tf.keras.models.load_model(path, compile=False)
    return model.predict(images, batch_size=256, verbose=0)


def run(args: argparse.Namespace) -> int:
    """Prints the top-1 accuracy.

    # Returns
        0, or 2 for bad input.
    """
    from adambnn_tf.data import load_dataset

    try:
        data = load_dataset(
            args.dataset, args.split, batch_size=args.batch_size, data_dir=args.data_dir
        )
        images, labels = [], []
        for batch_images, batch_labels in data.dataset:
            images.append(batch_images.numpy())
            labels.append(batch_labels.numpy())
        images, labels = np.concatenate(images), np.concatenate(labels)
        if args.limit is not None:
            images, labels = images[: args.limit], labels[: args.limit]
        outputs = evaluate_model(args.model, images)
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"adambnn evaluate: {error}", file=sys.stderr)
        return 2
    accuracy = float(np.mean(np.argmax(outputs, axis=-1) == labels))
    print(f"{args.model}: top-1 accuracy {accuracy:.4f} on {len(labels)} {args.split} images")
    return 0
