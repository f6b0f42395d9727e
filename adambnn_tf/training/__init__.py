"""Two-stage AdamBNN training with resumable, atomic per-epoch checkpoints.

!!! example
    ```python
    from adambnn_tf.config import recipe
    from adambnn_tf.training import TwoStageTraining

    config = recipe("fashion-mnist").with_overrides({"output_dir": "runs/exp1"})
    stage1, stage2 = TwoStageTraining(build_model, config).run(train_data, val_data)
    ```
"""

from adambnn_tf.training.data import training_dataset
from adambnn_tf.training.stage_store import StageState, StageStore
from adambnn_tf.training.two_stage import StageResult, TwoStageTraining

__all__ = [
    "StageResult",
    "StageState",
    "StageStore",
    "TwoStageTraining",
    "training_dataset",
]
