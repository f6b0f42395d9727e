"""The seeds of the data order: one formula per level (run -> stage -> epoch), used everywhere.

A run's seed gives each stage its own data seed, and a data seed gives each epoch its own
seed, so that epoch `e` of stage `s` is the same whichever epoch a run resumed from.

!!! example
    ```python
    epoch_seed(stage_seed(seed=0, stage=2), epoch=3)  # 2_000_009
    ```
"""

from __future__ import annotations

__all__ = ["epoch_seed", "stage_seed"]


def stage_seed(seed: int, stage: int) -> int:
    """The data seed of a training phase (1, 2; the teacher trains on stage 0's order).

    # Arguments
        seed: the run's seed.
        stage: the stage.

    # Returns
        `seed * 10 + stage`.
    """
    return seed * 10 + stage


def epoch_seed(seed, epoch):
    """The seed of one epoch's order and augmentation: `seed * 1_000_003 + epoch`.

    Works on Python integers and on `int64` tensors alike (the input pipelines compute it
    inside `tf.data`).

    # Arguments
        seed: a data seed (`stage_seed(...)` for a stage).
        epoch: the 0-based epoch.

    # Returns
        The epoch's seed, of the arguments' type.
    """
    return seed * 1_000_003 + epoch
