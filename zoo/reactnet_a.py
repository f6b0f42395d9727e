"""ReActNet-A, the MobileNetV1-shaped BNN of ReActNet and AdamBNN, in larq-zoo style."""

from collections.abc import Sequence
from typing import Any

import tensorflow as tf
from larq_zoo.core import utils as zoo_utils
from zookeeper import Field, factory

from adambnn_tf.zoo import _blocks, _pretrained

__all__ = ["ReActNetA", "ReActNetAFactory"]

# Official `stage_out_channel`: index 0 is the stem, 1..13 the blocks.
REACTNET_A_WIDTHS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
# Blocks that halve the resolution (channel doubling except block 1, which stays at stride 1).
REACTNET_A_DOWNSAMPLING_BLOCKS = (2, 4, 6, 12)
# With small_input=True, blocks 6 and 12 keep stride 1 (and the stem too).
SMALL_INPUT_DOWNSAMPLING_BLOCKS = (2, 4)


@factory
class ReActNetAFactory(_pretrained.PretrainedModelFactory):
    """ReActNet-A ([Liu et al., 2020](https://arxiv.org/abs/2003.03488)) as a zookeeper factory.

    Blocks and variables follow the official `reactnet.py` (see `ReActNetA`). Fields beyond
    larq-zoo's `ModelFactory`: `stage`, `padding`, `width_multiplier`, `small_input`,
    `classifier_activation`, `kernel_constraint`, `initializer` and `binary`.
    """

    name = "reactnet_a"

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

    def _binary_conv(self, x, filters, kernel_size, strides, name):
        return _blocks.binary_conv(
            x,
            filters,
            kernel_size,
            strides=strides,
            stage=self.stage,
            padding=self.padding,
            kernel_constraint=self.kernel_constraint,
            initializer=self.initializer,
            binary=self.binary,
            name=name,
        )

    def basic_block(self, x: tf.Tensor, index: int, out_channels: int, strides: int):
        """One official `BasicBlock`: 3x3 binary conv, RPReLU, 1x1 binary conv(s), RPReLU.

        A channel-doubling block's two 1x1 convolutions (`binary_pw_down1/2`, each C->C on
        the same binary input, each followed by its BatchNorm and the same residual) are one
        C->2C convolution and one 2C BatchNorm here: output channels `[:C]` are `down1` /
        `bn2_1`, `[C:]` are `down2` / `bn2_2`, and the residual is the input repeated twice.
        This is exactly the official `cat([o1, o2])`, with the same parameters, and gives
        Larq Compute Engine one binary convolution instead of two.
        """
        in_channels = x.shape[-1]
        prefix = f"block{index}"
        residual = self._binary_conv(x, in_channels, 3, strides, f"{prefix}_conv3x3")
        residual = _blocks.batch_norm(residual, f"{prefix}_bn1")
        shortcut = x
        if (
            strides == 2
            and self.padding == "pytorch"
            and any(size is not None and size % 2 for size in x.shape[1:3])
        ):
            raise ValueError(
                f'padding="pytorch" needs an even size at every stride-2 block (the official '
                f"shortcut, AvgPool2d(2), drops the odd row the convolution keeps), but "
                f"{prefix} gets {x.shape[1]}x{x.shape[2]} from input_shape "
                f'{tuple(self.input_shape)}. Use padding="lce" (any size) or an input size '
                "that stays even down to this block (e.g. 32x32 instead of 28x28)."
            )
        if strides == 2:
            shortcut = tf.keras.layers.AveragePooling2D(
                2,
                strides=2,
                # Equal on even sizes; "same" also accepts odd sizes, as Keras "same" convs do.
                padding="same" if self.padding == "lce" else "valid",
                name=f"{prefix}_shortcut_pool",
            )(shortcut)
        x = tf.keras.layers.Add(name=f"{prefix}_add1")([shortcut, residual])
        x = _blocks.rprelu(x, f"{prefix}_rprelu1")

        residual = self._binary_conv(x, out_channels, 1, 1, f"{prefix}_conv1x1")
        residual = _blocks.batch_norm(residual, f"{prefix}_bn2")
        shortcut = x
        if out_channels == 2 * in_channels:
            shortcut = tf.keras.layers.Concatenate(name=f"{prefix}_shortcut_repeat")([x, x])
        x = tf.keras.layers.Add(name=f"{prefix}_add2")([shortcut, residual])
        return _blocks.rprelu(x, f"{prefix}_rprelu2")

    def block_plan(self) -> tuple[int, list[int], tuple[int, ...]]:
        """The network's shape: stem stride, widths (stem, then blocks) and downsampling blocks.

        # Returns
            `(stem_strides, widths, downsampling)`: `widths[0]` is the stem's channels,
            `widths[i]` block `i`'s output channels, and the blocks in `downsampling` have
            stride 2.
        """
        widths = _blocks.channel_plan(REACTNET_A_WIDTHS, self.width_multiplier)
        if self.small_input:
            return 1, widths, SMALL_INPUT_DOWNSAMPLING_BLOCKS
        return 2, widths, REACTNET_A_DOWNSAMPLING_BLOCKS

    def is_published_configuration(self) -> bool:
        """Whether the model has the shape of the published ImageNet checkpoints."""
        return self.width_multiplier == 1.0 and not self.small_input

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
            standard_configuration=self.is_published_configuration(),
            configuration=self.weights_configuration(),
        )
        stem_strides, widths, downsampling = self.block_plan()
        x = _blocks.real_conv(
            self.image_input,
            widths[0],
            3,
            strides=stem_strides,
            padding=self.padding,
            initializer=self.initializer,
            name="stem_conv",
        )
        x = _blocks.batch_norm(x, "stem_bn")  # The official stem has no activation.
        for index in range(1, len(widths)):
            strides = 2 if index in downsampling else 1
            x = self.basic_block(x, index, widths[index], strides)
        if self.include_top:
            x = _blocks.classifier(
                x, self.num_classes, self.classifier_activation, initializer=self.initializer
            )
        model = tf.keras.Model(inputs=self.image_input, outputs=x, name=self.name)
        _pretrained.load_weights(model, weights_path)
        return model


def ReActNetA(
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
    """Instantiates ReActNet-A, the network of ReActNet (69.4%) and AdamBNN (70.5%).

    A real 3x3 stem (stride 2, BatchNorm, no activation), 13 blocks of the official
    `BasicBlock` (RSign, binary 3x3 conv, BatchNorm, residual, RPReLU, RSign, binary 1x1
    conv(s), BatchNorm, residual, RPReLU), average pooling and a dense classifier with bias.
    Channel-doubling blocks duplicate the 1x1 path (see `ReActNetAFactory.basic_block`).
    Layers are named `stem_*`, `block{i}_*` (i = 1..13 as the official `feature.{i}`) and
    `logits`.

    # ImageNet Metrics

    | Top-1 Accuracy | Parameters | Binary parameters | OPs |
    | -------------- | ---------- | ----------------- | --- |
    | 69.4 % (ReActNet), 70.5 % (AdamBNN), official PyTorch | 29 343 592 | 28 253 184 | 0.87e8 |

    No Keras ImageNet weight files are published yet: convert an official checkpoint
    (`weights="model.pth.tar"` with `padding="pytorch"`, or `adambnn convert-checkpoint`).

    !!! example
        ```python
        import adambnn_tf
        from adambnn_tf.zoo import ReActNetA

        model = ReActNetA(weights=None)  # 224x224x3, 1000 classes, stage 2
        small = ReActNetA(
            input_shape=(28, 28, 1), num_classes=10, small_input=True, width_multiplier=0.25,
            classifier_activation=None,  # logits, for a from_logits loss
        )
        stage1 = ReActNetA(stage=1, weights=None)
        stage2 = ReActNetA(stage=2, weights=None)
        stage2.set_weights(stage1.get_weights())  # the two-stage recipe's hand-off
        twin = ReActNetA(binary=False, weights=None)  # the float twin: same variables
        twin.set_weights(stage2.get_weights())  # evaluated at the BNN's latent weights
        ```

    # Arguments
        input_shape: optional shape tuple `(height, width, channels)`; default
            `(224, 224, 3)` (or `(None, None, 3)` without the top).
        input_tensor: optional Keras tensor (output of `tf.keras.Input()`) to use as input.
        weights: `None` (random initialisation), `"imagenet"` (a registered Keras weights
            file; none is published yet), or a path to a Keras weights file (`.h5`, loaded
            by layer name) or an official PyTorch checkpoint (`.pth.tar`, converted on the
            fly, needs torch).
        include_top: whether to include the pooling and classifier.
        num_classes: number of classes of the classifier (1000 for `"imagenet"`).
        stage: 1 builds binary activations with real (latent) weights, 2 binary activations
            and binary weights. Both have the same variables; stage-1 weights load into
            stage 2 one to one.
        padding: `"lce"` (default; same-one padding that Larq Compute Engine fuses into its
            binary convolutions, for models trained with this plugin) or `"pytorch"`
            (symmetric zero padding after the sign, exact for converted official
            checkpoints). See `adambnn_tf.zoo._blocks`.
        width_multiplier: scales every channel count (the stem gets
            `round(32 * width_multiplier)` channels, doubling is kept exact).
        small_input: for 28x28 or 32x32 images: the stem and blocks 6 and 12 keep stride 1,
            so the network downsamples 4x instead of 32x (28 -> 7, 32 -> 8) and still ends
            at the 7-8 pixel resolution it has on ImageNet.
        classifier_activation: `"softmax"` (larq-zoo's convention), another activation, or
            `None` to return logits (as the official model does).
        kernel_constraint: optional constraint of the binary convolutions' latent kernels.
            Default `None` as in the official code, whose latent weights are unbounded (the
            clipped straight-through gradient stops at |w| > 1). `"weight_clip"` keeps them
            in [-1, 1], Larq's usual choice.
        initializer: `"keras"` (default; Keras' glorot-uniform kernels and zero classifier
            bias) or `"pytorch"` (PyTorch's defaults, as the official code: every
            convolution kernel, the stem's and the binary ones, and the classifier's kernel
            and bias uniform in +-1/sqrt(fan_in)). See `adambnn_tf.initializers`.
        binary: `True` (default) for the BNN; `False` for its float twin, the same
            architecture with each binarizer replaced by its real-valued identity: no sign
            on the convolutions' inputs (RSign's threshold stays, as a real shift) and real
            kernels (no kernel quantizer, no `kernel_constraint`), so `stage` makes no
            difference. The twin has the same layers and variables as the BNN.

    # Returns
        A Keras model named `"reactnet_a"`.

    # Raises
        ValueError: for an unknown `stage`, `padding` or `initializer` (the message lists
            the allowed names), a bad `width_multiplier`, an invalid
            `weights` argument, `num_classes != 1000` with `"imagenet"` and the top, or a
            weights file that does not fit the model.

    # References
        - [ReActNet: Towards Precise Binary Neural Network with Generalized Activation
          Functions](https://arxiv.org/abs/2003.03488)
        - [How Do Adam and Training Strategies Help BNNs Optimization?
          ](https://arxiv.org/abs/2106.11309)
    """
    return ReActNetAFactory(
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
