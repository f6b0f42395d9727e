r"""The share of binarizer inputs outside [-1, 1] (AdamBNN paper, Fig. 3).

Outside [-1, 1] the ApproxSign gradient of `RSign` is 0, so these activations get no gradient:
the paper measured 42.5% after the first epoch with SGD against 35.5% with Adam (first binary
layer of binary ResNet-18). For an `RSign` the binarizer input is `x + b`, the input shifted
by the learnable threshold.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from adambnn_tf.distillation import DistillationModel
from adambnn_tf.quantizers import RSign

from ._step_hooks import (
    StepContext,
    StepSampler,
    TrainStepHook,
    current_step_context,
    on_read_variable,
)

__all__ = ["BinarizerSaturation"]

_PATCHED_ATTRIBUTE = "_adambnn_saturation_counting"


class _SaturationState(tf.Module):
    def __init__(self, layers: int):
        super().__init__(name="saturation_state")
        self.epoch_outside = on_read_variable(tf.zeros(layers, tf.float64), "epoch_outside")
        self.epoch_total = on_read_variable(tf.zeros(layers, tf.float64), "epoch_total")


def _count_inputs(quantizer: RSign) -> None:
    """Makes `quantizer` report its shifted inputs to the training step being traced."""
    if getattr(quantizer, _PATCHED_ATTRIBUTE, False):
        return
    original_call = quantizer.call

    def call(inputs):
        context = current_step_context()
        if context is not None:

            def count_outside():
                shifted = inputs + tf.cast(quantizer.threshold, inputs.dtype)
                return tf.math.count_nonzero(tf.abs(shifted) > 1.0, dtype=tf.int64)

            total = tf.size(inputs, out_type=tf.int64)
            if context.count_binarizers is None:
                outside = count_outside()
            else:
                # Steps that do not count run none of the counting ops.
                outside = tf.cond(
                    context.count_binarizers, count_outside, lambda: tf.constant(0, tf.int64)
                )
                total = tf.where(context.count_binarizers, total, tf.constant(0, tf.int64))
            context.binarizer_counts.setdefault(id(quantizer), []).append((outside, total))
        return original_call(inputs)

    object.__setattr__(quantizer, "call", call)
    object.__setattr__(quantizer, _PATCHED_ATTRIBUTE, True)


class BinarizerSaturation(TrainStepHook):
    r"""Logs the share of `RSign` inputs `x + b` with `|x + b| > 1`, during training.

    Counted in the forward pass of every training step, on the device, over all replicas
    (counts are summed across replicas) and over the epoch so far. The logs get `saturation`
    (all binarizers: outside counts summed / input elements summed) and, with
    `per_layer=True`, `saturation/<binarizer>` (e.g. `saturation/conv1/r_sign`; the first is
    the first binary layer that Fig. 3 of the paper shows). Of a
    `adambnn_tf.distillation.DistillationModel` only the student's binarizers count.

    Counting adds a few elementwise ops per binarizer to the forward pass (measured with
    `FFRatio`: `bench/RESULTS.md`, section "Tracking FF-ratio and saturation on a sample of
    steps"). With
    `every_n_steps=n` only the steps `0, n, 2n, ...` of the training count (the others skip the
    ops), so the shares are over a sample of the steps.

    !!! example
        ```python
        model.fit(data, epochs=2, callbacks=[adambnn_tf.callbacks.BinarizerSaturation()])
        ```

    # Arguments
        per_layer: also log one share per binarizer.
        prefix: the log-key prefix.
        every_n_steps: count in every step (1) or only in every n-th step of the training.
        show_per_layer: keep the per-layer shares in every log (Keras' progress bar shows
            them); by default they go to the `History` but not to the progress bar.

    # Raises
        ValueError: for `every_n_steps` below 1, or (at `fit`) if the model has no `RSign`
            binarizer.
    """

    def __init__(
        self,
        per_layer: bool = True,
        prefix: str = "saturation",
        every_n_steps: int = 1,
        show_per_layer: bool = False,
    ):
        super().__init__(show_per_layer)
        self.per_layer = per_layer
        self.prefix = prefix
        self.sampler = StepSampler(every_n_steps)

    def _build(self, model):
        # A distillation teacher runs in the same step; its binarizers are not trained here.
        trained = model.student if isinstance(model, DistillationModel) else model
        self._quantizers = [m for m in trained.submodules if isinstance(m, RSign)]
        if not self._quantizers:
            raise ValueError(
                f"BinarizerSaturation: model {model.name!r} has no RSign binarizer "
                '(input_quantizer="rsign").'
            )
        self.layer_names = [
            q.threshold.name.split(":")[0].rsplit("/", 1)[0] for q in self._quantizers
        ]
        for quantizer in self._quantizers:
            _count_inputs(quantizer)
        self.state = _SaturationState(len(self._quantizers))
        self.sampler.build()

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self.state.epoch_outside.assign(tf.zeros_like(self.state.epoch_outside))
        self.state.epoch_total.assign(tf.zeros_like(self.state.epoch_total))
        self.sampler.start_epoch(epoch, (getattr(self, "params", None) or {}).get("steps"))

    def before_train_step(self, context: StepContext) -> None:
        if not self.sampler.samples_all:
            context.count_binarizers, _ = self.sampler.next_step()

    def after_train_step(self, context: StepContext) -> dict[str, tf.Tensor]:
        outside, total = [], []
        for quantizer in self._quantizers:
            counts = context.binarizer_counts.get(id(quantizer), [])
            outside.append(tf.add_n([c[0] for c in counts]) if counts else tf.constant(0, tf.int64))
            total.append(tf.add_n([c[1] for c in counts]) if counts else tf.constant(0, tf.int64))
        counts = tf.cast(tf.stack([tf.stack(outside), tf.stack(total)]), tf.float64)
        counts = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, counts)
        epoch_outside = self.state.epoch_outside.read_value() + counts[0]
        epoch_total = self.state.epoch_total.read_value() + counts[1]
        self.state.epoch_outside.assign(epoch_outside)
        self.state.epoch_total.assign(epoch_total)
        logs = {
            self.prefix: tf.cast(
                tf.math.divide_no_nan(tf.reduce_sum(epoch_outside), tf.reduce_sum(epoch_total)),
                tf.float32,
            )
        }
        if self.per_layer:
            shares = tf.cast(tf.math.divide_no_nan(epoch_outside, epoch_total), tf.float32)
            for index, name in enumerate(self.layer_names):
                logs[f"{self.prefix}/{name}"] = shares[index]
        return logs

    def epoch_shares(self) -> np.ndarray:
        """The per-binarizer shares of the current epoch (host read)."""
        total = self.state.epoch_total.numpy()
        return np.divide(self.state.epoch_outside.numpy(), np.maximum(total, 1.0))
