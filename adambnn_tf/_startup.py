"""How `import adambnn_tf` starts in the `adambnn` command: quiet, and light for `--help`.

A Python program that imports the package gets TensorFlow as it is. The `adambnn` command
(its console script, whose `sys.argv[0]` is `adambnn`) instead:

- imports TensorFlow with its C++ start-up lines (CUDA plugin registration, absl) held back,
  and shown only if the import fails, unless `--verbose` is given;
- skips TensorFlow altogether when it only prints help (`-h`/`--help`, or no arguments), so
  that `adambnn --help` answers at once.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

__all__ = ["importing_quietly", "is_command", "only_help", "verbose"]

COMMAND = "adambnn"


def is_command() -> bool:
    """Whether this process is the `adambnn` command."""
    return bool(sys.argv) and os.path.basename(sys.argv[0]) == COMMAND


def verbose() -> bool:
    """Whether the command was asked to show TensorFlow's own logs."""
    return is_command() and "--verbose" in sys.argv[1:]


def only_help() -> bool:
    """Whether the command will only print help (TensorFlow is not needed)."""
    arguments = sys.argv[1:]
    return is_command() and (not arguments or "-h" in arguments or "--help" in arguments)


@contextlib.contextmanager
def importing_quietly():
    """Holds back what native code writes to stderr (file descriptor 2) inside the block.

    Python's `sys.stderr` redirection does not reach C++ logs, so the descriptor itself is
    pointed at a temporary file; its content is written out if the block raises.
    """
    if not is_command() or verbose():
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
