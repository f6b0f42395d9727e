"""Checks of the paths a subcommand will write, made before it reads or writes anything.

A command that fails while writing its result has usually spent minutes on it (a conversion,
a report's plots), and may leave folders behind; these checks refuse such paths at once.

!!! example
    ```python
    check_output_file(args.output, "OUT")          # raises CommandError (exit 2)
    check_output_folder(args.output_dir, "--output-dir")
    ```
"""

from __future__ import annotations

import os

from adambnn_tf.cli.errors import CommandError

__all__ = ["check_output_file", "check_output_folder"]


def _check_creatable(path: str, what: str) -> None:
    """Refuses a path whose nearest existing ancestor is a file or cannot be written to."""
    ancestor = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise CommandError(
            f"{what} {path} cannot be created: {ancestor} is a file, not a folder",
            "choose a path in a folder",
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise CommandError(
            f"{what} {path} cannot be created: the folder {ancestor} is not writable",
            "choose a folder you can write to",
        )


def check_output_file(path: str | os.PathLike, what: str) -> None:
    """Refuses an output file path that is a folder or lies under a file.

    # Arguments
        path: the file the command will write (its folders are created if missing).
        what: how the command line names it, e.g. `"OUT"` or `"--report-json"`.

    # Raises
        CommandError: with exit status 2, naming the path and what is in the way.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CommandError(f"{what} {path} is a folder", "give the path of a file to write")
    _check_creatable(path, what)


def check_output_folder(path: str | os.PathLike, what: str) -> None:
    """Refuses an output folder path that is an existing file or lies under a file.

    # Arguments
        path: the folder the command will create or write into.
        what: how the command line names it, e.g. `"--output-dir"`.

    # Raises
        CommandError: with exit status 2, naming the path and what is in the way.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise CommandError(
            f"{what} {path} is a file, not a folder", "give a folder (new or existing)"
        )
    if not os.path.exists(path):
        _check_creatable(path, what)
