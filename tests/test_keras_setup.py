"""`import adambnn_tf` selects Keras 2, or explains what to do when it is too late."""

import os
import subprocess
import sys

import pytest


def _run(code: str, **env_changes: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )


def test_import_before_tensorflow_selects_tf_keras():
    result = _run(
        "import adambnn_tf, os, tensorflow as tf\n"
        "print(os.environ['TF_USE_LEGACY_KERAS'], tf.keras.layers.Layer.__module__)",
        TF_USE_LEGACY_KERAS=None,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "tf_keras.src.engine.base_layer"]


def test_import_after_tensorflow_selects_tf_keras_while_tf_keras_is_unused():
    # TensorFlow's lazy `tf.keras` has not chosen yet: the README's `import tensorflow as tf`
    # followed by `import adambnn_tf` works (this fails if TensorFlow's private lazy-loader
    # flag that adambnn_tf._keras_setup reads changes).
    result = _run(
        "import tensorflow as tf\nimport adambnn_tf, larq\nprint(tf.keras.layers.Layer.__module__)",
        TF_USE_LEGACY_KERAS=None,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "tf_keras.src.engine.base_layer"


def test_import_after_keras_3_was_used_raises_clear_error():
    result = _run(
        "import tensorflow as tf\ntf.keras.layers.Dense\nimport adambnn_tf",
        TF_USE_LEGACY_KERAS=None,
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: adambnn_tf (like Larq) needs Keras 2")
    assert "TF_USE_LEGACY_KERAS=1" in last_line


@pytest.mark.parametrize("submodule", ["adambnn_tf.zoo", "adambnn_tf.callbacks"])
def test_import_after_tensorflow_with_legacy_keras_works(submodule):
    result = _run(
        f"import tensorflow as tf\nimport {submodule}\nprint(tf.keras.layers.Layer.__module__)",
        TF_USE_LEGACY_KERAS="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "tf_keras.src.engine.base_layer"
