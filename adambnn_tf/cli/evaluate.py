"""`adambnn evaluate MODEL`: test accuracy of a saved Keras model or an exported `.tflite`.

!!! example
    ```bash
    adambnn evaluate runs/fashion_mnist/final_model.h5
    adambnn evaluate runs/fashion_mnist/export/model.tflite --dataset fashion_mnist
    ```
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `evaluate` subcommand to `subparsers` and returns its parser (the protocol
    of `adambnn_tf.cli`)."""
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


def run(args: argparse.Namespace) -> int:
    """Prints the top-1 accuracy.

    # Returns
        0, or 2 for bad input.
    """
    from adambnn_tf.data import load_dataset
    from adambnn_tf.evaluation import dataset_arrays, predict, top1

    try:
        data = load_dataset(
            args.dataset, args.split, batch_size=args.batch_size, data_dir=args.data_dir
        )
        images, labels = dataset_arrays(data.dataset, limit=args.limit or 0)
        accuracy = top1(predict(args.model, images, batch_size=args.batch_size), labels)
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"adambnn evaluate: {error}", file=sys.stderr)
        return 2
    print(f"{args.model}: top-1 accuracy {accuracy:.4f} on {len(labels)} {args.split} images")
    return 0
