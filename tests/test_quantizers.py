"""Forward values and gradients of the plugin's quantizers against the hand formulas."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.quantizers import (
    RSign,
    ScaledWeightSign,
    approx_sign,
    is_latent_weight,
    scaled_weight_sign,
)

# Points on and around the boundaries: |u| = 1, u = 0, and the clip value 1.
BOUNDARY_POINTS = np.array([-2.0, -1.0, -0.75, -0.5, 0.0, 0.25, 0.5, 1.0, 1.5], "float32")


def _rsign_values_and_gradients(quantizer, inputs, upstream):
    inputs = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = quantizer(inputs)
        loss = tf.reduce_sum(outputs * upstream)
    grad_input, grad_threshold = tape.gradient(loss, [inputs, quantizer.threshold])
    return outputs.numpy(), grad_input.numpy(), grad_threshold.numpy()


class TestRSign:
    def test_is_binary_for_larq(self):
        assert RSign.precision == 1

    @pytest.mark.parametrize("bias", [0.0, 0.3, -0.5])
    def test_approx_sign_forward_and_gradients(self, bias):
        channels = 3
        # Inputs chosen so that u = x + b hits every boundary point in every channel.
        inputs = np.stack([BOUNDARY_POINTS - bias] * channels, axis=-1)[None, :, None, :]
        upstream = np.random.default_rng(0).normal(size=inputs.shape).astype("float32")
        quantizer = RSign(threshold_initializer=[bias] * channels)

        outputs, grad_input, grad_threshold = _rsign_values_and_gradients(
            quantizer, inputs, upstream
        )

        u = inputs + bias
        np.testing.assert_array_equal(outputs, np.where(u >= 0, 1.0, -1.0))
        expected_grad = upstream * np.maximum(0.0, 2.0 - 2.0 * np.abs(u))
        np.testing.assert_allclose(grad_input, expected_grad, atol=1e-5)
        np.testing.assert_allclose(grad_threshold, expected_grad.sum(axis=(0, 1, 2)), atol=1e-5)

    def test_approx_sign_boundary_values_exactly(self):
        quantizer = RSign()
        _, grad_input, _ = _rsign_values_and_gradients(
            quantizer, BOUNDARY_POINTS[None, :], np.ones((1, 9), "float32")
        )
        # u = -2, -1, -0.75, -0.5, 0, 0.25, 0.5, 1, 1.5
        np.testing.assert_allclose(grad_input[0], [0, 0, 0.5, 1, 2, 1.5, 1, 0, 0], atol=1e-6)

    def test_approx_sign_equals_larqs_forward_and_backward(self):
        inputs = tf.constant(np.concatenate([BOUNDARY_POINTS, np.linspace(-3, 3, 61)]), "float32")
        upstream = tf.constant(np.random.default_rng(1).normal(size=inputs.shape), "float32")
        results = []
        for function in (approx_sign, lq.quantizers.approx_sign):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                outputs = function(inputs)
                loss = tf.reduce_sum(outputs * upstream)
            results.append((outputs.numpy(), tape.gradient(loss, inputs).numpy()))
        np.testing.assert_array_equal(results[0][0], results[1][0])
        np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6, atol=1e-7)

    @pytest.mark.parametrize("clip_value", [1.0, 0.5, None])
    def test_ste_gradient(self, clip_value):
        quantizer = RSign(surrogate="ste", clip_value=clip_value)
        upstream = np.arange(1, 10, dtype="float32")[None, :]
        outputs, grad_input, grad_threshold = _rsign_values_and_gradients(
            quantizer, BOUNDARY_POINTS[None, :], upstream
        )
        inside = np.ones(9, bool) if clip_value is None else np.abs(BOUNDARY_POINTS) <= clip_value
        np.testing.assert_array_equal(outputs[0], np.where(BOUNDARY_POINTS >= 0, 1.0, -1.0))
        np.testing.assert_allclose(grad_input[0], np.where(inside, upstream[0], 0.0))
        # One channel per column here: the threshold gradient equals the input gradient.
        np.testing.assert_allclose(grad_threshold, np.where(inside, upstream[0], 0.0))

    def test_sign_of_zero_is_plus_one(self):
        assert RSign()(tf.zeros((1, 4))).numpy().tolist() == [[1.0, 1.0, 1.0, 1.0]]

    def test_config_round_trip(self):
        quantizer = RSign(surrogate="ste", clip_value=1.25, threshold_initializer=[0.1, 0.2])
        config = quantizer.get_config()
        assert RSign.from_config(config).get_config() == config
        restored = lq.quantizers.get(lq.quantizers.serialize(quantizer))
        assert isinstance(restored, RSign) and restored.clip_value == 1.25

    @pytest.mark.parametrize("clip_value", [0, -1.0, "1"])
    def test_rejects_non_positive_clip_value(self, clip_value):
        with pytest.raises(ValueError, match="clip_value must be a positive number or None"):
            RSign(surrogate="ste", clip_value=clip_value)

    def test_rejects_unknown_surrogate(self):
        with pytest.raises(ValueError, match="unknown surrogate 'tanh'"):
            RSign(surrogate="tanh")

    def test_rejects_threshold_shape_that_does_not_match_channels(self):
        quantizer = RSign(threshold_initializer=[0.0, 0.1, 0.2])
        with pytest.raises(ValueError, match=r"shape \(3,\), but the input has 4 channels"):
            quantizer(tf.zeros((1, 5, 5, 4)))

    def test_rejects_unknown_channel_count(self):
        with pytest.raises(ValueError, match="last axis .* known size"):
            RSign().build(tf.TensorShape([None, 5, 5, None]))

    def test_alias_resolves(self):
        assert isinstance(lq.quantizers.get("rsign"), RSign)
        assert isinstance(lq.quantizers.get("RSign"), RSign)


class TestScaledWeightSign:
    def _kernel(self):
        rng = np.random.default_rng(1)
        kernel = rng.uniform(-1.6, 1.6, size=(3, 3, 4, 5)).astype("float32")
        kernel[0, 0, 0, :] = [0.0, 1.0, -1.0, 1.5, -0.2]  # boundary values in every channel
        return kernel

    def test_is_binary_for_larq(self):
        assert ScaledWeightSign.precision == 1

    def test_forward_is_mean_abs_per_output_channel_times_sign(self):
        kernel = self._kernel()
        outputs = ScaledWeightSign()(tf.constant(kernel)).numpy()
        scale = np.abs(kernel).mean(axis=(0, 1, 2))
        np.testing.assert_allclose(outputs, scale * np.where(kernel >= 0, 1.0, -1.0), rtol=1e-6)

    @pytest.mark.parametrize("clip_value", [1.0, None])
    def test_gradient_is_clipped_ste_not_scaled(self, clip_value):
        kernel = tf.constant(self._kernel())
        upstream = np.random.default_rng(2).normal(size=kernel.shape).astype("float32")
        with tf.GradientTape() as tape:
            tape.watch(kernel)
            loss = tf.reduce_sum(ScaledWeightSign(clip_value=clip_value)(kernel) * upstream)
        grad = tape.gradient(loss, kernel).numpy()
        inside = np.ones(kernel.shape, bool) if clip_value is None else np.abs(kernel) <= 1.0
        np.testing.assert_allclose(grad, np.where(inside, upstream, 0.0), rtol=1e-6)

    def test_differs_from_larq_magnitude_aware_sign_in_gradient_only(self):
        kernel = tf.constant(self._kernel())
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(kernel)
            ours = scaled_weight_sign(kernel)
            larqs = lq.quantizers.MagnitudeAwareSign()(kernel)
            ours_sum, larqs_sum = tf.reduce_sum(ours), tf.reduce_sum(larqs)
        np.testing.assert_allclose(ours.numpy(), larqs.numpy(), rtol=1e-6)
        scale = np.abs(kernel.numpy()).mean(axis=(0, 1, 2))
        ours_grad = tape.gradient(ours_sum, kernel).numpy()
        np.testing.assert_allclose(tape.gradient(larqs_sum, kernel).numpy(), ours_grad * scale)

    def test_config_round_trip_and_alias(self):
        quantizer = ScaledWeightSign(clip_value=1.3)
        assert ScaledWeightSign.from_config(quantizer.get_config()).clip_value == 1.3
        assert isinstance(lq.quantizers.get("scaled_weight_sign"), ScaledWeightSign)

    @pytest.mark.parametrize("clip_value", [0.0, -0.5])
    def test_rejects_non_positive_clip_value(self, clip_value):
        with pytest.raises(ValueError, match="clip_value must be a positive number"):
            ScaledWeightSign(clip_value=clip_value)


class TestRealLatentWeight:
    def _conv(self, kernel_quantizer):
        inputs = tf.keras.Input((5, 5, 2))
        conv = lq.layers.QuantConv2D(
            3, 3, input_quantizer="rsign", kernel_quantizer=kernel_quantizer, use_bias=False
        )
        return tf.keras.Model(inputs, conv(inputs)), conv

    def test_forward_and_gradient_are_those_of_a_real_convolution(self):
        model, conv = self._conv("real_latent_weight")
        kernel = conv.kernel.latent_variable
        kernel.assign(np.random.default_rng(8).normal(size=kernel.shape))
        images = tf.random.normal((2, 5, 5, 2))
        with tf.GradientTape() as tape:
            outputs = model(images)
            loss = tf.reduce_sum(outputs**2)
        binary_inputs = tf.where(images >= 0, 1.0, -1.0)
        with tf.GradientTape() as reference_tape:
            reference_tape.watch(kernel)
            expected = tf.nn.conv2d(binary_inputs, kernel, 1, "VALID")
            expected_loss = tf.reduce_sum(expected**2)
        np.testing.assert_allclose(outputs.numpy(), expected.numpy(), rtol=1e-5)
        np.testing.assert_allclose(
            tape.gradient(loss, conv.kernel).numpy(),
            reference_tape.gradient(expected_loss, kernel).numpy(),
            rtol=1e-5,
        )
        assert lq.models.ModelProfile(model).weight_count(bitwidth=1) == 0

    @pytest.mark.parametrize(
        "kernel_quantizer, latent",
        [
            ("real_latent_weight", True),
            ("scaled_weight_sign", True),
            ("ste_sign", True),
            (None, False),
        ],
    )
    def test_is_latent_weight(self, kernel_quantizer, latent):
        model, conv = self._conv(kernel_quantizer)
        assert is_latent_weight(conv.kernel) is latent
        threshold = conv.input_quantizer.threshold
        assert not is_latent_weight(threshold)
