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


@pytest.fixture(autouse=True)
def _distinct_collective_keys():
    """Gives every test's MirroredStrategy its own collective-key range.

    Every MirroredStrategy in a process starts its collective keys at the same number, so two
    strategies whose models have different gradient sizes in one pytest worker abort with
    "Shape mismatch in the collective instance". TensorFlow's own tests move the base too.
    """
    tf.distribute.MirroredStrategy._collective_key_base += 10_000


@pytest.fixture
def two_cpu_strategy() -> tf.distribute.MirroredStrategy:
    """A MirroredStrategy over two logical CPU devices."""
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
