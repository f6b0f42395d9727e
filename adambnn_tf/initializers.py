"""Keras initializers equal to PyTorch's default initialisation of convolutions and dense layers.

The official AdamBNN code (PyTorch) keeps PyTorch's defaults: the weights of `nn.Conv2d` and
`nn.Linear` are `kaiming_uniform_(a=sqrt(5))`, uniform in `[-b, b]` with
`b = 1 / sqrt(fan_in)` (`fan_in = in_channels * kh * kw` for a convolution, `in_features` for
a dense layer), and the bias of `nn.Linear` is uniform in the same `[-b, b]`. Keras layers
default to glorot-uniform kernels and zero biases instead.

- The kernel is Keras' own `VarianceScaling(scale=1/3, mode="fan_in",
  distribution="uniform")`, whose limit `sqrt(3 * scale / fan_in)` is `1 / sqrt(fan_in)`;
  Keras reads `fan_in` from the kernel's shape exactly as PyTorch does.
- The bias needs the layer's `fan_in`, which a bias's shape does not tell, so
  `PyTorchBiasUniform(fan_in)` carries it. It is a registered Keras custom object, so models
  that use it survive `model.save` and `tf.keras.models.load_model`.

`layer_initializers` returns a layer's `(kernel_initializer, bias_initializer)` for a name
of `adambnn_tf.config.choices.INITIALIZERS`: `"keras"` (Keras' defaults) or `"pytorch"`.

!!! example
    ```python
    import adambnn_tf  # before TensorFlow
    import tensorflow as tf
    from adambnn_tf.initializers import layer_initializers

    kernel, bias = layer_initializers("pytorch", fan_in=256)
    dense = tf.keras.layers.Dense(10, kernel_initializer=kernel, bias_initializer=bias)
    ```
"""

from __future__ import annotations

import math
import numbers

import larq as lq
import tensorflow as tf

from adambnn_tf.config.choices import INITIALIZERS

__all__ = [
    "PyTorchBiasUniform",
    "check_initializer",
    "layer_initializers",
    "pytorch_kernel_initializer",
]


def check_initializer(name: str) -> None:
    """Raises a clear `ValueError` unless `name` is one of `INITIALIZERS`.

    # Arguments
        name: the initializer family, `"keras"` or `"pytorch"`.

    # Raises
        ValueError: naming the bad value and the allowed ones.
    """
    if name not in INITIALIZERS:
        choices = ", ".join(repr(choice) for choice in INITIALIZERS)
        raise ValueError(
            f"initializer must be one of {choices} ('keras': glorot-uniform kernels and zero "
            f"biases; 'pytorch': PyTorch's defaults, uniform in +-1/sqrt(fan_in), as the "
            f"official code), got {name!r}."
        )


def pytorch_kernel_initializer(seed: int | None = None) -> tf.keras.initializers.Initializer:
    """PyTorch's default kernel initialisation, `kaiming_uniform_(a=sqrt(5))`.

    Uniform in `[-1/sqrt(fan_in), 1/sqrt(fan_in)]`: Keras' `VarianceScaling` with
    `scale=1/3`, `mode="fan_in"` and a uniform distribution (limit
    `sqrt(3 * scale / fan_in)`), where `fan_in` is `kh * kw * in_channels` for a convolution
    kernel and `in_features` for a dense kernel, as in PyTorch.

    !!! example
        ```python
        conv = tf.keras.layers.Conv2D(64, 3, kernel_initializer=pytorch_kernel_initializer())
        ```

    # Arguments
        seed: optional seed of the initializer (Keras' convention: a seeded initializer
            returns the same values at every call).

    # Returns
        A new `tf.keras.initializers.VarianceScaling`.
    """
    return tf.keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform", seed=seed
    )


@lq.utils.register_keras_custom_object
class PyTorchBiasUniform(tf.keras.initializers.RandomUniform):
    """PyTorch's default bias of `nn.Linear` and `nn.Conv2d`: uniform in +-1/sqrt(fan_in).

    A bias's shape does not tell the layer's `fan_in`, so the initializer carries it (and
    serializes it). Registered as a Keras custom object under its class name.

    !!! example
        ```python
        dense = tf.keras.layers.Dense(
            10,
            kernel_initializer=pytorch_kernel_initializer(),
            bias_initializer=PyTorchBiasUniform(fan_in=256),
        )
        dense.build((None, 256))
        ```

    # Arguments
        fan_in: the fan-in of the layer the bias belongs to (`in_features` of a dense layer,
            `in_channels * kh * kw` of a convolution), a positive integer.
        seed: optional seed (Keras' convention: a seeded initializer returns the same values
            at every call).

    # Raises
        ValueError: for a `fan_in` that is not a positive integer.
    """

    def __init__(self, fan_in: int, seed: int | None = None):
        if isinstance(fan_in, bool) or not isinstance(fan_in, numbers.Integral) or fan_in < 1:
            raise ValueError(f"PyTorchBiasUniform needs a positive integer fan_in, got {fan_in!r}.")
        self.fan_in = int(fan_in)
        bound = 1.0 / math.sqrt(self.fan_in)
        super().__init__(minval=-bound, maxval=bound, seed=seed)

    def get_config(self) -> dict:
        return {"fan_in": self.fan_in, "seed": self.seed}


def layer_initializers(
    name: str, fan_in: int
) -> tuple[tf.keras.initializers.Initializer, tf.keras.initializers.Initializer]:
    """The `(kernel_initializer, bias_initializer)` of a convolution or dense layer.

    `"keras"` gives Keras' defaults (`GlorotUniform()`, `Zeros()`), exactly what a layer
    without initializer arguments uses; `"pytorch"` gives PyTorch's defaults
    (`pytorch_kernel_initializer()`, `PyTorchBiasUniform(fan_in)`). Every call returns new
    instances, so one call serves one layer.

    !!! example
        ```python
        kernel, _ = layer_initializers("pytorch", fan_in=3 * 3 * 64)  # a bias-free conv
        conv = tf.keras.layers.Conv2D(64, 3, use_bias=False, kernel_initializer=kernel)
        ```

    # Arguments
        name: `"keras"` or `"pytorch"` (`adambnn_tf.config.choices.INITIALIZERS`).
        fan_in: the layer's fan-in (`in_channels * kh * kw` of a convolution, `in_features`
            of a dense layer); only PyTorch's bias uses it.

    # Returns
        The kernel and bias initializers.

    # Raises
        ValueError: for an unknown `name`, or with `"pytorch"` a `fan_in` that is not a
            positive integer.
    """
    check_initializer(name)
    if name == "pytorch":
        return pytorch_kernel_initializer(), PyTorchBiasUniform(fan_in)
    return tf.keras.initializers.GlorotUniform(), tf.keras.initializers.Zeros()
