r"""Real-valued layers of ReActNet: `LearnableBias` and `RPReLU`.

Both act per channel (last axis, NHWC) and are registered Keras custom objects, so models
using them save and load in the SavedModel and H5 formats once `adambnn_tf` is imported.
"""

from __future__ import annotations

import larq as lq
import tensorflow as tf

from adambnn_tf._channels import channels_of, per_channel_initializer, serialize_initializer

__all__ = ["LearnableBias", "RPReLU"]

PYTORCH_PRELU_SLOPE = 0.25  # nn.PReLU's default initial slope, used by the official code.


@lq.utils.register_keras_custom_object
class LearnableBias(tf.keras.layers.Layer):
    r"""Adds a learnable per-channel bias: `y = x + b`, with `b` initialised to 0.

    This is ReActNet's `LearnableBias` (`move*` in the official code).

    !!! example
        ```python
        y = LearnableBias()(tf.ones((2, 8, 8, 16)))
        ```

    # Arguments
        bias_initializer: initializer of `b`, or one value per channel.
        bias_regularizer: optional regularizer of `b`.
        bias_constraint: optional constraint of `b`.

    # Input shape
        Any rank >= 1, channels last; the number of channels must be known.
    """

    def __init__(
        self, bias_initializer="zeros", bias_regularizer=None, bias_constraint=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.bias_initializer = bias_initializer
        self.bias_regularizer = tf.keras.regularizers.get(bias_regularizer)
        self.bias_constraint = tf.keras.constraints.get(bias_constraint)

    def build(self, input_shape):
        channels = channels_of(input_shape, f"LearnableBias '{self.name}'")
        self.bias = self.add_weight(
            name="bias",
            shape=(channels,),
            initializer=per_channel_initializer(
                self.bias_initializer, channels, f"LearnableBias '{self.name}'"
            ),
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
            trainable=True,
        )
        super().build(input_shape)

    def call(self, inputs):
        return inputs + tf.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "bias_initializer": serialize_initializer(self.bias_initializer),
            "bias_regularizer": tf.keras.regularizers.serialize(self.bias_regularizer),
            "bias_constraint": tf.keras.constraints.serialize(self.bias_constraint),
        }


@tf.custom_gradient
def _shifted_prelu(inputs, input_bias, alpha, output_bias):
    """RPReLU's function, with its gradient written out.

    Autodiff of the forward form below takes about twice the elementwise ops of these
    formulas, and RPReLU follows every binary convolution: with `approx_sign`'s written-out
    gradient, the training step of `ReActNetACompact` takes less time (`bench/RESULTS.md`,
    section "Written-out gradients of RSign and RPReLU"). At `u = 0` the slope's side is
    taken, as PyTorch's PReLU does.
    """
    shifted = inputs + input_bias
    # The exact form of tf.keras.layers.PReLU, which the TFLite converter fuses to PRELU.
    activated = tf.nn.relu(shifted) + (-alpha * tf.nn.relu(-shifted))

    def grad(dy):
        axes = list(range(len(dy.shape) - 1))
        d_shifted = tf.where(shifted > 0, dy, dy * alpha)
        d_alpha = tf.reduce_sum(dy * tf.minimum(shifted, 0.0), axis=axes)
        return (
            d_shifted,
            tf.reduce_sum(d_shifted, axis=axes),
            tf.reshape(d_alpha, tf.shape(alpha)),
            tf.reduce_sum(dy, axis=axes),
        )

    return activated + output_bias, grad


@lq.utils.register_keras_custom_object
class RPReLU(tf.keras.layers.Layer):
    r"""ReActNet's RPReLU: a PReLU shifted before and after, all per channel.

    \\[
    y = \mathrm{PReLU}_\beta(x + \gamma) + \zeta, \qquad
    \mathrm{PReLU}_\beta(u) = \max(u, 0) + \beta \min(u, 0)
    \\]

    As in the official code (`move12`, `prelu1`, `move13`), the shifts `gamma` and `zeta` start
    at 0 and the slope `beta` starts at PyTorch's 0.25, one slope per channel shared over
    height and width. The slope is applied in the form of `tf.keras.layers.PReLU`, which the
    TFLite converter turns into its `PRELU` kernel.

    !!! example
        ```python
        y = RPReLU()(tf.random.normal((2, 8, 8, 16)))
        ```

    # Arguments
        alpha_initializer: initializer of the slope, or one value per channel
            (default: 0.25 everywhere).
        alpha_regularizer: optional regularizer of the slope.
        alpha_constraint: optional constraint of the slope.
        bias_initializer: initializer of both shifts, or one value per channel.

    # Input shape
        Any rank >= 2, channels last; the number of channels must be known.

    # References
        - [ReActNet](https://arxiv.org/abs/2003.03488), Section 3.2.
    """

    def __init__(
        self,
        alpha_initializer=None,
        alpha_regularizer=None,
        alpha_constraint=None,
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.alpha_initializer = (
            alpha_initializer
            if alpha_initializer is not None
            else tf.keras.initializers.Constant(PYTORCH_PRELU_SLOPE)
        )
        self.alpha_regularizer = tf.keras.regularizers.get(alpha_regularizer)
        self.alpha_constraint = tf.keras.constraints.get(alpha_constraint)
        self.bias_initializer = bias_initializer

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        owner = f"RPReLU '{self.name}'"
        channels = channels_of(input_shape, owner)
        if input_shape.rank < 2:
            raise ValueError(
                f"{owner} needs inputs with a batch and a channel axis, got {input_shape}."
            )
        self._alpha_broadcast_shape = [1] * (input_shape.rank - 2) + [channels]
        per_channel = dict(shape=(channels,), trainable=True)
        self.input_bias = self.add_weight(
            name="input_bias",
            initializer=per_channel_initializer(self.bias_initializer, channels, owner),
            **per_channel,
        )
        self.alpha = self.add_weight(
            name="alpha",
            initializer=per_channel_initializer(self.alpha_initializer, channels, owner),
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
            **per_channel,
        )
        self.output_bias = self.add_weight(
            name="output_bias",
            initializer=per_channel_initializer(self.bias_initializer, channels, owner),
            **per_channel,
        )
        super().build(input_shape)

    def call(self, inputs):
        # Shaped like tf.keras.layers.PReLU's slope, (1, ..., 1, C), for the PRELU pattern.
        alpha = tf.reshape(tf.cast(self.alpha, inputs.dtype), self._alpha_broadcast_shape)
        return _shifted_prelu(
            inputs,
            tf.cast(self.input_bias, inputs.dtype),
            alpha,
            tf.cast(self.output_bias, inputs.dtype),
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": serialize_initializer(self.alpha_initializer),
            "alpha_regularizer": tf.keras.regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": tf.keras.constraints.serialize(self.alpha_constraint),
            "bias_initializer": serialize_initializer(self.bias_initializer),
        }
