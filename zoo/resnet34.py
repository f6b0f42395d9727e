"""ResNet-34 equal to torchvision's `resnet34`: the official AdamBNN distillation teacher.

The official recipe distils `torchvision.models.resnet34(pretrained=True)` into ReActNet-A.
This Keras model computes the same function as torchvision's, so the converted ImageNet
weights (`adambnn_tf.pytorch_conversion`) give the same logits: PyTorch's symmetric padding
is explicit (`ZeroPadding2D` then a `"valid"` convolution, -inf padding for the max pool),
where Keras `"same"` would pad `(0, 1)` at stride 2 and shift every sampling grid.

Keras layer names are torchvision's module names with `_` for `.`: `conv1`, `bn1`,
`layer1_0_conv1`, `layer2_0_downsample_0` (the 1x1 convolution), `layer2_0_downsample_1` (its
BatchNorm), ..., `fc`. torchvision's names contain no `_`, so the mapping runs both ways.
"""

from collections.abc import Sequence
from typing import Any

import tensorflow as tf
from larq_zoo.core import utils as zoo_utils
from zookeeper import Field, factory

from adambnn_tf.initializers import check_initializer
from adambnn_tf.zoo import _blocks, _pretrained

__all__ = [
    "RESNET34_BLOCKS",
    "RESNET34_WIDTHS",
    "ResNet34",
    "ResNet34Factory",
    "keras_layer_name",
]

# BasicBlocks in layer1..layer4 and their widths (torchvision's `resnet34`: [3, 4, 6, 3]).
RESNET34_BLOCKS = (3, 4, 6, 3)
RESNET34_WIDTHS = (64, 128, 256, 512)
STEM_WIDTH = 64


def keras_layer_name(torch_module: str) -> str:
    """The Keras layer name of a torchvision module name (`layer2.0.downsample.0` ->
    `layer2_0_downsample_0`).

    # Arguments
        torch_module: a module name of torchvision's ResNet-34 (a state-dict key without the
            parameter's name).

    # Returns
        The name of the corresponding layer of `ResNet34`.
    """
    return torch_module.replace(".", "_")


@factory
class ResNet34Factory(_pretrained.PretrainedModelFactory):
    """torchvision's ResNet-34 as a zookeeper factory: fields `classifier_activation` and
    `initializer` beyond larq-zoo's `ModelFactory` (see `ResNet34`)."""

    name = "resnet34"

    classifier_activation: str | None = Field("softmax")
    initializer: str = Field("keras")
    # larq-zoo annotates it as tf.Tensor, which a tf-keras KerasTensor does not satisfy.
    input_tensor: Any = Field(None)

    def conv(self, x: tf.Tensor, filters: int, kernel_size: int, strides: int, module: str):
        """A convolution without bias, padded symmetrically by `kernel_size // 2` as
        torchvision's (`conv3x3` pads 1, the stem pads 3, the 1x1 downsample none)."""
        return _blocks.real_conv(
            x,
            filters,
            kernel_size,
            strides=strides,
            padding="pytorch",
            initializer=self.initializer,
            name=keras_layer_name(module),
        )

    def basic_block(self, x: tf.Tensor, module: str, filters: int, strides: int) -> tf.Tensor:
        """torchvision's `BasicBlock`: conv3x3 (with the stride), BN, ReLU, conv3x3, BN, plus
        the input or its `downsample` (1x1 convolution with the stride, BN), ReLU."""
        prefix = keras_layer_name(module)
        shortcut = x
        residual = self.conv(x, filters, 3, strides, f"{module}.conv1")
        residual = _blocks.batch_norm(residual, f"{prefix}_bn1")
        residual = tf.keras.layers.ReLU(name=f"{prefix}_relu1")(residual)
        residual = self.conv(residual, filters, 3, 1, f"{module}.conv2")
        residual = _blocks.batch_norm(residual, f"{prefix}_bn2")
        # Built after bn2 so that the layers come in torchvision's state-dict order.
        if strides != 1 or x.shape[-1] != filters:
            shortcut = self.conv(x, filters, 1, strides, f"{module}.downsample.0")
            shortcut = _blocks.batch_norm(shortcut, f"{prefix}_downsample_1")
        x = tf.keras.layers.Add(name=f"{prefix}_add")([residual, shortcut])
        return tf.keras.layers.ReLU(name=f"{prefix}_relu2")(x)

    def build(self) -> tf.keras.Model:
        check_initializer(self.initializer)
        self.image_input  # noqa: B018  (larq-zoo's checks of weights, classes and shape first)
        weights_path = _pretrained.resolve_weights(
            self.weights,
            model_name=self.name,
            padding="pytorch",
            include_top=self.include_top,
            standard_configuration=True,
            configuration=self.weights_configuration(),
        )
        x = self.conv(self.image_input, STEM_WIDTH, 7, 2, "conv1")
        x = _blocks.batch_norm(x, "bn1")
        x = tf.keras.layers.ReLU(name="relu")(x)
        # The -inf border never wins the max, as in nn.MaxPool2d(3, 2, padding=1).
        x = _blocks.SymmetricPaddingMaxPool2D(3, 2, symmetric_padding=1, name="maxpool")(x)
        for layer, (blocks, filters) in enumerate(
            zip(RESNET34_BLOCKS, RESNET34_WIDTHS, strict=True), start=1
        ):
            for block in range(blocks):
                strides = 2 if block == 0 and layer > 1 else 1
                x = self.basic_block(x, f"layer{layer}.{block}", filters, strides)
        if self.include_top:
            x = _blocks.classifier(
                x,
                self.num_classes,
                self.classifier_activation,
                name="fc",
                initializer=self.initializer,
            )
        model = tf.keras.Model(inputs=self.image_input, outputs=x, name=self.name)
        _pretrained.load_weights(model, weights_path)
        return model


def ResNet34(
    *,  # Keyword arguments only, as in larq-zoo.
    input_shape: Sequence[int | None] | None = None,
    input_tensor: zoo_utils.TensorType | None = None,
    weights: str | None = None,
    include_top: bool = True,
    num_classes: int = 1000,
    classifier_activation: str | None = "softmax",
    initializer: str = "keras",
) -> tf.keras.Model:
    """Instantiates ResNet-34, equal to torchvision's `resnet34` (the official teacher).

    A real 7x7 stem (stride 2, padding 3, BatchNorm, ReLU), a 3x3 max pool (stride 2,
    padding 1), four layers of 3, 4, 6 and 3 `BasicBlock`s with 64, 128, 256 and 512
    channels (conv3x3, BN, ReLU, conv3x3, BN, residual, ReLU; the first blocks of layers 2-4
    have stride 2 and a 1x1 convolution + BN shortcut), average pooling and a dense
    classifier. BatchNorm has PyTorch's epsilon (1e-5) and momentum (0.1, Keras 0.9). Layer
    names are torchvision's with `_` for `.` (`conv1`, `bn1`, `layer3_5_conv2`,
    `layer2_0_downsample_0`, `fc`).

    # ImageNet Metrics

    | Top-1 Accuracy | Top-5 Accuracy | Parameters | FLOPs |
    | -------------- | -------------- | ---------- | ----- |
    | 73.3 % (torchvision `IMAGENET1K_V1`) | 91.4 % | 21 797 672 | 3.66e9 |

    The weights are torchvision's: convert its `resnet34` ImageNet file (`weights=` the
    `.pth` path, or `adambnn convert-checkpoint --arch resnet34`). Inputs are normalised as
    torchvision's: RGB in [0, 1], minus the ImageNet mean `(0.485, 0.456, 0.406)`, divided
    by the standard deviation `(0.229, 0.224, 0.225)`.

    !!! example
        ```python
        import adambnn_tf
        from adambnn_tf.zoo import ResNet34

        teacher = ResNet34(weights="resnet34-b627a593.pth",  # torchvision's file
                           classifier_activation=None)       # logits, for distillation
        features = ResNet34(input_shape=(64, 64, 3), include_top=False)
        ```

    # Arguments
        input_shape: optional shape tuple `(height, width, channels)`; default
            `(224, 224, 3)` (or `(None, None, 3)` without the top).
        input_tensor: optional Keras tensor (output of `tf.keras.Input()`) to use as input.
        weights: `None` (random initialisation), `"imagenet"` (a registered Keras weights
            file; none is published yet), or a path to a Keras weights file (`.h5`, loaded
            by layer name) or a torchvision-layout PyTorch state dict (`.pth`, converted on
            the fly, needs torch).
        include_top: whether to include the pooling and classifier.
        num_classes: number of classes of the classifier (1000 for `"imagenet"`).
        classifier_activation: `"softmax"` (larq-zoo's convention), another activation, or
            `None` for logits (as torchvision's model returns).
        initializer: `"keras"` (default; glorot-uniform kernels, zero classifier bias) or
            `"pytorch"` (PyTorch's layer defaults: kernels and the classifier's bias uniform
            in +-1/sqrt(fan_in)). See `adambnn_tf.initializers`. torchvision itself
            re-initialises the convolutions He-normal (fan-out); that matters only when
            training from scratch, never for converted weights.

    # Returns
        A Keras model named `"resnet34"`.

    # Raises
        ValueError: for an unknown `initializer`, an invalid `weights` argument,
            `num_classes != 1000` with `"imagenet"` and the top, or a weights file that does
            not fit the model (the message names the first offending keys or layers).

    # References
        - [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385)
        - [How Do Adam and Training Strategies Help BNNs Optimization?
          ](https://arxiv.org/abs/2106.11309)
    """
    return ResNet34Factory(
        input_shape=input_shape,
        input_tensor=input_tensor,
        weights=weights,
        include_top=include_top,
        num_classes=num_classes,
        classifier_activation=classifier_activation,
        initializer=initializer,
    ).build()
