"""Conversion of the official ReActNet/AdamBNN PyTorch checkpoints, and of torchvision's
ResNet-34 (the distillation teacher), to Keras.

!!! example
    ```python
    import adambnn_tf
    from adambnn_tf.pytorch_conversion import convert_checkpoint, load_pytorch_state_dict

    convert_checkpoint("model_best.pth.tar", "reactnet_a.h5")  # needs torch
    state = load_pytorch_state_dict("model_best.pth.tar")      # name -> numpy array
    convert_checkpoint("resnet34-b627a593.pth", "resnet34.h5", "resnet34")  # torchvision's
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
from adambnn_tf.pytorch_conversion.torchvision_resnet import (
    check_resnet34_keys,
    convert_resnet34_state_dict,
    resnet34_state_dict_keys,
)

__all__ = [
    "MODEL_NAMES",
    "check_resnet34_keys",
    "convert_checkpoint",
    "convert_resnet34_state_dict",
    "convert_state_dict",
    "detect_layout",
    "load_pytorch_state_dict",
    "load_state_dict_into",
    "normalize_state_dict",
    "resnet34_state_dict_keys",
]
