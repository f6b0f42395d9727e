r"""Larq quantizers of ReActNet and AdamBNN.

Two binarizers make a ReActNet-A / AdamBNN network:

- `RSign` binarizes activations around a learnable per-channel threshold.
- `ScaledWeightSign` binarizes latent weights to `mean(|w|) * sign(w)` per output channel
  with the official code's unscaled, clipped straight-through gradient.

and one marker serves the two-stage recipe:

- `RealLatentWeight` leaves stage-1 kernels real but marks them as the latent weights that
  stage 2 binarizes, so that weight decay and the FF/C2I-ratios find them
  (`is_latent_weight`).

Both are Larq quantizers (`precision = 1`), registered as Keras custom objects under their
class names and under the aliases `"rsign"` and `"scaled_weight_sign"`, so that

```python
import adambnn_tf  # registers the aliases
import larq as lq

lq.layers.QuantConv2D(
    64, 3, input_quantizer="rsign", kernel_quantizer="scaled_weight_sign",
    kernel_constraint="weight_clip", use_bias=False,
)
```

works and survives `model.save` and reloading.

!!! note "sign(0)"
    Both binarizers map 0 to +1 (`larq.math.sign`), as the AdamBNN paper (Eq. 1) and Larq do
    and as Larq Compute Engine's bit-packing does (the sign bit of +0.0 is clear). PyTorch's
    `torch.sign(0)` is 0 in the official code; the two agree everywhere but on exact zeros,
    which latent weights and real-valued activations almost never are. Keeping Larq's
    convention keeps the forward graph in the form LCE converts to `LceQuantize`.
"""

from __future__ import annotations

import larq as lq
import numpy as np
import tensorflow as tf

from adambnn_tf._channels import channels_of, per_channel_initializer, serialize_initializer

__all__ = [
    "RSign",
    "approx_sign",
    "RealLatentWeight",
    "ScaledWeightSign",
    "is_latent_weight",
    "scaled_weight_sign",
]

_SURROGATES = ("approx", "ste")


def _check_clip_value(clip_value: float | None) -> None:
    if clip_value is None:
        return
    if not isinstance(clip_value, (int, float, np.floating, np.integer)) or clip_value <= 0:
        raise ValueError(
            f"clip_value must be a positive number or None, got {clip_value!r}. "
            "Use e.g. clip_value=1.0 to pass gradients only where |x| <= 1, or None to "
            "never clip."
        )


@tf.custom_gradient
def approx_sign(x: tf.Tensor) -> tf.Tensor:
    r"""Sign with Bi-Real Net's ApproxSign gradient, `dq/dx = max(0, 2 - 2|x|)`.

    The same values as `larq.quantizers.approx_sign`, forward and backward. The gradient takes
    five elementwise ops where Larq's takes seven (`zeros_like`, a mask and `where`): the
    binarizers of a small BNN are a large share of a CPU training step. With RPReLU's
    written-out gradient, the training step of `ReActNetACompact` takes less time
    (`bench/RESULTS.md`, section "Written-out gradients of RSign and RPReLU"). The forward
    graph is Larq's `sign`, which Larq Compute Engine converts to `LceQuantize`.

    !!! example
        ```python
        x = tf.constant([-1.5, -0.5, 0.0, 0.25])
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = approx_sign(x)
        tape.gradient(y, x)  # [0.0, 1.0, 2.0, 1.5]
        ```

    # Arguments
        x: the tensor to binarize.

    # Returns
        `+1` where `x >= 0`, `-1` elsewhere.
    """

    def grad(dy):
        return dy * tf.nn.relu(2.0 - 2.0 * tf.abs(x))

    return lq.math.sign(x), grad


@lq.utils.register_alias("rsign")
@lq.utils.register_keras_custom_object
class RSign(lq.quantizers._BaseQuantizer):
    r"""ReActNet's sign with a learnable per-channel threshold.

    Forward (with `b` the learnable per-channel bias, initialised to 0):

    \\[
    q(x) = \begin{cases} +1 & x + b \geq 0 \\\ -1 & x + b < 0 \end{cases}
    \\]

    The official code adds a `LearnableBias` before `sign`; the paper writes the same function
    as `sign(x - alpha)` with `alpha = -b`. Keeping the code's form makes official checkpoints
    load as they are (`move11.bias`, `move21.bias`).

    Backward, with `u = x + b`, by default the ApproxSign surrogate of Bi-Real Net used by the
    official code, `dq/du = max(0, 2 - 2|u|)`; with `surrogate="ste"` the straight-through
    estimator `dq/du = 1[|u| <= clip_value]`. The gradient reaches both the input and the
    threshold (`dL/db = sum over batch and space of dL/du`).

    The forward graph is `larq.math.sign(x + b)`, which Larq Compute Engine converts to a float
    add followed by `LceQuantize`, so the following convolution becomes a binary one.

    !!! example
        ```python
        x = tf.keras.Input((32, 32, 64))
        y = lq.layers.QuantConv2D(64, 3, padding="same", input_quantizer="rsign")(x)
        ```

    # Arguments
        surrogate: `"approx"` (ApproxSign, the default) or `"ste"`.
        clip_value: for `surrogate="ste"`, the gradient passes where `|x + b| <= clip_value`.
            A positive number, or `None` not to clip. Ignored by `"approx"`, whose support
            is `|x + b| < 1` by definition.
        threshold_initializer: initializer of the bias `b`, or one value per channel.
        threshold_regularizer: optional regularizer of `b`.
        threshold_constraint: optional constraint of `b`.
        metrics: Larq quantizer metrics, e.g. `["flip_ratio"]`.

    # Input shape
        Any rank >= 1, channels last; the number of channels must be known.

    # References
        - [ReActNet: Towards Precise Binary Neural Network with Generalized Activation
          Functions](https://arxiv.org/abs/2003.03488)
        - [How Do Adam and Training Strategies Help BNNs Optimization?
          ](https://arxiv.org/abs/2106.11309)
    """

    precision = 1

    def __init__(
        self,
        surrogate: str = "approx",
        clip_value: float | None = 1.0,
        threshold_initializer="zeros",
        threshold_regularizer=None,
        threshold_constraint=None,
        **kwargs,
    ):
        if surrogate not in _SURROGATES:
            raise ValueError(
                f"RSign: unknown surrogate {surrogate!r}; choose one of {_SURROGATES} "
                "('approx' is the official ReActNet/AdamBNN gradient)."
            )
        _check_clip_value(clip_value)
        self.surrogate = surrogate
        self.clip_value = clip_value
        self.threshold_initializer = threshold_initializer
        self.threshold_regularizer = tf.keras.regularizers.get(threshold_regularizer)
        self.threshold_constraint = tf.keras.constraints.get(threshold_constraint)
        super().__init__(**kwargs)

    def build(self, input_shape):
        channels = channels_of(input_shape, f"RSign '{self.name}'")
        self.threshold = self.add_weight(
            name="bias",
            shape=(channels,),
            initializer=per_channel_initializer(
                self.threshold_initializer, channels, f"RSign '{self.name}'"
            ),
            regularizer=self.threshold_regularizer,
            constraint=self.threshold_constraint,
            trainable=True,
        )
        super().build(input_shape)

    def call(self, inputs):
        shifted = inputs + tf.cast(self.threshold, inputs.dtype)
        if self.surrogate == "approx":
            outputs = approx_sign(shifted)
        else:
            outputs = lq.quantizers.ste_sign(shifted, clip_value=self.clip_value)
        return super().call(outputs)

    def get_config(self):
        return {
            **super().get_config(),
            "surrogate": self.surrogate,
            "clip_value": self.clip_value,
            "threshold_initializer": serialize_initializer(self.threshold_initializer),
            "threshold_regularizer": tf.keras.regularizers.serialize(self.threshold_regularizer),
            "threshold_constraint": tf.keras.constraints.serialize(self.threshold_constraint),
        }


def scaled_weight_sign(x: tf.Tensor, clip_value: float | None = 1.0) -> tf.Tensor:
    r"""ReActNet/AdamBNN weight binarization: `stop_gradient(mean|w|) * sign(w)`.

    The scale is the mean absolute latent weight per output channel (the last axis of a
    Keras kernel, i.e. the mean over all other axes). The gradient is the straight-through
    estimator clipped to `|w| <= clip_value` and is **not** multiplied by the scale,
    exactly as in the official `HardBinaryConv`. (Larq's `magnitude_aware_sign` has the same
    forward pass but multiplies its gradient by the scale.)

    # Arguments
        x: latent weights, output channels on the last axis.
        clip_value: gradient support `|w| <= clip_value`, or `None` for no clipping.

    # Returns
        The binarized weights, `±mean|w|` per output channel.
    """

    @tf.custom_gradient
    def _call(latent):
        def grad(dy):
            return lq.quantizers._clipped_gradient(latent, dy, clip_value)

        reduce_axes = list(range(len(latent.shape) - 1))
        scale = tf.reduce_mean(tf.abs(latent), axis=reduce_axes)
        return scale * lq.math.sign(latent), grad

    return _call(x)


@lq.utils.register_alias("scaled_weight_sign")
@lq.utils.register_keras_custom_object
class ScaledWeightSign(lq.quantizers._BaseQuantizer):
    r"""The weight binarizer of ReActNet and AdamBNN (`HardBinaryConv` in the official code).

    \\[
    q(w) = \alpha_o \, \mathrm{sign}(w), \qquad \alpha_o = \frac{1}{n}\sum_{i} |w_{i,o}|,
    \qquad \frac{\partial q}{\partial w} = 1_{|w| \leq \text{clip\_value}}
    \\]

    The per-output-channel scale `alpha` gets no gradient, and, unlike Larq's
    `MagnitudeAwareSign`, the straight-through gradient is not multiplied by `alpha`.
    Larq Compute Engine folds `alpha` into the binary convolution's output multiplier.

    !!! example
        ```python
        lq.layers.QuantConv2D(
            128, 1, input_quantizer="rsign", kernel_quantizer="scaled_weight_sign",
            kernel_constraint="weight_clip", use_bias=False,
        )
        ```

    # Arguments
        clip_value: gradient support `|w| <= clip_value`; a positive number or `None`.
        metrics: Larq quantizer metrics, e.g. `["flip_ratio"]`.

    # References
        - [ReActNet](https://arxiv.org/abs/2003.03488), official code `HardBinaryConv`.
    """

    precision = 1

    def __init__(self, clip_value: float | None = 1.0, **kwargs):
        _check_clip_value(clip_value)
        self.clip_value = clip_value
        super().__init__(**kwargs)

    def call(self, inputs):
        return super().call(scaled_weight_sign(inputs, clip_value=self.clip_value))

    def get_config(self):
        return {**super().get_config(), "clip_value": self.clip_value}


@lq.utils.register_alias("real_latent_weight")
@lq.utils.register_keras_custom_object
class RealLatentWeight(lq.quantizers._BaseQuantizer):
    r"""Identity kernel quantizer that marks a stage-1 kernel as a latent binary weight.

    In stage 1 of the AdamBNN recipe the convolutions that stage 2 binarizes keep real
    weights, but they are still the *latent* weights of the recipe: they get the stage-1
    weight decay, and their signs are what the FF- and C2I-ratios count. Passing this
    quantizer as `kernel_quantizer` makes Larq wrap the kernel in a `QuantizedVariable` whose
    quantizer says so, while the forward and backward passes stay exactly those of a real
    convolution. Its `precision` is 32, so `larq.models.summary` counts the weights as real.

    !!! example
        ```python
        conv = lq.layers.QuantConv2D(
            64, 3, input_quantizer="rsign", kernel_quantizer="real_latent_weight",
        )
        ```
    """

    precision = 32

    def call(self, inputs):
        return super().call(inputs)


def is_latent_weight(variable: tf.Variable) -> bool:
    """Returns whether `variable` is a latent weight of a binary (or to-be-binary) layer.

    A latent weight is a Larq `QuantizedVariable` whose quantizer is 1-bit (stage 2, or any
    Larq BNN) or the `RealLatentWeight` marker (stage 1 of the recipe). BatchNorm, RPReLU,
    thresholds, real stems and classifiers are not latent weights.

    !!! example
        ```python
        latent = [v for v in model.trainable_weights if is_latent_weight(v)]
        ```

    # Arguments
        variable: a model variable.

    # Returns
        `True` for latent weights.
    """
    quantizer = getattr(variable, "quantizer", None)
    if isinstance(quantizer, RealLatentWeight):
        return True
    return getattr(variable, "precision", None) == 1
