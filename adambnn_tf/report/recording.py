"""Writers for the run-directory layout that `write_report` reads (see `layout`)."""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from adambnn_tf._files import write_atomically
from adambnn_tf.quantizers import is_latent_weight

__all__ = ["EpochTimer", "StepMetricCSV", "save_latent_weights"]


def save_latent_weights(
    model: tf.keras.Model,
    path: str | os.PathLike,
    latent_filter: Callable[[tf.Variable], bool] = is_latent_weight,
) -> str:
    """Saves the latent weights of a model's binary layers as `.npz` (for the histogram).

    # Arguments
        model: a built model.
        path: the file, e.g. `run_dir/latent_weights_final.npz`.
        latent_filter: which variables are latent weights (default: binary kernels and the
            recipe's stage-1 `RealLatentWeight` kernels).

    # Returns
        The path written.

    # Raises
        ValueError: when the model has no latent weights.

    !!! example
        ```python
        save_latent_weights(model, os.path.join(run_dir, "latent_weights_final.npz"))
        ```
    """
    arrays = {}
    for variable in model.weights:
        if latent_filter(variable):
            name = variable.name.split(":")[0]
            arrays.setdefault(name, getattr(variable, "latent_variable", variable).numpy())
    if not arrays:
        raise ValueError(f"Model {model.name!r} has no latent weights (no binary layers).")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path = os.fspath(path)
    write_atomically(path, buffer.getvalue())
    return path


class StepMetricCSV(tf.keras.callbacks.Callback):
    """Writes one logged value per training step to a CSV file (e.g. the FF-ratio).

    The file, `step,<column>`, is rewritten atomically at the end of every epoch. A resumed
    training (`fit(initial_epoch=k)`) keeps the rows of the epochs before `k` and replaces the
    rest. Reading a value every step makes Keras copy the step's logs to the host; for
    long runs log it every `every` steps.

    # Arguments
        path: the CSV file, e.g. `run_dir/stage1/ff_ratio_per_step.csv`.
        key: the log key, e.g. `"ff_ratio_step"` (`FFRatio(log_step_value=True)` logs it).
        column: the CSV column name (default: `"ff_ratio"`, what the report reads).
        every: keep every `every`-th step.

    !!! example
        ```python
        model.fit(
            data, epochs=3,
            callbacks=[
                adambnn_tf.callbacks.FFRatio(log_step_value=True),
                StepMetricCSV("run/stage1/ff_ratio_per_step.csv", key="ff_ratio_step"),
            ],
        )
        ```
    """

    def __init__(self, path: str | os.PathLike, key: str, column: str = "ff_ratio", every: int = 1):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}.")
        self.path = os.fspath(path)
        self.key = key
        self.column = column
        self.every = every
        self._rows: list[tuple[int, float]] | None = None
        self._step = 0

    def _load_rows_before(self, first_step: int) -> list[tuple[int, float]]:
        if not os.path.isfile(self.path):
            return []
        with open(self.path, newline="") as stream:
            rows = [(int(row["step"]), float(row[self.column])) for row in csv.DictReader(stream)]
        return [row for row in rows if row[0] < first_step]

    def on_epoch_begin(self, epoch, logs=None):
        if self._rows is None:  # the first epoch of this fit: resume from the file
            steps = self.params.get("steps") or 0
            self._step = epoch * steps
            self._rows = self._load_rows_before(self._step)

    def on_train_batch_end(self, batch, logs=None):
        if logs and self.key in logs and self._step % self.every == 0:
            self._rows.append((self._step, float(logs[self.key])))
        self._step += 1

    def on_epoch_end(self, epoch, logs=None):
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["step", self.column])
        writer.writerows(self._rows)
        write_atomically(self.path, text.getvalue().encode())

    def on_train_end(self, logs=None):
        self._rows = None


class EpochTimer(tf.keras.callbacks.Callback):
    """Logs each epoch's wall time, training and validation together, as `epoch_seconds`.

    The value goes into the epoch's logs, so `History` (and `adambnn_tf.training`'s resumable
    histories) keep it: the sum over a run's histories is its training time, also when the
    run was interrupted and resumed. Put it before the callbacks that read the logs.

    !!! example
        ```python
        history = model.fit(data, epochs=3, callbacks=[EpochTimer()])
        minutes = sum(history.history["epoch_seconds"]) / 60
        ```

    # Arguments
        key: the log key.
    """

    def __init__(self, key: str = "epoch_seconds"):
        super().__init__()
        self.key = key
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.key] = time.perf_counter() - self._start
