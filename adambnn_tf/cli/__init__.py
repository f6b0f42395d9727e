"""The `adambnn` command line.

Each subcommand lives in its own module of this package, which defines
`add_parser(subparsers) -> argparse.ArgumentParser` and sets `run=<function(args) -> int>`
as the parser's default. Add a new module's name to `SUBCOMMAND_MODULES`.

!!! example
    ```bash
    adambnn --help
    adambnn export --help
    ```
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser", "SUBCOMMAND_MODULES"]

SUBCOMMAND_MODULES: tuple[str, ...] = (
    "train",
    "recipes",
    "evaluate",
    "export",
    "convert_checkpoint",
    "report",
    "tune",
)


def build_parser() -> argparse.ArgumentParser:
    """Builds the `adambnn` parser with every subcommand.

    # Returns
        The top-level `argparse.ArgumentParser`.
    """
    parser = argparse.ArgumentParser(
        prog="adambnn",
        description="Train binary neural networks with the AdamBNN recipe and export them "
        "to Larq Compute Engine.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"adambnn_tf.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `adambnn` command.

    # Arguments
        argv: the arguments, without the program name (default: `sys.argv[1:]`).

    # Returns
        The process exit status.
    """
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
