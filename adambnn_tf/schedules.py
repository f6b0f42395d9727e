r"""Learning-rate schedules of the AdamBNN recipe.

The official code steps `LambdaLR(lambda epoch: 1 - epoch / E)` once at the *start* of every
epoch, before the first update, so epoch `k` (0-based) trains at

\\[
lr_k = lr_0 \left(1 - \frac{k + 1}{E}\right)
\\]

and the last epoch at 0: a linear decay to zero, constant within an epoch
(`EpochwiseLinearDecay`). `StepwiseLinearDecay` is the per-step variant, `lr_0 (1 - t / T)`.

Both are Keras `LearningRateSchedule`s of the optimizer's step counter (`iterations`), so they
resume from a checkpoint by themselves and serialize with the optimizer.
"""

from __future__ import annotations

import larq as lq
import tensorflow as tf

from adambnn_tf._checks import check_positive_int
from adambnn_tf.config.choices import SCHEDULES

__all__ = ["EpochwiseLinearDecay", "StepwiseLinearDecay", "linear_decay"]


@lq.utils.register_keras_custom_object
class EpochwiseLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    r"""The official schedule: linear decay to 0, constant per epoch, stepped at epoch start.

    At optimizer step `t` (0-based, the value of `optimizer.iterations` during the update),
    epoch `k = t // steps_per_epoch` trains at `initial_learning_rate * (1 - (k + 1) / epochs)`,
    and 0 from the last epoch on.

    !!! example
        ```python
        schedule = EpochwiseLinearDecay(1.25e-3, epochs=256, steps_per_epoch=5005)
        optimizer = adambnn_tf.optimizers.OfficialAdam(schedule)
        ```

    # Arguments
        initial_learning_rate: the base learning rate `lr_0`.
        epochs: the number of epochs `E` of the stage.
        steps_per_epoch: optimizer steps per epoch.
        name: an optional name.

    # Raises
        ValueError: if `epochs` or `steps_per_epoch` is not a positive integer.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        epochs: int,
        steps_per_epoch: int,
        name: str | None = None,
    ):
        super().__init__()
        self.initial_learning_rate = float(initial_learning_rate)
        self.epochs = check_positive_int(epochs, "epochs")
        self.steps_per_epoch = check_positive_int(steps_per_epoch, "steps_per_epoch")
        self.name = name

    def __call__(self, step):
        with tf.name_scope(self.name or "EpochwiseLinearDecay"):
            step = tf.cast(step, tf.int64)
            epoch = tf.cast(step // self.steps_per_epoch, tf.float32)
            fraction_left = 1.0 - (epoch + 1.0) / float(self.epochs)
            return self.initial_learning_rate * tf.maximum(fraction_left, 0.0)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
        }


@lq.utils.register_keras_custom_object
class StepwiseLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    r"""Per-step linear decay to 0: `lr_0 * (1 - t / total_steps)`, then 0.

    The same straight line as `EpochwiseLinearDecay`, without the staircase; equal to Keras'
    `PolynomialDecay(lr_0, total_steps, end_learning_rate=0, power=1)`.

    !!! example
        ```python
        schedule = StepwiseLinearDecay(1.25e-3, total_steps=256 * 5005)
        ```

    # Arguments
        initial_learning_rate: the base learning rate `lr_0` (at step 0).
        total_steps: the step at which the rate reaches 0.
        name: an optional name.

    # Raises
        ValueError: if `total_steps` is not a positive integer.
    """

    def __init__(self, initial_learning_rate: float, total_steps: int, name: str | None = None):
        super().__init__()
        self.initial_learning_rate = float(initial_learning_rate)
        self.total_steps = check_positive_int(total_steps, "total_steps")
        self.name = name

    def __call__(self, step):
        with tf.name_scope(self.name or "StepwiseLinearDecay"):
            step = tf.cast(step, tf.float32)
            fraction_left = 1.0 - step / float(self.total_steps)
            return self.initial_learning_rate * tf.maximum(fraction_left, 0.0)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "total_steps": self.total_steps,
            "name": self.name,
        }


def linear_decay(
    schedule: str, initial_learning_rate: float, epochs: int, steps_per_epoch: int
) -> tf.keras.optimizers.schedules.LearningRateSchedule:
    """The linear decay to 0 over a phase of training, by the name of its form.

    !!! example
        ```python
        linear_decay("epochwise", 1.25e-3, epochs=256, steps_per_epoch=5005)
        ```

    # Arguments
        schedule: `"epochwise"` (`EpochwiseLinearDecay`) or `"stepwise"`
            (`StepwiseLinearDecay`), the choices of `adambnn_tf.config.choices.SCHEDULES`.
        initial_learning_rate: the base learning rate.
        epochs: the phase's epochs.
        steps_per_epoch: optimizer steps per epoch.

    # Returns
        The schedule.

    # Raises
        ValueError: for another name.
    """
    if schedule == "epochwise":
        return EpochwiseLinearDecay(initial_learning_rate, epochs, steps_per_epoch)
    if schedule == "stepwise":
        return StepwiseLinearDecay(initial_learning_rate, epochs * steps_per_epoch)
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}.")
