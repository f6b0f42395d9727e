"""Where the BNN's training step spends its time, op family by op family (issue 20).

For each setting, the three variants of `bench/float_twin.py` (its builders and batches: the
float twin, stage 1 with binary activations, stage 2 with binary activations and weights, each
compiled with the recipe's `StageAwareOptimizer(OfficialAdam)`) are traced with a few `fit`
steps, then TensorFlow's profiler records `--steps` more `fit` steps of each (with `--rounds`,
in alternating rounds, every number then being its median over the rounds). The host plane of
each trace (`*.xplane.pb`, an XSpace protobuf) holds one event per executed TF op, named
`<op name>:<op type>`; the op name's scopes give the layer, and the layer (`model.layers`)
and the op type give the family:

- convolutions: forward, backprop input, backprop filter;
- the activation binarizer (`RSign`: the threshold's add and the sign; in the twin, the real
  shift that replaces it), forward and gradient;
- the weight binarizer (`ScaledWeightSign`: sign times scale; stage 1's `RealLatentWeight`
  is an identity), its scale `mean|w|`, and its gradient (the clipped straight-through one);
- RPReLU / LearnableBias, BatchNorm, padding / pooling / residual adds / concatenation
  (forward and gradient each), the loss and its metric, the gradient sums (`AddN` where a
  tensor feeds two layers), the optimizer update (Adam, weight decay), everything else.

The written-out gradients (`tf.custom_gradient` of `approx_sign`, `scaled_weight_sign` and
RPReLU) are created by the optimizer's `GradientTape` under `<optimizer>/gradients/` with no
layer in their names; each is given to the layer of the forward tensors it reads, following
the training function's graph (`custom_gradient_owners`). Grappler merges the weight scale's
`abs(w)` with the identical `abs(w)` of the weight gradient's clipping mask, under the
gradient's name: that `Abs` counts as gradient, and the scale row holds only the mean.

Op events overlap: TensorFlow runs independent ops on its 2 inter-op threads at once, and an
op's own parallel work runs on the intra-op pool under its event. The table therefore gives
the sum of op times per step (what the families add up to; shares are of this sum), the busy
time (the union of op intervals: some op running) and the wall time of a step (median of
`fit`'s steps, under the profiler) separately; their ratios say how much ran in parallel.

With `--with-tracking`, stage 1 and stage 2 are profiled again with the project's FF-ratio
callback measuring every 10th step (`FFRatio(every_n_steps=10)`, as the main job does), its
ops in a `ff_tracking` family; these variants are compared with the same stage untracked.

Settings (`--settings`): those of `bench/float_twin.py`, `compact` (ReActNet-A Compact,
28x28, batch 64), `small` (ReActNet-A small input, 32x32x3, batch 64), `full` (ReActNet-A,
224x224x3, batch 8). Writes `attribution.json` in `--out` and prints one Markdown table per
setting.

!!! example
    ```bash
    python bench/profile_step.py --settings compact small --steps 10 --out bench/profile_step/
    ```
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import statistics
import tempfile
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from _machine import cpu_description  # beside this script

import adambnn_tf  # noqa: F401  (selects tf-keras before TensorFlow is imported)

FAMILIES = {
    "conv_forward": "convolution, forward",
    "conv_backprop_input": "convolution, backprop input",
    "conv_backprop_filter": "convolution, backprop filter",
    "act_binarizer_forward": "activation binarizer (threshold + sign), forward",
    "act_binarizer_gradient": "activation binarizer, gradient",
    "weight_binarizer_forward": "weight binarizer (sign x scale), forward",
    "weight_scale": "weight scale, mean abs(w)",
    "weight_binarizer_gradient": "weight binarizer, gradient",
    "rprelu": "RPReLU / LearnableBias",
    "batchnorm": "BatchNorm",
    "pad_pool_add_concat": "padding, pooling, residual add, concat",
    "loss": "loss, loss metric, step counter",
    "gradient_sums": "gradient sums (AddN)",
    "optimizer": "optimizer update (Adam, weight decay)",
    "ff_tracking": "FF-ratio tracking",
    "other": "everything else",
}
"""Family key -> label; forward and gradient together where one row holds both."""

TRACKING_SCOPE = "ff_tracking"
"""The name scope this script gives the FF-ratio callback's ops (`--with-tracking`)."""

_GRADIENT_FAMILY = {
    "act_binarizer_forward": "act_binarizer_gradient",
    "weight_binarizer_forward": "weight_binarizer_gradient",
    "weight_scale": "weight_binarizer_gradient",
    # A written-out gradient reading a convolution's own tensors (its kernel) is the kernel
    # quantizer's: the convolution itself is differentiated by the tape (`gradient_tape/`).
    "conv_forward": "weight_binarizer_gradient",
}
_OP_EVENT = re.compile(r"^(?P<name>[^:\s]+):(?P<type>\w+)$")
_SUFFIX = re.compile(r"_\d+$")
_HOST_PLANE = "/host:CPU"
_TOTALS = ("op_ms", "busy_ms", "wall_ms")


class OpEvent(NamedTuple):
    """One executed TF op in a profile: its graph name, type, thread and time span."""

    name: str
    type: str
    thread: int
    start_ps: int
    duration_ps: int


def xplane_pb2():
    """TensorFlow's XSpace protobuf module, the format of the profiler's `*.xplane.pb` files.

    This module is not a public TensorFlow API, and no public API serves: TensorFlow turns a
    profile into op times only inside `tensorboard-plugin-profile` (its `framework_op_stats`
    tool), which is not a dependency of this project, pins `protobuf<5` next to TensorFlow's
    own protobuf, ships a 98 MB native converter, keeps only the 500 largest ops and drops the
    event times that the busy time needs. TensorFlow ships the generated module itself; its
    place has moved between releases (`tsl`, `tensorflow.tsl`, `tensorflow.core`), hence the
    fallbacks. `tests/test_profile_attribution.py` fails when the module or the layout parsed
    here changes.

    # Returns
        The `xplane_pb2` module.

    # Raises
        ImportError: when no known place has it.
    """
    try:
        from tsl.profiler.protobuf import xplane_pb2 as module
    except ImportError:
        try:
            from tensorflow.tsl.profiler.protobuf import xplane_pb2 as module
        except ImportError:
            from tensorflow.core.profiler.protobuf import xplane_pb2 as module
    return module


def read_xspace(logdir: str):
    """Reads the newest profile that `tf.profiler.experimental` wrote under `logdir`.

    # Arguments
        logdir: the directory given to `tf.profiler.experimental.start`.

    # Returns
        The `XSpace` message.

    # Raises
        FileNotFoundError: when `logdir` holds no `*.xplane.pb`.
    """
    paths = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
    if not paths:
        raise FileNotFoundError(f"no *.xplane.pb under {logdir}/plugins/profile")
    space = xplane_pb2().XSpace()
    with open(max(paths, key=os.path.getmtime), "rb") as file:
        space.ParseFromString(file.read())
    return space


def host_op_events(space) -> list[OpEvent]:
    """The TF op events of the host CPU plane, on every thread (line) of it.

    Events named `<op name>:<op type>` are TF ops (the executor's `TraceMe`); the others
    (`ExecutorState::Process`, `EagerExecute`, thread-pool markers, ...) are not.

    # Arguments
        space: an `XSpace` message (`read_xspace`).

    # Returns
        The op events, in no particular order.

    # Raises
        ValueError: when the profile has no host CPU plane.
    """
    planes = [plane for plane in space.planes if plane.name == _HOST_PLANE]
    if not planes:
        found = [plane.name for plane in space.planes]
        raise ValueError(f"no {_HOST_PLANE!r} plane in the profile, only {found}")
    events = []
    for plane in planes:
        names = {key: metadata.name for key, metadata in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                match = _OP_EVENT.match(names.get(event.metadata_id, ""))
                if match:
                    events.append(
                        OpEvent(
                            match["name"],
                            match["type"],
                            line.id,
                            line.timestamp_ns * 1000 + event.offset_ps,
                            event.duration_ps,
                        )
                    )
    return events


def busy_ps(events: Iterable[OpEvent]) -> int:
    """The time during which at least one op ran: the union of the events' intervals.

    # Arguments
        events: op events.

    # Returns
        Picoseconds.
    """
    total, end = 0, None
    for start, stop in sorted((e.start_ps, e.start_ps + e.duration_ps) for e in events):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def _is_gradient_scope(name: str, optimizer_names: set[str]) -> bool:
    parts = name.split("/")
    return len(parts) > 2 and parts[1] == "gradients" and parts[0] in optimizer_names


def custom_gradient_owners(graph, model_scope: str, optimizer_names: set[str]) -> dict[str, str]:
    """Gives each op of a written-out gradient the forward op whose layer it belongs to.

    `tf.custom_gradient` functions run under `<optimizer>/gradients/` when the tape calls
    them, so their op names carry no layer. Following the graph, in the order its ops were
    created: an op that reads a forward tensor (one under the model's scope) belongs to that
    tensor's layer; an op that reads only gradient tensors belongs to the newest of its
    inputs that has an owner, and an op with neither (e.g. the sum of the incoming gradient
    that RPReLU's output bias gets) to the op created just before it in the same gradient
    function. Gradient sums (`AddN`) are the tape's, and own nothing.

    # Arguments
        graph: the training function's graph (`tf.Graph` of its concrete function).
        model_scope: the model's name (its forward ops are under `<model_scope>/`).
        optimizer_names: the first scope of the optimizers' ops (`StageAwareOptimizer`, ...).

    # Returns
        Op name -> owning forward op name, for the ops under `<optimizer>/gradients/` (the
        value is `""` for gradient sums and ops with no owner).
    """
    owners: dict[str, str] = {}
    created: dict[str, int] = {}
    current = ""
    for index, op in enumerate(graph.get_operations()):
        if not _is_gradient_scope(op.name, optimizer_names):
            current = ""  # the gradient function ended (the tape's own ops follow)
            continue
        created[op.name] = index
        if op.type == "Const":
            continue
        if op.type == "AddN":
            owners[op.name] = current = ""
            continue
        inputs = [tensor.op.name for tensor in op.inputs]
        forward = [name for name in inputs if name.startswith(model_scope + "/")]
        owned = [name for name in inputs if owners.get(name)]
        if forward:
            current = forward[0]
        elif owned:
            current = owners[max(owned, key=created.__getitem__)]
        owners[op.name] = current
    return owners


class FamilyRules:
    """Assigns each op of a model's training step to a family (`FAMILIES`).

    # Arguments
        model: the compiled Keras model.
        graph: its training function's graph, for the written-out gradients' owners and to
            tell weight decay from the loss metric among the unscoped ops; `None` to go by
            names only (those ops then fall in "everything else").
    """

    def __init__(self, model, graph=None):
        import tensorflow as tf

        from adambnn_tf.layers import LearnableBias, RPReLU

        self.model_scope = model.name
        optimizer = model.optimizer
        self.optimizer_names = {
            getattr(candidate, "_name", type(candidate).__name__)
            for candidate in (optimizer, getattr(optimizer, "inner_optimizer", None))
            if candidate is not None
        }
        loss = getattr(model, "loss", None)
        self.loss_scope = getattr(loss, "name", None) or "loss"
        self.layer_family: dict[str, str] = {}
        self.act_scopes: dict[str, set[str]] = {}
        self.weight_scopes: dict[str, set[str]] = {}
        for layer in model.layers:
            if isinstance(layer, tf.keras.layers.BatchNormalization):
                family = "batchnorm"
            elif isinstance(layer, (RPReLU, LearnableBias, tf.keras.layers.PReLU)):
                family = "rprelu"
            elif isinstance(layer, tf.keras.layers.Conv2D):
                family = "conv"
                act, weight = {"rsign"}, set()
                for attribute, names in (
                    ("input_quantizer", act),
                    ("input_shift", act),  # the twin's real shift in RSign's place
                    ("kernel_quantizer", weight),
                ):
                    name = getattr(getattr(layer, attribute, None), "name", None)
                    if name:
                        names.add(_SUFFIX.sub("", name))
                self.act_scopes[layer.name] = act
                self.weight_scopes[layer.name] = weight
            elif isinstance(
                layer,
                (
                    tf.keras.layers.Add,
                    tf.keras.layers.Concatenate,
                    tf.keras.layers.ZeroPadding2D,
                    tf.keras.layers.Flatten,
                    tf.keras.layers.AveragePooling2D,
                    tf.keras.layers.MaxPooling2D,
                    tf.keras.layers.GlobalAveragePooling2D,
                    tf.keras.layers.GlobalMaxPooling2D,
                ),
            ):
                family = "pad_pool_add_concat"
            else:
                family = "other"
            self.layer_family[layer.name] = family
        self.owners: dict[str, str] = {}
        self.graph_index: dict[str, int] = {}
        self.update_span = (0, -1)  # graph indices of the gradients and the optimizer update
        if graph is not None:
            self.owners = custom_gradient_owners(graph, self.model_scope, self.optimizer_names)
            update = []
            for index, op in enumerate(graph.get_operations()):
                self.graph_index[op.name] = index
                if op.name.startswith("gradient_tape/") or op.name.split("/")[0] in (
                    self.optimizer_names
                ):
                    update.append(index)
            if update:
                self.update_span = (min(update), max(update))

    def _layer_op(self, layer: str, rest: list[str], op_type: str, backward: bool) -> str:
        family = self.layer_family.get(layer)
        if family is None:  # not a layer of the model (a nested model, a renamed scope)
            family = _family_of_type(op_type)
        if family != "conv":
            return family
        stripped = {_SUFFIX.sub("", part) for part in rest[:-1]}
        if stripped & self.act_scopes.get(layer, set()):
            return "act_binarizer_gradient" if backward else "act_binarizer_forward"
        if stripped & self.weight_scopes.get(layer, set()):
            if backward:
                return "weight_binarizer_gradient"
            return "weight_scale" if op_type in ("Abs", "Mean") else "weight_binarizer_forward"
        if "BackpropInput" in op_type:
            return "conv_backprop_input"
        if "BackpropFilter" in op_type:
            return "conv_backprop_filter"
        if op_type in ("Pad", "PadV2", "MirrorPad", "Slice"):  # the padding and its gradient
            return "pad_pool_add_concat"
        return "other" if backward else "conv_forward"

    def family(self, name: str, op_type: str) -> str:
        """The family key of one op.

        # Arguments
            name: the op's name in the executed graph (Grappler keeps the scopes).
            op_type: the executed kernel's type (e.g. `_MklNativeConv2D`).

        # Returns
            A key of `FAMILIES`.
        """
        parts = name.split("/")
        if TRACKING_SCOPE in {_SUFFIX.sub("", part) for part in parts}:  # ff_tracking_1, ...
            return "ff_tracking"
        if op_type.startswith("ResourceApply") or parts[0] in self.optimizer_names:
            if _is_gradient_scope(name, self.optimizer_names):
                return self._custom_gradient(name, op_type)
            return "optimizer"
        if parts[0] == "gradient_tape":
            parts = parts[1:]
            backward = True
        else:
            backward = False
        if parts[0] == self.model_scope and len(parts) > 2:
            return self._layer_op(parts[1], parts[2:], op_type, backward)
        if parts[0] == self.loss_scope:
            return "loss"
        index = self.graph_index.get(parts[0])
        if index is None:
            return "other"
        # Unscoped ops: the coupled weight decay (`StageAwareOptimizer._add_l2_to_gradients`)
        # is created among the gradients and the update; the loss metric's update before them,
        # its result and `fit`'s step counter after them.
        first, last = self.update_span
        return "optimizer" if first <= index <= last else "loss"

    def _custom_gradient(self, name: str, op_type: str) -> str:
        if op_type == "AddN":
            return "gradient_sums"
        owner = self.owners.get(name, "")
        if not owner:
            return "other"
        parts = owner.split("/")
        if len(parts) < 3:
            return "other"
        forward = self._layer_op(parts[1], parts[2:], _type_hint(owner), backward=False)
        return _GRADIENT_FAMILY.get(forward, forward)


def _type_hint(name: str) -> str:
    return _SUFFIX.sub("", name.rsplit("/", 1)[-1])


def _family_of_type(op_type: str) -> str:
    if "Conv" in op_type:
        return "conv"
    if "BatchNorm" in op_type:
        return "batchnorm"
    if any(key in op_type for key in ("Pool", "Concat", "Pad")):
        return "pad_pool_add_concat"
    return "other"


def attribute(events: list[OpEvent], rules: FamilyRules, steps: int) -> dict[str, Any]:
    """Op time per step by family, with the busy time and the ops left unattributed.

    # Arguments
        events: the op events of `steps` training steps (`host_op_events`).
        rules: the model's `FamilyRules`.
        steps: how many steps the events cover.

    # Returns
        `families_ms` (family -> ms per step), `op_ms` (their sum), `busy_ms` (union of the
        op intervals, per step), `nested_events` (op events inside another on the same
        thread, 0 when the sum counts nothing twice on a thread) and `other_top` (the
        largest ops of "everything else", ms per step).
    """
    families: dict[str, float] = collections.defaultdict(float)
    other: dict[str, float] = collections.defaultdict(float)
    for event in events:
        family = rules.family(event.name, event.type)
        milliseconds = event.duration_ps / 1e9 / steps
        families[family] += milliseconds
        if family == "other":
            other[f"{event.name}:{event.type}"] += milliseconds
    nested = 0
    by_thread = collections.defaultdict(list)
    for event in events:
        by_thread[event.thread].append((event.start_ps, event.start_ps + event.duration_ps))
    for spans in by_thread.values():
        spans.sort()
        end = -1
        for start, stop in spans:
            if start < end:
                nested += 1
            end = max(end, stop)
    return {
        "families_ms": {key: round(families.get(key, 0.0), 3) for key in FAMILIES},
        "op_ms": round(sum(families.values()), 3),
        "busy_ms": round(busy_ps(events) / 1e9 / steps, 3),
        "nested_events": nested,
        "other_top": {
            name: round(ms, 3) for name, ms in sorted(other.items(), key=lambda item: -item[1])[:8]
        },
    }


def training_graph(train_function, data):
    """The graph of a model's compiled training function, as `fit` traced it.

    # Arguments
        train_function: the model's `train_function` (a `tf.function`) after `fit` ran it.
        data: the `tf.data.Dataset` it ran on (for the function's input signature).

    # Returns
        A `tf.Graph`.
    """
    return train_function.get_concrete_function(iter(data)).graph


def _kept_train_function():
    """A callback that keeps the training function `fit` ran.

    Tracking callbacks set `model.train_function` to `None` at the end of `fit`, when they
    detach from the step; the function is still needed for its graph.
    """
    import tensorflow as tf

    class KeepTrainFunction(tf.keras.callbacks.Callback):
        function = None

        def on_train_batch_end(self, batch, logs=None):
            self.function = self.model.train_function

    return KeepTrainFunction()


def profile_fit(model, data, steps: int, logdir: str, callbacks: list | None = None) -> dict:
    """Traces `model` with 3 `fit` steps, then profiles `steps` more and attributes them.

    # Arguments
        model: a compiled model.
        data: an endless `tf.data.Dataset` of batches.
        steps: the steps to profile.
        logdir: where the profiler writes its trace.
        callbacks: more `fit` callbacks (e.g. tracking), in both calls.

    # Returns
        `attribute`'s result, with `wall_ms` (median step time of the profiled `fit` steps,
        read as `bench/float_twin.py` reads it) and `steps`.
    """
    import tensorflow as tf
    from _fit_timing import StepTimes  # beside this script

    callbacks = list(callbacks or [])
    model.fit(data, steps_per_epoch=3, epochs=1, verbose=0, callbacks=callbacks)  # trace
    timer, kept = StepTimes(), _kept_train_function()
    tf.profiler.experimental.start(
        logdir,
        options=tf.profiler.experimental.ProfilerOptions(
            host_tracer_level=2, python_tracer_level=0, device_tracer_level=0
        ),
    )
    try:
        model.fit(
            data, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[timer, kept, *callbacks]
        )
    finally:
        tf.profiler.experimental.stop()
    rules = FamilyRules(model, training_graph(kept.function, data))
    result = attribute(host_op_events(read_xspace(logdir)), rules, steps)
    result["wall_ms"] = round(1000 * statistics.median(timer.seconds), 3)
    result["steps"] = steps
    return result


def ff_tracking(every_n_steps: int = 10):
    """The project's FF-ratio callback, its in-step ops under the `ff_tracking` name scope.

    The scope only names the ops (for `FamilyRules`); the callback computes what `FFRatio`
    computes.

    # Arguments
        every_n_steps: measure every n-th step, as the main job does with 10.

    # Returns
        An `adambnn_tf.callbacks.FFRatio` (subclass) instance.
    """
    import tensorflow as tf

    from adambnn_tf.callbacks import FFRatio

    class ScopedFFRatio(FFRatio):
        def before_train_step(self, context):
            with tf.name_scope(TRACKING_SCOPE):
                return super().before_train_step(context)

        def after_train_step(self, context):
            with tf.name_scope(TRACKING_SCOPE):
                return super().after_train_step(context)

    return ScopedFFRatio(per_layer=False, every_n_steps=every_n_steps)


def reference_of(label: str) -> str:
    """The variant a variant is compared with: the twin, or the same stage without tracking.

    # Arguments
        label: a variant, e.g. `"stage2"` or `"stage2+ff/10"`.

    # Returns
        `"twin"`, or the variant without its `+...` suffix.
    """
    return label.split("+")[0] if "+" in label else "twin"


def median_of_rounds(rounds: list[dict]) -> dict:
    """Each family's, the op sum's, the busy and the wall time's median over rounds.

    # Arguments
        rounds: `profile_fit` results of one variant, one per round.

    # Returns
        The same keys, each the median over the rounds (so the families need not add up
        exactly to `op_ms` when there are several rounds), `other_top` of the first round,
        and `rounds` (the per-round results).
    """

    def median(values):
        return round(statistics.median(values), 3)

    return {
        "families_ms": {
            key: median([result["families_ms"][key] for result in rounds]) for key in FAMILIES
        },
        **{key: median([result[key] for result in rounds]) for key in _TOTALS},
        "steps": rounds[0]["steps"],
        "nested_events": max(result["nested_events"] for result in rounds),
        "other_top": rounds[0]["other_top"],
        "rounds": rounds,
    }


def measure(
    setting: str,
    steps: int,
    rounds: int = 1,
    with_tracking: bool = False,
    trace_dir: str | None = None,
) -> dict:
    """Profiles the variants of one setting in alternating rounds; differences to the twin.

    # Arguments
        setting: a key of `float_twin.SETTINGS`.
        steps: profiled steps per variant and round.
        rounds: rounds; each profiles every variant once, in turn, so that a load that comes
            and goes on the machine falls on all of them.
        with_tracking: also profile stage 1 and stage 2 with `FFRatio(every_n_steps=10)`.
        trace_dir: where to keep the traces (`<setting>/<variant>/round<i>`); a temporary
            folder, removed afterwards, when `None`.

    # Returns
        A dict: `setting`, `model`, `input_shape`, `batch_size`, `rounds`, `variants`
        (variant -> `median_of_rounds`) and `differences` (variant -> family or total -> ms
        per step over its `reference_of`'s).
    """
    from float_twin import SETTINGS, _batches, _variants  # beside this script

    models = _variants(setting)
    data = _batches(setting)
    plan = [(label, model, None) for label, model in models.items()]
    if with_tracking:
        plan += [(f"{label}+ff/10", models[label], "ff") for label in ("stage1", "stage2")]
    results: dict[str, list[dict]] = {label: [] for label, _, _ in plan}
    with tempfile.TemporaryDirectory() as scratch:
        root = os.path.join(trace_dir or scratch, setting)
        for index in range(rounds):
            for label, model, tracking in plan:
                logdir = os.path.join(root, label.replace("/", "_"), f"round{index}")
                callbacks = [ff_tracking(every_n_steps=10)] if tracking else []
                results[label].append(profile_fit(model, data, steps, logdir, callbacks))
    variants = {label: median_of_rounds(per_round) for label, per_round in results.items()}
    differences = {
        label: {
            **{
                key: round(result["families_ms"][key] - reference["families_ms"][key], 3)
                for key in FAMILIES
            },
            **{key: round(result[key] - reference[key], 3) for key in _TOTALS},
        }
        for label, result in variants.items()
        if label != "twin"
        for reference in [variants[reference_of(label)]]
    }
    return {
        "setting": setting,
        "model": SETTINGS[setting][0],
        "input_shape": list(SETTINGS[setting][2]),
        "batch_size": SETTINGS[setting][4],
        "rounds": rounds,
        "variants": variants,
        "differences": differences,
    }


def markdown(result: dict) -> str:
    """One setting's attribution as a Markdown table.

    # Arguments
        result: `measure`'s result.

    # Returns
        The table: per family, each variant's ms per step and share of its op-time sum, then
        each variant minus its `reference_of` (the twin, or the same stage untracked); last,
        the op-time sum, the busy time and the wall time per step.
    """
    variants = result["variants"]
    labels = list(variants)
    differences = [label for label in labels if label != "twin"]
    header = (
        "| family | "
        + " | ".join(f"{label} ms (share)" for label in labels)
        + " | "
        + " | ".join(f"{label} - {reference_of(label)} ms" for label in differences)
        + " |"
    )
    rows = [header, "|---" * (1 + len(labels) + len(differences)) + "|"]
    used = [
        key
        for key in FAMILIES
        if any(variants[label]["families_ms"][key] >= 0.0005 for label in labels)
    ]
    for key in used:
        cells = [
            f"{variants[label]['families_ms'][key]:.1f} "
            f"({100 * variants[label]['families_ms'][key] / variants[label]['op_ms']:.1f}%)"
            for label in labels
        ]
        cells += [f"{result['differences'][label][key]:+.1f}" for label in differences]
        rows.append(f"| {FAMILIES[key]} | " + " | ".join(cells) + " |")
    for key, label in (
        ("op_ms", "**sum of op times** (both threads)"),
        ("busy_ms", "busy (some op running)"),
        ("wall_ms", "wall time of a step (median)"),
    ):
        cells = [f"{variants[name][key]:.1f}" for name in labels]
        cells += [f"{result['differences'][name][key]:+.1f}" for name in differences]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Command line: profiles the settings, writes `attribution.json`, prints the tables.

    `attribution.json` keeps the settings of earlier runs that this run does not measure;
    each setting records its CPU, date, steps and rounds.

    # Arguments
        argv: the arguments (default: `sys.argv[1:]`).

    # Returns
        0.
    """
    from float_twin import SETTINGS  # beside this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["compact"])
    parser.add_argument("--steps", type=int, default=10, help="profiled steps per round")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds per variant")
    parser.add_argument("--out", default="bench/profile_step", help="folder of attribution.json")
    parser.add_argument(
        "--with-tracking",
        action="store_true",
        help="also profile stage 1 and 2 with the FF-ratio callback on every 10th step",
    )
    parser.add_argument("--keep-traces", action="store_true", help="keep traces under --out")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "attribution.json")
    report: dict[str, Any] = {"families": FAMILIES, "settings": {}}
    if os.path.exists(path):  # keep the settings measured by earlier runs
        with open(path) as file:
            report["settings"] = json.load(file).get("settings", {})
    run = {
        "cpu": cpu_description(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "steps": args.steps,
        "rounds": args.rounds,
    }
    print(
        f"CPU: {run['cpu']}; {run['date']}; {args.rounds} round(s) of {args.steps} profiled "
        "steps per variant"
    )
    for setting in args.settings:
        started = time.perf_counter()
        result = measure(
            setting,
            args.steps,
            rounds=args.rounds,
            with_tracking=args.with_tracking,
            trace_dir=os.path.join(args.out, "traces") if args.keep_traces else None,
        )
        report["settings"][setting] = {
            **run,
            "seconds": round(time.perf_counter() - started, 1),
            **result,
        }
        with open(path, "w") as file:
            json.dump(report, file, indent=1)
        shape = "x".join(str(size) for size in result["input_shape"])
        print(f"\n### {setting}: {result['model']}, {shape}, batch {result['batch_size']}\n")
        print(markdown(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
