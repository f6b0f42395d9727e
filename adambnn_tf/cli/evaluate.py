"""`adambnn evaluate MODEL`: test accuracy of a saved Keras model, an exported `.tflite`, or a
zoo model with registered pretrained weights.

!!! example
    ```bash
    adambnn evaluate runs/fashion_mnist/final_model.h5
    adambnn evaluate runs/fashion_mnist/export/model.tflite --dataset fashion_mnist
    adambnn evaluate --weights fashion_mnist
    ```
"""

from __future__ import annotations

import argparse

from adambnn_tf.cli._pretrained import add_weights_options, model_or_path
from adambnn_tf.cli.errors import CommandError

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `evaluate` subcommand to `subparsers` and returns its parser (the protocol
    of `adambnn_tf.cli`)."""
    parser = subparsers.add_parser(
        "evaluate",
        help="test accuracy of a saved Keras model, an LCE .tflite or pretrained weights",
        description="Evaluate a model on a dataset split: a saved Keras model (.h5 or "
        "SavedModel folder, logits or probabilities out) with Keras, a .tflite with Larq "
        "Compute Engine's interpreter, or a zoo model with registered pretrained weights "
        "(--weights). The model is checked before any data is read.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "model_file",
        metavar="MODEL",
        nargs="?",
        help="a .tflite file, an .h5 file or a SavedModel folder",
    )
    add_weights_options(parser)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--limit", type=int, default=None, help="evaluate the first N examples (N >= 1)"
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Prints the top-1 accuracy.

    Failures raise (`adambnn_tf.cli.main` prints them as one line): exit status 2 for a bad
    option, a missing or invalid model file (a truncated `.tflite` included), unknown or
    damaged pretrained weights, or a bad dataset,
    1 for a failure at run time.

    # Returns
        0.
    """
    if args.limit is not None and args.limit < 1:
        raise CommandError(
            f"--limit must be at least 1, got {args.limit}", "omit it to evaluate the whole split"
        )
    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be at least 1, got {args.batch_size}")
    from adambnn_tf.data import load_dataset
    from adambnn_tf.evaluation import check_model_file, dataset_arrays, predict, top1

    model = model_or_path(args)
    if isinstance(model, str):
        check_model_file(model)  # before the dataset is read
    name = f"{args.model} with weights={args.weights!r}" if args.weights else model
    data = load_dataset(
        args.dataset, args.split, batch_size=args.batch_size, data_dir=args.data_dir
    )
    images, labels = dataset_arrays(data.dataset, limit=args.limit or 0)
    accuracy = top1(predict(model, images, batch_size=args.batch_size), labels)
    print(f"{name}: top-1 accuracy {accuracy:.4f} on {len(labels)} {args.split} images")
    return 0
