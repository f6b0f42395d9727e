"""`adambnn convert-checkpoint IN.pth.tar OUT.h5`: official PyTorch checkpoint to Keras weights.

!!! example
    ```bash
    adambnn convert-checkpoint model_best.pth.tar reactnet_a.h5 --model reactnet_a
    adambnn convert-checkpoint --arch resnet34 resnet34-b627a593.pth resnet34.h5  # teacher
    ```
"""

from __future__ import annotations

import argparse
import os

from adambnn_tf.cli._paths import check_output_file
from adambnn_tf.cli.errors import EXIT_FAILURE, CommandError

__all__ = ["add_parser", "run"]

# adambnn_tf.pytorch_conversion.MODEL_NAMES, written out so that `--help` imports no TensorFlow.
ARCHITECTURES = ("reactnet_a", "reactnet18", "resnet34")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `convert-checkpoint` subcommand to `subparsers` and returns its parser (the protocol
    of `adambnn_tf.cli`)."""
    parser = subparsers.add_parser(
        "convert-checkpoint",
        help="convert an official ReActNet/AdamBNN PyTorch checkpoint (or torchvision's "
        "ResNet-34) to a Keras weights file",
        description="Convert an official ReActNet-A or ReActNet-18 PyTorch checkpoint "
        "(.pth.tar; 'weight' or 'weights' kernels, with or without 'module.') to a Keras .h5 "
        "weights file for adambnn_tf.zoo.ReActNetA / ReActNet18, or a torchvision ResNet-34 "
        "state dict (the distillation teacher, --arch resnet34) for adambnn_tf.zoo.ResNet34. "
        "Widths, input channels and classes are read from the checkpoint. Load ReActNet "
        "weights with padding='pytorch' for outputs equal to PyTorch's. Nothing is written "
        "when the checkpoint does not fit. Needs torch (pip install adambnn-tf[torch]).",
        allow_abbrev=False,
    )
    parser.add_argument("checkpoint", help="the PyTorch checkpoint (.pth.tar, .pth)")
    parser.add_argument("output", help="the Keras weights file to write (.h5)")
    parser.add_argument(
        "--arch",
        "--model",
        dest="model",
        choices=ARCHITECTURES,
        default=None,
        help="the architecture of the checkpoint (default: detected from its keys); with "
        "resnet34 a state dict of any other layout is refused with its offending keys named",
    )
    parser.add_argument(
        "--stage",
        type=int,
        choices=(1, 2),
        default=2,
        help="stage of the Keras ReActNet model (default 2; ResNet-34 has none)",
    )
    parser.add_argument(
        "--unsafe-pickle",
        action="store_true",
        help="load with torch.load(weights_only=False); only for files you trust",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Runs `adambnn convert-checkpoint`.

    Failures raise (`adambnn_tf.cli.main` prints them as one line): exit status 2 for a
    missing or unreadable checkpoint, one that needs `--unsafe-pickle`, one of another model,
    or a bad output path (checked before the checkpoint is read); 1 when torch is missing.
    Nothing is written then.

    # Arguments
        args: the parsed arguments.

    # Returns
        0.
    """
    if not str(args.output).endswith((".h5", ".hdf5")):
        raise CommandError(f"the output must be an .h5 file, got {args.output}", "give OUT.h5")
    check_output_file(args.output, "OUT")
    if not os.path.isfile(args.checkpoint):
        raise CommandError(
            f"{args.checkpoint} "
            + ("is a folder" if os.path.isdir(args.checkpoint) else "does not exist"),
            "give the .pth.tar or .pth file",
        )
    from adambnn_tf.pytorch_conversion import convert_checkpoint
    from adambnn_tf.pytorch_conversion.pytorch import UnsafeCheckpointError

    try:
        model = convert_checkpoint(
            args.checkpoint,
            args.output,
            args.model,
            stage=args.stage,
            weights_only=not args.unsafe_pickle,
        )
    except UnsafeCheckpointError as error:
        raise CommandError(
            f"{args.checkpoint} stores Python objects besides tensors ({error.global_name}), "
            "which are loaded only with --unsafe-pickle",
            "add --unsafe-pickle if you trust the file: it runs code stored in it",
        ) from error
    except ImportError as error:
        raise CommandError(str(error), None, EXIT_FAILURE) from error
    how = (
        "load with adambnn_tf.zoo.ResNet34(weights=...)"
        if model.name == "resnet34"
        else "load with padding='pytorch' for PyTorch-equal outputs"
    )
    print(f"wrote {args.output}: {model.name}, {model.count_params():,} parameters ({how})")
    return 0
