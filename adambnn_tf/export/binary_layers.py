"""Which Keras layers of a Larq model are binary, and what keeps LCE from accelerating them.

Larq Compute Engine turns a `QuantConv2D` into its binary convolution `LceBconv2d` only when
the layer binarizes its input (1-bit `input_quantizer`), its kernel folds to `±alpha` per
output channel, and its padding, layout and grouping are ones the converter fuses (see
`larq-conventions.md` section 4.2). This module reads those facts from the Keras layers, so
that an export report can say *why* a binary layer did not become `LceBconv2d`.
"""

from __future__ import annotations

import dataclasses

import larq as lq
import numpy as np
import tensorflow as tf

from adambnn_tf.quantizers import RealLatentWeight

__all__ = [
    "BinaryLayer",
    "bitpacked_kernel",
    "find_binary_layers",
    "is_one_bit",
    "larq_layers",
]

# LCE's `BinaryFilter` constraint: every |w| of an output channel equals the channel's scale
# within 0.5%.
_SCALE_TOLERANCE = 0.005
_TARGETS = ("arm", "xcore")


@dataclasses.dataclass(frozen=True)
class BinaryLayer:
    """A Keras layer that binarizes its input or its weights.

    # Attributes
        name: the Keras layer name.
        kind: `"conv2d"`, `"depthwise_conv2d"`, `"dense"`, `"conv2d_transpose"` or the
            lower-case class name of other Larq layers.
        binary_input: whether the layer's `input_quantizer` is 1-bit.
        binary_kernel: whether the layer's kernel quantizer is 1-bit.
        obstacles: reasons, read from the layer, why LCE cannot run it as `LceBconv2d`;
            empty when nothing in the layer stands in the way.
    """

    name: str
    kind: str
    binary_input: bool
    binary_kernel: bool
    obstacles: tuple[str, ...]

    @property
    def is_binary_conv(self) -> bool:
        """A `QuantConv2D` whose inputs and weights are both 1-bit."""
        return self.kind == "conv2d" and self.binary_input and self.binary_kernel


def is_one_bit(quantizer) -> bool:
    """Returns whether a Larq quantizer (object, function or `None`) is 1-bit.

    # Arguments
        quantizer: a quantizer as stored on a Larq layer.

    # Returns
        `True` when the quantizer declares `precision == 1`.
    """
    return quantizer is not None and getattr(quantizer, "precision", None) == 1


def _describe(quantizer) -> str:
    if quantizer is None:
        return "None"
    return getattr(quantizer, "__name__", None) or type(quantizer).__name__


def _kind(layer: tf.keras.layers.Layer) -> str:
    kinds = {
        lq.layers.QuantConv2D: "conv2d",
        lq.layers.QuantDepthwiseConv2D: "depthwise_conv2d",
        lq.layers.QuantDense: "dense",
        lq.layers.QuantConv2DTranspose: "conv2d_transpose",
    }
    # Exact class first: QuantDepthwiseConv2D and QuantConv2DTranspose subclass Conv2D.
    for cls, kind in kinds.items():
        if type(layer) is cls:
            return kind
    for cls, kind in kinds.items():
        if isinstance(layer, cls):
            return kind
    return type(layer).__name__.lower()


def _kernel_quantizer(layer: tf.keras.layers.Layer):
    for attribute in ("kernel_quantizer", "depthwise_quantizer"):
        if hasattr(layer, attribute):
            return getattr(layer, attribute)
    return None


def _binary_kernel_values(layer: tf.keras.layers.Layer) -> np.ndarray:
    """The kernel as the forward pass uses it (binarized), output channels last."""
    with lq.context.quantized_scope(True):
        return np.asarray(tf.convert_to_tensor(layer.kernel))


def bitpacked_kernel(layer: tf.keras.layers.Layer) -> np.ndarray:
    """A `QuantConv2D` kernel's signs bitpacked the way `LceBconv2d` stores its filter.

    LCE stores the filter as `int32` of shape `(out, kh, kw, ceil(in / 32))`: bit `i` of a
    word is 1 where input channel `32 * word + i` has a negative weight. Comparing these
    words identifies which Keras layer an `LceBconv2d` of a flatbuffer came from.

    # Arguments
        layer: a built `QuantConv2D`.

    # Returns
        The packed signs, an `int32` array.
    """
    negative = (_binary_kernel_values(layer) < 0).transpose(3, 0, 1, 2)
    padding = (-negative.shape[-1]) % 32
    negative = np.pad(negative, [(0, 0)] * 3 + [(0, padding)])
    bits = negative.reshape(*negative.shape[:3], -1, 32).astype(np.uint64)
    words = (bits << np.arange(32, dtype=np.uint64)).sum(axis=-1)
    return words.astype(np.uint32).view(np.int32)


def _kernel_obstacle(layer: tf.keras.layers.Layer) -> str | None:
    kernel = np.abs(_binary_kernel_values(layer))
    per_channel = kernel.reshape(-1, kernel.shape[-1])
    largest, smallest = per_channel.max(axis=0), per_channel.min(axis=0)
    if np.any(largest == 0):
        return "a binarized kernel has an output channel with scale 0"
    if np.any(largest - smallest > _SCALE_TOLERANCE * largest):
        return (
            "binarized kernel values are not +-alpha per output channel "
            "(LCE needs one magnitude per output channel, within 0.5%)"
        )
    return None


def _explicit_padding_obstacles(layer: lq.layers.QuantConv2D) -> list[str]:
    """Obstacles of padding that Larq applies with `tf.pad` after the input quantizer.

    LCE fuses such a `Pad` into `LceBconv2d` only when it pads with 1.0 exactly as TF
    `"same"` would; native zero padding (`pad_values=0`) is a convolution attribute instead.
    """
    if getattr(layer, "_is_native_padding", True) or len(layer.inbound_nodes) != 1:
        return []
    spatial = layer.input_shape[1:-1] if layer.data_format == "channels_last" else None
    if spatial is None or any(size is None for size in spatial):
        return []
    amounts = [list(map(int, pair)) for pair in layer._get_spatial_padding_same(spatial)]
    same = [
        list(lq.layers_base._compute_padding(stride, dilation, size, kernel))
        for stride, dilation, size, kernel in zip(
            layer.strides, layer.dilation_rate, spatial, layer.kernel_size, strict=True
        )
    ]
    obstacles = []
    if amounts != same:
        obstacles.append(
            f"explicit padding {amounts} after the binarizer differs from TF 'same' padding "
            f"{same} (stride {layer.strides[0]}, input {spatial[0]}x{spatial[1]}); LCE fuses "
            "only padding equal to 'same'"
        )
    if float(layer.pad_values) == 0.0:
        obstacles.append(
            "explicit zero padding (a Pad with 0) after the binarizer; LCE fuses "
            "an explicit Pad only with pad_values=1.0 (zero padding only as native 'same')"
        )
    return obstacles


def _conv2d_obstacles(layer: lq.layers.QuantConv2D, target: str) -> list[str]:
    obstacles = []
    if layer.data_format == "channels_first":
        obstacles.append("data_format='channels_first'; LCE needs channels_last (NHWC)")
    if layer.padding == "same":
        pad_value = float(layer.pad_values)
        if pad_value not in (0.0, 1.0):
            obstacles.append(
                f"padding='same' with pad_values={pad_value:g}; LCE fuses only "
                "pad_values=1.0 (any target) or 0.0 (target='arm')"
            )
        elif pad_value == 0.0 and target != "arm":
            obstacles.append(
                f"same-zero padding (pad_values=0) is only supported on target='arm', "
                f"not {target!r}; use pad_values=1.0"
            )
        obstacles.extend(_explicit_padding_obstacles(layer))
    elif layer.padding not in ("valid", "same"):
        obstacles.append(f"padding={layer.padding!r}; LCE supports 'valid' and 'same'")
    groups = getattr(layer, "groups", 1) or 1
    if groups > 1:
        per_group = int(layer.kernel.shape[2])
        if per_group % 32:
            obstacles.append(
                f"grouped convolution with {per_group} input channels per group; "
                "LCE needs a multiple of 32"
            )
    return obstacles


def _obstacles(
    layer: tf.keras.layers.Layer, kind: str, binary_input: bool, binary_kernel: bool, target: str
) -> tuple[str, ...]:
    kernel_quantizer = _kernel_quantizer(layer)
    obstacles = []
    if kind != "conv2d":
        reasons = {
            "depthwise_conv2d": "depthwise convolutions are not accelerated by LCE "
            "(they stay a float DEPTHWISE_CONV_2D)",
            "dense": "dense layers are not accelerated by LCE; use Reshape + a 1x1 "
            "QuantConv2D instead (LCE#410)",
            "conv2d_transpose": "transposed convolutions are not accelerated by LCE (LCE#424)",
        }
        obstacles.append(reasons.get(kind, f"only QuantConv2D becomes LceBconv2d, not {kind}"))
    if not binary_input:
        obstacles.append(
            f"input not binarized (input_quantizer={_describe(layer.input_quantizer)}); "
            "LCE needs a 1-bit sign binarizer directly on the convolution's input (one in an "
            "earlier layer counts only with no op, e.g. padding, in between)"
        )
    if isinstance(kernel_quantizer, RealLatentWeight):
        obstacles.append(
            "kernel not binary: stage-1 latent weights (kernel_quantizer='real_latent_weight')"
        )
    elif not binary_kernel:
        obstacles.append(
            f"kernel not binary (kernel_quantizer={_describe(kernel_quantizer)}, "
            f"precision {getattr(kernel_quantizer, 'precision', 32)})"
        )
    if kind == "conv2d":
        obstacles.extend(_conv2d_obstacles(layer, target))
        if binary_kernel:
            kernel_obstacle = _kernel_obstacle(layer)
            if kernel_obstacle:
                obstacles.append(kernel_obstacle)
    return tuple(obstacles)


def larq_layers(model: tf.keras.Model) -> list[tf.keras.layers.Layer]:
    """The Larq layers of `model`, nested models included, in layer order."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, lq.layers_base.BaseLayer)
    ]


def find_binary_layers(model: tf.keras.Model, target: str = "arm") -> list[BinaryLayer]:
    """Lists the layers of `model` that binarize their input or weights, with LCE obstacles.

    !!! example
        ```python
        for layer in find_binary_layers(model):
            print(layer.name, layer.is_binary_conv, layer.obstacles)
        ```

    # Arguments
        model: a built Keras model (nested models are searched too).
        target: the LCE target, `"arm"` or `"xcore"` (same-zero padding is arm-only).

    # Returns
        One `BinaryLayer` per Larq layer with a 1-bit input or kernel quantizer, in layer order.

    # Raises
        ValueError: for an unknown target.
    """
    if target not in _TARGETS:
        raise ValueError(f"Unknown LCE target {target!r}; choose one of {_TARGETS}.")
    found = []
    for layer in larq_layers(model):
        binary_input = is_one_bit(getattr(layer, "input_quantizer", None))
        binary_kernel = is_one_bit(_kernel_quantizer(layer))
        if not (binary_input or binary_kernel):
            continue
        kind = _kind(layer)
        found.append(
            BinaryLayer(
                name=layer.name,
                kind=kind,
                binary_input=binary_input,
                binary_kernel=binary_kernel,
                obstacles=_obstacles(layer, kind, binary_input, binary_kernel, target),
            )
        )
    return found
