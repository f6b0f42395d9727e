"""Atomic file writes: a reader sees the old file or the new one, never a partial one.

!!! example
    ```python
    with atomic_path("plots/loss.png", suffix=".png") as temporary:
        figure.savefig(temporary)
    ```
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

__all__ = ["atomic_path", "save_model_atomically", "write_atomically"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".part") -> Iterator[str]:
    """Yields a temporary path next to `path` that replaces `path` when the block succeeds.

    The temporary file is made in the destination's folder (created if needed), because
    `os.replace` is atomic only within one file system. When the block ends normally, the file
    gets mode `0o644` and is renamed to `path`; when it raises, the file is removed and `path`
    keeps its previous content, if any.

    !!! example
        ```python
        with atomic_path("run/final_model.h5", suffix=".h5") as temporary:
            model.save(temporary)
        ```

    # Arguments
        path: the destination file.
        suffix: the temporary file's name ending; writers that choose the format from the
            extension (Keras `.h5`, matplotlib `.png`) need the destination's.

    # Returns
        A context manager giving the temporary path (an empty file that already exists).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o644)  # mkstemp makes the file private; results are for reading
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_atomically(path: str | os.PathLike, data: bytes | str) -> None:
    """Writes `data` to `path` through a temporary file in the same folder and `os.replace`.

    The folder is created if needed. On any error the temporary file is removed and the
    previous content of `path`, if any, is left as it was.

    !!! example
        ```python
        write_atomically("run/state.json", json.dumps(state))
        ```

    # Arguments
        path: the destination file.
        data: the content; `str` is written as UTF-8.
    """
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        stream.write(data.encode() if isinstance(data, str) else data)
        stream.flush()
        os.fsync(stream.fileno())  # on disk before the rename makes it visible


def save_model_atomically(model, path: str | os.PathLike) -> None:
    """Saves a Keras model as `.h5` (without optimizer) through a temporary file and a rename.

    # Arguments
        model: a `tf.keras.Model`.
        path: the destination `.h5` file.
    """
    with atomic_path(path, suffix=".h5") as temporary:
        model.save(temporary, include_optimizer=False)
