"""The configuration of a run: one typed tree of settings, named recipes, `--set` overrides.

!!! example
    ```python
    from adambnn_tf.config import recipe

    config = recipe("official-imagenet")
    print(config.training.decay_parameters, config.stage1.weight_decay)  # official 5e-06
    ```
"""

from adambnn_tf.config.fields import ConfigError
from adambnn_tf.config.recipes import DEFAULT_RECIPE, describe_recipe, recipe, recipe_names
from adambnn_tf.config.schema import (
    DataConfig,
    DistillationConfig,
    ModelConfig,
    OutputConfig,
    RunConfig,
    StageConfig,
    TrackingConfig,
    TrainingConfig,
)

__all__ = [
    "DEFAULT_RECIPE",
    "ConfigError",
    "DataConfig",
    "DistillationConfig",
    "ModelConfig",
    "OutputConfig",
    "RunConfig",
    "StageConfig",
    "TrackingConfig",
    "TrainingConfig",
    "describe_recipe",
    "recipe",
    "recipe_names",
]
