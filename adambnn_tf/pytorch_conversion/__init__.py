"""Conversion of the official ReActNet/AdamBNN PyTorch checkpoints to Keras.

!!! example
    ```python
    import adambnn_tf
    from adambnn_tf.pytorch_conversion import convert_checkpoint, load_pytorch_state_dict

    convert_checkpoint("model_best.pth.tar", "reactnet_a.h5")  # needs torch
    state = load_pytorch_state_dict("model_best.pth.tar")      # name -> numpy array
    ```
"""

from adambnn_tf.pytorch_conversion.convert import (
    MODEL_NAMES,
    convert_checkpoint,
    convert_state_dict,
    detect_layout,
    load_state_dict_into,
)
from adambnn_tf.pytorch_conversion.pytorch import load_pytorch_state_dict, normalize_state_dict

__all__ = [
    "MODEL_NAMES",
    "convert_checkpoint",
    "convert_state_dict",
    "detect_layout",
    "load_pytorch_state_dict",
    "load_state_dict_into",
    "normalize_state_dict",
]
