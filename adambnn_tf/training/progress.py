"""A progress bar of the overall metrics only, for the command line."""

from __future__ import annotations

import tensorflow as tf

__all__ = ["PROGRESS_KEYS", "ConciseProgress"]

PROGRESS_KEYS = ("loss", "accuracy", "ff_ratio", "c2i_ratio", "saturation")
"""The logs shown in the progress bar (all logs, per layer too, go to History/TensorBoard)."""


class ConciseProgress(tf.keras.callbacks.Callback):
    """A Keras progress bar of the overall metrics only (the per-layer ones would flood it).

    !!! example
        ```python
        model.fit(data, epochs=2, verbose=0, callbacks=[ConciseProgress("Stage 1", 468)])
        ```

    # Arguments
        title: what the bar's header calls the phase, e.g. `"Stage 1"`.
        steps_per_epoch: batches per epoch.
    """

    def __init__(self, title: str, steps_per_epoch: int):
        super().__init__()
        self.title = title
        self.steps_per_epoch = steps_per_epoch
        self._bar = None

    def _shown(self, logs, epoch_end: bool = False) -> list[tuple[str, float]]:
        keys = [*PROGRESS_KEYS, *(f"val_{key}" for key in PROGRESS_KEYS)]
        if not epoch_end:
            # C2IRatio recomputes its value at the end of each epoch only.
            keys.remove("c2i_ratio")
        return [(key, float(logs[key])) for key in keys if logs and key in logs]

    def on_epoch_begin(self, epoch, logs=None):
        print(f"{self.title}, epoch {epoch + 1}/{self.params.get('epochs')}")
        self._bar = tf.keras.utils.Progbar(self.steps_per_epoch, stateful_metrics=PROGRESS_KEYS)

    def on_train_batch_end(self, batch, logs=None):
        self._bar.update(batch + 1, self._shown(logs))

    def on_epoch_end(self, epoch, logs=None):
        self._bar.update(self.steps_per_epoch, self._shown(logs, epoch_end=True), finalize=True)
