"""`adambnn export MODEL OUT.tflite`: convert a saved BNN for Larq Compute Engine and check it.

!!! example
    ```bash
    adambnn export stage2.h5 reactnet.tflite --strict --parity-images fashion-mnist
    adambnn export stage2_savedmodel/ reactnet_int8io.tflite --int8-io --report-json report.json
    adambnn export --weights fashion_mnist reactnet_a_compact.tflite
    ```
"""

from __future__ import annotations

import argparse
import json
import math

from adambnn_tf.cli._paths import check_output_file
from adambnn_tf.cli._pretrained import add_weights_options, model_or_path
from adambnn_tf.cli.errors import EXIT_FAILURE, CommandError

__all__ = ["add_parser", "run"]

# Exit statuses besides 0 (success), 2 (bad input) and 1 (failures, strict refusals).
EXIT_REFUSED = EXIT_FAILURE
EXIT_PARITY_FAILED = 3


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `export` subcommand to `subparsers` and returns its parser (the protocol
    of `adambnn_tf.cli`)."""
    parser = subparsers.add_parser(
        "export",
        help="convert a saved BNN to a Larq Compute Engine .tflite and check it",
        description="Convert a saved Keras BNN (SavedModel folder or .h5) to a Larq Compute "
        "Engine flatbuffer, report which binary convolutions became LceBconv2d (and why the "
        "others did not), and compare its outputs with Keras (LCE interpreter, rtol=atol=1e-3). "
        "Exit status: 0 written, 3 written but the parity check found a conversion error, "
        "1 refused by --strict or failed, 2 bad input (nothing written).",
        allow_abbrev=False,
    )
    parser.add_argument(
        "model_file",
        metavar="MODEL",
        nargs="?",
        help="saved Keras model: SavedModel folder or .h5 file",
    )
    parser.add_argument("output", help="the .tflite file to write")
    add_weights_options(parser)
    parser.add_argument(
        "--target", choices=("arm", "xcore"), default="arm", help="LCE target (default: arm)"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail (write nothing, exit 1) if the model has no binary convolution, any binary "
        "layer is not accelerated, or parity fails",
    )
    parser.add_argument(
        "--int8-io", action="store_true", help="int8 model input and output instead of float32"
    )
    parser.add_argument(
        "--default-int8-range",
        nargs=2,
        type=float,
        metavar=("MIN", "MAX"),
        help="LCE dummy int8 quantization range (latency tests only; outputs are not exact)",
    )
    parser.add_argument(
        "--parity-images",
        metavar="SOURCE",
        help="real images for the parity check: a folder, .npz/.npy, an IDX3 file or "
        "'fashion-mnist' (default for image models when installed)",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder of the Fashion-MNIST IDX files for 'fashion-mnist' parity images "
        "(default: $ADAMBNN_FASHION_MNIST_DIR, then /usr/share/datasets/fashion-mnist)",
    )
    parser.add_argument(
        "--parity-count", type=int, default=8, help="real images to compare (default 8)"
    )
    parser.add_argument(
        "--parity-random", type=int, default=4, help="random inputs to compare (default 4)"
    )
    parser.add_argument(
        "--keep-symmetric-padding",
        action="store_true",
        help="do not rewrite PyTorch-style symmetric zero padding (padding='pytorch' models) "
        "into the exact pad + same-zero + crop form that LCE accelerates (by default rewritten "
        "on arm; LCE 0.16 converts the original stride-2 pattern to the wrong grid)",
    )
    parser.add_argument("--no-parity", action="store_true", help="skip the parity check")
    parser.add_argument(
        "--no-float-size",
        action="store_true",
        help="skip converting a float clone for the size comparison",
    )
    parser.add_argument("--report-json", metavar="PATH", help="also write the report as JSON")
    parser.add_argument(
        "--verbose",
        action="store_true",
        # Not `verbose`: that is `adambnn --verbose` (TensorFlow's logs), which a subcommand
        # default of the same name would reset.
        dest="list_layers",
        help="list every binary layer and how it runs",
    )
    parser.set_defaults(run=run)
    return parser


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuses bad options and output paths before anything is loaded or written."""
    if args.default_int8_range is not None:
        low, high = args.default_int8_range
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise CommandError(
                f"--default-int8-range MIN MAX must be finite with MIN < MAX, got {low:g} {high:g}",
                "e.g. --default-int8-range -3 3",
            )
    for option, value in (
        ("--parity-count", args.parity_count),
        ("--parity-random", args.parity_random),
    ):
        if value < 0:
            raise CommandError(f"{option} must be at least 0, got {value}")
    check_output_file(args.output, "OUT")
    if args.report_json:
        check_output_file(args.report_json, "--report-json")


def run(args: argparse.Namespace) -> int:
    """Runs `adambnn export`.

    Failures raise (`adambnn_tf.cli.main` prints them as one line): exit status 2 for bad
    input (options, output paths and the model file are checked before anything is
    written), 1 when `--strict` refused the export (its report is printed first) or the
    conversion failed.

    # Arguments
        args: the parsed arguments.

    # Returns
        0 on success, `EXIT_PARITY_FAILED` (3) when the parity check found a conversion error
        (the file is written all the same without `--strict`).
    """
    _check_arguments(args)
    model = model_or_path(args)
    from adambnn_tf.export import ExportError, export
    from adambnn_tf.export.lce import write_atomically

    io_type = "int8" if args.int8_io else "float32"
    try:
        report = export(
            model,
            args.output,
            target=args.target,
            inference_input_type=io_type,
            inference_output_type=io_type,
            experimental_default_int8_range=(
                tuple(args.default_int8_range) if args.default_int8_range else None
            ),
            strict=args.strict,
            rewrite_symmetric_padding=False if args.keep_symmetric_padding else None,
            parity=not args.no_parity,
            parity_images=args.parity_images,
            parity_image_count=args.parity_count,
            parity_random_samples=args.parity_random,
            compare_float_size=not args.no_float_size,
            data_dir=args.data_dir,
        )
    except ExportError as error:
        print(error.report.summary(verbose=args.list_layers))  # what was found, on stdout
        raise CommandError(
            str(error).splitlines()[0], "see the report above; nothing was written", EXIT_REFUSED
        ) from error
    print(report.summary(verbose=args.list_layers))
    if args.report_json:
        write_atomically(args.report_json, json.dumps(report.to_dict(), indent=2).encode())
    if report.parity is not None and not report.parity.passed:
        return EXIT_PARITY_FAILED
    return 0
