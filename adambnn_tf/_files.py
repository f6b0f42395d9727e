"""Atomic file writes: a reader sees the old file or the new one, never a partial one."""

from __future__ import annotations

import os
import tempfile

__all__ = ["save_model_atomically", "write_atomically"]


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
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode() if isinstance(data, str) else data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes the file private; results are for reading
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def save_model_atomically(model, path: str | os.PathLike) -> None:
    """Saves a Keras model as `.h5` (without optimizer) through a temporary file and a rename.

    # Arguments
        model: a `tf.keras.Model`.
        path: the destination `.h5` file.
    """
    path = os.fspath(path)
    temporary = path + ".tmp.h5"
    try:
        model.save(temporary, include_optimizer=False)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
