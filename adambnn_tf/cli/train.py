"""`adambnn train`: the two-stage AdamBNN recipe on a zoo model and a dataset, end to end.

Trains (resuming an interrupted run with the same command), evaluates, exports the final
model for Larq Compute Engine and writes the report, all under `--output-dir`.

!!! example
    ```bash
    adambnn train                                   # ReActNet-A Compact, offline Fashion-MNIST
    adambnn train --epochs 20 20 --output-dir runs/fmnist_long
    adambnn train --scheme one-step --weight-decay 0 1e-5 --output-dir runs/onestep_1e-5
    adambnn train --learning-rate 2e-3 1e-3 --output-dir runs/stage2_at_1e-3
    ```
"""

from __future__ import annotations

import argparse
import sys

from adambnn_tf.main_job import MODELS, OPTIMIZERS, SCHEDULES, SCHEMES, MainJobConfig
from adambnn_tf.training.two_stage import STAGE2_TEACHERS

__all__ = ["add_parser", "run", "config_from_args"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `train` subcommand.

    # Arguments
        subparsers: the `add_subparsers()` object of the `adambnn` parser.

    # Returns
        The subcommand's parser.
    """
    defaults = MainJobConfig()
    parser = subparsers.add_parser(
        "train",
        help="train a BNN with the two-stage AdamBNN recipe, export it and write a report",
        description="Stage 1 trains binary activations with real latent weights and weight "
        "decay, stage 2 binarizes the weights too and starts from stage 1. Checkpoints are "
        "written every epoch; running the same command again resumes. The result is exported "
        "to a Larq Compute Engine .tflite and summarised in OUTPUT_DIR/report/report.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--output-dir", default=defaults.output_dir, help="the run directory")
    parser.add_argument("--model", default=defaults.model, choices=sorted(MODELS))
    parser.add_argument("--dataset", default=defaults.dataset, help="dataset name")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="dataset files (default: the offline Fashion-MNIST files of Debian's "
        "dataset-fashion-mnist, or $ADAMBNN_FASHION_MNIST_DIR; tfds's data_dir for others)",
    )
    parser.add_argument(
        "--epochs", type=int, nargs=2, default=list(defaults.epochs), metavar=("STAGE1", "STAGE2")
    )
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument(
        "--learning-rate",
        type=float,
        nargs="+",
        default=[defaults.learning_rate],
        metavar="RATE",
        help="the base learning rate of both stages, or two: stage 1's and stage 2's",
    )
    parser.add_argument("--schedule", default=defaults.schedule, choices=SCHEDULES)
    parser.add_argument(
        "--weight-decay",
        type=float,
        nargs=2,
        default=list(defaults.weight_decay),
        metavar=("STAGE1", "STAGE2"),
        help="weight decay on the latent weights in each stage",
    )
    parser.add_argument("--scheme", default=defaults.scheme, choices=SCHEMES)
    parser.add_argument("--optimizer", default=defaults.optimizer, choices=OPTIMIZERS)
    parser.add_argument(
        "--label-smoothing",
        type=float,
        default=defaults.label_smoothing,
        help="label smoothing of the training cross-entropy, in [0, 1) (not with a teacher)",
    )
    parser.add_argument("--teacher", default=None, help="saved Keras teacher for distillation")
    parser.add_argument(
        "--teacher-epochs",
        type=int,
        default=defaults.teacher_epochs,
        help="first train a real-valued ResNetTeacher for N epochs and distil it (0: none)",
    )
    parser.add_argument(
        "--teacher-width",
        type=int,
        default=defaults.teacher_width,
        help="the ResNetTeacher's stem channels",
    )
    parser.add_argument(
        "--stage2-teacher",
        default=None,
        choices=[name for name in STAGE2_TEACHERS if name],
        help="distil this model into stage 2: 'stage1', the finished stage-1 model",
    )
    parser.add_argument("--width-multiplier", type=float, default=defaults.width_multiplier)
    parser.add_argument("--padding", default=defaults.padding, choices=("lce", "pytorch"))
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--no-augment", dest="augment", action="store_false")
    parser.add_argument(
        "--train-examples", type=int, default=None, help="use only the first N training images"
    )
    parser.add_argument(
        "--test-examples", type=int, default=None, help="evaluate on the first N test images"
    )
    parser.add_argument(
        "--export-test-examples",
        type=int,
        default=MainJobConfig().export_test_examples,
        help="compare the .tflite with Keras on the first N test images (0 for all)",
    )
    parser.add_argument(
        "--track-every",
        type=int,
        default=MainJobConfig().track_every,
        help="measure FF-ratio and saturation every N training steps (1: every step; 10 "
        "saves about a tenth of a training step of the default model)",
    )
    parser.add_argument(
        "--validate-every",
        type=int,
        default=MainJobConfig().validate_every,
        help="evaluate on the test split every N epochs and at the end of each stage "
        "(1: every epoch)",
    )
    parser.add_argument("--no-export", dest="export", action="store_false")
    parser.add_argument("--no-report", dest="report", action="store_false")
    parser.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    parser.set_defaults(run=run)
    return parser


def config_from_args(args: argparse.Namespace) -> MainJobConfig:
    """Turns parsed arguments into a `MainJobConfig`.

    # Arguments
        args: the parsed `train` arguments.

    # Returns
        The configuration.
    """
    return MainJobConfig(
        output_dir=args.output_dir,
        model=args.model,
        dataset=args.dataset,
        data_dir=args.data_dir,
        epochs=tuple(args.epochs),
        batch_size=args.batch_size,
        learning_rate=_one_or_pair(args.learning_rate),
        schedule=args.schedule,
        weight_decay=tuple(args.weight_decay),
        scheme=args.scheme,
        optimizer=args.optimizer,
        label_smoothing=args.label_smoothing,
        teacher=args.teacher,
        teacher_epochs=args.teacher_epochs,
        teacher_width=args.teacher_width,
        stage2_teacher=args.stage2_teacher,
        width_multiplier=args.width_multiplier,
        padding=args.padding,
        seed=args.seed,
        augment=args.augment,
        train_examples=args.train_examples,
        test_examples=args.test_examples,
        export_test_examples=args.export_test_examples or None,
        track_every=args.track_every,
        validate_every=args.validate_every,
        export=args.export,
        report=args.report,
        verbose=0 if args.quiet else 1,
    )


def _one_or_pair(values: list[float]) -> float | tuple[float, ...]:
    """One value as itself, several as a tuple (the configuration checks that they are two)."""
    return values[0] if len(values) == 1 else tuple(values)


def run(args: argparse.Namespace) -> int:
    """Runs the main job and prints where the results are.

    # Returns
        0 on success, 2 for bad input (the message says what to change).
    """
    from adambnn_tf.distribute import strategy_from_environment
    from adambnn_tf.main_job import run_main_job

    config = config_from_args(args)
    try:
        summary = run_main_job(config, strategy=strategy_from_environment())
    except (ValueError, FileNotFoundError) as error:
        print(f"adambnn train: {error}", file=sys.stderr)
        return 2
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
