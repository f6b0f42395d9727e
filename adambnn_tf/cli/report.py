"""`adambnn report RUN_DIR`: a Markdown report with PNG plots of a training run.

!!! example
    ```bash
    adambnn report runs/fashion_mnist            # writes runs/fashion_mnist/report/report.md
    adambnn report runs/fashion_mnist --output-dir /tmp/report
    ```
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `report` subcommand to `subparsers` and returns its parser (the protocol
    of `adambnn_tf.cli`)."""
    parser = subparsers.add_parser(
        "report",
        help="write a Markdown report with plots of a training run",
        description="Turn a run directory (per-stage history, FF-ratio per iteration, C2I-ratio "
        "per epoch, final latent weights, saturated activations, export summary) into "
        "report.md with PNG plots. Parts that are missing are listed in the report.",
    )
    parser.add_argument("run_dir", help="the run directory written by `adambnn train`")
    parser.add_argument(
        "--output-dir", help="where to write report.md and the plots (default: RUN_DIR/report)"
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Writes the report and prints its path.

    # Returns
        0, or 1 when the run directory does not exist.
    """
    from adambnn_tf.report import read_run, write_report  # matplotlib loads only when needed

    try:
        path = write_report(args.run_dir, args.output_dir)
    except NotADirectoryError as error:
        print(f"adambnn report: {error}", file=sys.stderr)
        return 1
    missing = read_run(args.run_dir).missing
    if missing:
        print(f"Not in the run directory ({len(missing)}), listed in the report:", file=sys.stderr)
        for item in missing:
            print(f"  {item}", file=sys.stderr)
    print(f"Report written to {path}")
    return 0
