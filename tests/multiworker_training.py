"""A tiny deterministic training run, used by test_distribute.py in one process or as a worker.

It trains a small BNN on Fashion-MNIST-format IDX files through `load_dataset` (seeded
shuffle and augmentation), with the FF-ratio and C2I-ratio callbacks. Run as a script,
`python multiworker_training.py OUT.npz DATA_DIR [explicit]`, it trains under
`strategy_from_environment()` and saves the final weights and metric histories to OUT.npz.
The test sets TF_CONFIG in the environment; with `explicit`, the script removes it from the
environment and passes it to `strategy_from_environment` as an argument instead.
"""
# ruff: noqa: I001  (adambnn_tf must be imported before TensorFlow)

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import adambnn_tf  # noqa: E402,F401
import larq as lq  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from adambnn_tf import callbacks  # noqa: E402
from adambnn_tf.data import load_dataset  # noqa: E402
from adambnn_tf.distribute import strategy_from_environment  # noqa: E402

GLOBAL_BATCH = 16
TRAIN_EXAMPLES = 96  # 6 global batches per epoch
TEST_EXAMPLES = 32


def write_idx_files(folder: str) -> None:
    """Writes random Fashion-MNIST-format IDX files (uint8 images, labels 0-9) to `folder`."""
    rng = np.random.default_rng(0)
    for prefix, count in (("train", TRAIN_EXAMPLES), ("t10k", TEST_EXAMPLES)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count, dtype=np.uint8)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            header = bytes([0, 0, 8, array.ndim]) + b"".join(
                int(size).to_bytes(4, "big") for size in array.shape
            )
            with open(os.path.join(folder, f"{prefix}-{kind}-ubyte"), "wb") as stream:
                stream.write(header + array.tobytes())


def _model() -> tf.keras.Model:
    initializer = tf.keras.initializers.GlorotUniform(seed=1)
    inputs = tf.keras.Input((28, 28, 1))
    x = tf.keras.layers.Conv2D(4, 3, strides=4, kernel_initializer=initializer)(inputs)
    x = lq.layers.QuantConv2D(
        8,
        3,
        input_quantizer="rsign",
        kernel_quantizer="scaled_weight_sign",
        kernel_constraint="weight_clip",
        kernel_initializer=initializer,
        use_bias=False,
    )(x)
    x = adambnn_tf.layers.RPReLU()(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(10, kernel_initializer=initializer)(x))


def train(strategy: tf.distribute.Strategy, data_dir: str) -> dict[str, np.ndarray]:
    """Trains the tiny BNN for 2 epochs with Adam; returns weights and metric histories."""
    train_data = load_dataset(
        "fashion_mnist", "train", batch_size=GLOBAL_BATCH, data_dir=data_dir, augment=True
    )
    with strategy.scope():
        model = _model()
        model.compile(
            tf.keras.optimizers.Adam(0.01),
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    history = model.fit(
        train_data.dataset,
        epochs=2,
        steps_per_epoch=train_data.steps_per_epoch,
        verbose=0,
        callbacks=[callbacks.FFRatio(), callbacks.C2IRatio()],
    )
    result = {f"weight_{i}": w for i, w in enumerate(model.get_weights())}
    for name in ("loss", "ff_ratio", "c2i_ratio"):
        result[name] = np.asarray(history.history[name])
    result["num_replicas"] = np.asarray(strategy.num_replicas_in_sync)
    return result


if __name__ == "__main__":
    if sys.argv[3:] == ["explicit"]:
        strategy = strategy_from_environment(os.environ.pop("TF_CONFIG"))
    else:
        strategy = strategy_from_environment()
    np.savez(sys.argv[1], **train(strategy, sys.argv[2]))
