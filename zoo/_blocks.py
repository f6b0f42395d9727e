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
from adambnn_tf.initializers import check_initializer, layer_initializers
from adambnn_tf.layers import LearnableBias, RPReLU
from adambnn_tf.quantizers import RealLatentWeight, RSign

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


@lq.utils.register_keras_custom_object
class SymmetricPaddingQuantConv2D(lq.layers.QuantConv2D):
    """A `larq.layers.QuantConv2D` whose `"same"` padding is symmetric, as in PyTorch.

    Pads `dilation * (kernel_size - 1) // 2` values of `pad_values` on both sides of each
    spatial axis, after the input quantizer, then convolves with `"valid"` padding. With an
    odd kernel at stride 1 this equals Keras `"same"`; at stride 2 on an even input Keras
    pads `(0, 1)` instead, which shifts the sampling grid. The official ReActNet code pads
    `(1, 1)` with zeros after the sign, which this layer reproduces with `pad_values=0.0`.

    It relies on Larq's internal padding hooks of `QuantizerBaseConv` (larq 0.13-0.14).

    !!! example
        ```python
        conv = SymmetricPaddingQuantConv2D(
            64, 3, strides=2, padding="same", input_quantizer="rsign", use_bias=False
        )
        ```

    # Arguments
        *args, **kwargs: those of `larq.layers.QuantConv2D`; `padding` must be `"same"` and
            the kernel size odd.

    # Raises
        ValueError: for another padding or an even kernel size.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.padding != "same":
            raise ValueError(
                f"{type(self).__name__} '{self.name}' pads symmetrically and needs "
                f"padding='same', got padding={self.padding!r}."
            )
        if any(size % 2 == 0 for size in self.kernel_size):
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs an odd kernel size for "
                f"symmetric padding, got {self.kernel_size}."
            )
        # Larq pads natively (inside the convolution) when pad_values == 0; force its
        # explicit tf.pad path so that our symmetric amounts are used.
        self._is_native_padding = False

    def _symmetric_amounts(self) -> list[int]:
        return [
            dilation * (size - 1) // 2
            for size, dilation in zip(self.kernel_size, self.dilation_rate, strict=True)
        ]

    def _get_spatial_padding_same(self, shape):
        return [[amount, amount] for amount in self._symmetric_amounts()]

    def _get_padding_same_shape(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        spatial = self._get_spatial_shape(input_shape)
        padded = [
            None if size is None else size + 2 * amount
            for size, amount in zip(spatial, self._symmetric_amounts(), strict=True)
        ]
        if self.data_format == "channels_last":
            return tf.TensorShape([input_shape[0], *padded, input_shape[-1]])
        return tf.TensorShape([*input_shape[:2], *padded])

    def compute_output_shape(self, input_shape):
        if self.padding == "valid":  # Larq's call() already padded and patched "valid".
            return super().compute_output_shape(input_shape)
        with lq.utils.patch_object(self, "padding", "valid"):
            return super().compute_output_shape(self._get_padding_same_shape(input_shape))


class _InputShift:
    """Adds RSign's learnable per-channel threshold to the input, without the sign.

    The shift is a `LearnableBias` sub-layer named `"rsign"`, called first in `call()` as a
    Larq layer calls its input quantizer, so its variable (`<layer>/rsign/bias`) has the name
    and the place in `layer.weights` (after the kernel) that RSign's threshold has.
    """

    def __init__(self, *args, **kwargs):
        given = {name: kwargs.get(name) for name in ("input_quantizer", "kernel_quantizer")}
        # The kernel is marked as a latent weight (`RealLatentWeight`, the identity that stage 1
        # uses too), so that the recipe treats it as it treats the BNN's: weight decay on the
        # latent weights, FF- and C2I-ratios. A saved layer comes back with that marker.
        kernel = lq.quantizers.get(given["kernel_quantizer"])
        if given["input_quantizer"] is not None or not (
            kernel is None or isinstance(kernel, RealLatentWeight)
        ):
            raise ValueError(
                f"{type(self).__name__} is the real-valued twin of a binary convolution and "
                f"takes no quantizer, got {given}."
            )
        kwargs["kernel_quantizer"] = RealLatentWeight()
        super().__init__(*args, **kwargs)
        self.input_shift = LearnableBias(name="rsign")

    def call(self, inputs):
        return super().call(self.input_shift(inputs))


@lq.utils.register_keras_custom_object
class ShiftedInputConv2D(_InputShift, lq.layers.QuantConv2D):
    """The float twin of a ReActNet binary convolution: `conv(pad(x + b), w)`, all real.

    Where the binary convolution computes `conv(pad(sign(x + b)), binarize(w))`, this layer
    drops both binarizers and keeps everything else: the learnable per-channel threshold `b`
    (as a real shift), the padding (`pad_values` included) and the latent kernel `w`, used as
    it is (marked `RealLatentWeight`, an identity of precision 32, so that weight decay and
    the FF/C2I-ratios treat it as the BNN's latent kernel and `larq.models.summary` counts it
    as 32-bit).

    !!! example
        ```python
        conv = ShiftedInputConv2D(64, 3, padding="same", pad_values=1.0, use_bias=False)
        ```

    # Arguments
        *args, **kwargs: those of `larq.layers.QuantConv2D` without `input_quantizer` and
            `kernel_quantizer`.

    # Raises
        ValueError: when given an input or kernel quantizer.
    """


@lq.utils.register_keras_custom_object
class SymmetricPaddingShiftedInputConv2D(_InputShift, SymmetricPaddingQuantConv2D):
    """`ShiftedInputConv2D` with PyTorch's symmetric padding (`SymmetricPaddingQuantConv2D`).

    The float twin of the stride-2 binary convolutions of `padding="pytorch"` models.

    !!! example
        ```python
        conv = SymmetricPaddingShiftedInputConv2D(64, 3, strides=2, padding="same")
        ```

    # Arguments
        *args, **kwargs: those of `SymmetricPaddingQuantConv2D` without quantizers.

    # Raises
        ValueError: when given a quantizer, another padding or an even kernel size.
    """


@lq.utils.register_keras_custom_object
class SymmetricPaddingMaxPool2D(tf.keras.layers.MaxPool2D):
    """Max pooling with PyTorch's symmetric padding, `nn.MaxPool2d(k, s, padding=p)`.

    Pads `symmetric_padding` values of -inf on both sides (so the border never wins the
    max), then pools with `"valid"` padding. Keras `"same"` pads `(0, 1)` at stride 2 on even
    inputs instead, which shifts the pooling grid.

    !!! example
        ```python
        pool = SymmetricPaddingMaxPool2D(pool_size=3, strides=2, symmetric_padding=1)
        ```

    # Arguments
        pool_size: size of the pooling window.
        strides: pooling stride.
        symmetric_padding: how many values to pad on each side of each spatial axis.
        **kwargs: other arguments of `tf.keras.layers.MaxPool2D` except `padding`.
    """

    def __init__(self, pool_size=3, strides=2, symmetric_padding: int = 1, **kwargs):
        kwargs.pop("padding", None)
        super().__init__(pool_size=pool_size, strides=strides, padding="valid", **kwargs)
        self.symmetric_padding = int(symmetric_padding)

    def call(self, inputs):
        amount = self.symmetric_padding
        paddings = [[0, 0], [amount, amount], [amount, amount], [0, 0]]
        padded = tf.pad(inputs, paddings, constant_values=float("-inf"))
        return super().call(padded)

    def compute_output_shape(self, input_shape):
        input_shape = tf.TensorShape(input_shape).as_list()
        for axis in (1, 2):
            if input_shape[axis] is not None:
                input_shape[axis] += 2 * self.symmetric_padding
        return super().compute_output_shape(tf.TensorShape(input_shape))

    def get_config(self):
        return {**super().get_config(), "symmetric_padding": self.symmetric_padding}


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
