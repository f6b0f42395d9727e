"""`adambnn train`: the two-stage AdamBNN recipe on a zoo model and a dataset, end to end.

Trains (resuming an interrupted run with the same command), evaluates, exports the final
model for Larq Compute Engine and writes the report, all under `--output-dir`. The options are
those of the run configuration (`adambnn_tf.config`): a named recipe, changed by flags or
`--set KEY=VALUE`.

!!! example
    ```bash
    adambnn train                                   # the quickstart recipe
    adambnn train --recipe fashion-mnist --output-dir runs/fmnist --seed 1
    adambnn train --scheme one-step --weight-decay 0 1e-5 --output-dir runs/onestep_1e-5
    adambnn train --learning-rate 2e-3 1e-3 --set training.decay_parameters=official
    adambnn train --config runs/fmnist/run.json     # re-run or resume a run as recorded
    ```
"""

from __future__ import annotations

import argparse

from adambnn_tf.cli.config_options import add_config_options, config_from_options

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `train` subcommand to `subparsers` and returns its parser (the protocol
    of `adambnn_tf.cli`)."""
    parser = subparsers.add_parser(
        "train",
        help="train a BNN with the two-stage AdamBNN recipe, export it and write a report",
        description="Stage 1 trains binary activations with real latent weights and weight "
        "decay, stage 2 binarizes the weights too and starts from stage 1. Checkpoints are "
        "written every epoch; running the same command again resumes. The result is exported "
        "to a Larq Compute Engine .tflite and summarised in OUTPUT_DIR/report/report.md. "
        "Settings start from a recipe (`adambnn recipes`) and are changed by the options below.",
        allow_abbrev=False,
    )
    add_config_options(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Runs the main job and prints where the results are.

    # Returns
        0 on success (failures raise, and `adambnn_tf.cli.main` reports them).
    """
    config = config_from_options(args)  # a bad configuration fails before anything is read
    from adambnn_tf.distribute import strategy_from_environment
    from adambnn_tf.main_job import run_main_job

    summary = run_main_job(config, strategy=strategy_from_environment())
    print(f"\nTest accuracy (Keras): {summary.test_accuracy:.4f}")
    if summary.tflite_path:
        print(
            f"LCE .tflite vs Keras on the first test images: {summary.tflite_accuracy:.4f} vs "
            f"{summary.keras_accuracy_on_export_examples:.4f}"
        )
        print(f"Exported model: {summary.tflite_path}")
    if summary.report_path:
        print(f"Report: {summary.report_path}")
    print(f"Everything is in {summary.output_dir}")
    return 0
