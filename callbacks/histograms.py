"""Histograms of the latent weights to TensorBoard (AdamBNN paper, Fig. 6)."""

from __future__ import annotations

import os
from collections.abc import Callable

import tensorflow as tf

from adambnn_tf.quantizers import is_latent_weight

from ._step_hooks import latent_value, latent_weights, layer_keys

__all__ = ["LatentWeightHistograms"]


class LatentWeightHistograms(tf.keras.callbacks.Callback):
    """Writes a `tf.summary.histogram` of every latent weight at the end of epochs.

    The paper's Fig. 6 shows how weight decay and the two-stage recipe shape the latent-weight
    distribution (how many weights sit near 0, where signs flip easily). The histograms go to
    `<log_dir>/latent_weights` under the tags `latent_weights/<layer>`; point TensorBoard at
    `log_dir`. Keras' `TensorBoard(histogram_freq=1)` also writes weight histograms, but of
    every weight and of the variables as read in the layer; this callback writes the latent
    (real) values of the binary layers only. Buckets are computed by TensorFlow on the device.

    !!! example
        ```python
        model.fit(data, epochs=4, callbacks=[LatentWeightHistograms("logs", every_n_epochs=2)])
        ```

    # Arguments
        log_dir: the TensorBoard log directory.
        every_n_epochs: write at the end of every n-th epoch (and at epoch 0).
        buckets: the number of histogram buckets.
        latent_filter: predicate `variable -> bool` choosing the latent weights.

    # Raises
        ValueError: if `every_n_epochs` is not a positive integer.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        every_n_epochs: int = 1,
        buckets: int = 60,
        latent_filter: Callable[[tf.Variable], bool] = is_latent_weight,
    ):
        super().__init__()
        if (
            isinstance(every_n_epochs, bool)
            or not isinstance(every_n_epochs, int)
            or every_n_epochs < 1
        ):
            raise ValueError(f"every_n_epochs must be a positive integer, got {every_n_epochs!r}.")
        self.log_dir = os.fspath(log_dir)
        self.every_n_epochs = every_n_epochs
        self.buckets = buckets
        self.latent_filter = latent_filter
        self._writer = None

    def set_model(self, model):
        super().set_model(model)
        self._variables = latent_weights(model, self.latent_filter)
        self._names = layer_keys(self._variables, ("kernel", "depthwise_kernel"), model.name)

    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.every_n_epochs:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(
                os.path.join(self.log_dir, "latent_weights")
            )
        with self._writer.as_default(step=epoch):
            for name, variable in zip(self._names, self._variables, strict=True):
                tf.summary.histogram(
                    f"latent_weights/{name}", latent_value(variable), buckets=self.buckets
                )
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
