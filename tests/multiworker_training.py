"""A tiny deterministic training run, used by test_distribute.py in one process or as a worker.

Run as a script it trains under `strategy_from_environment()` and saves the final weights and
losses to the .npz path given as its first argument. The test sets TF_CONFIG in the
environment; with a second argument `explicit`, the script removes it from the environment and
passes it to `strategy_from_environment` as an argument instead.
"""
# ruff: noqa: I001  (adambnn_tf must be imported before TensorFlow)

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import adambnn_tf  # noqa: E402,F401
import larq as lq  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from adambnn_tf.distribute import strategy_from_environment  # noqa: E402

GLOBAL_BATCH = 16
STEPS = 6


def _data() -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(GLOBAL_BATCH * STEPS, 6, 6, 2)).astype(np.float32)
    labels = rng.integers(0, 3, size=GLOBAL_BATCH * STEPS).astype(np.int64)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(GLOBAL_BATCH)


def _model() -> tf.keras.Model:
    initializer = tf.keras.initializers.GlorotUniform(seed=1)
    inputs = tf.keras.Input((6, 6, 2))
    x = tf.keras.layers.Conv2D(4, 3, kernel_initializer=initializer)(inputs)
    x = lq.layers.QuantConv2D(
        4,
        3,
        input_quantizer="rsign",
        kernel_quantizer="scaled_weight_sign",
        kernel_constraint="weight_clip",
        kernel_initializer=initializer,
        use_bias=False,
    )(x)
    x = adambnn_tf.layers.RPReLU()(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3, kernel_initializer=initializer)(x))


def train(strategy: tf.distribute.Strategy) -> dict[str, np.ndarray]:
    """Trains the tiny BNN for `STEPS` global batches with Adam; returns weights and losses."""
    with strategy.scope():
        model = _model()
        model.compile(
            tf.keras.optimizers.Adam(0.01),
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    history = model.fit(_data(), epochs=2, verbose=0, shuffle=False)
    result = {f"weight_{i}": w for i, w in enumerate(model.get_weights())}
    result["loss"] = np.asarray(history.history["loss"])
    result["num_replicas"] = np.asarray(strategy.num_replicas_in_sync)
    return result


if __name__ == "__main__":
    if sys.argv[2:] == ["explicit"]:
        strategy = strategy_from_environment(os.environ.pop("TF_CONFIG"))
    else:
        strategy = strategy_from_environment()
    np.savez(sys.argv[1], **train(strategy))
