"""Atomic, resumable per-epoch checkpoints of one training phase (a stage, or the teacher).

Layout of a phase directory:

```
stage1/
  state.json            # the commit point: completed epochs, history, best, checkpoint names
  epoch_0003/ckpt.*     # tf.train.Checkpoint: model, optimizer, callback state
  best_0002/ckpt.*      # model weights of the best epoch so far
```

A checkpoint is written into a temporary directory next to its final place and renamed
(`os.replace`, atomic on POSIX) once complete; `state.json` is then replaced atomically. A
run killed at any moment therefore leaves either the previous or the new state, never a
half-written one, and resumes from the last epoch that `state.json` names.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field

import tensorflow as tf

from adambnn_tf._files import write_atomically

__all__ = ["StageState", "StageStore"]

STATE_FILE = "state.json"
CHECKPOINT_PREFIX = "ckpt"


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

    def load_state(self) -> StageState | None:
        """The committed state, or `None` if the stage never completed an epoch."""
        if not os.path.exists(self.state_path):
            return None
        with open(self.state_path) as file:
            data = json.load(file)
        if data.get("stage") != self.stage:
            raise ValueError(
                f"{self.state_path} belongs to stage {data.get('stage')}, not {self.stage}: "
                "use a fresh output_dir or the stage's own folder."
            )
        return StageState(**data)

    def checkpoint_prefix(self, name: str) -> str:
        return os.path.join(self.directory, name, CHECKPOINT_PREFIX)

    def write_checkpoint(self, checkpoint: tf.train.Checkpoint, name: str) -> str:
        """Writes `checkpoint` to `<directory>/<name>/` atomically; returns `name`."""
        final = os.path.join(self.directory, name)
        temporary = tempfile.mkdtemp(dir=self.directory, prefix=f".tmp-{name}-")
        try:
            checkpoint.write(os.path.join(temporary, CHECKPOINT_PREFIX))
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
