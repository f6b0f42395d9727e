"""Test setup: Keras 2, quiet TensorFlow, and two logical CPUs for MirroredStrategy tests."""
# ruff: noqa: I001  (adambnn_tf must be imported before TensorFlow)

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import adambnn_tf  # noqa: E402,F401  (selects tf-keras before TensorFlow loads)
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Logical devices must be configured before TensorFlow's runtime starts, so at import time.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    tf.keras.backend.clear_session()
    yield


@pytest.fixture
def two_cpu_strategy() -> tf.distribute.MirroredStrategy:
    """A MirroredStrategy over two logical CPU devices."""
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
