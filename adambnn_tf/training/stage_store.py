"""Atomic, resumable per-epoch checkpoints of one training phase (a stage, or the teacher).

Layout of a phase directory:

```
stage1/
  state.json            # the commit point: completed epochs, history, best, checkpoint names
  epoch_0003/ckpt.*     # tf.train.Checkpoint: model, optimizer, callback state
  epoch_0003/state.json # the state as committed with this checkpoint (for recovery)
  best_0002/ckpt.*      # model weights of the best epoch so far
  corrupt_epoch_0004/   # a checkpoint found unreadable, set aside (never deleted)
```

A checkpoint is written into a temporary directory next to its final place and renamed
(`os.replace`, atomic on POSIX) once complete; `state.json` is then replaced atomically. A
run killed at any moment therefore leaves either the previous or the new state, never a
half-written one, and resumes from the last epoch that `state.json` names.

A file damaged afterwards (a truncated checkpoint, an unreadable `state.json`) does not stop a
resume: `recover` sets the damaged checkpoint aside, says so, and goes back to the newest epoch
whose checkpoint and state copy are readable.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import tensorflow as tf

from adambnn_tf._files import write_atomically

__all__ = ["CorruptCheckpointError", "StageState", "StageStore"]

_log = logging.getLogger(__name__)
# What reading a damaged checkpoint raises: TensorFlow's OpErrors (checksum, missing file),
# and Python errors from its reader (a truncated file reads "less bytes than requested").
_UNREADABLE = (tf.errors.OpError, OSError, ValueError, IndexError, AssertionError)

STATE_FILE = "state.json"
CHECKPOINT_PREFIX = "ckpt"


class CorruptCheckpointError(ValueError):
    """No committed epoch of a phase can be read back (every checkpoint or state is damaged)."""


@dataclass
class StageState:
    """What `state.json` records about a phase (`stage`: 1, 2, or `"teacher"`)."""

    stage: int | str
    completed_epochs: int = 0
    done: bool = False
    last_checkpoint: str | None = None
    best_checkpoint: str | None = None
    best_value: float | None = None
    best_epoch: int | None = None
    steps_per_epoch: int | None = None
    history: dict[str, list[float]] = field(default_factory=dict)


class StageStore:
    """Reads and writes the checkpoints and state of one phase in `directory`.

    # Arguments
        directory: the phase directory (created if missing).
        stage: 1, 2, or `"teacher"`.
        keep_last: how many epoch checkpoints to keep (at least 1).
    """

    def __init__(self, directory: str, stage: int, keep_last: int = 2):
        if keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {keep_last!r}.")
        self.directory = directory
        self.stage = stage
        self.keep_last = keep_last
        os.makedirs(directory, exist_ok=True)

    @property
    def state_path(self) -> str:
        return os.path.join(self.directory, STATE_FILE)

    def _read_state(self, path: str) -> StageState:
        try:
            with open(path) as file:
                data = json.load(file)
            state = StageState(**data)
        except (OSError, ValueError, TypeError) as error:
            raise CorruptCheckpointError(f"{path} is unreadable ({error})") from error
        if state.stage != self.stage:
            raise ValueError(
                f"{path} belongs to stage {state.stage}, not {self.stage}: use a fresh "
                "output_dir or the stage's own folder."
            )
        return state

    def load_state(self) -> StageState | None:
        """The committed state, or `None` if the stage never completed an epoch.

        An unreadable `state.json` falls back to the state copy of the newest epoch checkpoint
        (see `recover`).

        # Raises
            CorruptCheckpointError: when neither `state.json` nor any state copy is readable.
        """
        if not os.path.exists(self.state_path):
            return None
        try:
            return self._read_state(self.state_path)
        except CorruptCheckpointError as error:
            for name in self._epochs_newest_first():
                try:
                    state = self._read_state(os.path.join(self.directory, name, STATE_FILE))
                except CorruptCheckpointError:
                    continue
                _log.warning("%s; using the state saved with %s.", error, name)
                return state
            raise CorruptCheckpointError(
                f"{error}, and no epoch checkpoint in {self.directory} holds a readable copy; "
                "start this run in a new --output-dir."
            ) from error

    def _epochs_newest_first(self) -> list[str]:
        return sorted(
            (name for name in os.listdir(self.directory) if name.startswith("epoch_")),
            reverse=True,
        )

    def recover(self, state: StageState, read: Callable[[str], None]) -> StageState:
        """Reads the newest readable epoch checkpoint, going back past damaged ones.

        # Arguments
            state: the committed state (`load_state`).
            read: `checkpoint prefix -> None`, reading a checkpoint into the live objects; it
                raises if the checkpoint is damaged.

        # Returns
            The state of the epoch that was read: `state` itself, or the state saved with an
            older checkpoint when newer ones were damaged (they are moved to `corrupt_<name>`
            and named in a warning).

        # Raises
            CorruptCheckpointError: when no checkpoint can be read.
        """
        candidates = [state.last_checkpoint] + [
            name for name in self._epochs_newest_first() if name < state.last_checkpoint
        ]
        for name in candidates:
            try:
                chosen = (
                    state
                    if name == state.last_checkpoint
                    else self._read_state(os.path.join(self.directory, name, STATE_FILE))
                )
                read(self.checkpoint_prefix(name))
            except _UNREADABLE as error:
                damaged = os.path.join(self.directory, name)
                if os.path.isdir(damaged):
                    os.replace(damaged, os.path.join(self.directory, f"corrupt_{name}"))
                _log.warning(
                    "%s is damaged (%s: %s); set aside as corrupt_%s, resuming from an older "
                    "epoch.",
                    damaged,
                    type(error).__name__,
                    " ".join(str(error).split())[:200],
                    name,
                )
                continue
            if chosen is not state:
                self.commit(chosen)
            return chosen
        raise CorruptCheckpointError(
            f"No checkpoint of {self.directory} can be read (the damaged ones are set aside as "
            "corrupt_*); start this run in a new --output-dir."
        )

    def checkpoint_prefix(self, name: str) -> str:
        return os.path.join(self.directory, name, CHECKPOINT_PREFIX)

    def write_checkpoint(
        self, checkpoint: tf.train.Checkpoint, name: str, state: StageState | None = None
    ) -> str:
        """Writes `checkpoint` to `<directory>/<name>/` atomically; returns `name`.

        # Arguments
            checkpoint: what to write.
            name: the folder name (`epoch_0003`, `best_0002`).
            state: the state this checkpoint commits, saved beside it for `recover`.
        """
        final = os.path.join(self.directory, name)
        temporary = tempfile.mkdtemp(dir=self.directory, prefix=f".tmp-{name}-")
        try:
            checkpoint.write(os.path.join(temporary, CHECKPOINT_PREFIX))
            if state is not None:
                with open(os.path.join(temporary, STATE_FILE), "w") as file:
                    json.dump(asdict(state), file, indent=1)
            if os.path.exists(final):  # left over by a run killed before it committed
                shutil.rmtree(final)
            os.replace(temporary, final)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        return name

    def commit(self, state: StageState) -> None:
        """Replaces `state.json`, then removes the checkpoints it no longer names."""
        write_atomically(self.state_path, json.dumps(asdict(state), indent=1))
        self._prune(state)

    def _prune(self, state: StageState) -> None:
        keep = {state.last_checkpoint, state.best_checkpoint}
        epochs = sorted(name for name in os.listdir(self.directory) if name.startswith("epoch_"))
        keep.update(epochs[-self.keep_last :])
        for name in os.listdir(self.directory):
            path = os.path.join(self.directory, name)
            stale_temporary = name.startswith(".tmp-") and os.path.isdir(path)
            stale = name.startswith(("epoch_", "best_")) and name not in keep
            if stale or stale_temporary:
                shutil.rmtree(path, ignore_errors=True)
