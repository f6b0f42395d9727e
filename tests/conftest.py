"""Test setup: Keras 2, quiet TensorFlow, two logical CPUs for MirroredStrategy tests, and the
two test markers (registered in setup.cfg's `[tool:pytest]`).

`@pytest.mark.slow`: a slow check (full-width ReActNet-A at 224x224, ...). Skipped unless asked
for, so that `python -m pytest -n 2 tests` stays quick: `python -m pytest -n 2 tests -m slow`
runs only the slow tests, and `ADAMBNN_SLOW_TESTS=1 python -m pytest -n 2 tests` runs all.

`@pytest.mark.needs_fashion_mnist`: the test reads the Fashion-MNIST IDX files (found as
`adambnn_tf.data.find_fashion_mnist_dir` finds them). Where they are missing the test is
skipped, but under CI (the environment variable `CI` set, as `.ci/run` sets it) it fails: a
green CI run has run every test that needs the data. The header of every run says which.
"""
# ruff: noqa: I001  (adambnn_tf must be imported before TensorFlow)

import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import adambnn_tf  # noqa: E402,F401  (selects tf-keras before TensorFlow loads)
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from adambnn_tf.data.fashion_mnist import FashionMnistNotFoundError, find_fashion_mnist_dir  # noqa: E402

SLOW_TESTS_ENV = "ADAMBNN_SLOW_TESTS"

# Logical devices must be configured before TensorFlow's runtime starts, so at import time.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@functools.cache
def _fashion_mnist_missing() -> str | None:
    """None when the Fashion-MNIST files are found, else why not (checked once per process)."""
    try:
        find_fashion_mnist_dir()
    except FashionMnistNotFoundError as error:
        return str(error)
    return None


def _slow_tests_asked(config: pytest.Config) -> bool:
    return bool(os.environ.get(SLOW_TESTS_ENV)) or "slow" in (config.getoption("markexpr") or "")


def pytest_report_header(config: pytest.Config) -> list[str]:
    slow = "run" if _slow_tests_asked(config) else f"skipped (-m slow or {SLOW_TESTS_ENV}=1)"
    missing = _fashion_mnist_missing()
    if missing is None:
        data = f"found in {find_fashion_mnist_dir()}"
    else:
        data = "MISSING: needs_fashion_mnist tests " + ("FAIL (CI)" if _in_ci() else "skip")
    return [f"adambnn: slow tests {slow}; Fashion-MNIST {data}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _slow_tests_asked(config):
        return
    skip = pytest.mark.skip(reason=f"slow: run with -m slow or {SLOW_TESTS_ENV}=1")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)  # before the fixtures, which may read the files
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_fashion_mnist") is None:
        return
    missing = _fashion_mnist_missing()
    if missing is None:
        return
    if _in_ci():
        pytest.fail(f"CI needs the Fashion-MNIST files: {missing}", pytrace=False)
    pytest.skip(f"Fashion-MNIST missing: {missing}")


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
