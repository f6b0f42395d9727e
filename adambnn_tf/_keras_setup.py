"""Make sure TensorFlow serves Keras 2 (tf-keras), which Larq requires.

Larq subclasses Keras 2 internals. Since TensorFlow 2.16 `tf.keras` is Keras 3
unless the environment variable `TF_USE_LEGACY_KERAS=1` is set *before*
TensorFlow is first imported. This module sets it when it still can, and
otherwise explains exactly what to do.
"""

import os
import sys

__all__ = ["ensure_legacy_keras"]

_HOW_TO_FIX = (
    "adambnn_tf (like Larq) needs Keras 2 behind `tf.keras`, but TensorFlow was already "
    "imported with Keras 3. Either import adambnn_tf before TensorFlow, or set "
    "the environment variable TF_USE_LEGACY_KERAS=1 before Python starts, for example "
    "`TF_USE_LEGACY_KERAS=1 python train.py`, or put `import os; "
    "os.environ['TF_USE_LEGACY_KERAS'] = '1'` at the very top of your script. "
    "The `tf-keras` package must be installed (`pip install tf-keras`)."
)


def _keras_behind_tf_is_legacy() -> bool:
    """Returns whether the already imported `tf.keras` is Keras 2 (tf-keras)."""
    import tensorflow as tf

    return tf.keras.layers.Layer.__module__.startswith("tf_keras")


def ensure_legacy_keras() -> None:
    """Selects tf-keras (and oneDNN on CPUs) for TensorFlow, or fails with instructions.

    # Raises
        ImportError: if TensorFlow was imported before with Keras 3 behind `tf.keras`.
    """
    if "tensorflow" not in sys.modules:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        # oneDNN made BNN training steps about 3x faster on AVX2 CPUs, where TensorFlow leaves
        # it off by default. It can only be chosen before TensorFlow loads; users who set
        # TF_ENABLE_ONEDNN_OPTS themselves keep their choice.
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
        return
    if not _keras_behind_tf_is_legacy():
        raise ImportError(_HOW_TO_FIX)
