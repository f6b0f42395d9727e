"""The resumable per-epoch loop that every training phase runs: stage 1, stage 2, the teacher.

`fit_resumably` calls `model.fit` over the phase's remaining epochs and, after every epoch,
commits a checkpoint (model, optimizer and any extra state) and `state.json` atomically
through a `StageStore`. A phase killed at any point and run again resumes after the last
committed epoch and ends as an uninterrupted one would (for a deterministic data order).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import tensorflow as tf

from adambnn_tf.training.stage_store import StageState, StageStore

__all__ = ["Phase", "fit_resumably", "is_better"]


@dataclass
class Phase:
    """One phase of training, ready to fit.

    # Attributes
        store: the phase's checkpoint store.
        state: its committed state (`StageState(stage=...)` for a fresh phase).
        fit_model: the compiled model `fit` trains (a `DistillationModel` when distilling).
        checkpoint: everything a resumed epoch needs (model, optimizer, tracking state).
        weights_checkpoint: the model's weights only (the phase's best epoch).
        epochs: the phase's number of epochs.
        steps_per_epoch: batches per epoch.
        monitor: the epoch log whose best value is kept (`None`: no best epoch).
    """

    store: StageStore
    state: StageState
    fit_model: tf.keras.Model
    checkpoint: tf.train.Checkpoint
    weights_checkpoint: tf.train.Checkpoint
    epochs: int
    steps_per_epoch: int
    monitor: str | None = None


def is_better(value: float, best: float | None, monitor: str) -> bool:
    """Whether `value` of `monitor` beats `best` (lower for a loss, higher otherwise)."""
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best if monitor.endswith("loss") else value > best


def _append_epoch(history: dict[str, list[float]], logs: dict[str, float], index: int) -> None:
    """Appends one epoch's logs at list position `index`, NaN where a key has no value.

    Epochs without validation have no `val_*` logs: the lists stay aligned with the epochs,
    NaN marking the epochs without a value.
    """
    for key in [*history, *(key for key in logs if key not in history)]:
        values = history.setdefault(key, [])
        values.extend([math.nan] * (index - len(values)))
        values.append(logs.get(key, math.nan))


class _EpochCommit(tf.keras.callbacks.Callback):
    """Commits the epoch: history, best weights, checkpoint and `state.json`, atomically."""

    def __init__(self, phase: Phase):
        super().__init__()
        self.phase = phase

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) for key, value in (logs or {}).items()}
        phase, state = self.phase, self.phase.state
        _append_epoch(state.history, logs, epoch)
        if phase.monitor is not None:
            if phase.monitor not in logs:
                raise ValueError(
                    f"{phase.monitor!r} is not among the epoch logs {sorted(logs)}; pick one of "
                    "them as the metric of the best epoch, or start stage 2 from the last one."
                )
            value = logs[phase.monitor]
            if is_better(value, state.best_value, phase.monitor):
                state.best_checkpoint = phase.store.write_checkpoint(
                    phase.weights_checkpoint, f"best_{epoch:04d}"
                )
                state.best_value, state.best_epoch = value, epoch
        state.last_checkpoint = f"epoch_{epoch:04d}"
        state.completed_epochs = epoch + 1
        state.done = state.completed_epochs >= phase.epochs
        phase.store.write_checkpoint(phase.checkpoint, state.last_checkpoint, state=state)
        phase.store.commit(state)


def restore_last_epoch(phase: Phase) -> bool:
    """Reads the phase's newest readable checkpoint, if it has one.

    A damaged checkpoint is set aside and named in a warning, and the epoch before it is read
    instead (`StageStore.recover`); `phase.state` then becomes that epoch's state.

    # Returns
        Whether a checkpoint was read (`False` for a phase that never finished an epoch).
    """
    if phase.state.completed_epochs == 0:
        return False

    def read(prefix: str) -> None:
        phase.checkpoint.read(prefix).assert_consumed()

    recovered = phase.store.recover(phase.state, read)
    if recovered is not phase.state:
        # The live state object is shared with the commit callback: update it in place.
        phase.state.__dict__.update(recovered.__dict__)
    return True


def fit_resumably(
    phase: Phase,
    epoch_batches: Callable[[int], tf.data.Dataset],
    *,
    validation_data=None,
    validation_freq: int | Sequence[int] = 1,
    callbacks: Sequence[tf.keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> None:
    """Trains the phase's remaining epochs, committing each one (nothing to do when done).

    # Arguments
        phase: the phase, restored to its last committed epoch (`restore_last_epoch`).
        epoch_batches: `first_epoch -> dataset` of the batches of all remaining epochs.
        validation_data: optional validation batches.
        validation_freq: `fit`'s `validation_freq`.
        callbacks: more callbacks for `fit` (before the commit, so that their logs are
            recorded).
        verbose: `fit`'s verbosity.
    """
    if phase.state.done:
        return
    phase.state.steps_per_epoch = phase.steps_per_epoch
    phase.fit_model.fit(
        epoch_batches(phase.state.completed_epochs),
        epochs=phase.epochs,
        initial_epoch=phase.state.completed_epochs,
        steps_per_epoch=phase.steps_per_epoch,
        validation_data=validation_data,
        validation_freq=validation_freq,
        callbacks=[*callbacks, _EpochCommit(phase)],
        verbose=verbose,
    )
