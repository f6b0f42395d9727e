r"""The FF-ratio and C2I-ratio of AdamBNN (paper Eq. 4-7), computed inside the training step.

Both count signs of *latent* weights (sign(0) = +1, as Larq and LCE): by default the weights
that `adambnn_tf.quantizers.is_latent_weight` picks, i.e. the kernels of binary layers in
stage 2 and the `"real_latent_weight"` kernels of stage 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from adambnn_tf.quantizers import is_latent_weight

from ._step_hooks import (
    StepContext,
    StepSampler,
    TrainStepHook,
    latent_value,
    latent_weights,
    layer_keys,
    on_read_variable,
)

__all__ = ["C2IRatio", "FFRatio"]

_KERNEL_SUFFIXES = ("kernel", "depthwise_kernel", "pointwise_kernel")


def _signs_and_changes(latent: tf.Tensor, reference: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`latent >= 0` and how many of those signs differ from `reference`, in one pass."""
    signs = tf.greater_equal(latent, 0)
    return signs, tf.reduce_sum(tf.cast(tf.not_equal(signs, reference), tf.int32))


def _count_same_signs(latent: tf.Tensor, reference: tf.Tensor) -> tf.Tensor:
    """How many signs of `latent` (`>= 0` is +1) equal `reference`."""
    return tf.reduce_sum(tf.cast(tf.equal(tf.greater_equal(latent, 0), reference), tf.int32))


# XLA can fuse the compare-and-count into one pass over the weights; without it TensorFlow
# materialises a boolean and an integer copy of every latent weight tensor each step.
# One trace for all shapes (XLA still compiles one kernel per shape).
_fused_signs_and_changes = tf.function(_signs_and_changes, jit_compile=True, reduce_retracing=True)
_fused_count_same_signs = tf.function(_count_same_signs, jit_compile=True, reduce_retracing=True)


class _FFState(tf.Module):
    def __init__(self, variables: Sequence[tf.Variable]):
        super().__init__(name="ff_ratio_state")
        layers = len(variables)
        self.previous_signs = [
            on_read_variable(tf.zeros(v.shape, tf.bool), name=f"previous_sign_{i}")
            for i, v in enumerate(variables)
        ]
        self.epoch_flips = on_read_variable(tf.zeros(layers, tf.float64), "epoch_flips")
        self.epoch_steps = on_read_variable(tf.constant(0.0, tf.float64), "epoch_steps")
        self.run_flips = on_read_variable(tf.zeros(layers, tf.float64), "run_flips")
        self.run_steps = on_read_variable(tf.constant(0.0, tf.float64), "run_steps")


class FFRatio(TrainStepHook):
    r"""The flip-flop ratio: the share of latent weights whose sign changed in an update.

    For iteration `t` and layer `l` with `n_l` latent weights (paper Eq. 4-5):

    \\[
    I_{FF} = \frac{|\mathrm{sign}(w_{t+1}) - \mathrm{sign}(w_t)|}{2}, \qquad
    FF_t = \frac{\sum_l \sum_{w \in W_l} I_{FF}}{\sum_l n_l}
    \\]

    The overall ratio sums flips over the layers and divides by the total number of latent
    weights (it is not the mean of the layer ratios). The logs get, after every step:

    - `ff_ratio`: the mean of `FF_t` over the iterations of the current epoch so far (at epoch
      end, the epoch's mean, the quantity Table 1 of the paper averages);
    - `ff_ratio_run`: the mean of `FF_t` over all iterations since the state was created
      (a whole stage with `adambnn_tf.training`, including resumed runs);
    - `ff_ratio/<layer>` (with `per_layer=True`): the epoch mean of the layer's ratio;
    - `ff_ratio_step` (with `log_step_value=True`): `FF_t` of the last iteration.

    The signs are compared on the device inside the compiled training step (see
    `callbacks/_step_hooks.py`), so the values are in `History`, `CSVLogger` and `TensorBoard`
    whatever the callback order. The first update of each `fit` call compares with the signs at
    the start of that call.

    Comparing all signs costs time in every step (measured with `BinarizerSaturation`:
    `bench/RESULTS.md`, section "Tracking FF-ratio and saturation on a sample of steps"). With
    `every_n_steps=n`
    only steps `0, n, 2n, ...` of the training are measured (the signs are kept from the step
    before each of them), so the means are over the measured updates: an unbiased sample of the
    same per-update ratio, at about `1/n` of the cost.

    !!! example
        ```python
        history = model.fit(data, epochs=3, callbacks=[adambnn_tf.callbacks.FFRatio()])
        history.history["ff_ratio"]  # one mean FF-ratio per epoch
        ```

    # Arguments
        per_layer: also log one ratio per layer.
        log_step_value: also log the last iteration's ratio as `ff_ratio_step`.
        latent_filter: predicate `variable -> bool` choosing the latent weights.
        prefix: the log-key prefix.
        jit_compile: fuse the per-layer sign comparison with XLA (one pass over the weights).
            Off by default: it was not measurably faster than TensorFlow's own ops on the
            benchmark machine (`bench/RESULTS.md`, section "FF/C2I tracking overhead on
            ReActNet-A"), and it compiles one kernel per shape.
        every_n_steps: measure every step (1) or only every n-th step of the training;
            `ff_ratio_step` then holds the latest measured value.
        show_per_layer: keep the per-layer values in every log (Keras' progress bar shows
            them); by default they go to the `History` but not to the progress bar (see
            `TrainStepHook`).

    # Raises
        ValueError: for `every_n_steps` below 1, or (at `fit`) if the model has no latent
            weights.
    """

    def __init__(
        self,
        per_layer: bool = True,
        log_step_value: bool = False,
        latent_filter: Callable[[tf.Variable], bool] = is_latent_weight,
        prefix: str = "ff_ratio",
        jit_compile: bool = False,
        every_n_steps: int = 1,
        show_per_layer: bool = False,
    ):
        super().__init__(show_per_layer)
        self.per_layer = per_layer
        self.log_step_value = log_step_value
        self.latent_filter = latent_filter
        self.prefix = prefix
        self.jit_compile = jit_compile
        self.sampler = StepSampler(every_n_steps)

    def _build(self, model):
        self._variables = latent_weights(model, self.latent_filter)
        self.layer_names = layer_keys(self._variables, _KERNEL_SUFFIXES, model.name)
        self._sizes = np.array([v.shape.num_elements() for v in self._variables], np.float64)
        self.state = _FFState(self._variables)
        # Outside `state`, so that checkpoints keep their layout: the counter is set from the
        # epoch at each epoch's start, and the last step value only feeds the step logs.
        self.sampler.build()
        self._last_step_flips = on_read_variable(tf.constant(0.0, tf.float64), "last_step_flips")

    def on_train_begin(self, logs=None):
        for previous, variable in zip(self.state.previous_signs, self._variables, strict=True):
            previous.assign(tf.greater_equal(latent_value(variable), 0))

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self.state.epoch_flips.assign(tf.zeros_like(self.state.epoch_flips))
        self.state.epoch_steps.assign(0.0)
        self.sampler.start_epoch(epoch, (getattr(self, "params", None) or {}).get("steps"))

    def _flips(self) -> tf.Tensor:
        """Counts each layer's flips since the recorded signs, and records the new signs."""
        compare = _fused_signs_and_changes if self.jit_compile else _signs_and_changes
        flips = []
        for previous, variable in zip(self.state.previous_signs, self._variables, strict=True):
            now, changed = compare(latent_value(variable), previous.read_value())
            flips.append(tf.cast(changed, tf.float64))
            previous.assign(now)
        return tf.stack(flips)

    def _record_signs(self) -> tf.Tensor:
        for previous, variable in zip(self.state.previous_signs, self._variables, strict=True):
            previous.assign(tf.greater_equal(latent_value(variable), 0))
        return tf.constant(True)

    def _sampled_flips(self) -> tuple[tf.Tensor, tf.Tensor]:
        """This step's flips per layer, and whether the step counts (1.0) or not (0.0)."""
        if self.sampler.samples_all:
            return self._flips(), tf.constant(1.0, tf.float64)
        measured, before_measured = self.sampler.next_step()
        layers = len(self._variables)
        flips = tf.cond(measured, self._flips, lambda: tf.zeros(layers, tf.float64))
        # The step before a measured one records the signs that it compares with (for n >= 2
        # the two never coincide; n = 1 takes the path above).
        tf.cond(before_measured, self._record_signs, lambda: tf.constant(False))
        return flips, tf.cast(measured, tf.float64)

    def after_train_step(self, context: StepContext) -> dict[str, tf.Tensor]:
        state = self.state
        flips, counted = self._sampled_flips()
        sizes = tf.constant(self._sizes)
        epoch_flips = state.epoch_flips.read_value() + flips
        epoch_steps = state.epoch_steps.read_value() + counted
        run_flips = state.run_flips.read_value() + flips
        run_steps = state.run_steps.read_value() + counted
        state.epoch_flips.assign(epoch_flips)
        state.epoch_steps.assign(epoch_steps)
        state.run_flips.assign(run_flips)
        state.run_steps.assign(run_steps)
        total = float(self._sizes.sum())

        def ratio(count, steps):
            # An epoch may end before its first measured step when every_n_steps is large.
            return tf.cast(tf.math.divide_no_nan(count, steps * total), tf.float32)

        logs = {
            self.prefix: ratio(tf.reduce_sum(epoch_flips), epoch_steps),
            f"{self.prefix}_run": ratio(tf.reduce_sum(run_flips), run_steps),
        }
        if self.log_step_value:
            if self.sampler.samples_all:
                step_flips = tf.reduce_sum(flips)
            else:
                step_flips = tf.where(
                    counted > 0, tf.reduce_sum(flips), self._last_step_flips.read_value()
                )
                self._last_step_flips.assign(step_flips)
            logs[f"{self.prefix}_step"] = ratio(step_flips, 1.0)
        if self.per_layer:
            per_layer = tf.cast(tf.math.divide_no_nan(epoch_flips, epoch_steps * sizes), tf.float32)
            for index, name in enumerate(self.layer_names):
                logs[f"{self.prefix}/{name}"] = per_layer[index]
        return logs

    def run_mean(self) -> float:
        """The mean FF-ratio over all iterations so far (host read, for reports)."""
        steps = float(self.state.run_steps.numpy())
        if not steps:
            return 0.0
        return float(self.state.run_flips.numpy().sum() / (steps * self._sizes.sum()))


class _C2IState(tf.Module):
    def __init__(self, variables: Sequence[tf.Variable]):
        super().__init__(name="c2i_ratio_state")
        self.initial_signs = [
            on_read_variable(tf.zeros(v.shape, tf.bool), name=f"initial_sign_{i}")
            for i, v in enumerate(variables)
        ]
        self.initialized = on_read_variable(False, "initialized")
        self.same_signs = on_read_variable(tf.zeros(len(variables), tf.float64), "same_signs")
        self.epoch_step = on_read_variable(tf.constant(0, tf.int64), "epoch_step")


class C2IRatio(TrainStepHook):
    r"""The C2I-ratio: the share of latent weights whose sign equals its initial sign.

    \\[
    I_{C2I} = \frac{|\mathrm{sign}(w) - \mathrm{sign}(w_{init})|}{2}, \qquad
    C2I = 1 - \frac{\sum_l \sum_{w \in W_l} I_{C2I}}{\sum_l n_l}
    \\]

    The paper prints Eq. 7 as `1 - (1/2) * sum(I_C2I) / N`. With `I_C2I` in {0, 1} that is never
    below 0.5, yet Table 1 reports 0.4810, so the printed 1/2 is a typo (it halves
    `|sign - sign|` a second time); the reading that matches Table 1, also used by later work,
    is the fraction of signs unchanged since initialization, implemented here. A value near
    0.5 means the final signs are independent of the initial ones; near 1, they barely moved.

    The reference signs are those at the start of the first `fit` of this callback on its
    model (the start of the stage with `adambnn_tf.training`), or `initial_signs` when given,
    e.g. another `C2IRatio` of stage 1 for a ratio relative to the start of the whole training.
    The logs get `c2i_ratio` (overall: unchanged signs summed over layers / all latent weights)
    and `c2i_ratio/<layer>` (with `per_layer=True`), computed inside the compiled step after
    the last update of each epoch (when the number of steps per epoch is known; after every
    update with `every_step=True` or when it is not), so the epoch value is the value after
    the epoch's last update. Between those updates the step logs repeat the latest value.

    !!! example
        ```python
        history = model.fit(data, epochs=3, callbacks=[adambnn_tf.callbacks.C2IRatio()])
        history.history["c2i_ratio"][-1]
        ```

    # Arguments
        initial_signs: `None` (signs at the start of the first `fit`), another `C2IRatio`
            (use its reference signs), or one array per latent weight (signs or values;
            `>= 0` counts as +1).
        per_layer: also log one ratio per layer.
        latent_filter: predicate `variable -> bool` choosing the latent weights.
        prefix: the log-key prefix.
        every_step: recompute after every update rather than at the end of each epoch.
        jit_compile: fuse the comparison with XLA.
        show_per_layer: keep the per-layer values in every log (Keras' progress bar shows
            them); by default they go to the `History` but not to the progress bar.

    # Raises
        ValueError: (at `fit`) if the model has no latent weights, or `initial_signs` do not
            match their shapes.
    """

    def __init__(
        self,
        initial_signs: C2IRatio | Sequence[np.ndarray] | None = None,
        per_layer: bool = True,
        latent_filter: Callable[[tf.Variable], bool] = is_latent_weight,
        prefix: str = "c2i_ratio",
        every_step: bool = False,
        jit_compile: bool = False,
        show_per_layer: bool = False,
    ):
        super().__init__(show_per_layer)
        self._reference = initial_signs
        self.per_layer = per_layer
        self.latent_filter = latent_filter
        self.prefix = prefix
        self.every_step = every_step
        self.jit_compile = jit_compile

    def _build(self, model):
        self._variables = latent_weights(model, self.latent_filter)
        self.layer_names = layer_keys(self._variables, _KERNEL_SUFFIXES, model.name)
        self._sizes = np.array([v.shape.num_elements() for v in self._variables], np.float64)
        self.state = _C2IState(self._variables)

    def initial_signs(self) -> list[np.ndarray]:
        """The reference signs, one boolean array (`True` for +1) per latent weight."""
        if not bool(self.state.initialized.numpy()):
            raise ValueError("C2IRatio has no reference signs yet: train (fit) first.")
        return [s.numpy() for s in self.state.initial_signs]

    def on_train_begin(self, logs=None):
        self._set_reference()
        self.state.same_signs.assign(self._same_signs())

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self.state.epoch_step.assign(0)

    def _same_signs(self) -> tf.Tensor:
        count = _fused_count_same_signs if self.jit_compile else _count_same_signs
        return tf.stack(
            [
                tf.cast(count(latent_value(variable), reference.read_value()), tf.float64)
                for variable, reference in zip(
                    self._variables, self.state.initial_signs, strict=True
                )
            ]
        )

    def _set_reference(self) -> None:
        if bool(self.state.initialized.numpy()):
            return  # resumed, or a further fit call: keep the reference of the start
        if self._reference is None:
            reference = [tf.greater_equal(latent_value(v), 0) for v in self._variables]
        else:
            given = (
                self._reference.initial_signs()
                if isinstance(self._reference, C2IRatio)
                else list(self._reference)
            )
            if len(given) != len(self._variables):
                raise ValueError(
                    f"C2IRatio: {len(given)} reference sign arrays for "
                    f"{len(self._variables)} latent weights; give one per latent weight."
                )
            reference = []
            for signs, variable in zip(given, self._variables, strict=True):
                signs = np.asarray(signs)
                if signs.shape != tuple(variable.shape):
                    raise ValueError(
                        f"C2IRatio: reference signs of shape {signs.shape} for "
                        f"{variable.name} of shape {tuple(variable.shape)}."
                    )
                reference.append(tf.constant(signs >= 0 if signs.dtype != bool else signs))
        for variable, signs in zip(self.state.initial_signs, reference, strict=True):
            variable.assign(signs)
        self.state.initialized.assign(True)

    def after_train_step(self, context: StepContext) -> dict[str, tf.Tensor]:
        step = self.state.epoch_step.read_value() + 1
        self.state.epoch_step.assign(step)
        steps = (getattr(self, "params", None) or {}).get("steps")
        if self.every_step or not steps:
            same = self._same_signs()
        else:
            same = tf.cond(
                tf.equal(step % steps, 0), self._same_signs, self.state.same_signs.read_value
            )
        self.state.same_signs.assign(same)
        logs = {self.prefix: tf.cast(tf.reduce_sum(same) / float(self._sizes.sum()), tf.float32)}
        if self.per_layer:
            per_layer = tf.cast(same / tf.constant(self._sizes), tf.float32)
            for index, name in enumerate(self.layer_names):
                logs[f"{self.prefix}/{name}"] = per_layer[index]
        return logs
