"""Building blocks shared by the ReActNet models: binary convolutions, padding, heads.

Two padding conventions exist because Larq Compute Engine (LCE) and the official PyTorch
code disagree on what the border of a binary convolution is:

- `padding="lce"` (the default, for models trained with this plugin): every binary
  convolution uses Keras `"same"` padding with `pad_values=1.0`, i.e. the border is the
  binary value +1. LCE fuses this "same-one" padding into its binary convolution, so every
  binary convolution becomes one `LceBconv2d`. The real-valued stem uses Keras `"same"`
  padding. At stride 2 on even inputs Keras pads (0, 1) rather than PyTorch's (1, 1), so the
  sampling grid is shifted by one pixel against the official models.
- `padding="pytorch"` (for converted official checkpoints): symmetric zero padding,
  applied *after* the activation sign as in the official code (`F.conv2d(sign(x), w,
  padding=1)`), so the border is 0, a value no binary activation takes. Stride-1 binary
  convolutions use `QuantConv2D(padding="same", pad_values=0.0)`, which is symmetric for odd
  kernels. Stride-2 binary convolutions use `SymmetricPaddingQuantConv2D`, which pads
  `(k - 1) // 2` on both sides after the input quantizer. The stem uses `ZeroPadding2D`
  followed by a `"valid"` convolution, and ReActNet-18's max pool pads with -inf. These
  reproduce the PyTorch logits exactly, but zero padding and the explicit `Pad` of the
  stride-2 convolutions are not LCE's fused same-one pattern, so LCE may leave some of these
  convolutions less optimised (measured in `bench/RESULTS.md`, section "LCE export of
  ReActNet-A", not here).

The layers of both conventions and of the float twin below are defined in
`adambnn_tf.conv_layers` (so that `import adambnn_tf` registers them for loading saved
models) and re-exported here.

Both conventions create exactly the same layers, layer names and variables, so a weights
file written in one mode loads into the other (the outputs then differ at the borders).

`binary=False` builds a model's *float twin*: every binary convolution becomes its real-valued
identity, `ShiftedInputConv2D` (or `SymmetricPaddingShiftedInputConv2D`): no sign on the input
(RSign's learnable threshold stays, as a real per-channel shift), a real kernel (no kernel
quantizer, no weight clip), and the same padding. The twin has the same layers, layer names,
variables and parameter count as the BNN, so the BNN's latent weights load into it one to one
(e.g. to compare the two loss landscapes around the same point, `adambnn_tf.analysis`).

The convolutions and the classifier take an `initializer` name (`adambnn_tf.initializers`):
`"keras"` (glorot-uniform kernels, zero bias; Keras' defaults) or `"pytorch"` (PyTorch's
defaults, uniform in +-1/sqrt(fan_in) for kernels and the classifier's bias, as the official
code has).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import larq as lq
import tensorflow as tf

from adambnn_tf.config.choices import PADDINGS
from adambnn_tf.conv_layers import (
    ShiftedInputConv2D,
    SymmetricPaddingMaxPool2D,
    SymmetricPaddingQuantConv2D,
    SymmetricPaddingShiftedInputConv2D,
)
from adambnn_tf.initializers import check_initializer, layer_initializers
from adambnn_tf.layers import RPReLU
from adambnn_tf.quantizers import RSign

__all__ = [
    "PADDINGS",
    "STAGES",
    "ShiftedInputConv2D",
    "SymmetricPaddingMaxPool2D",
    "SymmetricPaddingQuantConv2D",
    "SymmetricPaddingShiftedInputConv2D",
    "batch_norm",
    "binary_conv",
    "check_model_options",
    "classifier",
    "real_conv",
    "rprelu",
]

STAGES = (1, 2)

# BatchNorm settings of both padding modes: PyTorch's defaults (eps 1e-5, momentum 0.1, which
# is Keras momentum 0.9). They are also larq-zoo QuickNet's settings, so the LCE mode loses
# nothing by sharing them, and official BN statistics load into either mode unchanged.
BATCH_NORM_EPSILON = 1e-5
BATCH_NORM_MOMENTUM = 0.9


def check_model_options(
    *, stage: int, padding: str, width_multiplier: float, initializer: str = "keras"
) -> None:
    """Raises a clear `ValueError` for an unknown stage, padding mode, width or initializer.

    # Arguments
        stage: 1 (binary activations, real latent weights) or 2 (both binary).
        padding: `"lce"` or `"pytorch"`.
        width_multiplier: a positive number scaling every channel count.
        initializer: `"keras"` or `"pytorch"` (`adambnn_tf.initializers`).

    # Raises
        ValueError: naming the bad option and the allowed values.
    """
    if stage not in STAGES:
        raise ValueError(
            f"stage must be 1 (binary activations, real weights) or 2 (binary activations "
            f"and weights), got {stage!r}."
        )
    if padding not in PADDINGS:
        raise ValueError(
            f"padding must be 'lce' (same-one padding that Larq Compute Engine fuses, for "
            f"models trained with this plugin) or 'pytorch' (symmetric zero padding, exact "
            f"for converted official checkpoints), got {padding!r}."
        )
    if not isinstance(width_multiplier, (int, float)) or width_multiplier <= 0:
        raise ValueError(f"width_multiplier must be a positive number, got {width_multiplier!r}.")
    check_initializer(initializer)


def _silence_missing_constraint_warning():
    """Larq warns for every binary kernel without a constraint; ReActNet has none by design."""
    larq_logger = logging.getLogger("larq.layers_base")

    class _Filter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "kernel_constraint" not in record.getMessage()

    return larq_logger, _Filter()


def _conv_fan_in(x: tf.Tensor, kernel_size: int) -> int:
    """PyTorch's fan-in of a square convolution on `x`: `in_channels * kernel_size ** 2`."""
    return int(x.shape[-1]) * kernel_size * kernel_size


def binary_conv(
    x: tf.Tensor,
    filters: int,
    kernel_size: int,
    *,
    strides: int,
    stage: int,
    padding: str,
    kernel_constraint=None,
    initializer: str = "keras",
    binary: bool = True,
    name: str,
) -> tf.Tensor:
    """A ReActNet binary convolution: RSign threshold, sign, convolution without bias.

    The RSign bias is the official `move11`/`move21`/`move0` `LearnableBias`; the
    convolution is the official `binary_3x3`/`binary_pw`/`binary_conv`.

    # Arguments
        x: the real-valued input.
        filters: output channels.
        kernel_size: 1 or 3.
        strides: 1 or 2.
        stage: 1 uses `"real_latent_weight"` kernels (real weights marked as latent), 2 uses
            `"scaled_weight_sign"` (the official `HardBinaryConv`). Both create the same
            variables, so stage-1 weights load into stage 2 one to one.
        padding: `"lce"` or `"pytorch"` (see the module docstring).
        kernel_constraint: optional constraint of the latent kernel (the official code has
            none).
        initializer: `"keras"` (glorot-uniform) or `"pytorch"` (uniform in
            +-1/sqrt(fan_in)) latent kernel (`adambnn_tf.initializers`).
        binary: `False` builds the float twin, `ShiftedInputConv2D` (or its symmetric-padding
            variant): the same threshold, padding and kernel variables, no sign, a real kernel
            and no `kernel_constraint`; `stage` then makes no difference.
        name: layer name.

    # Returns
        The convolution output (before BatchNorm).
    """
    kernel_initializer, _ = layer_initializers(initializer, _conv_fan_in(x, kernel_size))
    common = dict(
        kernel_size=kernel_size,
        strides=strides,
        kernel_initializer=kernel_initializer,
        use_bias=False,
        name=name,
    )
    if binary:
        plain, symmetric = lq.layers.QuantConv2D, SymmetricPaddingQuantConv2D
        common.update(
            # A fixed name keeps variable names equal across models and sessions.
            input_quantizer=RSign(name="rsign"),
            kernel_quantizer="scaled_weight_sign" if stage == 2 else "real_latent_weight",
            kernel_constraint=kernel_constraint,
        )
    else:
        plain, symmetric = ShiftedInputConv2D, SymmetricPaddingShiftedInputConv2D
    logger, quiet = _silence_missing_constraint_warning()
    logger.addFilter(quiet)
    try:
        if kernel_size == 1:
            conv = plain(filters, padding="valid", **common)
        elif padding == "lce":
            conv = plain(filters, padding="same", pad_values=1.0, **common)
        elif strides == 1:
            conv = plain(filters, padding="same", pad_values=0.0, **common)
        else:
            conv = symmetric(filters, padding="same", pad_values=0.0, **common)
    finally:
        logger.removeFilter(quiet)
    return conv(x)


def real_conv(
    x: tf.Tensor,
    filters: int,
    kernel_size: int,
    *,
    strides: int,
    padding: str,
    initializer: str = "keras",
    name: str,
) -> tf.Tensor:
    """A real-valued convolution without bias (the stem), padded per `padding`.

    # Arguments
        x: input.
        filters: output channels.
        kernel_size: odd kernel size.
        strides: stride.
        padding: `"lce"` (Keras `"same"`) or `"pytorch"` (symmetric zero padding).
        initializer: `"keras"` (glorot-uniform) or `"pytorch"` (uniform in
            +-1/sqrt(fan_in)) kernel (`adambnn_tf.initializers`).
        name: name of the convolution layer (the padding layer gets `name + "_pad"`).

    # Returns
        The convolution output.
    """
    kernel_initializer, _ = layer_initializers(initializer, _conv_fan_in(x, kernel_size))
    if padding == "pytorch" and kernel_size > 1:
        x = tf.keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        conv_padding = "valid"
    else:
        conv_padding = "same"
    return tf.keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=conv_padding,
        use_bias=False,
        kernel_initializer=kernel_initializer,
        name=name,
    )(x)


def batch_norm(x: tf.Tensor, name: str) -> tf.Tensor:
    """BatchNormalization with PyTorch's epsilon (1e-5) and momentum (0.1, Keras 0.9)."""
    return tf.keras.layers.BatchNormalization(
        momentum=BATCH_NORM_MOMENTUM, epsilon=BATCH_NORM_EPSILON, name=name
    )(x)


def rprelu(x: tf.Tensor, name: str) -> tf.Tensor:
    """RPReLU: the official `move*2`, `prelu*`, `move*3` (slope 0.25, shifts 0)."""
    return RPReLU(name=name)(x)


def classifier(
    x: tf.Tensor,
    num_classes: int,
    classifier_activation: str | None,
    name: str = "logits",
    *,
    initializer: str = "keras",
) -> tf.Tensor:
    """Global average pool, then `Dense(num_classes)` with bias, as the official head.

    Pools with larq-zoo's `global_pool` (`AveragePooling2D` + `Flatten`, faster on LCE than
    `GlobalAveragePooling2D`).

    # Arguments
        x: the last feature map.
        num_classes: output units.
        classifier_activation: `"softmax"` (larq-zoo's convention), another Keras activation,
            or `None` for logits.
        name: name of the Dense layer.
        initializer: `"keras"` (glorot-uniform kernel, zero bias) or `"pytorch"` (kernel and
            bias uniform in +-1/sqrt(in_features), as `nn.Linear`); see
            `adambnn_tf.initializers`.

    # Returns
        Class scores.
    """
    from larq_zoo.core import utils as zoo_utils

    x = zoo_utils.global_pool(x, name="global_pool")
    kernel_initializer, bias_initializer = layer_initializers(initializer, int(x.shape[-1]))
    x = tf.keras.layers.Dense(
        num_classes,
        kernel_initializer=kernel_initializer,
        bias_initializer=bias_initializer,
        name=name,
    )(x)
    if classifier_activation is not None:
        x = tf.keras.layers.Activation(classifier_activation, dtype="float32", name="predictions")(
            x
        )
    return x


def channel_plan(base_widths: Sequence[int], width_multiplier: float) -> list[int]:
    """Scales a list of widths that stay equal or double, keeping the doubling exact.

    # Arguments
        base_widths: widths at multiplier 1; each entry equals or doubles the previous one.
        width_multiplier: positive scale.

    # Returns
        The scaled widths: the first is `max(1, round(w0 * multiplier))`, the others follow
        the same equal/double pattern.
    """
    widths = [max(1, round(base_widths[0] * width_multiplier))]
    for previous, current in zip(base_widths, base_widths[1:], strict=False):
        widths.append(widths[-1] * (current // previous))
    return widths
