"""PyTorch-exact symmetric zero padding that LCE still runs as binary convolutions.

The official ReActNet code pads a binary convolution's *binarized* input with zeros,
symmetrically: `(1, 1)` for a 3x3 kernel. At stride 1 that equals TF `"same"` padding, so
`QuantConv2D(padding="same", pad_values=0.0)` reproduces it and LCE runs it as an
`LceBconv2d` with "same-zero" padding (target `"arm"`). At stride 2 on an even input TF
`"same"` pads `(0, 1)` instead, and an explicit symmetric `Pad` after the binarizer (as
`adambnn_tf.zoo.SymmetricPaddingQuantConv2D` does) is a pattern LCE does not fuse into
`LceBconv2d`. Worse, LCE 0.16 converts it *wrongly*: it folds the `Pad` into a float
`CONV_2D` with `"same"` padding, which pads `(0, 1)`, so the `.tflite` computes the shifted
grid (measured: identical to Keras `QuantConv2D(padding="same", pad_values=0.0)`, up to 82
off from the Keras layer on a 3x3x32 convolution; the parity check reports it as a
conversion error). At stride 1 the explicit symmetric pad equals `"same"` and converts
correctly (as a float `CONV_2D`).

The rewrite here gets the same numbers from a pattern LCE does fuse: pad the *real-valued*
input by one row/column at the bottom/right (making the size odd), so that TF `"same"` at
stride 2 pads `(1, 1)` with zeros natively, then crop the one extra output row/column. The
extra input row is binarized, but only the cropped output reads it. The price: a float
`PAD` and `STRIDED_SLICE` around each such convolution, one extra output row and column of
binary work, BatchNorm no longer fused into the convolution (the slice sits between them),
and same-zero padding, which only target `"arm"` supports.
"""

from __future__ import annotations

import larq as lq
import tensorflow as tf

__all__ = [
    "CroppedSameZeroQuantConv2D",
    "accelerate_symmetric_padding",
    "symmetric_zero_padded_layers",
]


def _extra_and_output(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """Bottom padding that makes TF 'same' pad symmetrically, and PyTorch's output size."""
    symmetric = dilation * (kernel - 1) // 2
    effective = dilation * (kernel - 1) + 1
    target = (size + 2 * symmetric - effective) // stride + 1
    for extra in range(stride):
        padded = size + extra
        out = -(-padded // stride)
        total = max((out - 1) * stride + effective - padded, 0)
        if total // 2 == symmetric:
            return extra, target
    raise ValueError(
        f"No bottom padding makes TF 'same' padding symmetric for size {size}, kernel "
        f"{kernel}, stride {stride}."
    )


@lq.utils.register_keras_custom_object
class CroppedSameZeroQuantConv2D(lq.layers.QuantConv2D):
    """A `QuantConv2D` with PyTorch's symmetric zero padding, in a form LCE accelerates.

    Pads the real-valued input at the bottom/right so that native TF `"same"` zero padding
    is symmetric, convolves, and crops the output to PyTorch's size. Same variables as
    `QuantConv2D`, so weights transfer one to one.

    !!! example
        ```python
        conv = CroppedSameZeroQuantConv2D(
            64, 3, strides=2, padding="same", pad_values=0.0, input_quantizer="rsign",
            kernel_quantizer="scaled_weight_sign", use_bias=False,
        )
        ```

    # Arguments
        *args, **kwargs: those of `larq.layers.QuantConv2D`; `padding="same"`,
            `pad_values=0.0`, channels last and an odd kernel size are required.

    # Raises
        ValueError: for other padding, pad values, layout or kernel size.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.padding != "same" or float(self.pad_values) != 0.0:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs padding='same' and pad_values=0.0, "
                f"got padding={self.padding!r}, pad_values={self.pad_values!r}."
            )
        if self.data_format != "channels_last" or any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs channels_last and an odd kernel."
            )

    def _geometry(self, input_shape) -> list[tuple[int, int]]:
        spatial = tf.TensorShape(input_shape)[1:3]
        if not spatial.is_fully_defined():
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs a fixed spatial input size, got "
                f"{tf.TensorShape(input_shape)}."
            )
        return [
            _extra_and_output(int(size), kernel, stride, dilation)
            for size, kernel, stride, dilation in zip(
                spatial, self.kernel_size, self.strides, self.dilation_rate, strict=True
            )
        ]

    def _padded_shape(self, input_shape) -> tf.TensorShape:
        shape = tf.TensorShape(input_shape).as_list()
        for axis, (extra, _) in zip((1, 2), self._geometry(input_shape), strict=True):
            shape[axis] += extra
        return tf.TensorShape(shape)

    def build(self, input_shape):
        super().build(self._padded_shape(input_shape))

    def call(self, inputs):
        (extra_h, out_h), (extra_w, out_w) = self._geometry(inputs.shape)
        if extra_h or extra_w:  # stride 1: symmetric is native "same", nothing to pad or crop
            inputs = tf.pad(inputs, [[0, 0], [0, extra_h], [0, extra_w], [0, 0]])
        outputs = super().call(inputs)
        if outputs.shape[1] != out_h or outputs.shape[2] != out_w:
            outputs = outputs[:, :out_h, :out_w, :]
        return outputs

    def compute_output_shape(self, input_shape):
        (_, out_h), (_, out_w) = self._geometry(input_shape)
        shape = super().compute_output_shape(self._padded_shape(input_shape)).as_list()
        return tf.TensorShape([shape[0], out_h, out_w, shape[3]])


def _is_symmetric_zero_padded(layer: tf.keras.layers.Layer) -> bool:
    """A QuantConv2D that zero-pads symmetrically with tf.pad after its binarizer."""
    if not isinstance(layer, lq.layers.QuantConv2D) or getattr(layer, "_is_native_padding", 1):
        return False
    if float(layer.pad_values) != 0.0 or layer.data_format != "channels_last":
        return False
    amounts = layer._get_spatial_padding_same(layer.input_shape[1:3])
    return all(int(before) == int(after) for before, after in amounts)


def symmetric_zero_padded_layers(model: tf.keras.Model) -> list[str]:
    """Names of the top-level binary convolutions that `accelerate_symmetric_padding` rewrites.

    These are `QuantConv2D` layers that pad symmetrically with zeros through an explicit
    `tf.pad` after the binarizer, e.g. `adambnn_tf.zoo.SymmetricPaddingQuantConv2D`. Where
    that equals TF `"same"` (stride 1) the rewrite is plain native same-zero padding.

    # Arguments
        model: a Keras model.

    # Returns
        Layer names, in layer order.
    """
    return [layer.name for layer in model.layers if _is_symmetric_zero_padded(layer)]


def accelerate_symmetric_padding(model: tf.keras.Model) -> tf.keras.Model:
    """Rewrites symmetric-zero-padded binary convolutions into `CroppedSameZeroQuantConv2D`.

    The result computes the same function with the same weights (check it with
    `adambnn_tf.export.check_parity`), and LCE (target `"arm"`) runs every rewritten
    convolution as `LceBconv2d` instead of a float `CONV_2D`.

    !!! example
        ```python
        model = ReActNetA(weights="official.h5", padding="pytorch")
        report = export(accelerate_symmetric_padding(model), "reactnet.tflite")
        ```

    # Arguments
        model: a functional Keras model (nested models are copied as they are).

    # Returns
        A new model; `model` itself is unchanged. The same model if nothing needs rewriting.
    """
    targets = set(symmetric_zero_padded_layers(model))
    if not targets:
        return model

    def clone(layer: tf.keras.layers.Layer) -> tf.keras.layers.Layer:
        if layer.name in targets:
            return CroppedSameZeroQuantConv2D.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    rewritten = tf.keras.models.clone_model(model, clone_function=clone)
    for original, copy in zip(model.layers, rewritten.layers, strict=True):
        copy.set_weights(original.get_weights())
    return rewritten
