"""Distillation: the official distribution loss by hand, a frozen teacher, usable from fit."""

import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.distillation import DistillationModel, DistributionLoss, distribution_loss


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _hand_loss(teacher, student, temperature=1.0, labels=None, hard_weight=0.0):
    p_t = _softmax(teacher / temperature)
    log_p_s = np.log(_softmax(student / temperature))
    loss = -(p_t * log_p_s).sum(axis=-1) * temperature**2
    if hard_weight:
        log_p = np.log(_softmax(student))
        loss = loss + hard_weight * -log_p[np.arange(len(labels)), labels]
    return loss.mean()


def test_distribution_loss_equals_hand_computation():
    rng = np.random.default_rng(0)
    teacher, student = rng.normal(size=(2, 5, 7)).astype("float32")
    got = float(tf.reduce_mean(distribution_loss(teacher, student)))
    assert got == pytest.approx(_hand_loss(teacher, student), rel=1e-5)
    got_t = float(DistributionLoss(temperature=3.0)(teacher, student))
    assert got_t == pytest.approx(_hand_loss(teacher, student, temperature=3.0), rel=1e-5)
    # Soft-target CE = KL(p_t || p_s) + H(p_t): minimal, and equal to H(p_t), at student == teacher.
    p_t = _softmax(teacher)
    entropy = -(p_t * np.log(p_t)).sum(-1).mean()
    assert float(tf.reduce_mean(distribution_loss(teacher, teacher))) == pytest.approx(
        entropy, rel=1e-5
    )
    with pytest.raises(ValueError, match="temperature"):
        DistributionLoss(temperature=0.0)


def _models():
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((4,))
    student = tf.keras.Model(inputs, tf.keras.layers.Dense(3, name="student_fc")(inputs))
    t_inputs = tf.keras.Input((4,))
    hidden = tf.keras.layers.BatchNormalization(name="teacher_bn")(t_inputs)
    teacher = tf.keras.Model(t_inputs, tf.keras.layers.Dense(3, name="teacher_fc")(hidden))
    teacher.get_layer("teacher_bn").moving_mean.assign([0.5, -0.5, 1.0, 0.0])
    return student, teacher


@pytest.mark.parametrize("hard_weight", [0.0, 0.5])
def test_fit_step_uses_the_loss_and_leaves_the_teacher_frozen(hard_weight):
    student, teacher = _models()
    rng = np.random.default_rng(1)
    images = rng.normal(size=(6, 4)).astype("float32")
    labels = rng.integers(0, 3, size=6)
    teacher_logits = teacher(images, training=False).numpy()
    teacher_before = [w.numpy().copy() for w in teacher.weights]
    student_before = [w.numpy().copy() for w in student.weights]
    with tf.GradientTape() as tape:
        logits = student(images)
        hand = tf.reduce_mean(distribution_loss(teacher_logits, logits))
        hand += hard_weight * tf.reduce_mean(
            tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        )
    grads = tape.gradient(hand, student.trainable_variables)
    expected_loss = _hand_loss(
        teacher_logits, logits.numpy(), labels=labels, hard_weight=hard_weight
    )
    assert float(hand) == pytest.approx(expected_loss, rel=1e-5)

    model = DistillationModel(student, teacher, hard_label_weight=hard_weight)
    model.compile(
        tf.keras.optimizers.legacy.SGD(0.1),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(images, labels, batch_size=6, epochs=1, shuffle=False, verbose=0)

    assert history.history["loss"][0] == pytest.approx(expected_loss, rel=1e-5)
    assert "accuracy" in history.history
    for before, after in zip(teacher_before, teacher.weights, strict=True):
        np.testing.assert_array_equal(before, after.numpy())  # incl. BN moving statistics
    for before, grad, after in zip(student_before, grads, student.weights, strict=True):
        np.testing.assert_allclose(after.numpy(), before - 0.1 * grad.numpy(), rtol=1e-5, atol=1e-7)
    assert len(model.trainable_variables) == 2  # the student's kernel and bias only
    # Evaluation: plain cross-entropy of the student on the labels.
    results = model.evaluate(images, labels, verbose=0, return_dict=True)
    assert set(results) == {"loss", "accuracy"}
    loss = results["loss"]
    ce = tf.keras.losses.sparse_categorical_crossentropy(labels, student(images), from_logits=True)
    assert loss == pytest.approx(float(tf.reduce_mean(ce)), rel=1e-5)


def test_distillation_under_mirrored_strategy_equals_single_device(two_cpu_strategy):
    rng = np.random.default_rng(2)
    images = rng.normal(size=(8, 4)).astype("float32")
    labels = rng.integers(0, 3, size=8)
    results = []
    for strategy in (tf.distribute.get_strategy(), two_cpu_strategy):
        with strategy.scope():
            student, teacher = _models()
            model = DistillationModel(student, teacher)
            model.compile(tf.keras.optimizers.legacy.Adam(1e-2), loss="mse")
        history = model.fit(images, labels, batch_size=8, epochs=2, shuffle=False, verbose=0)
        results.append((history.history["loss"], [w.numpy() for w in student.weights]))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    for one, two in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-6)
