"""PyTorch-exact symmetric zero padding that LCE still runs as binary convolutions.

The official ReActNet code pads a binary convolution's *binarized* input with zeros,
symmetrically: `(1, 1)` for a 3x3 kernel. At stride 1 that equals TF `"same"` padding, so
`QuantConv2D(padding="same", pad_values=0.0)` reproduces it and LCE runs it as an
`LceBconv2d` with "same-zero" padding (target `"arm"`). At stride 2 on an even input TF
`"same"` pads `(0, 1)` instead, and an explicit symmetric `Pad` after the binarizer (as
`adambnn_tf.conv_layers.SymmetricPaddingQuantConv2D` does) is a pattern LCE does not fuse into
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
    "CroppedSameZeroConv2D",
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


class _CroppedSameZeroMixin:
    """Symmetric zero padding as: real pad at the bottom/right, native "same", crop."""

    def _check_cropped_same_zero(self) -> None:
        if self.padding != "same" or float(getattr(self, "pad_values", 0.0)) != 0.0:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs padding='same' with zero padding, "
                f"got padding={self.padding!r}, pad_values={getattr(self, 'pad_values', 0.0)!r}."
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


@lq.utils.register_keras_custom_object
class CroppedSameZeroQuantConv2D(_CroppedSameZeroMixin, lq.layers.QuantConv2D):
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
        self._check_cropped_same_zero()


@lq.utils.register_keras_custom_object
class CroppedSameZeroConv2D(_CroppedSameZeroMixin, tf.keras.layers.Conv2D):
    """`ZeroPadding2D(p)` + a `"valid"` `Conv2D`, as one layer that LCE converts correctly.

    LCE 0.16 folds `ZeroPadding2D(1)` + a `"valid"` stride-2 convolution into a `"same"`
    convolution, which pads `(0, 1)` instead of `(1, 1)` (the standard TFLite converter
    keeps the `PAD`). This layer computes the symmetric padding as a bottom/right pad, a
    native `"same"` convolution and a crop, which converts exactly.

    !!! example
        ```python
        stem = CroppedSameZeroConv2D(32, 3, strides=2, padding="same", use_bias=False)
        ```

    # Arguments
        *args, **kwargs: those of `tf.keras.layers.Conv2D`; `padding="same"`, channels last
            and an odd kernel size are required.

    # Raises
        ValueError: for other padding, layout or kernel size.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._check_cropped_same_zero()


def _is_symmetric_zero_padded(layer: tf.keras.layers.Layer) -> bool:
    """A QuantConv2D that zero-pads symmetrically with tf.pad after its binarizer."""
    if not isinstance(layer, lq.layers.QuantConv2D) or getattr(layer, "_is_native_padding", 1):
        return False
    if float(layer.pad_values) != 0.0 or layer.data_format != "channels_last":
        return False
    amounts = layer._get_spatial_padding_same(layer.input_shape[1:3])
    return all(int(before) == int(after) for before, after in amounts)


def _single_consumer(layer: tf.keras.layers.Layer) -> tf.keras.layers.Layer | None:
    nodes = layer.outbound_nodes
    return nodes[0].outbound_layer if len(nodes) == 1 else None


def _zero_padding_pairs(model: tf.keras.Model) -> dict[str, str]:
    """`ZeroPadding2D(p)` layers whose only consumer is a `"valid"` convolution that `p` pads
    symmetrically ("same" in PyTorch's sense), as {padding layer: convolution}.

    Only real-valued inputs: a binarizer after the padding would binarize the zeros.
    """
    pairs = {}
    for layer in model.layers:
        if not isinstance(layer, tf.keras.layers.ZeroPadding2D):
            continue
        conv = _single_consumer(layer)
        if type(conv) not in (tf.keras.layers.Conv2D, lq.layers.QuantConv2D):
            continue
        if getattr(conv, "input_quantizer", None) is not None or len(conv.inbound_nodes) != 1:
            continue
        if conv.padding != "valid" or conv.data_format != "channels_last":
            continue
        if any(size % 2 == 0 for size in conv.kernel_size):
            continue
        symmetric = [
            (dilation * (size - 1) // 2,) * 2
            for size, dilation in zip(conv.kernel_size, conv.dilation_rate, strict=True)
        ]
        if [tuple(amounts) for amounts in layer.padding] == symmetric:
            pairs[layer.name] = conv.name
    return pairs


def symmetric_zero_padded_layers(model: tf.keras.Model) -> list[str]:
    """Names of the top-level binary convolutions that `accelerate_symmetric_padding` rewrites.

    These are `QuantConv2D` layers that pad symmetrically with zeros through an explicit
    `tf.pad` after the binarizer, e.g. `adambnn_tf.conv_layers.SymmetricPaddingQuantConv2D`. Where
    that equals TF `"same"` (stride 1) the rewrite is plain native same-zero padding.

    # Arguments
        model: a Keras model.

    Also `ZeroPadding2D` layers followed by a `"valid"` real convolution (a PyTorch-style
    stem), which LCE 0.16 converts to the wrong sampling grid at stride 2, and their
    convolutions.

    # Returns
        Layer names, in layer order.
    """
    pairs = _zero_padding_pairs(model)
    paired = set(pairs) | set(pairs.values())
    return [
        layer.name
        for layer in model.layers
        if layer.name in paired or _is_symmetric_zero_padded(layer)
    ]


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
    pairs = _zero_padding_pairs(model)
    paired_convs = set(pairs.values())

    def clone(layer: tf.keras.layers.Layer) -> tf.keras.layers.Layer:
        config = layer.get_config()
        if layer.name in pairs:  # the convolution pads now
            return tf.keras.layers.Activation("linear", name=layer.name)
        if layer.name in paired_convs:
            config["padding"] = "same"
            if isinstance(layer, lq.layers.QuantConv2D):
                return CroppedSameZeroQuantConv2D.from_config({**config, "pad_values": 0.0})
            return CroppedSameZeroConv2D.from_config(config)
        if layer.name in targets:
            return CroppedSameZeroQuantConv2D.from_config(config)
        return layer.__class__.from_config(config)

    rewritten = tf.keras.models.clone_model(model, clone_function=clone)
    for original, copy in zip(model.layers, rewritten.layers, strict=True):
        copy.set_weights(original.get_weights())
    return rewritten
