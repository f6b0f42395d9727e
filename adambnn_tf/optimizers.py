r"""The stage-aware optimizer of the AdamBNN recipe.

`StageAwareOptimizer` wraps a Keras optimizer (Adam with the official `betas=(0.9, 0.999)`
and `epsilon=1e-8` by default) and applies weight decay to the *latent* weights only: the
kernels that are binary, or that stage 2 will binarize. In stage 1 the decay is 5e-6 by default,
in stage 2 it is 0, as the paper and the official `run.sh` prescribe.

Two forms of weight decay are available:

- `"coupled"` (the official one): PyTorch's `Adam(weight_decay=wd)` adds `wd * w` to the
  gradient *before* Adam's moments, i.e. an L2 penalty `wd / 2 * ||w||^2`.
- `"decoupled"` (AdamW): `w <- w - lr_t * wd * w` before the Adam update, outside the moments,
  as PyTorch's `AdamW` does.

Which variables decay is a predicate on the variable. The default,
`adambnn_tf.quantizers.is_latent_weight`, picks Larq kernels with a 1-bit quantizer (stage 2)
or with the `"real_latent_weight"` marker (stage 1). `official_decay_filter(model)` reproduces
the official code's parameter grouping instead (every conv kernel, the real stem included, and
every learnable bias).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import larq as lq
import tensorflow as tf

from adambnn_tf.config.choices import DECAY_FORMS
from adambnn_tf.layers import LearnableBias, RPReLU
from adambnn_tf.quantizers import RSign, is_latent_weight

__all__ = [
    "DECAY_FORMS",
    "OfficialAdam",
    "STAGE1_WEIGHT_DECAY",
    "StageAwareOptimizer",
    "official_adam",
    "official_decay_filter",
]

STAGE1_WEIGHT_DECAY = 5e-6  # The paper's best stage-1 value (official step1/run.sh).
_LEGACY_OPTIMIZER = tf.keras.optimizers.legacy.Optimizer


@lq.utils.register_keras_custom_object
class OfficialAdam(tf.keras.optimizers.legacy.Adam):
    r"""Adam exactly as PyTorch's `torch.optim.Adam` computes it (official betas and epsilon).

    Keras adds epsilon to `sqrt(v_t)` and folds the bias corrections into the step size;
    PyTorch adds it to the bias-corrected `sqrt(v_t) / sqrt(1 - beta_2^t)`:

    \\[
    w \leftarrow w - \frac{lr}{1 - \beta_1^t} \frac{m_t}{\sqrt{v_t} / \sqrt{1 - \beta_2^t}
    + \epsilon}
    \\]

    This class uses Keras' kernels with `epsilon * sqrt(1 - beta_2^t)` in place of epsilon, which
    is the same update. The difference only matters while `sqrt(v_hat)` is not much larger
    than epsilon (tiny gradients, first steps), but it makes one step equal PyTorch's.

    !!! example
        ```python
        optimizer = OfficialAdam(1.25e-3)  # betas (0.9, 0.999), epsilon 1e-8
        ```

    # Arguments
        learning_rate: a float or a `LearningRateSchedule`; the official base LR is 1.25e-3
            for batch size 256.
        beta_1: decay of the first moment (official 0.9).
        beta_2: decay of the second moment (official 0.999).
        epsilon: PyTorch's epsilon (official 1e-8).
        name: the optimizer's name.
    """

    def __init__(
        self,
        learning_rate=1.25e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        name: str = "OfficialAdam",
        **kwargs,
    ):
        kwargs.pop("amsgrad", None)
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=False,
            name=name,
            **kwargs,
        )

    def _prepare_local(self, var_device, var_dtype, apply_state):
        super()._prepare_local(var_device, var_dtype, apply_state)
        coefficients = apply_state[(var_device, var_dtype)]
        coefficients["epsilon"] = tf.convert_to_tensor(self.epsilon, var_dtype) * tf.sqrt(
            1 - coefficients["beta_2_power"]
        )


def official_adam(learning_rate=1.25e-3) -> OfficialAdam:
    """Adam with the official hyperparameters: `betas=(0.9, 0.999)`, `epsilon=1e-8`.

    # Arguments
        learning_rate: a float or a `LearningRateSchedule`.

    # Returns
        An `OfficialAdam` (a legacy Keras optimizer: Larq models train with those).
    """
    return OfficialAdam(learning_rate=learning_rate)


class _VariableSet:
    """A predicate: membership in a fixed set of variables (compared by reference)."""

    def __init__(self, variables: Iterable[tf.Variable], name: str):
        self._refs = {_unwrap(variable).ref() for variable in variables}
        self.__name__ = name

    def __call__(self, variable: tf.Variable) -> bool:
        return _unwrap(variable).ref() in self._refs

    def __len__(self) -> int:
        return len(self._refs)


def _unwrap(variable):
    """The variable that holds the values: a QuantizedVariable's latent variable."""
    return getattr(variable, "latent_variable", variable)


def official_decay_filter(model: tf.keras.Model) -> Callable[[tf.Variable], bool]:
    r"""The official code's weight-decay group, as a predicate for `StageAwareOptimizer`.

    The official `train.py` decays a parameter iff it is 4-D or has `conv` in its name. In
    ReActNet-A that is every convolution kernel (the binary ones *and* the real stem) and every
    `LearnableBias` (shape `(1, C, 1, 1)` in PyTorch). Here the learnable biases have shape
    `(C,)`, so they are selected by role instead of by rank:

    - every `Conv2D` / `QuantConv2D` kernel (real or latent),
    - every `RSign` threshold (`move11`, `move21`),
    - every `RPReLU` `input_bias` and `output_bias` (`move12`, `move13`, `move22`, `move23`),
    - every `LearnableBias.bias`.

    BatchNorm, the PReLU slopes and the classifier (`Dense`) are not decayed.

    !!! example
        ```python
        optimizer = StageAwareOptimizer(stage=1, decay_filter=official_decay_filter(model))
        ```

    # Arguments
        model: the built Keras model the optimizer will train.

    # Returns
        A predicate `variable -> bool`.

    # Raises
        ValueError: if the model is not built (it has no weights yet).
    """
    if not model.built:
        raise ValueError(
            f"official_decay_filter needs a built model, but {model.name!r} has no weights yet. "
            "Call the model on an input (or build it) first."
        )
    chosen = []
    for layer in model.submodules:
        if isinstance(layer, tf.keras.layers.Conv2D) and not isinstance(
            layer, tf.keras.layers.DepthwiseConv2D
        ):
            chosen.append(layer.kernel)
            quantizer = getattr(layer, "input_quantizer", None)
            if isinstance(quantizer, RSign) and quantizer.built:
                chosen.append(quantizer.threshold)
        elif isinstance(layer, RPReLU):
            chosen.extend([layer.input_bias, layer.output_bias])
        elif isinstance(layer, LearnableBias):
            chosen.append(layer.bias)
        elif isinstance(layer, RSign) and layer.built:
            chosen.append(layer.threshold)
    return _VariableSet(chosen, name="official_decay_filter")


def _predicate_name(predicate) -> str:
    return getattr(predicate, "__name__", type(predicate).__name__)


@lq.utils.register_keras_custom_object
class StageAwareOptimizer(tf.__internal__.tracking.DelegatingTrackableMixin, _LEGACY_OPTIMIZER):
    r"""Weight decay on latent weights only, for the two stages of the AdamBNN recipe.

    Wraps a legacy Keras optimizer (default: `official_adam()`, Adam with betas (0.9, 0.999)
    and epsilon 1e-8) and, before each update, applies weight decay to the variables for which
    `decay_filter(variable)` is true (default: the latent weights of binary layers, see
    `adambnn_tf.quantizers.is_latent_weight`):

    - `decay_form="coupled"` (official, PyTorch `Adam(weight_decay=wd)`):
      `g <- g + wd * w`, then the wrapped optimizer's update.
    - `decay_form="decoupled"` (PyTorch `AdamW`): `w <- w - lr_t * wd * w`, then the wrapped
      optimizer's update with the plain gradient.

    `stage=1` decays with `weight_decay` (default 5e-6), `stage=2` applies no decay unless
    `weight_decay` is given explicitly. Under `tf.distribute`, the coupled term is added once
    to the all-reduced gradient (each replica adds its share).

    The wrapper behaves like the wrapped optimizer elsewhere: `learning_rate`/`lr` and the
    other hyperparameters, `iterations`, slots, `tf.train.Checkpoint` (the wrapped optimizer is
    whose checkpoint format is kept), `get_config`/`from_config` and `model.fit`.

    !!! example
        ```python
        optimizer = StageAwareOptimizer(official_adam(1.25e-3), stage=1)  # wd 5e-6, coupled
        model.compile(optimizer, loss=...)
        ```

    # Arguments
        optimizer: the wrapped `tf.keras.optimizers.legacy.Optimizer`; `None` for
            `official_adam()` (learning rate 1.25e-3).
        stage: 1 or 2, the stage of the recipe.
        weight_decay: the decay factor; `None` for the recipe's value of the stage (5e-6 in
            stage 1, 0 in stage 2).
        decay_form: `"coupled"` (L2 in the gradient, official) or `"decoupled"` (AdamW).
        decay_filter: predicate `variable -> bool` choosing the decayed variables; default
            `is_latent_weight`. `official_decay_filter(model)` gives the official grouping.
        name: the optimizer's name.

    # Raises
        TypeError: if `optimizer` is not a legacy Keras optimizer.
        ValueError: for a stage other than 1 or 2, an unknown `decay_form`, or a
            `weight_decay` that is not finite (negative values are allowed).
    """

    def __init__(
        self,
        optimizer: tf.keras.optimizers.legacy.Optimizer | None = None,
        stage: int = 1,
        weight_decay: float | None = None,
        decay_form: str = "coupled",
        decay_filter: Callable[[tf.Variable], bool] = is_latent_weight,
        name: str = "StageAwareOptimizer",
        **kwargs,
    ):
        if optimizer is None:
            optimizer = official_adam()
        if not isinstance(optimizer, _LEGACY_OPTIMIZER):
            raise TypeError(
                "StageAwareOptimizer wraps a legacy Keras optimizer (Larq trains with them), got "
                f"{type(optimizer).__name__}. Use e.g. tf.keras.optimizers.legacy.Adam(...) or "
                "adambnn_tf.optimizers.official_adam()."
            )
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {stage!r}.")
        if decay_form not in DECAY_FORMS:
            raise ValueError(f"decay_form must be one of {DECAY_FORMS}, got {decay_form!r}.")
        if not callable(decay_filter):
            raise TypeError(
                f"decay_filter must be a callable variable -> bool, got {decay_filter!r}."
            )
        _LEGACY_OPTIMIZER.__init__(self, name=name, **kwargs)
        self._optimizer = optimizer
        # Checkpoints see the wrapped optimizer itself (as with Keras' LossScaleOptimizer): the
        # same checkpoint restores into the wrapper or into the bare optimizer.
        tf.__internal__.tracking.DelegatingTrackableMixin.__init__(self, optimizer)
        self.stage = stage
        self.weight_decay = float(
            weight_decay if weight_decay is not None else _recipe_weight_decay(stage)
        )
        # NaN or inf would turn every decayed weight into NaN at the first step; negative
        # values stay allowed (the paper's Table 1 compares -1e-7).
        if not math.isfinite(self.weight_decay):
            raise ValueError(f"weight_decay must be a finite number, got {weight_decay!r}.")
        self.decay_form = decay_form
        self.decay_filter = decay_filter

    @property
    def inner_optimizer(self) -> tf.keras.optimizers.legacy.Optimizer:
        """The wrapped optimizer."""
        return self._optimizer

    def decayed_variables(self, variables: Iterable[tf.Variable]) -> list[tf.Variable]:
        """The variables among `variables` that this optimizer decays (none if wd is 0).

        # Arguments
            variables: e.g. `model.trainable_variables`.

        # Returns
            The decayed variables, in order.
        """
        if self.weight_decay == 0.0:
            return []
        return [variable for variable in variables if self.decay_filter(variable)]

    def apply_gradients(self, grads_and_vars, name=None, experimental_aggregate_gradients=True):
        grads_and_vars = list(grads_and_vars)
        if self.weight_decay != 0.0:
            if self.decay_form == "coupled":
                grads_and_vars = self._add_l2_to_gradients(
                    grads_and_vars, experimental_aggregate_gradients
                )
            else:
                self._decay_weights([v for g, v in grads_and_vars if g is not None])
        return self._optimizer.apply_gradients(
            grads_and_vars,
            name=name,
            experimental_aggregate_gradients=experimental_aggregate_gradients,
        )

    def _add_l2_to_gradients(self, grads_and_vars, aggregate: bool):
        # Gradients are summed over replicas afterwards, so each replica adds its share of
        # wd * w; the sum then carries it exactly once.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync if aggregate else 1
        factor = self.weight_decay / replicas
        result = []
        for grad, variable in grads_and_vars:
            if grad is not None and self.decay_filter(variable):
                weights = tf.convert_to_tensor(_unwrap(variable))
                grad = tf.convert_to_tensor(grad) + tf.cast(factor, grad.dtype) * weights
            result.append((grad, variable))
        return result

    def _decay_weights(self, variables):
        decayed = [variable for variable in variables if self.decay_filter(variable)]
        if not decayed:
            return
        with tf.init_scope():
            # As the wrapped optimizer does in apply_gradients: create `iterations` and the
            # slots eagerly, not inside the traced step (or the merge_call below).
            self._optimizer._create_all_weights(variables)

        def decay(strategy, variables):
            for variable in variables:
                # The learning rate of this step: `iterations` is not incremented yet.
                factor = self._optimizer._decayed_lr(variable.dtype) * self.weight_decay
                strategy.extended.update(
                    variable, lambda v, f: v.assign_sub(f * v), args=(factor,), group=False
                )

        tf.distribute.get_replica_context().merge_call(decay, args=(decayed,))

    # Delegation to the wrapped optimizer (the pattern of Keras' LossScaleOptimizer).

    @property
    def iterations(self):
        return self._optimizer.iterations

    @iterations.setter
    def iterations(self, variable):
        self._optimizer.iterations = variable

    @property
    def learning_rate(self):
        return self._optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._optimizer.learning_rate = value

    @property
    def lr(self):
        return self._optimizer.learning_rate

    @lr.setter
    def lr(self, value):
        self._optimizer.learning_rate = value

    def __getattr__(self, name):
        # Only reached when normal lookup fails: delegate hyperparameters (beta_1, ...).
        optimizer = self.__dict__.get("_optimizer")
        if name.startswith("_") or optimizer is None or name not in optimizer._hyper:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return optimizer._get_hyper(name)

    def _decayed_lr(self, var_dtype):
        return self._optimizer._decayed_lr(var_dtype)

    def get_slot_names(self):
        return self._optimizer.get_slot_names()

    def get_slot(self, var, slot_name):
        return self._optimizer.get_slot(var, slot_name)

    def add_slot(self, var, slot_name, initializer="zeros"):
        return self._optimizer.add_slot(var, slot_name, initializer)

    def variables(self):
        return self._optimizer.variables()

    @property
    def weights(self):
        return self._optimizer.weights

    def get_weights(self):
        return self._optimizer.get_weights()

    def set_weights(self, weights):
        return self._optimizer.set_weights(weights)

    def _create_all_weights(self, var_list):
        return self._optimizer._create_all_weights(var_list)

    def _aggregate_gradients(self, grads_and_vars):
        return self._optimizer._aggregate_gradients(grads_and_vars)

    def _restore_slot_variable(self, slot_name, variable, slot_variable):
        return self._optimizer._restore_slot_variable(slot_name, variable, slot_variable)

    def _create_or_restore_slot_variable(self, slot_variable_position, slot_name, variable):
        return self._optimizer._create_or_restore_slot_variable(
            slot_variable_position, slot_name, variable
        )

    def get_config(self):
        filter_name = _predicate_name(self.decay_filter)
        return {
            "name": self._name,
            "optimizer": tf.keras.optimizers.serialize(self._optimizer),
            "stage": self.stage,
            "weight_decay": self.weight_decay,
            "decay_form": self.decay_form,
            "decay_filter": filter_name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuilds the optimizer; a custom `decay_filter` must be in `custom_objects`.

        # Raises
            ValueError: if the config names a decay filter that is neither the default nor
                given in `custom_objects` (a model-bound filter such as
                `official_decay_filter(model)` cannot be rebuilt from its name).
        """
        config = dict(config)
        inner = config.pop("optimizer")
        if not isinstance(inner, _LEGACY_OPTIMIZER):
            inner = tf.keras.optimizers.deserialize(
                inner, custom_objects=custom_objects, use_legacy_optimizer=True
            )
        filter_name = config.pop("decay_filter", "is_latent_weight")
        if filter_name == "is_latent_weight":
            decay_filter = is_latent_weight
        elif custom_objects and filter_name in custom_objects:
            decay_filter = custom_objects[filter_name]
        else:
            raise ValueError(
                f"StageAwareOptimizer config uses decay_filter {filter_name!r}, which cannot be "
                "rebuilt from its name. Pass it as custom_objects={"
                f"{filter_name!r}: <predicate>}} (for the official grouping: "
                "official_decay_filter(model))."
            )
        return cls(inner, decay_filter=decay_filter, **config)


def _recipe_weight_decay(stage: int) -> float:
    return STAGE1_WEIGHT_DECAY if stage == 1 else 0.0
