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

from adambnn_tf.cli.errors import exit_code_of, message_of

__all__ = ["main", "build_parser", "SUBCOMMAND_MODULES"]

SUBCOMMAND_MODULES: tuple[str, ...] = (
    "train",
    "recipes",
    "evaluate",
    "export",
    "convert_checkpoint",
    "report",
    "analyze",
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
        allow_abbrev=False,
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the Python traceback of a failure"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's own logs and warnings"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"adambnn_tf.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `adambnn` command.

    Failures follow one rule (`adambnn_tf.cli.errors`): one line on stderr, exit status 2 for
    input a user can correct, 1 for a failure at run time, and no traceback without `--debug`.

    # Arguments
        argv: the arguments, without the program name (default: `sys.argv[1:]`).

    # Returns
        The process exit status.
    """
    args = build_parser().parse_args(argv)
    if not args.verbose:
        _quiet_python_warnings()
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"adambnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        print(f"adambnn {args.command}: error: {message_of(error)}", file=sys.stderr)
        return exit_code_of(error)


def _quiet_python_warnings() -> None:
    """Hides warnings a user of the command cannot act on (TensorFlow's, Keras', Larq's)."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "absl", "larq", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


if __name__ == "__main__":
    sys.exit(main())
