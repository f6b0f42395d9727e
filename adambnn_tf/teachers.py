"""The distillation teacher of a run, built from what `distillation.teacher` says.

Where the teacher comes from is resolved by `adambnn_tf.config.teacher_source.resolve_teacher`
(a saved Keras model, torchvision's ResNet-34 weights, or the name `resnet34`); this module
builds it: a saved Keras model is loaded as it is, ResNet-34 weights go into
`adambnn_tf.zoo.ResNet34` (a torchvision `.pth` converted on the fly).

!!! example
    ```python
    teacher = load_teacher("resnet34", input_shape=(224, 224, 3), num_classes=1000)
    ```
"""

from __future__ import annotations

from adambnn_tf.config.choices import NAMED_TEACHERS
from adambnn_tf.config.teacher_source import TeacherSource, resolve_teacher
from adambnn_tf.evaluation import load_keras_model
from adambnn_tf.zoo import ResNet34

__all__ = ["NAMED_TEACHERS", "TeacherSource", "load_teacher", "resolve_teacher"]


def load_teacher(value: str, *, input_shape, num_classes: int):
    """Builds the frozen teacher of a run (logits out).

    # Arguments
        value: `distillation.teacher`.
        input_shape: the student's input shape (a ResNet-34 is built for it).
        num_classes: the number of classes (a ResNet-34's weights must have as many).

    # Returns
        A `tf.keras.Model`.
    """

    source = resolve_teacher(value)
    if source.kind == "keras_model":
        return load_keras_model(source.path)
    return ResNet34(
        input_shape=tuple(input_shape),
        num_classes=num_classes,
        weights=source.path,
        classifier_activation=None,  # logits, as the distribution loss expects
    )
