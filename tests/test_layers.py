"""LearnableBias and RPReLU: forward values, gradients, initial values and errors."""

import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.layers import LearnableBias, RPReLU


def test_learnable_bias_adds_per_channel_bias_initialised_to_zero():
    layer = LearnableBias()
    inputs = tf.random.normal((2, 4, 4, 3))
    np.testing.assert_array_equal(layer(inputs).numpy(), inputs.numpy())
    layer.bias.assign([1.0, -2.0, 0.5])
    np.testing.assert_allclose(layer(inputs).numpy(), inputs.numpy() + [1.0, -2.0, 0.5])


def test_learnable_bias_gradient_sums_over_batch_and_space():
    layer = LearnableBias()
    inputs = tf.random.normal((2, 4, 4, 3))
    upstream = tf.random.normal((2, 4, 4, 3))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(inputs) * upstream)
    grad = tape.gradient(loss, layer.bias).numpy()
    np.testing.assert_allclose(grad, upstream.numpy().sum(axis=(0, 1, 2)), rtol=1e-5)


def test_rprelu_initial_values_match_pytorch():
    layer = RPReLU()
    layer.build((None, 5, 5, 4))
    np.testing.assert_array_equal(layer.alpha.numpy(), [0.25] * 4)
    np.testing.assert_array_equal(layer.input_bias.numpy(), [0.0] * 4)
    np.testing.assert_array_equal(layer.output_bias.numpy(), [0.0] * 4)
    assert len(layer.trainable_weights) == 3


def test_rprelu_forward_and_gradients_equal_formula():
    rng = np.random.default_rng(3)
    gamma, beta, zeta = (rng.normal(size=4).astype("float32") for _ in range(3))
    layer = RPReLU(alpha_initializer=beta, bias_initializer="zeros")
    layer.build((None, 5, 5, 4))
    layer.input_bias.assign(gamma)
    layer.output_bias.assign(zeta)
    inputs = tf.constant(rng.normal(size=(2, 5, 5, 4)).astype("float32"))
    upstream = rng.normal(size=(2, 5, 5, 4)).astype("float32")
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = layer(inputs)
        loss = tf.reduce_sum(outputs * upstream)
    grads = tape.gradient(loss, [inputs, layer.input_bias, layer.alpha, layer.output_bias])

    u = inputs.numpy() + gamma
    np.testing.assert_allclose(outputs.numpy(), np.where(u >= 0, u, beta * u) + zeta, rtol=1e-5)
    slope = np.where(u >= 0, 1.0, beta)
    np.testing.assert_allclose(grads[0].numpy(), upstream * slope, rtol=1e-5)
    np.testing.assert_allclose(grads[1].numpy(), (upstream * slope).sum((0, 1, 2)), rtol=1e-4)
    np.testing.assert_allclose(
        grads[2].numpy(), (upstream * np.minimum(u, 0)).sum((0, 1, 2)), rtol=1e-4
    )
    np.testing.assert_allclose(grads[3].numpy(), upstream.sum((0, 1, 2)), rtol=1e-4)


def test_rprelu_gradients_equal_autodiff_of_keras_prelu_on_dense_features():
    """The written-out gradient equals autodiff of PReLU's form, on rank 2 inputs too."""
    rng = np.random.default_rng(5)
    layer = RPReLU(alpha_initializer=rng.normal(size=3).astype("float32"))
    layer.build((None, 3))
    layer.input_bias.assign(rng.normal(size=3).astype("float32"))
    layer.output_bias.assign(rng.normal(size=3).astype("float32"))
    inputs = tf.constant(rng.normal(size=(7, 3)).astype("float32"))
    upstream = tf.constant(rng.normal(size=(7, 3)).astype("float32"))
    variables = [layer.input_bias, layer.alpha, layer.output_bias]

    def gradients(function):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(function(inputs) * upstream)
        return tape.gradient(loss, [inputs, *variables])

    def autodiff_form(x):
        shifted = x + layer.input_bias
        return tf.nn.relu(shifted) - layer.alpha * tf.nn.relu(-shifted) + layer.output_bias

    for written, autodiff in zip(gradients(layer), gradients(autodiff_form), strict=True):
        np.testing.assert_allclose(written.numpy(), autodiff.numpy(), rtol=1e-5, atol=1e-6)


def test_rprelu_works_on_dense_features():
    outputs = RPReLU()(tf.constant([[-4.0, 2.0]]))
    np.testing.assert_allclose(outputs.numpy(), [[-1.0, 2.0]])


def test_config_round_trips():
    for layer in (LearnableBias(bias_initializer=[1.0, 2.0]), RPReLU(alpha_initializer=[0.1, 0.2])):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config


def test_rprelu_rejects_slopes_that_do_not_match_channels():
    with pytest.raises(ValueError, match=r"shape \(2,\), but the input has 4 channels"):
        RPReLU(alpha_initializer=[0.1, 0.2])(tf.zeros((1, 3, 3, 4)))


def test_learnable_bias_rejects_unknown_channels():
    with pytest.raises(ValueError, match="known size"):
        LearnableBias().build(tf.TensorShape([None, None]).concatenate([None]))
