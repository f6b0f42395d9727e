"""The official epoch-wise linear decay and its per-step variant give the exact values."""

import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.optimizers import OfficialAdam
from adambnn_tf.schedules import (
    EpochwiseLinearDecay,
    StepwiseLinearDecay,
    linear_decay,
)


def test_epochwise_values_equal_official_lambda_lr():
    lr, epochs, steps = 1.25e-3, 4, 3
    schedule = EpochwiseLinearDecay(lr, epochs=epochs, steps_per_epoch=steps)
    got = [float(schedule(t)) for t in range(epochs * steps + 2)]
    # LambdaLR(lambda e: 1 - e / E) stepped once before every epoch: epoch k uses factor(k + 1).
    want = [lr * max(0.0, 1 - (t // steps + 1) / epochs) for t in range(epochs * steps + 2)]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)
    assert got[0] == pytest.approx(lr * 3 / 4) and got[-3] == 0.0


def test_stepwise_values_and_polynomial_decay_equivalence():
    schedule = StepwiseLinearDecay(2e-3, total_steps=10)
    polynomial = tf.keras.optimizers.schedules.PolynomialDecay(2e-3, 10, end_learning_rate=0.0)
    for t in range(13):
        assert float(schedule(t)) == pytest.approx(2e-3 * max(0.0, 1 - t / 10), rel=1e-6, abs=1e-12)
        assert float(schedule(t)) == pytest.approx(float(polynomial(t)), abs=1e-10)


def test_schedules_serialize_and_drive_the_optimizer():
    schedule = EpochwiseLinearDecay(1e-2, epochs=5, steps_per_epoch=2)
    optimizer = OfficialAdam(schedule)
    config = tf.keras.optimizers.serialize(optimizer)
    restored = tf.keras.optimizers.deserialize(config, use_legacy_optimizer=True)
    assert isinstance(restored.learning_rate, EpochwiseLinearDecay)
    assert restored.learning_rate.get_config() == schedule.get_config()
    variable = tf.Variable(1.0)
    for step in range(4):
        assert float(optimizer._decayed_lr(tf.float32)) == pytest.approx(
            1e-2 * (1 - (step // 2 + 1) / 5)
        )
        optimizer.apply_gradients([(tf.constant(1.0), variable)])
    stepwise = StepwiseLinearDecay(1e-3, total_steps=8)
    assert StepwiseLinearDecay.from_config(stepwise.get_config()).total_steps == 8


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_lengths_are_rejected(bad):
    with pytest.raises(ValueError, match="positive integer"):
        EpochwiseLinearDecay(1e-3, epochs=bad, steps_per_epoch=1)
    with pytest.raises(ValueError, match="positive integer"):
        StepwiseLinearDecay(1e-3, total_steps=bad)


def test_linear_decay_builds_the_named_form():
    epochwise = linear_decay("epochwise", 1.0, epochs=4, steps_per_epoch=10)
    stepwise = linear_decay("stepwise", 1.0, epochs=4, steps_per_epoch=10)
    assert isinstance(epochwise, EpochwiseLinearDecay) and epochwise.steps_per_epoch == 10
    assert isinstance(stepwise, StepwiseLinearDecay) and stepwise.total_steps == 40
    assert float(epochwise(15)) == pytest.approx(0.5)  # epoch 1 of 4: 1 - 2/4
    assert float(stepwise(15)) == pytest.approx(1 - 15 / 40)
    with pytest.raises(ValueError, match="schedule must be one of"):
        linear_decay("cosine", 1.0, epochs=4, steps_per_epoch=10)
