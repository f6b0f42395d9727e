"""Make sure TensorFlow serves Keras 2 (tf-keras), which Larq requires.

Larq subclasses Keras 2 internals. Since TensorFlow 2.16 `tf.keras` is Keras 3
unless the environment variable `TF_USE_LEGACY_KERAS=1` is set *before*
TensorFlow is first imported. This module sets it when it still can, and
otherwise explains exactly what to do.
"""

import importlib.util
import os
import sys

__all__ = ["ensure_legacy_keras"]

_HOW_TO_FIX = (
    "adambnn_tf (like Larq) needs Keras 2 behind `tf.keras`, but TensorFlow already uses "
    "Keras 3 there (`tf.keras` was used before adambnn_tf was imported). Either import "
    "adambnn_tf before using `tf.keras`, or set "
    "the environment variable TF_USE_LEGACY_KERAS=1 before Python starts, for example "
    "`TF_USE_LEGACY_KERAS=1 python train.py`, or put `import os; "
    "os.environ['TF_USE_LEGACY_KERAS'] = '1'` at the very top of your script. "
    "The `tf-keras` package must be installed (`pip install tf-keras`)."
)


def _keras_behind_tf_is_legacy() -> bool:
    """Returns whether the already imported `tf.keras` is Keras 2 (tf-keras)."""
    import tensorflow as tf

    return tf.keras.layers.Layer.__module__.startswith("tf_keras")


def _tf_keras_not_resolved_yet() -> bool:
    """Whether an imported TensorFlow has not chosen its Keras yet.

    TensorFlow 2.16+ binds `tf.keras` to a lazy loader that reads `TF_USE_LEGACY_KERAS` on its
    first use, so `import tensorflow` alone does not decide. No public API tells whether that
    first use happened: the loader's private flag `_tfll_initialized` is read from its instance
    dictionary (which does not trigger the loading). `tests/test_keras_setup.py` fails if this
    changes in a TensorFlow release.
    """
    loader = vars(sys.modules["tensorflow"]).get("keras")
    return vars(loader).get("_tfll_initialized") is False if hasattr(loader, "__dict__") else False


def _route_tensorflow_keras_imports_to_tf_keras() -> None:
    """Makes `from tensorflow.keras... import ...` (which Larq uses) find tf-keras.

    At import, TensorFlow puts the `api/_v2` folder of the Keras it chose in front of its own
    `__path__`, and without `TF_USE_LEGACY_KERAS` that is Keras 3's. No public API re-routes
    it, so the entry is swapped for tf-keras' folder (`tests/test_keras_setup.py` fails if
    TensorFlow lays its path out otherwise).
    """
    keras3, legacy = (importlib.util.find_spec(name) for name in ("keras", "tf_keras"))
    if keras3 is None or legacy is None or keras3.origin is None or legacy.origin is None:
        return  # no Keras 3 to replace, or no tf-keras to use: the check below explains
    keras3_api = os.path.join(os.path.dirname(keras3.origin), "api", "_v2")
    legacy_api = os.path.join(os.path.dirname(legacy.origin), "api", "_v2")
    tensorflow = sys.modules["tensorflow"]
    tensorflow.__path__ = [
        legacy_api if os.path.normpath(entry) == os.path.normpath(keras3_api) else entry
        for entry in tensorflow.__path__
    ]


def ensure_legacy_keras() -> None:
    """Selects tf-keras (and oneDNN on CPUs) for TensorFlow, or fails with instructions.

    # Raises
        ImportError: if TensorFlow was imported before and already uses Keras 3 behind
            `tf.keras`.
    """
    if "tensorflow" not in sys.modules:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        # oneDNN speeds up BNN training steps on AVX2 CPUs, where TensorFlow leaves it off by
        # default. It can only be chosen before TensorFlow loads; users who set
        # TF_ENABLE_ONEDNN_OPTS themselves keep their choice.
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
        return
    if _tf_keras_not_resolved_yet():
        # `import tensorflow as tf` came first, but `tf.keras` was not used yet: it can still
        # be tf-keras.
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        _route_tensorflow_keras_imports_to_tf_keras()
    if not _keras_behind_tf_is_legacy():
        raise ImportError(_HOW_TO_FIX)
