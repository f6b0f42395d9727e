"""A float TFLite export of the same architecture, to compare sizes and latencies against."""

from __future__ import annotations

import larq as lq
import tensorflow as tf

__all__ = ["float_clone", "float_tflite"]

_QUANTIZER_ARGUMENTS = (
    "input_quantizer",
    "kernel_quantizer",
    "depthwise_quantizer",
    "pointwise_quantizer",
)


def _without_quantizers(layer: tf.keras.layers.Layer) -> tf.keras.layers.Layer:
    if not isinstance(layer, lq.layers_base.BaseLayer):
        return layer.__class__.from_config(layer.get_config())
    config = layer.get_config()
    for argument in _QUANTIZER_ARGUMENTS:
        if argument in config:
            config[argument] = None
    # Constraints such as weight_clip only matter for training.
    return layer.__class__.from_config(config)


def float_clone(model: tf.keras.Model) -> tf.keras.Model:
    """The same architecture with every Larq quantizer removed (real inputs and weights).

    The clone has fresh weights: size and latency of a float network do not depend on
    their values.

    !!! example
        ```python
        reference = float_clone(model)  # QuantConv2D layers now convolve real values
        ```

    # Arguments
        model: a functional or sequential Keras model.

    # Returns
        A new, built Keras model.
    """
    clone = tf.keras.models.clone_model(model, clone_function=_without_quantizers)
    clone.build(model.input_shape)
    return clone


def float_tflite(model: tf.keras.Model) -> bytes:
    """Converts `float_clone(model)` with the standard TFLite converter (no quantization).

    # Arguments
        model: the binary Keras model.

    # Returns
        The float32 `.tflite` bytes.
    """
    converter = tf.lite.TFLiteConverter.from_keras_model(float_clone(model))
    return converter.convert()
