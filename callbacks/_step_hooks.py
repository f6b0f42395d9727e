"""Run callback work *inside* the compiled training step, with its results in the step's logs.

The FF-ratio needs the signs of all latent weights after every update. Doing that from
`on_train_batch_end` would cost a Python call, a separate `tf.function` dispatch and, for
values to reach the logs, host copies every step. Instead the callbacks here hook into
`model.train_step`: the model's own step runs first (forward, backward, optimizer update),
then each hook adds a few TF ops that compare signs and update accumulator variables, and
returns scalars that Keras puts in the step's logs, like a compiled metric. Consequences:

- everything runs on the device in the same graph as the update; nothing is copied to the
  host beyond the logged scalars that Keras already fetches;
- the values reach `ProgbarLogger`, `History`, `CSVLogger` and `TensorBoard` whatever the order
  of the callbacks, at batch and at epoch level;
- under `tf.distribute` the hook runs in each replica after the (synchronised) update; the
  state is kept in `ON_READ` variables, one copy per replica.

The hooks are attached in `Callback.set_model` (which `fit` calls before it builds the train
function) and detached in `on_train_end`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import tensorflow as tf

from adambnn_tf._checks import check_positive_int
from adambnn_tf.quantizers import is_latent_weight

__all__ = [
    "StepContext",
    "StepSampler",
    "TrainStepHook",
    "current_step_context",
    "latent_weights",
]

_REGISTRY_ATTRIBUTE = "_adambnn_train_step_hooks"
_thread_state = threading.local()  # MirroredStrategy traces each replica in its own thread.


def latent_value(variable: tf.Variable) -> tf.Tensor:
    """The real-valued latent weights of `variable` (not the quantized ones)."""
    return tf.convert_to_tensor(getattr(variable, "latent_variable", variable))


class StepContext:
    """What the hooks of one traced training step share (one per replica and trace).

    `binarizer_counts` maps a binarizer's `id` to the `(outside, total)` counts that its
    forward pass recorded during this step (see `BinarizerSaturation`); `count_binarizers` is
    `None` (count in every step) or a boolean tensor: whether this step counts.
    """

    def __init__(self):
        self.binarizer_counts: dict[int, list[tuple[tf.Tensor, tf.Tensor]]] = {}
        self.count_binarizers: tf.Tensor | None = None


def current_step_context() -> StepContext | None:
    """The context of the training step being traced in this thread, or `None`."""
    return getattr(_thread_state, "context", None)


class _Registry:
    def __init__(self, model: tf.keras.Model):
        self.hooks: list[TrainStepHook] = []
        self.instance_train_step = model.__dict__.get("train_step")
        self.reduction_method = model._distribute_reduction_method


def _make_train_step(model: tf.keras.Model, registry: _Registry):
    base = registry.instance_train_step or type(model).train_step.__get__(model)

    def train_step(data):
        previous = current_step_context()
        context = StepContext()
        _thread_state.context = context
        try:
            for hook in list(registry.hooks):
                hook.before_train_step(context)
            logs = dict(base(data))
            hook_logs = {}
            for hook in list(registry.hooks):
                hook_logs.update(hook.after_train_step(context))
        finally:
            _thread_state.context = previous
        logs.update(hook_logs)
        return logs

    return train_step


def _attach(model: tf.keras.Model, hook: TrainStepHook) -> None:
    registry = model.__dict__.get(_REGISTRY_ATTRIBUTE)
    if registry is None:
        registry = _Registry(model)
        object.__setattr__(model, _REGISTRY_ATTRIBUTE, registry)
        object.__setattr__(model, "train_step", _make_train_step(model, registry))
        # The hooks' values are equal on every replica (they are computed from the synchronised
        # weights, or all-reduced). Keras' default reduction of step outputs ("sum" off TPUs)
        # would add them up over the replicas under MultiWorkerMirroredStrategy; "first" is
        # right for them and for Keras' own synchronised metric results.
        model.distribute_reduction_method = "first"
    if hook not in registry.hooks:
        registry.hooks.append(hook)
        model.train_function = None  # `fit` rebuilds it with the hook inside


def _detach(model: tf.keras.Model, hook: TrainStepHook) -> None:
    registry = model.__dict__.get(_REGISTRY_ATTRIBUTE)
    if registry is None or hook not in registry.hooks:
        return
    registry.hooks.remove(hook)
    model.train_function = None
    if not registry.hooks:
        if registry.instance_train_step is None:
            object.__delattr__(model, "train_step")
        else:
            object.__setattr__(model, "train_step", registry.instance_train_step)
        model.distribute_reduction_method = registry.reduction_method
        object.__delattr__(model, _REGISTRY_ATTRIBUTE)


def latent_weights(
    model: tf.keras.Model, latent_filter: Callable[[tf.Variable], bool] = is_latent_weight
) -> list[tf.Variable]:
    """The model's trainable latent weights, in model order and without duplicates.

    Frozen variables (e.g. of a distillation teacher) are left out: they cannot flip.

    # Arguments
        model: a built Keras model.
        latent_filter: predicate choosing the latent weights.

    # Returns
        The list of variables.

    # Raises
        ValueError: if the model has none.
    """
    seen, result = set(), []
    for variable in model.trainable_weights:
        key = id(getattr(variable, "latent_variable", variable))
        if key not in seen and latent_filter(variable):
            seen.add(key)
            result.append(variable)
    if not result:
        raise ValueError(
            f"Model {model.name!r} has no latent weights. Build the model first, and give its "
            "binary layers a 1-bit kernel_quantizer (stage 2) or "
            'kernel_quantizer="real_latent_weight" (stage 1), or pass latent_filter=...'
        )
    return result


def layer_keys(
    variables: Sequence[tf.Variable], suffixes: Sequence[str], model_name: str = ""
) -> list[str]:
    """Short, unique per-layer names for log keys: `conv/kernel:0` -> `conv`.

    The name of a subclassed model, which prefixes its variables' names, is dropped.
    """
    keys = []
    for variable in variables:
        name = variable.name.split(":")[0]
        if model_name and name.startswith(model_name + "/"):
            name = name[len(model_name) + 1 :]
        for suffix in suffixes:
            if name.endswith("/" + suffix):
                name = name[: -len(suffix) - 1]
                break
        keys.append(name)
    counts: dict[str, int] = {}
    unique = []
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
        unique.append(key if counts[key] == 1 else f"{key}_{counts[key]}")
    return unique


def on_read_variable(initial_value, name: str, dtype=None) -> tf.Variable:
    """A per-replica state variable (each replica sees identical values here)."""
    return tf.Variable(
        initial_value,
        name=name,
        dtype=dtype,
        trainable=False,
        synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
    )


class StepSampler:
    """Which training steps a hook measures: steps `0, n, 2n, ...` of the training.

    Steps are counted from the start of training (0-based, `epoch * steps_per_epoch + batch`),
    so a resumed `fit(initial_epoch=k)` measures the same steps as an uninterrupted one. With
    `every_n_steps=1` every step is measured and no counter is kept.

    # Arguments
        every_n_steps: the sampling period, a positive integer.

    # Raises
        ValueError: if `every_n_steps` is not a positive integer.
    """

    def __init__(self, every_n_steps: int):
        self.every_n_steps = check_positive_int(every_n_steps, "every_n_steps")
        self._index: tf.Variable | None = None

    @property
    def samples_all(self) -> bool:
        """Whether every step is measured."""
        return self.every_n_steps == 1

    def build(self) -> None:
        """Creates the step counter (call under the model's distribution strategy)."""
        if not self.samples_all and self._index is None:
            self._index = on_read_variable(tf.constant(0, tf.int64), "step_index")

    def start_epoch(self, epoch: int, steps_per_epoch: int | None) -> None:
        """Sets the counter to the first step of `epoch` (kept running if steps are unknown)."""
        if self._index is not None and steps_per_epoch:
            self._index.assign(epoch * steps_per_epoch)

    def next_step(self) -> tuple[tf.Tensor, tf.Tensor]:
        """Advances the counter, in the traced step.

        # Returns
            `(measured, before_measured)`: whether this step is measured, and whether the
            next one is (hooks that compare with the previous step record then).
        """
        index = self._index.read_value()
        self._index.assign(index + 1)
        period = tf.constant(self.every_n_steps, tf.int64)
        return tf.equal(index % period, 0), tf.equal((index + 1) % period, 0)


class TrainStepHook(tf.keras.callbacks.Callback):
    """Base class: a callback whose per-step work runs inside the compiled training step.

    Subclasses implement `build(model)` (create the state, under the model's distribution
    strategy) and `after_train_step(context) -> dict of scalar tensors` (the TF ops run after
    each update; the dict is merged into the step's logs), and optionally
    `before_train_step(context)` (ops run before the forward pass). The state lives in
    `self.state`, a `tf.Module`, so that it can be checkpointed with
    `tf.train.Checkpoint(..., hook=cb.state)`.

    # Arguments
        show_per_layer: keep per-layer values in every log, where Keras' progress bar shows
            them and every later callback sees them; by default they reach the `History` (and
            a `TensorBoard` callback placed before this one) but not the progress bar.
    """

    def __init__(self, show_per_layer: bool = False):
        super().__init__()
        self._built_for: tf.keras.Model | None = None
        self.state: tf.Module | None = None
        self.show_per_layer = show_per_layer
        self._pending_per_layer: dict[str, float] = {}
        # The batch hooks below only move dict entries: the logs may stay tensors.
        self._supports_tf_logs = True

    def build(self, model: tf.keras.Model) -> None:
        """Creates the state for `model`; idempotent for the same model.

        # Arguments
            model: the built model that will be trained.
        """
        if self._built_for is model:
            return
        with model.distribute_strategy.scope():
            self._build(model)
        self._built_for = model

    def _build(self, model: tf.keras.Model) -> None:
        raise NotImplementedError

    def before_train_step(self, context: StepContext) -> None:
        """TF ops run before the model's step (forward, backward, update); none by default."""

    def after_train_step(self, context: StepContext) -> dict[str, tf.Tensor]:
        raise NotImplementedError

    def set_model(self, model):
        super().set_model(model)
        self.build(model)
        _attach(model, self)

    # Per-layer values (`<prefix>/<layer>`) would fill every line of Keras' progress bar, which
    # runs after the user's callbacks. Unless `show_per_layer`, they are taken out of the batch
    # logs (so out of the epoch logs too, a copy of the last batch's) and added to the
    # `History` after the progress bar has printed the epoch (at the next epoch's start, or the
    # end of training): the History gets every value, the bar the overall ones.

    def _per_layer_keys(self, logs) -> list[str]:
        if self.show_per_layer or not logs or not getattr(self, "per_layer", False):
            return []
        prefix = f"{self.prefix}/"
        return [key for key in logs if key.startswith(prefix)]

    def on_epoch_begin(self, epoch, logs=None):
        if self._pending_per_layer:
            self._move_pending_to_history()

    def on_train_batch_end(self, batch, logs=None):
        # The epoch's logs are a copy of its last batch's: the values taken out here are the
        # epoch's values after the last batch.
        keys = self._per_layer_keys(logs)
        if keys:
            self._pending_per_layer = {key: logs.pop(key) for key in keys}

    def on_epoch_end(self, epoch, logs=None):
        for key in self._per_layer_keys(logs):  # logs that did not come from a batch
            self._pending_per_layer[key] = logs.pop(key)

    def _move_pending_to_history(self) -> None:
        history = getattr(self.model, "history", None)  # `History` sets it after each epoch
        if isinstance(history, tf.keras.callbacks.History):
            for key, value in self._pending_per_layer.items():
                history.history.setdefault(key, []).append(float(value))
        self._pending_per_layer = {}

    def on_train_end(self, logs=None):
        if self._pending_per_layer:
            self._move_pending_to_history()
        _detach(self.model, self)
