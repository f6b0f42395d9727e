"""A tiny BNN built from the plugin's parts trains with model.fit, compiled and distributed."""

import larq as lq
import numpy as np
import tensorflow as tf

from adambnn_tf.layers import RPReLU


def _tiny_bnn(seed: int) -> tf.keras.Model:
    """A BNN without BatchNorm, so that replicas and one device compute the same update."""
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((6, 6, 2))
    x = lq.layers.QuantConv2D(
        4,
        3,
        padding="same",
        input_quantizer="rsign",
        kernel_quantizer="scaled_weight_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
    )(inputs)
    x = RPReLU()(x)
    x = tf.keras.layers.Flatten()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3)(x))


def _data():
    rng = np.random.default_rng(6)
    images = rng.normal(size=(32, 6, 6, 2)).astype("float32")
    labels = rng.integers(0, 3, size=32)
    return images, labels


def _compile(model: tf.keras.Model) -> None:
    model.compile(
        optimizer=tf.keras.optimizers.Adam(1e-2),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        run_eagerly=False,
    )


def test_fit_under_tf_function_updates_latent_weights_and_thresholds():
    model = _tiny_bnn(seed=0)
    _compile(model)
    conv = model.layers[1]
    kernel_before = conv.kernel.latent_variable.numpy().copy()
    threshold_before = conv.input_quantizer.threshold.numpy().copy()
    images, labels = _data()

    history = model.fit(images, labels, batch_size=8, epochs=3, verbose=0)

    assert model.train_function is not None  # compiled with tf.function, not eager
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert not np.allclose(conv.kernel.latent_variable.numpy(), kernel_before)
    assert not np.allclose(conv.input_quantizer.threshold.numpy(), threshold_before)


def test_fit_under_mirrored_strategy_equals_single_device(two_cpu_strategy):
    images, labels = _data()
    single = _tiny_bnn(seed=1)
    _compile(single)
    single.fit(images, labels, batch_size=16, epochs=2, shuffle=False, verbose=0)

    with two_cpu_strategy.scope():
        mirrored = _tiny_bnn(seed=1)
        _compile(mirrored)
    assert two_cpu_strategy.num_replicas_in_sync == 2
    mirrored.fit(images, labels, batch_size=16, epochs=2, shuffle=False, verbose=0)

    for one, two in zip(single.weights, mirrored.weights, strict=True):
        np.testing.assert_allclose(one.numpy(), two.numpy(), rtol=1e-4, atol=1e-5)
