"""The command line's one rule for failures, shared by every subcommand.

Every failure prints one line, `adambnn <command>: error: <what> (<how to fix>)`, and exits
with `EXIT_USAGE` (2) for input a user can correct (a bad option, a missing or unreadable
file, a run directory of another run) or `EXIT_FAILURE` (1) for a failure at run time. No
Python traceback is shown unless `adambnn --debug ...` asks for it.

!!! example
    ```python
    raise CommandError("the output must be an .h5 file", "give OUT.h5")
    ```
"""

from __future__ import annotations

__all__ = ["EXIT_FAILURE", "EXIT_USAGE", "CommandError", "exit_code_of", "message_of"]

EXIT_USAGE = 2
EXIT_FAILURE = 1

_INPUT_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, KeyError)


class CommandError(Exception):
    """A failure a subcommand explains itself.

    # Arguments
        what: what went wrong, naming the input.
        fix: how to fix it (printed in parentheses), or `None` when `what` says it.
        exit_code: `EXIT_USAGE` for input errors, `EXIT_FAILURE` for runtime failures.
    """

    def __init__(self, what: str, fix: str | None = None, exit_code: int = EXIT_USAGE):
        super().__init__(f"{what} ({fix})" if fix else what)
        self.exit_code = exit_code


def exit_code_of(error: BaseException) -> int:
    """The exit status for an exception that ended a subcommand."""
    if isinstance(error, CommandError):
        return error.exit_code
    return EXIT_USAGE if isinstance(error, _INPUT_ERRORS) else EXIT_FAILURE


def message_of(error: BaseException) -> str:
    """The one-line message for an exception that ended a subcommand."""
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, CommandError | ValueError | FileNotFoundError):
        return text
    return f"{type(error).__name__}: {text} (run `adambnn --debug ...` for the traceback)"
