"""ReActNet-18, ReActNet's Bi-Real Net (ResNet-18) based variant, in larq-zoo style."""

from collections.abc import Sequence
from typing import Any

import tensorflow as tf
from larq_zoo.core import utils as zoo_utils
from zookeeper import Field, factory

from adambnn_tf.initializers import layer_initializers
from adambnn_tf.zoo import _blocks, _pretrained

__all__ = ["ReActNet18", "ReActNet18Factory"]

# Stem width, then the widths of layer1..layer4 (four blocks each, one binary 3x3 per block).
REACTNET18_WIDTHS = (64, 64, 128, 256, 512)
BLOCKS_PER_LAYER = 4


@factory
class ReActNet18Factory(_pretrained.PretrainedModelFactory):
    """ReActNet-18 (`birealnet18` of the official ReActNet code) as a zookeeper factory.

    Fields beyond larq-zoo's `ModelFactory`: `stage`, `padding`, `width_multiplier`,
    `small_input`, `classifier_activation`, `kernel_constraint`, `initializer` and `binary`
    (see `ReActNet18`).
    """

    name = "reactnet18"

    stage: int = Field(2)
    padding: str = Field("lce")
    width_multiplier: float = Field(1.0)
    small_input: bool = Field(False)
    classifier_activation: str | None = Field("softmax")
    kernel_constraint: Any = Field(None)
    initializer: str = Field("keras")
    binary: bool = Field(True)
    # larq-zoo annotates it as tf.Tensor, which a tf-keras KerasTensor does not satisfy.
    input_tensor: Any = Field(None)

    def basic_block(self, x: tf.Tensor, prefix: str, out_channels: int, strides: int):
        """One official block: RSign, binary 3x3 conv, BatchNorm, residual, RPReLU.

        The residual is the input, or, when the shape changes, the official `downsample`:
        `AvgPool2d(2, 2)` (only at stride 2), a real 1x1 convolution and BatchNorm.
        """
        in_channels = x.shape[-1]
        residual = _blocks.binary_conv(
            x,
            out_channels,
            3,
            strides=strides,
            stage=self.stage,
            padding=self.padding,
            kernel_constraint=self.kernel_constraint,
            initializer=self.initializer,
            binary=self.binary,
            name=f"{prefix}_conv3x3",
        )
        residual = _blocks.batch_norm(residual, f"{prefix}_bn")
        shortcut = x
        if strides == 2:
            shortcut = tf.keras.layers.AveragePooling2D(
                2,
                strides=2,
                padding="same" if self.padding == "lce" else "valid",
                name=f"{prefix}_downsample_pool",
            )(shortcut)
        if strides == 2 or in_channels != out_channels:
            kernel_initializer, _ = layer_initializers(self.initializer, in_channels)
            shortcut = tf.keras.layers.Conv2D(
                out_channels,
                1,
                use_bias=False,
                kernel_initializer=kernel_initializer,
                name=f"{prefix}_downsample_conv",
            )(shortcut)
            shortcut = _blocks.batch_norm(shortcut, f"{prefix}_downsample_bn")
        x = tf.keras.layers.Add(name=f"{prefix}_add")([shortcut, residual])
        return _blocks.rprelu(x, f"{prefix}_rprelu")

    def build(self) -> tf.keras.Model:
        _blocks.check_model_options(
            stage=self.stage,
            padding=self.padding,
            width_multiplier=self.width_multiplier,
            initializer=self.initializer,
        )
        self.image_input  # noqa: B018  (larq-zoo's checks of weights, classes and shape first)
        weights_path = _pretrained.resolve_weights(
            self.weights,
            model_name=self.name,
            padding=self.padding,
            include_top=self.include_top,
            standard_configuration=self.width_multiplier == 1.0 and not self.small_input,
            configuration=self.weights_configuration(),
        )
        widths = _blocks.channel_plan(REACTNET18_WIDTHS, self.width_multiplier)
        x = _blocks.real_conv(
            self.image_input,
            widths[0],
            7,
            strides=1 if self.small_input else 2,
            padding=self.padding,
            initializer=self.initializer,
            name="stem_conv",
        )
        x = _blocks.batch_norm(x, "stem_bn")  # The official stem has no activation.
        if not self.small_input:
            if self.padding == "pytorch":
                x = _blocks.SymmetricPaddingMaxPool2D(3, 2, symmetric_padding=1, name="stem_pool")(
                    x
                )
            else:
                x = tf.keras.layers.MaxPool2D(3, 2, padding="same", name="stem_pool")(x)
        # Layers 2-4 halve the resolution in their first block; small inputs keep layer 4's.
        downsampling_layers = (2, 3) if self.small_input else (2, 3, 4)
        for layer in range(1, 5):
            for block in range(BLOCKS_PER_LAYER):
                strides = 2 if block == 0 and layer in downsampling_layers else 1
                x = self.basic_block(x, f"layer{layer}_{block}", widths[layer], strides)
        if self.include_top:
            x = _blocks.classifier(
                x, self.num_classes, self.classifier_activation, initializer=self.initializer
            )
        model = tf.keras.Model(inputs=self.image_input, outputs=x, name=self.name)
        _pretrained.load_weights(model, weights_path)
        return model


def ReActNet18(
    *,  # Keyword arguments only, as in larq-zoo.
    input_shape: Sequence[int | None] | None = None,
    input_tensor: zoo_utils.TensorType | None = None,
    weights: str | None = None,
    include_top: bool = True,
    num_classes: int = 1000,
    stage: int = 2,
    padding: str = "lce",
    width_multiplier: float = 1.0,
    small_input: bool = False,
    classifier_activation: str | None = "softmax",
    kernel_constraint=None,
    initializer: str = "keras",
    binary: bool = True,
) -> tf.keras.Model:
    """Instantiates ReActNet-18, ReActNet's Bi-Real Net based variant (65.9%).

    A real 7x7 stem (stride 2, BatchNorm, no activation) with 3x3 max pooling, four layers of
    four blocks (RSign, binary 3x3 conv, BatchNorm, residual, RPReLU), whose first blocks in
    layers 2-4 halve the resolution with a real `AvgPool2d(2) -> 1x1 conv -> BatchNorm`
    shortcut, then average pooling and a dense classifier with bias. Layers are named
    `stem_*`, `layer{l}_{b}_*` (as the official `layer{l}.{b}`) and `logits`.

    # ImageNet Metrics

    | Top-1 Accuracy | Parameters | Binary parameters | OPs |
    | -------------- | ---------- | ----------------- | --- |
    | 65.9 % (official PyTorch) | 11 704 424 | 10 985 472 | 1.63e8 |

    !!! example
        ```python
        import adambnn_tf
        from adambnn_tf.zoo import ReActNet18

        model = ReActNet18(weights="model_best.pth.tar", padding="pytorch")  # official file
        small = ReActNet18(input_shape=(32, 32, 3), num_classes=10, small_input=True,
                           width_multiplier=0.25)
        ```

    # Arguments
        input_shape: optional shape tuple `(height, width, channels)`; default
            `(224, 224, 3)` (or `(None, None, 3)` without the top).
        input_tensor: optional Keras tensor (output of `tf.keras.Input()`) to use as input.
        weights: `None`, `"imagenet"` (a registered Keras weights file; none is published
            yet), or a path to a Keras weights file (`.h5`) or an official PyTorch checkpoint
            (`.pth.tar`, needs torch).
        include_top: whether to include the pooling and classifier.
        num_classes: number of classes of the classifier (1000 for `"imagenet"`).
        stage: 1 (binary activations, real latent weights) or 2 (both binary); the same
            variables, so stage-1 weights load into stage 2 one to one. The 1x1 shortcut
            convolutions are real in both stages, as in the official code.
        padding: `"lce"` (default, same-one padding fused by Larq Compute Engine) or
            `"pytorch"` (symmetric zero padding, -inf padding for the max pool; exact for
            converted official checkpoints).
        width_multiplier: scales every channel count (stem `round(64 * width_multiplier)`).
        small_input: for 28x28 or 32x32 images: the stem has stride 1 and no max pool and
            layer 4 keeps stride 1 (its shortcut is then the 1x1 conv and BatchNorm only),
            so the network downsamples 4x (28 -> 7, 32 -> 8).
        classifier_activation: `"softmax"` (larq-zoo's convention), another activation, or
            `None` for logits.
        kernel_constraint: optional constraint of the binary convolutions' latent kernels
            (default `None`, as in the official code).
        initializer: `"keras"` (default; Keras' glorot-uniform kernels and zero classifier
            bias) or `"pytorch"` (PyTorch's defaults, as the official code: every
            convolution kernel, the stem's, the binary ones and the real 1x1 shortcuts', and
            the classifier's kernel and bias uniform in +-1/sqrt(fan_in)). See
            `adambnn_tf.initializers`.
        binary: `True` (default) for the BNN; `False` for its float twin (the same layers
            and variables, no sign on the binary convolutions' inputs but RSign's threshold
            as a real shift, real kernels without constraint; `stage` makes no difference).

    # Returns
        A Keras model named `"reactnet18"`.

    # Raises
        ValueError: for an unknown `stage`, `padding` or `initializer` (the message lists
            the allowed names), a bad `width_multiplier`, an invalid
            `weights` argument, `num_classes != 1000` with `"imagenet"` and the top, or a
            weights file that does not fit the model.

    # References
        - [ReActNet: Towards Precise Binary Neural Network with Generalized Activation
          Functions](https://arxiv.org/abs/2003.03488)
        - [Bi-Real Net](https://arxiv.org/abs/1808.00278)
    """
    return ReActNet18Factory(
        input_shape=input_shape,
        input_tensor=input_tensor,
        weights=weights,
        include_top=include_top,
        num_classes=num_classes,
        stage=stage,
        padding=padding,
        width_multiplier=width_multiplier,
        small_input=small_input,
        classifier_activation=classifier_activation,
        kernel_constraint=kernel_constraint,
        initializer=initializer,
        binary=binary,
    ).build()
