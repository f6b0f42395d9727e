"""ReActNet-A Compact: ReActNet-A's blocks in a six-block plan for 28x28 to 32x32 images."""

from collections.abc import Sequence
from typing import Any

import tensorflow as tf
from larq_zoo.core import utils as zoo_utils
from zookeeper import factory

from adambnn_tf.zoo import _blocks
from adambnn_tf.zoo.reactnet_a import ReActNetAFactory

__all__ = ["ReActNetACompact", "ReActNetACompactFactory"]

# Index 0 is the stem, 1..6 the blocks: every block that halves the resolution doubles the
# channels, and each resolution (14, 7, 4 on 28x28 images) gets one block more at its width.
COMPACT_WIDTHS = (32, 64, 64, 128, 128, 256, 256)
COMPACT_DOWNSAMPLING_BLOCKS = (1, 3, 5)


@factory
class ReActNetACompactFactory(ReActNetAFactory):
    """ReActNet-A Compact as a zookeeper factory (see `ReActNetACompact`).

    The same official `BasicBlock` as `ReActNetAFactory`, in a shorter plan; the fields are
    the same (`small_input` is ignored: the plan is made for small inputs).
    """

    name = "reactnet_a_compact"

    def block_plan(self) -> tuple[int, list[int], tuple[int, ...]]:
        widths = _blocks.channel_plan(COMPACT_WIDTHS, self.width_multiplier)
        return 1, widths, COMPACT_DOWNSAMPLING_BLOCKS

    def is_published_configuration(self) -> bool:
        return False

    def build(self) -> tf.keras.Model:
        if isinstance(self.weights, str) and self.weights == "imagenet":
            raise ValueError(
                "ReActNetACompact has no ImageNet weights: it is a model for 28x28 to 32x32 "
                "images. Use weights=None to train it, or ReActNetA(weights='imagenet')."
            )
        return super().build()


def ReActNetACompact(
    *,  # Keyword arguments only, as in larq-zoo.
    input_shape: Sequence[int | None] | None = None,
    input_tensor: zoo_utils.TensorType | None = None,
    weights: str | None = None,
    include_top: bool = True,
    num_classes: int = 10,
    stage: int = 2,
    padding: str = "lce",
    width_multiplier: float = 1.0,
    classifier_activation: str | None = "softmax",
    kernel_constraint: Any = None,
    initializer: str = "keras",
    binary: bool = True,
) -> tf.keras.Model:
    """Instantiates ReActNet-A Compact, a small-image BNN made of ReActNet-A's blocks.

    ReActNet-A at `small_input=True` keeps its 13 blocks and its widths, most of them at 7x7,
    which costs 8.9e7 multiply-adds per 28x28 image at `width_multiplier=0.25`. This
    model keeps the official block (RSign, binary 3x3 conv, BatchNorm, residual, RPReLU,
    RSign, binary 1x1 conv, BatchNorm, residual, RPReLU) and the real 3x3 stem, in a plan of
    six blocks: the stem keeps the input resolution, and blocks 1, 3 and 5 halve it while
    doubling the channels (32 -> 64, 128, 256), blocks 2, 4 and 6 refine it. On 28x28 images
    that is 3.4e7 multiply-adds, and it trains several times faster than the small
    ReActNet-A on a CPU (`bench/RESULTS.md`, section "Fashion-MNIST: the 93% target"). Every
    convolution but the stem is binary in stage 2, and Larq Compute Engine runs all of them
    with its binary kernels.

    | Input | Trainable parameters | Binary parameters | Feature maps |
    | ----- | ---------- | ----------------- | ------------ |
    | 28x28x1, 10 classes | 1 108 810 | 1 096 704 | 28, 14, 7, 4 |

    Pretrained weights, shipped with the package (`zoo/weights/manifest.json` holds the card
    and the training settings; `README.md`, "Try a pretrained BNN"):

    | `weights=` | Fashion-MNIST test top-1, Keras / LCE | Parameters | Keras file | `.tflite` |
    | ---------- | ------------------------------------- | ---------- | ---------- | --------- |
    | `"fashion_mnist"` | 93.04% / 93.04% | 1 112 010 | 4.6 MB | 0.21 MB |

    Trained with `adambnn train --recipe fashion-mnist --epochs 12 10 --learning-rate 0.008
    --augment --no-random-crop --validation-examples 5000` (two-step, 40.5 minutes on 2 CPU
    cores; 93.88% on the 5,000 validation images that chose it).

    !!! example
        ```python
        import adambnn_tf
        from adambnn_tf.zoo import ReActNetACompact

        stage1 = ReActNetACompact(input_shape=(28, 28, 1), num_classes=10, stage=1)
        stage2 = ReActNetACompact(input_shape=(28, 28, 1), num_classes=10, stage=2)
        stage2.set_weights(stage1.get_weights())  # the two-stage recipe's hand-off
        pretrained = ReActNetACompact(weights="fashion_mnist")  # offline, hash-checked
        twin = ReActNetACompact(input_shape=(28, 28, 1), num_classes=10, binary=False)
        twin.set_weights(stage2.get_weights())  # the float twin at the BNN's latent weights
        ```

    # Arguments
        input_shape: optional shape tuple `(height, width, channels)`; default `(28, 28, 1)`
            (Fashion-MNIST) unless `input_tensor` is given.
        input_tensor: optional Keras tensor (output of `tf.keras.Input()`) to use as input.
        weights: `None` (random initialisation), `"fashion_mnist"` (the pretrained BNN
            shipped with the package, for 28x28x1 inputs normalized as
            `adambnn_tf.data.load_dataset` does, 10 classes, width 1; see the table), or a
            path to a Keras weights file (`.h5`) trained with this model. There are no
            ImageNet weights.
        include_top: whether to include the pooling and classifier.
        num_classes: number of classes of the classifier.
        stage: 1 builds binary activations with real (latent) weights, 2 binary activations
            and binary weights, with the same variables.
        padding: `"lce"` (default, fused by Larq Compute Engine) or `"pytorch"`.
        width_multiplier: scales every channel count, the doubling kept exact.
        classifier_activation: `"softmax"`, another activation, or `None` for logits.
        kernel_constraint: optional constraint of the binary convolutions' latent kernels.
        initializer: `"keras"` (default; Keras' glorot-uniform kernels and zero classifier
            bias) or `"pytorch"` (PyTorch's defaults, as the official code: every
            convolution kernel, the stem's and the binary ones, and the classifier's kernel
            and bias uniform in +-1/sqrt(fan_in)). See `adambnn_tf.initializers`.
        binary: `True` (default) for the BNN; `False` for its float twin (the same layers
            and variables, no sign on the convolutions' inputs but RSign's threshold as a
            real shift, real kernels without constraint; `stage` makes no difference).

    # Returns
        A Keras model named `"reactnet_a_compact"`.

    # Raises
        ValueError: for an unknown `stage`, `padding` or `initializer` (the message lists
            the allowed names), a bad `width_multiplier`, `weights="imagenet"`, an unknown
            weights name (the message lists the registered ones), named weights for another
            configuration (the message names the difference), or a weights file that does
            not fit the model.
    """
    if input_shape is None and input_tensor is None:
        input_shape = (28, 28, 1)
    return ReActNetACompactFactory(
        input_shape=input_shape,
        input_tensor=input_tensor,
        weights=weights,
        include_top=include_top,
        num_classes=num_classes,
        stage=stage,
        padding=padding,
        width_multiplier=width_multiplier,
        classifier_activation=classifier_activation,
        kernel_constraint=kernel_constraint,
        initializer=initializer,
        binary=binary,
    ).build()
