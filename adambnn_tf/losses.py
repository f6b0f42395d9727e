"""Training losses that Keras 2 lacks for integer labels."""

from __future__ import annotations

import larq as lq
import tensorflow as tf

__all__ = ["SmoothedSparseCategoricalCrossentropy", "check_label_smoothing"]


def check_label_smoothing(label_smoothing: float) -> None:
    """Checks a label-smoothing value.

    # Arguments
        label_smoothing: the value to check.

    # Raises
        ValueError: for a value outside `[0, 1)`, naming the usual value.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(
            f"label_smoothing must be in [0, 1), got {label_smoothing!r}; 0.1 is the usual "
            "value, 0 turns smoothing off."
        )


@lq.utils.register_keras_custom_object
class SmoothedSparseCategoricalCrossentropy(tf.keras.losses.Loss):
    r"""Cross-entropy with label smoothing, for integer labels.

    tf-keras' `SparseCategoricalCrossentropy` has no `label_smoothing`; this loss one-hot
    encodes the labels and calls Keras' `categorical_crossentropy` with it. With `K` classes
    and smoothing `eps` the target of the true class is `1 - eps + eps / K` and of every other
    class `eps / K`:

    \\[
    L = -\sum_k \left((1 - \epsilon)\, 1[k = y] + \frac{\epsilon}{K}\right) \log p_k
    \\]

    !!! example
        ```python
        model.compile(
            optimizer="adam",
            loss=SmoothedSparseCategoricalCrossentropy(label_smoothing=0.1),
            metrics=["accuracy"],
        )
        ```

    # Arguments
        label_smoothing: `eps` in `[0, 1)`; 0 is the plain sparse cross-entropy.
        from_logits: whether the predictions are logits (default) or probabilities.
        reduction: Keras' loss reduction.
        name: the loss name.

    # Raises
        ValueError: for `label_smoothing` outside `[0, 1)`.
    """

    def __init__(
        self,
        label_smoothing: float = 0.1,
        from_logits: bool = True,
        reduction: str = tf.keras.losses.Reduction.AUTO,
        name: str = "smoothed_sparse_categorical_crossentropy",
    ):
        check_label_smoothing(label_smoothing)
        super().__init__(reduction=reduction, name=name)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        """Returns the per-example loss.

        # Arguments
            y_true: integer labels, shaped `(batch,)` or `(batch, 1)`.
            y_pred: logits or probabilities, shaped `(batch, classes)`.

        # Returns
            The loss of each example, shaped `(batch,)`.
        """
        labels = tf.reshape(tf.cast(y_true, tf.int32), tf.shape(y_pred)[:-1])
        targets = tf.one_hot(labels, tf.shape(y_pred)[-1], dtype=y_pred.dtype)
        return tf.keras.losses.categorical_crossentropy(
            targets, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {
            **super().get_config(),
            "label_smoothing": self.label_smoothing,
            "from_logits": self.from_logits,
        }
