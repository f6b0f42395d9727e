"""A small real-valued ResNet: the distillation teacher of the small-image BNNs."""

from collections.abc import Sequence

import tensorflow as tf
from larq_zoo.core import utils as zoo_utils
from larq_zoo.core.model_factory import ModelFactory
from zookeeper import Field, factory

from adambnn_tf.initializers import check_initializer, layer_initializers
from adambnn_tf.zoo import _blocks

__all__ = ["ResNetTeacher", "ResNetTeacherFactory"]


@factory
class ResNetTeacherFactory(ModelFactory):
    """`ResNetTeacher` as a zookeeper factory: fields `width`, `classifier_activation` and
    `initializer`."""

    name = "resnet_teacher"

    width: int = Field(32)
    classifier_activation: str | None = Field("softmax")
    initializer: str = Field("keras")

    def conv(
        self,
        x: tf.Tensor,
        filters: int,
        kernel_size: int,
        strides: int,
        name: str,
        padding: str = "same",
    ) -> tf.Tensor:
        """A convolution without bias, its kernel initialised per `initializer`."""
        fan_in = int(x.shape[-1]) * kernel_size * kernel_size
        kernel_initializer, _ = layer_initializers(self.initializer, fan_in)
        return tf.keras.layers.Conv2D(
            filters,
            kernel_size,
            strides,
            padding=padding,
            use_bias=False,
            kernel_initializer=kernel_initializer,
            name=name,
        )(x)

    def residual_block(self, x: tf.Tensor, filters: int, strides: int, name: str) -> tf.Tensor:
        """Two 3x3 convolutions with BatchNorm and ReLU, and a projected shortcut if needed."""
        shortcut = x
        x = self.conv(x, filters, 3, strides, f"{name}_conv1")
        x = tf.keras.layers.ReLU(name=f"{name}_relu1")(_blocks.batch_norm(x, f"{name}_bn1"))
        x = self.conv(x, filters, 3, 1, f"{name}_conv2")
        x = _blocks.batch_norm(x, f"{name}_bn2")
        if strides != 1 or shortcut.shape[-1] != filters:
            shortcut = self.conv(
                shortcut, filters, 1, strides, f"{name}_shortcut_conv", padding="valid"
            )
            shortcut = _blocks.batch_norm(shortcut, f"{name}_shortcut_bn")
        x = tf.keras.layers.Add(name=f"{name}_add")([shortcut, x])
        return tf.keras.layers.ReLU(name=f"{name}_relu2")(x)

    def build(self) -> tf.keras.Model:
        if self.weights == "imagenet":
            raise ValueError("ResNetTeacher has no pretrained weights; use weights=None.")
        if self.width < 1:
            raise ValueError(f"width must be a positive number of channels, got {self.width}.")
        check_initializer(self.initializer)
        x = self.conv(self.image_input, self.width, 3, 1, "stem_conv")
        x = tf.keras.layers.ReLU(name="stem_relu")(_blocks.batch_norm(x, "stem_bn"))
        for index, multiple in enumerate((1, 2, 4), start=1):
            x = self.residual_block(x, self.width * multiple, 2, f"block{index}")
        if self.include_top:
            x = _blocks.classifier(
                x, self.num_classes, self.classifier_activation, initializer=self.initializer
            )
        model = tf.keras.Model(inputs=self.image_input, outputs=x, name=self.name)
        if self.weights is not None:
            model.load_weights(self.weights)
        return model


def ResNetTeacher(
    *,
    input_shape: Sequence[int | None] | None = None,
    input_tensor: zoo_utils.TensorType | None = None,
    weights: str | None = None,
    include_top: bool = True,
    num_classes: int = 10,
    width: int = 32,
    classifier_activation: str | None = "softmax",
    initializer: str = "keras",
) -> tf.keras.Model:
    """Instantiates a small real-valued ResNet, the knowledge-distillation teacher.

    AdamBNN and ReActNet distil a real-valued ResNet-34 into the BNN on ImageNet. For 28x28
    to 32x32 images this is the counterpart: a real 3x3 stem (`width` channels, BatchNorm,
    ReLU) and three residual blocks of two 3x3 convolutions, each halving the resolution and
    doubling the channels (`width`, `2 width`, `4 width`), then average pooling and a dense
    classifier. At `width=32` on 28x28 images it has 0.31 M parameters and trains faster than
    the binary students it teaches (the binary convolutions of a BNN are simulated in floating
    point during training; epoch times in `bench/RESULTS.md`, section "Fashion-MNIST: the 93%
    target").

    !!! example
        ```python
        import adambnn_tf
        from adambnn_tf.zoo import ResNetTeacher

        teacher = ResNetTeacher(input_shape=(28, 28, 1), num_classes=10,
                                classifier_activation=None)  # logits, for distillation
        ```

    # Arguments
        input_shape: optional shape tuple `(height, width, channels)`; default `(28, 28, 1)`
            unless `input_tensor` is given.
        input_tensor: optional Keras tensor (output of `tf.keras.Input()`) to use as input.
        weights: `None` (random initialisation) or a Keras weights file of this model.
        include_top: whether to include the pooling and classifier.
        num_classes: number of classes of the classifier.
        width: the stem's channels; the blocks have `width`, `2 width` and `4 width`.
        classifier_activation: `"softmax"`, another activation, or `None` for logits.
        initializer: `"keras"` (default; glorot-uniform kernels, zero classifier bias) or
            `"pytorch"` (PyTorch's defaults: every kernel and the classifier's bias uniform
            in +-1/sqrt(fan_in)). See `adambnn_tf.initializers`.

    # Returns
        A Keras model named `"resnet_teacher"`.

    # Raises
        ValueError: for `weights="imagenet"`, a width below 1, or an unknown `initializer`
            (the message lists the allowed names).
    """
    if input_shape is None and input_tensor is None:
        input_shape = (28, 28, 1)
    return ResNetTeacherFactory(
        input_shape=input_shape,
        input_tensor=input_tensor,
        weights=weights,
        include_top=include_top,
        num_classes=num_classes,
        width=width,
        classifier_activation=classifier_activation,
        initializer=initializer,
    ).build()
