"""PyTorch-default initializers: the bounds and variances of torch's `nn.Conv2d` and
`nn.Linear` defaults, the Keras defaults of the `"keras"` choice, errors and serialization."""

import math

import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.config.choices import INITIALIZERS
from adambnn_tf.initializers import (
    PyTorchBiasUniform,
    check_initializer,
    layer_initializers,
    pytorch_kernel_initializer,
)


def _torch():
    """PyTorch, for the tests that compare with its defaults (skipped without it)."""
    return pytest.importorskip(
        "torch", reason="the PyTorch defaults need the optional torch extra (CI installs it)"
    )


def _torch_bound(weight) -> float:
    fan_in, _ = _torch().nn.init._calculate_fan_in_and_fan_out(weight)
    return 1.0 / math.sqrt(fan_in)


def _assert_uniform_within(values: np.ndarray, bound: float) -> None:
    """Uniform in [-bound, bound]: inside it, reaching close to it, variance bound^2 / 3."""
    values = np.asarray(values, dtype="float64").ravel()
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.95 * bound
    # The mean of w^2 has a standard error of sqrt(4/45) b^2 / sqrt(n), below 1% of b^2/3
    # for the thousands of values here: 5% is several standard errors.
    np.testing.assert_allclose(np.mean(values**2), bound**2 / 3, rtol=0.05)
    assert abs(values.mean()) < 0.05 * bound


def _assert_torch_default(weight, bound: float) -> None:
    """torch's own initialised tensor lies within the same bound and fills it."""
    _assert_uniform_within(weight.detach().numpy(), bound)


def test_conv_kernel_bound_equals_pytorch():
    torch = _torch()
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 64, 3)
    bound = _torch_bound(conv.weight)
    assert bound == pytest.approx(1 / math.sqrt(16 * 3 * 3))
    _assert_torch_default(conv.weight, bound)

    kernel = pytorch_kernel_initializer(seed=0)((3, 3, 16, 64))  # Keras HWIO
    _assert_uniform_within(kernel.numpy(), bound)


def test_dense_kernel_and_bias_bounds_equal_pytorch():
    torch = _torch()
    torch.manual_seed(0)
    linear = torch.nn.Linear(256, 100)
    bound = _torch_bound(linear.weight)
    assert bound == pytest.approx(1 / 16)
    _assert_torch_default(linear.weight, bound)
    assert np.abs(linear.bias.detach().numpy()).max() <= bound

    kernel, bias = layer_initializers("pytorch", fan_in=256)
    dense = tf.keras.layers.Dense(100, kernel_initializer=kernel, bias_initializer=bias)
    dense.build((None, 256))
    _assert_uniform_within(dense.kernel.numpy(), bound)
    assert np.abs(dense.bias.numpy()).max() <= bound
    assert np.count_nonzero(dense.bias.numpy()) == 100
    # Enough values to see the distribution: as torch's bias of many outputs.
    wide = torch.nn.Linear(256, 5000)
    _assert_torch_default(wide.bias, bound)
    _assert_uniform_within(PyTorchBiasUniform(256, seed=0)((5000,)).numpy(), bound)


def test_keras_choice_is_keras_defaults():
    kernel, bias = layer_initializers("keras", fan_in=256)
    assert isinstance(kernel, tf.keras.initializers.GlorotUniform)
    assert isinstance(bias, tf.keras.initializers.Zeros)
    assert kernel.get_config() == tf.keras.initializers.get("glorot_uniform").get_config()
    # New instances for every layer.
    assert layer_initializers("keras", fan_in=256)[0] is not kernel


def test_variance_scaling_is_the_pytorch_kernel():
    config = pytorch_kernel_initializer().get_config()
    assert config["mode"] == "fan_in" and config["distribution"] == "uniform"
    assert math.sqrt(3 * config["scale"] / 49) == pytest.approx(1 / 7)


def test_bias_initializer_serializes_and_is_seeded():
    initializer = PyTorchBiasUniform(fan_in=64, seed=3)
    restored = tf.keras.initializers.deserialize(tf.keras.initializers.serialize(initializer))
    assert isinstance(restored, PyTorchBiasUniform)
    assert restored.get_config() == {"fan_in": 64, "seed": 3}
    np.testing.assert_array_equal(restored((10,)), initializer((10,)))
    assert restored.maxval == pytest.approx(1 / 8) and restored.minval == pytest.approx(-1 / 8)
    assert PyTorchBiasUniform(np.int64(4)).fan_in == 4


def test_bad_names_and_fan_in_raise():
    assert INITIALIZERS == ("keras", "pytorch")
    for name in INITIALIZERS:
        check_initializer(name)
    with pytest.raises(ValueError, match="initializer must be one of 'keras', 'pytorch'.*'he'"):
        layer_initializers("he", fan_in=4)
    for fan_in in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="positive integer fan_in"):
            PyTorchBiasUniform(fan_in)
