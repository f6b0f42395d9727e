"""Convolution and pooling layers of the ReActNet models' padding conventions and float twin.

- `SymmetricPaddingQuantConv2D` and `SymmetricPaddingMaxPool2D` pad as PyTorch does,
  `(k - 1) // 2` on both sides (Keras `"same"` pads `(0, 1)` at stride 2 on even inputs), for
  models that reproduce the official checkpoints exactly (`padding="pytorch"` in
  `adambnn_tf.zoo`).
- `ShiftedInputConv2D` and `SymmetricPaddingShiftedInputConv2D` are the float twin of a
  binary convolution (`binary=False` in `adambnn_tf.zoo`): RSign's learnable threshold as a
  real shift, a real kernel, the same padding, the same variables.

They live in the package rather than in the zoo so that `import adambnn_tf` registers them as
Keras custom objects: any saved model that uses them loads without importing the zoo. Their
class names are the names saved models refer to.

!!! example
    ```python
    import adambnn_tf

    conv = adambnn_tf.conv_layers.SymmetricPaddingQuantConv2D(
        64, 3, strides=2, padding="same", input_quantizer="rsign", use_bias=False
    )
    twin = adambnn_tf.conv_layers.ShiftedInputConv2D(64, 3, padding="same", use_bias=False)
    ```
"""

from __future__ import annotations

import larq as lq
import tensorflow as tf

from adambnn_tf.layers import LearnableBias
from adambnn_tf.quantizers import RealLatentWeight

__all__ = [
    "ShiftedInputConv2D",
    "SymmetricPaddingMaxPool2D",
    "SymmetricPaddingQuantConv2D",
    "SymmetricPaddingShiftedInputConv2D",
]


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
