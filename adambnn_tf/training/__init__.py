"""Two-stage AdamBNN training with resumable, atomic per-epoch checkpoints.

!!! example
    ```python
    from adambnn_tf.training import TwoStageTraining

    training = TwoStageTraining(build_model, "runs/exp1", epochs_per_stage=(128, 128))
    stage1, stage2 = training.run(train_data, validation_data=val_data)
    ```
"""

from adambnn_tf.training.checkpoints import StageState, StageStore, atomic_write_text
from adambnn_tf.training.data import epoch_seed, training_dataset
from adambnn_tf.training.two_stage import StageResult, TwoStageTraining

__all__ = [
    "StageResult",
    "StageState",
    "StageStore",
    "TwoStageTraining",
    "atomic_write_text",
    "epoch_seed",
    "training_dataset",
]
