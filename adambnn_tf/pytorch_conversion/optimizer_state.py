r"""The official code's Adam state (`optimizer.state_dict()`) to a Keras optimizer.

The official `train.py` saves `optimizer.state_dict()` beside the model's: per parameter
*index* the step count `step` and Adam's moments `exp_avg` and `exp_avg_sq`, and per group
the hyperparameters (`lr` after the scheduler's last step, `betas`, `eps`, `weight_decay`).
The indices run over the optimizer's groups in order, and the official groups are
`[other_parameters, weight_parameters]`: the parameters with `p.ndimension() == 4 or 'conv'
in name` come *last* (`official_parameter_names`).

Each parameter's tensors land on the Keras variables exactly where its weights do
(`convert_parameter_values`): the element mapping is read off `convert_state_dict` itself
(OIHW -> HWIO, `(1, C, 1, 1)` -> `(C,)`, `binary_pw_down1/2` and `bn2_1/2` concatenated,
...) by converting probes once per model. The moments become the `m` and `v` slots of
`OfficialAdam` (whose update equals `torch.optim.Adam`'s) and the common step count becomes
`optimizer.iterations`, which also drives the learning-rate schedule (the official `LambdaLR`
epoch is `iterations // steps_per_epoch + 1` for `EpochwiseLinearDecay`).

!!! example
    ```python
    from adambnn_tf.pytorch_conversion.optimizer_state import (
        convert_adam_state, load_adam_state_into,
    )

    checkpoint = torch.load("checkpoint.pth.tar", map_location="cpu")
    state = convert_adam_state(checkpoint["optimizer"], checkpoint["state_dict"], model)
    load_adam_state_into(optimizer, model, state)  # checks lr, betas, eps, weight decay
    ```
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from adambnn_tf.pytorch_conversion.convert import convert_state_dict
from adambnn_tf.pytorch_conversion.pytorch import normalize_state_dict

__all__ = [
    "AdamState",
    "adam_state_mismatches",
    "convert_adam_state",
    "convert_parameter_values",
    "load_adam_state_into",
    "official_parameter_names",
]

# The entries of a ReActNet state dict that are buffers, not parameters (BatchNorm's).
_BUFFER_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")
# Relative tolerance of the hyperparameter checks (the learning rate is float32 in Keras).
_RTOL = 1e-6


def official_parameter_names(state_dict: Mapping[str, Any]) -> list[str]:
    """The parameter names in the official optimizer's index order.

    The official `train.py` gives Adam `[{'params': other_parameters}, {'params':
    weight_parameters, 'weight_decay': wd}]`, where `weight_parameters` are those with
    `p.ndimension() == 4 or 'conv' in name`, both in `named_parameters()` order (which is
    the state dict's order without the BatchNorm buffers).

    # Arguments
        state_dict: the model's state dict (`module.` prefixes allowed).

    # Returns
        The names (without `module.`) of the no-decay group, then of the decayed group.
    """
    state_dict = normalize_state_dict(state_dict)
    parameters = [name for name in state_dict if not name.endswith(_BUFFER_SUFFIXES)]
    decayed = [n for n in parameters if state_dict[n].ndim == 4 or "conv" in n]
    other = [n for n in parameters if n not in set(decayed)]
    return other + decayed


def _variables_by_name(model: tf.keras.Model, arrays: Mapping[str, list]) -> dict:
    """`convert_state_dict`'s per-layer arrays keyed by variable name instead."""
    layers = {layer.name: layer for layer in model.layers}  # get_layer walks them every call
    result = {}
    for layer_name, layer_arrays in arrays.items():
        for variable, array in zip(layers[layer_name].weights, layer_arrays, strict=True):
            result[variable.name] = array
    return result


def convert_parameter_values(
    values: Mapping[str, Any], state_dict: Mapping[str, Any], model: tf.keras.Model
) -> dict[str, np.ndarray]:
    """Maps per-parameter tensors (gradients, Adam moments, ...) onto a zoo model's variables.

    Every element lands where `convert_state_dict` puts the weight element of the same name
    and position (the mapping is found once per model by converting probes, then applied by
    indexing).

    # Arguments
        values: official parameter name -> tensor of the parameter's shape.
        state_dict: the model's official state dict (names, shapes and layout).
        model: the `ReActNetA` / `ReActNet18` zoo model.

    # Returns
        Keras variable name -> float32 array, for the variables that `values` fill entirely.

    # Raises
        ValueError: for a name that is not in `state_dict`, a shape that differs from the
            parameter's, or a Keras variable only partly given by `values` (e.g. only one
            of `bn2_1.weight` and `bn2_2.weight`).
    """
    state_dict = normalize_state_dict(state_dict)
    values = normalize_state_dict(values)
    unknown = sorted(set(values) - set(state_dict))
    if unknown:
        raise ValueError(f"{unknown[:5]} are not entries of the model's state dict.")
    for name, value in values.items():
        if value.shape != state_dict[name].shape:
            raise ValueError(
                f"{name!r} has shape {value.shape}, but the parameter has {state_dict[name].shape}."
            )
    layout = _layout(state_dict, model)
    given = set(values)
    chosen = []
    for variable, sources in layout.sources.items():
        if sources <= given:
            chosen.append(variable)
        elif sources & given:
            raise ValueError(
                f"The given tensors fill only part of the Keras variable {variable!r} (it "
                f"takes {sorted(sources)})."
            )
    flat = np.concatenate(
        [(values[n] if n in values else state_dict[n]).reshape(-1) for n in layout.names]
    )
    return {variable: flat[layout.index[variable]] for variable in chosen}


_EXACT_INTEGERS = 2**24  # float32 holds every integer below this


class _Layout:
    """Where `convert_state_dict` puts each element of a state dict in a model's variables.

    Found by converting two probes, each entry's number and each element's position, and
    checked with random values (the converter rearranges values, it does not compute them).

    # Attributes
        names: the state dict's entries, in the order of the flat concatenation.
        index: Keras variable name -> indices into the concatenation of all entries.
        sources: Keras variable name -> the entries it is made of.
    """

    def __init__(self, state_dict: Mapping[str, np.ndarray], model: tf.keras.Model):
        self.names = list(state_dict)
        sizes = [state_dict[name].size for name in self.names]
        if max(sizes) >= _EXACT_INTEGERS or len(sizes) >= _EXACT_INTEGERS:
            raise ValueError(f"A state dict entry of {max(sizes)} values is too large to map.")
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype("int64")
        entries = _variables_by_name(
            model,
            convert_state_dict(
                {n: np.full(state_dict[n].shape, i, "float32") for i, n in enumerate(self.names)},
                model,
            ),
        )
        positions = _variables_by_name(
            model,
            convert_state_dict(
                {
                    name: np.arange(value.size, dtype="float32").reshape(value.shape)
                    for name, value in state_dict.items()
                },
                model,
            ),
        )
        # int32 where it suffices: the full ReActNet-A has 29M elements, 120 MB of indices.
        index_type = "int32" if sum(sizes) < 2**31 else "int64"
        self.index, self.sources = {}, {}
        for variable, entry in entries.items():
            entry = entry.astype("int64")
            index = offsets[entry] + positions[variable].astype("int64")
            self.index[variable] = index.astype(index_type)
            self.sources[variable] = frozenset(self.names[i] for i in np.unique(entry))
        sample = np.random.default_rng(0).standard_normal(sum(sizes)).astype("float32")
        split = np.split(sample, offsets[1:])
        probe = {
            n: part.reshape(state_dict[n].shape) for n, part in zip(self.names, split, strict=True)
        }
        direct = _variables_by_name(model, convert_state_dict(probe, model))
        if any(not np.array_equal(direct[v], sample[self.index[v]]) for v in direct):
            raise RuntimeError(
                "convert_state_dict no longer just rearranges values; "
                "convert_parameter_values cannot follow it."
            )


# Per model, the layouts of the state dicts converted into it.
_LAYOUTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _layout(state_dict: Mapping[str, np.ndarray], model: tf.keras.Model) -> _Layout:
    key = tuple((name, value.shape) for name, value in state_dict.items())
    layouts = _LAYOUTS.setdefault(model, {})
    if key not in layouts:
        layouts[key] = _Layout(state_dict, model)
    return layouts[key]


@dataclasses.dataclass
class AdamState:
    """Adam's state of the official code, on a Keras model's variables.

    # Attributes
        iterations: the step count (every parameter's `step`; Keras has one counter).
        first_moments: Keras variable name -> `exp_avg` (the slot `m`).
        second_moments: Keras variable name -> `exp_avg_sq` (the slot `v`).
        learning_rates: Keras variable name -> its group's current `lr`.
        weight_decays: Keras variable name -> its group's `weight_decay`.
        betas: the groups' `(beta1, beta2)`.
        epsilon: the groups' `eps`.
        decay_form: `"coupled"` (L2 in the gradient, `torch.optim.Adam`'s default and the
            official code's) or `"decoupled"` (`decoupled_weight_decay=True`, AdamW's).
    """

    iterations: int
    first_moments: dict[str, np.ndarray]
    second_moments: dict[str, np.ndarray]
    learning_rates: dict[str, float]
    weight_decays: dict[str, float]
    betas: tuple[float, float]
    epsilon: float
    decay_form: str = "coupled"


def _common(values: Sequence, what: str) -> Any:
    distinct = sorted(set(values))
    if len(distinct) != 1:
        raise ValueError(
            f"The parameter groups have different {what} ({distinct}); a Keras optimizer has "
            "one value."
        )
    return distinct[0]


def _group_of_variables(
    group_of: Mapping[str, int], state_dict: Mapping[str, np.ndarray], model
) -> dict[str, int]:
    """The optimizer group of each trainable Keras variable, from the entries it is made of."""
    result = {}
    for variable, sources in _layout(state_dict, model).sources.items():
        groups = {group_of[name] for name in sources if name in group_of}
        if len(groups) > 1:
            raise ValueError(
                f"The Keras variable {variable!r} joins parameters of different optimizer "
                f"groups ({sorted(groups)}); it cannot have one learning rate and weight decay."
            )
        if groups:
            result[variable] = groups.pop()
    return result


def convert_adam_state(
    optimizer_state: Mapping[str, Any],
    state_dict: Mapping[str, Any],
    model: tf.keras.Model,
    parameter_names: Sequence[str] | None = None,
) -> AdamState:
    """Converts a `torch.optim.Adam` state dict of the official model to Keras variables.

    # Arguments
        optimizer_state: `optimizer.state_dict()` (e.g. a checkpoint's `"optimizer"`).
        state_dict: the model's state dict (names, shapes, and the converter's layout).
        model: the zoo model (`ReActNetA` / `ReActNet18`) the optimizer trains.
        parameter_names: the parameter name of each optimizer index; `None` for the official
            grouping (`official_parameter_names`).

    # Returns
        The `AdamState`. Before the first step (no per-parameter state yet) the moments are
        zeros and `iterations` is 0.

    # Raises
        ValueError: for AMSGrad or `maximize`, groups whose sizes do not fit the names,
            parameters at different step counts or with partial state, or per-group values
            that one Keras optimizer cannot hold.
    """
    state_dict = normalize_state_dict(state_dict)
    names = list(parameter_names or official_parameter_names(state_dict))
    groups = optimizer_state["param_groups"]
    indices = [index for group in groups for index in group["params"]]
    if sorted(indices) != list(range(len(names))):
        raise ValueError(
            f"The optimizer holds {len(indices)} parameters but {len(names)} names were "
            "given (or derived by the official grouping); pass parameter_names in the "
            "optimizer's order."
        )
    for group in groups:
        if group.get("amsgrad") or group.get("maximize"):
            raise ValueError("AMSGrad and maximize have no Keras OfficialAdam counterpart.")
    group_of = {names[i]: number for number, group in enumerate(groups) for i in group["params"]}
    per_parameter = optimizer_state["state"]
    if per_parameter and len(per_parameter) != len(names):
        missing = [names[i] for i in range(len(names)) if i not in per_parameter]
        raise ValueError(
            f"Adam has state for {len(per_parameter)} of {len(names)} parameters (none for "
            f"e.g. {missing[:3]}); Keras keeps one step count for all."
        )
    steps = [int(float(entry["step"])) for entry in per_parameter.values()]
    iterations = _common(steps, "step counts") if steps else 0

    def moments(key):
        if not per_parameter:
            return {name: np.zeros_like(state_dict[name]) for name in names}
        return {names[index]: entry[key] for index, entry in per_parameter.items()}

    variable_groups = _group_of_variables(group_of, state_dict, model)
    return AdamState(
        iterations=iterations,
        first_moments=convert_parameter_values(moments("exp_avg"), state_dict, model),
        second_moments=convert_parameter_values(moments("exp_avg_sq"), state_dict, model),
        learning_rates={v: float(groups[g]["lr"]) for v, g in variable_groups.items()},
        weight_decays={v: float(groups[g]["weight_decay"]) for v, g in variable_groups.items()},
        betas=tuple(_common([tuple(g["betas"]) for g in groups], "betas")),
        epsilon=float(_common([g["eps"] for g in groups], "eps")),
        decay_form=_common(
            ["decoupled" if g.get("decoupled_weight_decay") else "coupled" for g in groups],
            "weight decay forms",
        ),
    )


def _current_learning_rate(optimizer) -> float:
    learning_rate = optimizer.learning_rate
    if isinstance(learning_rate, tf.keras.optimizers.schedules.LearningRateSchedule):
        learning_rate = learning_rate(optimizer.iterations)
    return float(tf.keras.backend.get_value(learning_rate))


def _keras_weight_decay(optimizer, variable) -> tuple[float, str]:
    """The weight decay the Keras optimizer applies to `variable`, and its form."""
    if not hasattr(optimizer, "decayed_variables"):  # a bare optimizer: no decay
        return 0.0, "coupled"
    decayed = optimizer.decayed_variables([variable])
    return (optimizer.weight_decay if decayed else 0.0), optimizer.decay_form


def adam_state_mismatches(optimizer, model: tf.keras.Model, state: AdamState) -> list[str]:
    """Where a Keras optimizer's hyperparameters differ from the converted official state's.

    Compares the update rule (`OfficialAdam`, PyTorch's epsilon placement), betas, epsilon,
    the learning rate at the optimizer's current `iterations` (so, after
    `load_adam_state_into`, the schedule's epoch against the `LambdaLR`'s) and, per
    trainable variable, the weight decay and its form.

    # Arguments
        optimizer: the Keras optimizer (`OfficialAdam`, possibly in a `StageAwareOptimizer`).
        model: the model it trains.
        state: from `convert_adam_state`.

    # Returns
        One line per difference; empty if they agree.
    """
    from adambnn_tf.optimizers import OfficialAdam

    adam = getattr(optimizer, "inner_optimizer", optimizer)
    problems = []
    if not isinstance(adam, tf.keras.optimizers.legacy.Adam):
        problems.append(f"the update rule is {type(adam).__name__}, not Adam")
    else:
        if not isinstance(adam, OfficialAdam):
            problems.append(
                f"the update rule is {type(adam).__name__}, not OfficialAdam (Keras adds "
                "epsilon before the bias correction, PyTorch after)"
            )
        keras_betas = (
            float(tf.keras.backend.get_value(adam.beta_1)),
            float(tf.keras.backend.get_value(adam.beta_2)),
        )
        if not np.allclose(keras_betas, state.betas, rtol=_RTOL, atol=0):
            problems.append(f"betas: Keras {keras_betas}, PyTorch {state.betas}")
        if not np.isclose(adam.epsilon, state.epsilon, rtol=_RTOL, atol=0):
            problems.append(f"epsilon: Keras {adam.epsilon}, PyTorch {state.epsilon}")
    learning_rate = _current_learning_rate(optimizer)
    torch_rates = sorted(set(state.learning_rates.values()))
    if not np.allclose(learning_rate, torch_rates, rtol=_RTOL, atol=0):
        problems.append(
            f"learning rate at step {int(tf.keras.backend.get_value(optimizer.iterations))}: "
            f"Keras {learning_rate:.8g}, PyTorch {', '.join(f'{r:.8g}' for r in torch_rates)}"
        )
    differences: dict[str, list[str]] = {}
    for variable in model.trainable_variables:
        keras_decay, form = _keras_weight_decay(optimizer, variable)
        torch_decay = state.weight_decays.get(variable.name)
        if torch_decay is None:
            problem = "no PyTorch parameter maps to"
        elif not np.isclose(keras_decay, torch_decay, rtol=_RTOL, atol=0):
            problem = f"weight decay Keras {keras_decay:g}, PyTorch {torch_decay:g} on"
        elif keras_decay and form != state.decay_form:
            problem = f"{form} weight decay (PyTorch's is {state.decay_form}) on"
        else:
            continue
        differences.setdefault(problem, []).append(variable.name)
    for problem, names in differences.items():
        problems.append(f"{problem} {len(names)} variables ({', '.join(names[:3])}, ...)")
    return problems


def load_adam_state_into(
    optimizer, model: tf.keras.Model, state: AdamState, *, strict: bool = True
) -> None:
    """Sets a Keras Adam's slots and step count from a converted official state.

    # Arguments
        optimizer: a legacy Keras Adam (`OfficialAdam`, possibly in a
            `StageAwareOptimizer`) that trains `model`; its slots are created if needed.
        model: the zoo model.
        state: from `convert_adam_state`.
        strict: raise if `adam_state_mismatches` finds a difference. The check runs after
            loading (the learning rate is compared at the loaded step), so the optimizer
            holds the state even then.

    # Raises
        ValueError: if a trainable variable has no converted moments, or, with `strict`, if
            the hyperparameters differ (the message lists them).
    """
    variables = model.trainable_variables
    missing = [v.name for v in variables if v.name not in state.first_moments]
    if missing:
        raise ValueError(f"The converted state has no moments for {missing[:5]}.")
    if not {"m", "v"} <= set(optimizer.get_slot_names()):
        raise ValueError(
            f"{type(optimizer).__name__} has the slots {optimizer.get_slot_names()}, not "
            "Adam's 'm' and 'v'; load Adam's state into an Adam (OfficialAdam)."
        )
    # Private Keras API, as in TwoStageTraining: legacy optimizers make their slots lazily.
    optimizer._create_all_weights(variables)
    for variable in variables:
        dtype = variable.dtype.as_numpy_dtype
        for slot, moments in (("m", state.first_moments), ("v", state.second_moments)):
            optimizer.get_slot(variable, slot).assign(np.asarray(moments[variable.name], dtype))
    optimizer.iterations.assign(state.iterations)
    if strict:
        problems = adam_state_mismatches(optimizer, model, state)
        if problems:
            raise ValueError(
                "The Keras optimizer does not do what the PyTorch one did:\n- "
                + "\n- ".join(problems)
            )
