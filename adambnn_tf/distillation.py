r"""Knowledge distillation as in the official AdamBNN / ReActNet code (`utils/KD_loss.py`).

The student is trained only on the soft targets of a frozen real-valued teacher (ResNet-34
in the paper), with the "distribution loss"

\\[
L = -\frac{1}{B} \sum_b \sum_c \mathrm{softmax}(z^t_b / T)_c \,
\log \mathrm{softmax}(z^s_b / T)_c
\\]

at temperature `T = 1` and without a ground-truth term. Two ways to use it from `model.fit`:

- `DistillationModel(student, teacher)`: a Keras model whose training step runs the frozen
  teacher (inference mode, no gradients) on the same batch;
- `DistributionLoss()` as the loss of the student itself, with a dataset whose targets are the
  teacher's logits (e.g. precomputed).
"""

from __future__ import annotations

import larq as lq
import tensorflow as tf

__all__ = ["DistillationModel", "DistributionLoss", "distribution_loss"]


def distribution_loss(
    teacher_logits: tf.Tensor, student_logits: tf.Tensor, temperature: float = 1.0
) -> tf.Tensor:
    """Per-example soft-target cross-entropy `-sum_c p_teacher(c) log p_student(c)`.

    At `temperature != 1` both logits are divided by it and the loss is multiplied by
    `temperature**2` (Hinton et al.), so that gradient magnitudes do not depend on `T`.

    # Arguments
        teacher_logits: `(batch, classes)` teacher logits; no gradient flows into them.
        student_logits: `(batch, classes)` student logits.
        temperature: the softmax temperature `T > 0` (official: 1).

    # Returns
        The loss of each example, shape `(batch,)`.
    """
    teacher_logits = tf.stop_gradient(tf.cast(teacher_logits, student_logits.dtype))
    targets = tf.nn.softmax(teacher_logits / temperature, axis=-1)
    log_probabilities = tf.nn.log_softmax(student_logits / temperature, axis=-1)
    return -tf.reduce_sum(targets * log_probabilities, axis=-1) * temperature**2


def _check_temperature(temperature: float) -> float:
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r} (official: 1.0).")
    return float(temperature)


@lq.utils.register_keras_custom_object
class DistributionLoss(tf.keras.losses.Loss):
    """The official distillation loss as a Keras loss: `y_true` are the teacher's logits.

    !!! example
        ```python
        student.compile(optimizer, loss=DistributionLoss())
        student.fit(images_and_teacher_logits, epochs=...)
        ```

    # Arguments
        temperature: the softmax temperature (official: 1).
        reduction: the Keras loss reduction (default: mean over the batch).
        name: the loss name.

    # Raises
        ValueError: if `temperature` is not positive.
    """

    def __init__(
        self,
        temperature: float = 1.0,
        reduction=tf.keras.losses.Reduction.AUTO,
        name: str = "distribution_loss",
    ):
        super().__init__(reduction=reduction, name=name)
        self.temperature = _check_temperature(temperature)

    def call(self, y_true, y_pred):
        return distribution_loss(y_true, y_pred, self.temperature)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


class DistillationModel(tf.keras.Model):
    r"""Trains `student` against a frozen `teacher` with `model.fit`, as the official recipe.

    Training step: the teacher runs on the batch in inference mode (`training=False`, no
    gradient; its variables are not trainable), the student in training mode, and the loss is

    \\[
    L = \mathrm{DistributionLoss}_T(z^t, z^s) + w_{hard}\,\mathrm{CE}(y, z^s) + \text{regularizers}
    \\]

    with `w_hard = 0` by default (the official code ignores the labels while training). The
    compiled metrics (e.g. `"accuracy"`) see the labels and the student's logits. Evaluation
    uses the compiled loss on labels and student logits (the official validation uses plain
    cross-entropy), so compile with e.g.
    `SparseCategoricalCrossentropy(from_logits=True)`. `call` is the student's.

    The optimizer only sees the student's variables. Save `model.student` for deployment.

    !!! example
        ```python
        model = DistillationModel(student, teacher)
        model.compile(
            StageAwareOptimizer(stage=1),
            loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(train_data, epochs=...)
        ```

    # Arguments
        student: the model being trained (logits out).
        teacher: the frozen model giving the soft targets (logits out), with the same input.
        temperature: the distillation temperature (official: 1).
        hard_label_weight: weight of the cross-entropy with the labels (official: 0).
        name: the model name.

    # Raises
        ValueError: for a non-positive temperature or a negative `hard_label_weight`.
    """

    def __init__(
        self,
        student: tf.keras.Model,
        teacher: tf.keras.Model,
        temperature: float = 1.0,
        hard_label_weight: float = 0.0,
        name: str = "distillation",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if hard_label_weight < 0:
            raise ValueError(f"hard_label_weight must be >= 0, got {hard_label_weight!r}.")
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.temperature = _check_temperature(temperature)
        self.hard_label_weight = float(hard_label_weight)
        self._hard_loss = tf.keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction=tf.keras.losses.Reduction.NONE
        )
        self._loss_tracker = tf.keras.metrics.Mean(name="loss")

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def _distillation_loss(self, labels, teacher_logits, student_logits):
        per_example = distribution_loss(teacher_logits, student_logits, self.temperature)
        if self.hard_label_weight:
            per_example += self.hard_label_weight * self._hard_loss(labels, student_logits)
        # Mean over the global batch: each replica divides by the global batch size, as
        # Keras' compiled losses do, so that summed replica gradients give the mean.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return tf.reduce_sum(per_example) / tf.cast(
            tf.shape(per_example)[0] * replicas, per_example.dtype
        )

    def train_step(self, data):
        inputs, labels, sample_weight = tf.keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError("DistillationModel does not support sample weights.")
        teacher_logits = tf.stop_gradient(self.teacher(inputs, training=False))
        with tf.GradientTape() as tape:
            student_logits = self.student(inputs, training=True)
            loss = self._distillation_loss(labels, teacher_logits, student_logits)
            regularization = self.student.losses
            if regularization:
                replicas = tf.distribute.get_strategy().num_replicas_in_sync
                loss += tf.add_n(regularization) / replicas
        variables = self.student.trainable_variables
        self.optimizer.minimize(loss, variables, tape=tape)
        self._loss_tracker.update_state(loss * tf.distribute.get_strategy().num_replicas_in_sync)
        self.compiled_metrics.update_state(labels, student_logits)
        return {"loss": self._loss_tracker.result(), **self._metric_results()}

    def test_step(self, data):
        inputs, labels, sample_weight = tf.keras.utils.unpack_x_y_sample_weight(data)
        student_logits = self.student(inputs, training=False)
        # The compiled loss (e.g. cross-entropy on the labels) divides by the replica count.
        loss = self.compiled_loss(labels, student_logits, sample_weight)
        self._loss_tracker.update_state(loss * tf.distribute.get_strategy().num_replicas_in_sync)
        self.compiled_metrics.update_state(labels, student_logits, sample_weight)
        return {"loss": self._loss_tracker.result(), **self._metric_results()}

    def _metric_results(self):
        results = {}
        for metric in self.compiled_metrics.metrics:
            result = metric.result()
            if isinstance(result, dict):
                results.update(result)
            else:
                results[metric.name] = result
        return results

    @property
    def metrics(self):
        return [self._loss_tracker, *super().metrics]
