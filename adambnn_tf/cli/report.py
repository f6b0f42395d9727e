"""`adambnn report RUN_DIR`: a Markdown report with PNG plots of a training run.

!!! example
    ```bash
    adambnn report runs/fashion_mnist            # writes runs/fashion_mnist/report/report.md
    adambnn report runs/fashion_mnist --output-dir /tmp/report
    ```
"""

from __future__ import annotations

import argparse
import os
import sys

from adambnn_tf.cli._paths import check_output_folder
from adambnn_tf.cli.errors import CommandError

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `report` subcommand to `subparsers` and returns its parser (the protocol
    of `adambnn_tf.cli`)."""
    parser = subparsers.add_parser(
        "report",
        help="write a Markdown report with plots of a training run",
        description="Turn a run directory (per-stage history, FF-ratio per iteration, C2I-ratio "
        "per epoch, final latent weights, saturated activations, export summary) into "
        "report.md with PNG plots. Parts that are missing are listed in the report; an "
        "unfinished stage shows the epochs its state.json committed. A folder that holds no "
        "run is refused, and nothing is written.",
        allow_abbrev=False,
    )
    parser.add_argument("run_dir", help="the run directory written by `adambnn train`")
    parser.add_argument(
        "--output-dir", help="where to write report.md and the plots (default: RUN_DIR/report)"
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Writes the report and prints its path.

    Failures raise (`adambnn_tf.cli.main` prints them as one line) with exit status 2 when
    RUN_DIR is missing or holds no run, or the output folder is a file; nothing is written
    then.

    # Returns
        0.
    """
    if not os.path.isdir(args.run_dir):
        raise CommandError(
            f"{args.run_dir} is not a run directory (no such folder)",
            "give the --output-dir of an `adambnn train` run",
        )
    from adambnn_tf.report import read_run, write_report  # matplotlib loads only when needed
    from adambnn_tf.report.writer import REPORT_FOLDER

    missing = read_run(args.run_dir).missing  # refuses a folder that holds no run
    output_dir = args.output_dir or os.path.join(args.run_dir, REPORT_FOLDER)
    check_output_folder(output_dir, "--output-dir" if args.output_dir else "the report folder")
    path = write_report(args.run_dir, args.output_dir)
    if missing:
        print(f"Not in the run directory ({len(missing)}), listed in the report:", file=sys.stderr)
        for item in missing:
            print(f"  {item}", file=sys.stderr)
    print(f"Report written to {path}")
    return 0
