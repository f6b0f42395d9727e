"""SmoothedSparseCategoricalCrossentropy against the hand formula, in Keras and serialized."""

import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.losses import SmoothedSparseCategoricalCrossentropy


def _hand_loss(labels, logits, smoothing):
    classes = logits.shape[-1]
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    targets = np.full(logits.shape, smoothing / classes)
    targets[np.arange(len(labels)), labels] += 1.0 - smoothing
    return -(targets * log_probs).sum(axis=-1)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("label_shape", ["flat", "column"])
def test_loss_equals_hand_formula(smoothing, label_shape):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)).astype("float32") * 3
    labels = rng.integers(0, 4, size=6)
    y_true = labels if label_shape == "flat" else labels[:, None]
    loss = SmoothedSparseCategoricalCrossentropy(smoothing, reduction="none")
    np.testing.assert_allclose(
        loss(y_true, logits).numpy(), _hand_loss(labels, logits, smoothing), rtol=1e-5
    )


def test_zero_smoothing_is_keras_sparse_cross_entropy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(5, 3)).astype("float32")
    labels = rng.integers(0, 3, size=5)
    keras = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    ours = SmoothedSparseCategoricalCrossentropy(0.0)
    np.testing.assert_allclose(ours(labels, logits).numpy(), keras(labels, logits).numpy())


def test_compiled_model_reports_the_smoothed_loss_and_round_trips():
    rng = np.random.default_rng(2)
    images = rng.normal(size=(8, 3)).astype("float32")
    labels = rng.integers(0, 5, size=8)
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(5)])
    model.compile(loss=SmoothedSparseCategoricalCrossentropy(0.2))
    evaluated = model.evaluate(images, labels, batch_size=8, verbose=0)
    expected = _hand_loss(labels, model.predict(images, verbose=0), 0.2).mean()
    assert evaluated == pytest.approx(expected, rel=1e-5)

    config = tf.keras.losses.serialize(model.loss)
    restored = tf.keras.losses.deserialize(config)
    assert isinstance(restored, SmoothedSparseCategoricalCrossentropy)
    assert restored.label_smoothing == pytest.approx(0.2)


@pytest.mark.parametrize("smoothing", [-0.1, 1.0])
def test_rejects_smoothing_outside_unit_interval(smoothing):
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        SmoothedSparseCategoricalCrossentropy(smoothing)
