"""ReActNet models in larq-zoo style (`adambnn_tf.zoo`).

`ReActNetA`, `ReActNetACompact` (ReActNet-A's blocks in a six-block plan for small images),
`ReActNet18`, `ResNetTeacher` (a small real-valued distillation teacher) and `ResNet34`
(torchvision's `resnet34`, the official ImageNet teacher) are keyword-only
functions with larq-zoo's signature (`input_shape`, `input_tensor`, `weights`,
`include_top`, `num_classes`) plus the recipe's options (`stage`, `padding`,
`width_multiplier`, `small_input`, ...). Their zookeeper factories subclass larq-zoo's
`ModelFactory`.
`decode_predictions` and `preprocess_input` are larq-zoo's.

!!! example
    ```python
    import adambnn_tf
    from adambnn_tf.zoo import ReActNetA

    model = ReActNetA(input_shape=(28, 28, 1), num_classes=10, small_input=True,
                      width_multiplier=0.25, weights=None)
    ```
"""

from larq_zoo import decode_predictions, preprocess_input

import adambnn_tf  # noqa: F401  (selects tf-keras and registers the custom objects)
from adambnn_tf.zoo._blocks import SymmetricPaddingMaxPool2D, SymmetricPaddingQuantConv2D
from adambnn_tf.zoo._registry import (
    PRETRAINED_WEIGHTS,
    register_pretrained_weights,
    registered_weights,
)
from adambnn_tf.zoo.reactnet18 import ReActNet18, ReActNet18Factory
from adambnn_tf.zoo.reactnet_a import ReActNetA, ReActNetAFactory
from adambnn_tf.zoo.reactnet_a_compact import ReActNetACompact, ReActNetACompactFactory
from adambnn_tf.zoo.resnet34 import ResNet34, ResNet34Factory
from adambnn_tf.zoo.resnet_teacher import ResNetTeacher, ResNetTeacherFactory

__all__ = [
    "PRETRAINED_WEIGHTS",
    "ReActNet18",
    "ReActNet18Factory",
    "ReActNetA",
    "ReActNetACompact",
    "ReActNetACompactFactory",
    "ReActNetAFactory",
    "ResNet34",
    "ResNet34Factory",
    "ResNetTeacher",
    "ResNetTeacherFactory",
    "SymmetricPaddingMaxPool2D",
    "SymmetricPaddingQuantConv2D",
    "decode_predictions",
    "preprocess_input",
    "register_pretrained_weights",
    "registered_weights",
]
