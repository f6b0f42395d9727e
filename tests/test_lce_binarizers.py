"""The plugin's binarizers convert to Larq Compute Engine's binary kernels."""

import larq as lq
import larq_compute_engine as lce
import numpy as np
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter

from adambnn_tf.export import op_counts
from adambnn_tf.layers import RPReLU


def test_rsign_and_scaled_weight_sign_convert_to_binary_convolutions():
    inputs = tf.keras.Input((8, 8, 32))
    x = lq.layers.QuantConv2D(
        32,
        3,
        padding="same",
        pad_values=1.0,
        input_quantizer="rsign",
        kernel_quantizer="scaled_weight_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
    )(inputs)
    x = tf.keras.layers.BatchNormalization()(x)
    x = RPReLU()(x)
    x = lq.layers.QuantConv2D(
        32, 1, input_quantizer="rsign", kernel_quantizer="scaled_weight_sign", use_bias=False
    )(x)
    model = tf.keras.Model(inputs, x)
    rng = np.random.default_rng(7)
    for weight in model.weights:
        if "bias" in weight.name or "alpha" in weight.name or "beta" in weight.name:
            weight.assign(rng.normal(scale=0.3, size=weight.shape))

    flatbuffer = lce.convert_keras_model(model)

    ops = op_counts(flatbuffer)
    assert ops["LceBconv2d"] == 2
    assert ops["LceQuantize"] == 2
    assert ops["CONV_2D"] == 0
    assert ops["PRELU"] == 1
    images = rng.normal(size=(3, 8, 8, 32)).astype("float32")
    np.testing.assert_allclose(
        Interpreter(flatbuffer).predict(images),
        model(images, training=False).numpy(),
        rtol=1e-3,
        atol=1e-3,
    )
