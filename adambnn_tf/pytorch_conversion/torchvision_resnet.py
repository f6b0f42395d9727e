"""torchvision-layout ResNet-34 state dicts to `adambnn_tf.zoo.ResNet34`, without torchvision.

The official AdamBNN teacher is `torchvision.models.resnet34(pretrained=True)`. Its state
dict has the keys `conv1.weight`, `bn1.*`, `layer{1..4}.{i}.conv{1,2}.weight`,
`layer{l}.{i}.bn{1,2}.*`, `layer{2,3,4}.0.downsample.0.weight` (1x1 convolution),
`layer{2,3,4}.0.downsample.1.*` (its BatchNorm) and `fc.{weight,bias}`, where a BatchNorm's
`*` is `weight`, `bias`, `running_mean`, `running_var` and `num_batches_tracked`. A
`module.` prefix (`nn.DataParallel`) and a training-checkpoint wrapper are accepted, as for
the ReActNet checkpoints (`normalize_state_dict`).

The key set is checked as a whole before anything is converted: a state dict with missing
or extra keys, or of another architecture, is refused with the first offending keys named.

!!! example
    ```python
    import adambnn_tf
    from adambnn_tf.pytorch_conversion import convert_checkpoint, resnet34_state_dict_keys

    convert_checkpoint("resnet34-b627a593.pth", "resnet34.h5", "resnet34")  # needs torch
    resnet34_state_dict_keys()[:3]  # ['conv1.weight', 'bn1.weight', 'bn1.bias']
    ```
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from adambnn_tf.pytorch_conversion.pytorch import normalize_state_dict
from adambnn_tf.pytorch_conversion.state_dict import (
    _BATCH_NORM,
    _assign_layer,
    _batch_norm_values,
    _StateDictReader,
    detect_layout,
)

__all__ = [
    "RESNET34",
    "check_resnet34_keys",
    "convert_resnet34_state_dict",
    "resnet34_model_kwargs",
    "resnet34_state_dict_keys",
]

RESNET34 = "resnet34"
_CLASSIFIER = "fc"
# How many offending keys an error names.
_SHOWN = 5
# The parameterised modules of one BasicBlock, without its downsample.
_BLOCK_MODULES = (("conv1", "conv"), ("bn1", "bn"), ("conv2", "conv"), ("bn2", "bn"))
_PARAMETERS = {
    "conv": ("weight",),
    "bn": tuple(_BATCH_NORM.values()),
    "dense": ("weight", "bias"),
}


def _modules(include_top: bool) -> list[tuple[str, str]]:
    """torchvision's ResNet-34 modules with parameters, in state-dict order, as
    `(module name, "conv" | "bn" | "dense")`."""
    from adambnn_tf.zoo.resnet34 import RESNET34_BLOCKS, RESNET34_WIDTHS, STEM_WIDTH

    modules = [("conv1", "conv"), ("bn1", "bn")]
    in_channels = STEM_WIDTH
    for layer, (blocks, width) in enumerate(
        zip(RESNET34_BLOCKS, RESNET34_WIDTHS, strict=True), start=1
    ):
        for block in range(blocks):
            prefix = f"layer{layer}.{block}"
            modules += [(f"{prefix}.{name}", kind) for name, kind in _BLOCK_MODULES]
            strides = 2 if block == 0 and layer > 1 else 1
            if strides != 1 or in_channels != width:
                modules += [(f"{prefix}.downsample.0", "conv"), (f"{prefix}.downsample.1", "bn")]
            in_channels = width
    if include_top:
        modules.append((_CLASSIFIER, "dense"))
    return modules


def resnet34_state_dict_keys(include_top: bool = True) -> list[str]:
    """The keys of torchvision's `resnet34().state_dict()`, in its order, without
    BatchNorm's `num_batches_tracked` counters (which Keras does not have).

    # Arguments
        include_top: whether to include the classifier's `fc.weight` and `fc.bias`.

    # Returns
        The list of keys.
    """
    return [
        f"{module}.{parameter}"
        for module, kind in _modules(include_top)
        for parameter in _PARAMETERS[kind]
    ]


def _layout_hint(state_dict: Mapping[str, np.ndarray]) -> str:
    """A sentence on what the state dict is instead, when its keys tell."""
    try:
        layout = detect_layout(state_dict)
    except ValueError:
        layout = None
    if layout in ("reactnet_a", "reactnet18"):
        return (
            f" It is a {layout} checkpoint: convert it with `--arch {layout}` (or into "
            f"adambnn_tf.zoo.{'ReActNetA' if layout == 'reactnet_a' else 'ReActNet18'})."
        )
    if any(key.endswith(".conv3.weight") for key in state_dict):
        return (
            " It has bottleneck blocks (`conv3`): a ResNet-50 or deeper, not ResNet-34, whose "
            "blocks have two 3x3 convolutions."
        )
    from adambnn_tf.zoo.resnet34 import RESNET34_BLOCKS

    blocks = tuple(
        len({key.split(".")[1] for key in state_dict if key.startswith(f"layer{layer}.")})
        for layer in range(1, 5)
    )
    if any(blocks) and blocks != RESNET34_BLOCKS:
        return (
            f" Its layers have {list(blocks)} blocks where ResNet-34 has "
            f"{list(RESNET34_BLOCKS)} (ResNet-18 has [2, 2, 2, 2])."
        )
    return ""


def check_resnet34_keys(state_dict: Mapping[str, np.ndarray], *, include_top: bool) -> None:
    """Raises a `ValueError` unless a state dict has exactly ResNet-34's keys.

    Without the top, `fc.weight` and `fc.bias` may be present (they are left unused) or
    absent.

    # Arguments
        state_dict: a normalized state dict (`normalize_state_dict`).
        include_top: whether the classifier's keys are required.

    # Raises
        ValueError: naming how many keys are missing and unexpected, the first of each (in
            ResNet-34's and in the state dict's order), and what the state dict is instead
            when its keys tell (a ReActNet checkpoint, a deeper or shallower ResNet).
    """
    expected = resnet34_state_dict_keys(include_top)
    expected_set = set(expected)
    unused = set() if include_top else {f"{_CLASSIFIER}.weight", f"{_CLASSIFIER}.bias"}
    missing = [key for key in expected if key not in state_dict]
    extra = [key for key in state_dict if key not in expected_set and key not in unused]
    if not missing and not extra:
        return
    problems = []
    if missing:
        problems.append(f"{len(missing)} keys missing, first {missing[:_SHOWN]}")
    if extra:
        problems.append(f"{len(extra)} keys unexpected, first {extra[:_SHOWN]}")
    raise ValueError(
        f"The state dict does not have torchvision's ResNet-34 layout: {'; '.join(problems)}."
        f"{_layout_hint(state_dict)}"
    )


def resnet34_model_kwargs(state_dict: Mapping[str, np.ndarray]) -> dict:
    """The `ResNet34` arguments a checked state dict needs: input channels, classes, top.

    # Arguments
        state_dict: a normalized state dict with ResNet-34's keys.

    # Returns
        Keyword arguments of `adambnn_tf.zoo.ResNet34` (`input_shape` and `num_classes`,
        or `include_top=False` when the state dict has no classifier).
    """
    channels = int(state_dict["conv1.weight"].shape[1])
    if f"{_CLASSIFIER}.weight" in state_dict:
        # The top pools over a static size; 224 is torchvision's, any size loads the weights.
        return {
            "input_shape": (224, 224, channels),
            "num_classes": int(state_dict[f"{_CLASSIFIER}.weight"].shape[0]),
        }
    return {"input_shape": (None, None, channels), "include_top": False}


def convert_resnet34_state_dict(
    state_dict: Mapping[str, np.ndarray], model: tf.keras.Model
) -> dict[str, list[np.ndarray]]:
    """Maps a torchvision-layout ResNet-34 state dict onto the layers of `ResNet34`.

    Layout mapping: conv OIHW -> HWIO, `fc.weight` `[out, in]` -> Dense `[in, out]`,
    BatchNorm weight/bias/running_mean/running_var -> gamma/beta/moving_mean/moving_variance.
    Module `a.b.c` goes to Keras layer `a_b_c` (`adambnn_tf.zoo.resnet34.keras_layer_name`).

    # Arguments
        state_dict: torchvision's keys (`module.` prefixes, a training-checkpoint wrapper and
            `num_batches_tracked` allowed), values as torch tensors or NumPy arrays.
        model: an `adambnn_tf.zoo.ResNet34` with the state dict's input channels and classes
            (a model without the top leaves `fc.*` unused).

    # Returns
        For each layer name, the list of arrays for `layer.set_weights`.

    # Raises
        ValueError: for missing or extra keys (the first ones named), a model that is not a
            `ResNet34`, or a shape that does not fit.
    """
    from adambnn_tf.zoo.resnet34 import keras_layer_name

    state_dict = normalize_state_dict(state_dict)
    layer_names = {layer.name for layer in model.layers}
    include_top = keras_layer_name(_CLASSIFIER) in layer_names
    check_resnet34_keys(state_dict, include_top=include_top)
    modules = _modules(include_top)
    absent = [keras_layer_name(m) for m, _ in modules if keras_layer_name(m) not in layer_names]
    if model.name != RESNET34 or absent:
        details = f" (it has no layers {absent[:_SHOWN]})" if absent else ""
        raise ValueError(
            "Can only convert a ResNet-34 state dict into adambnn_tf.zoo.ResNet34, got a "
            f"model named {model.name!r}{details}."
        )
    reader = _StateDictReader(state_dict)
    arrays = {}
    for module, kind in modules:
        name = keras_layer_name(module)
        if kind == "conv":
            values = {"kernel": lambda shape, m=module: reader.take_kernel(m, shape)}
        elif kind == "bn":
            values = _batch_norm_values(reader, module)
        else:
            values = {
                "kernel": lambda shape, m=module: reader.take(f"{m}.weight").T,
                "bias": lambda shape, m=module: reader.take_channels(f"{m}.bias"),
            }
        arrays[name] = _assign_layer(model, name, values)
    unassigned = [
        layer.name for layer in model.layers if layer.weights and layer.name not in arrays
    ]
    if unassigned:
        raise ValueError(
            f"The ResNet-34 state dict gives no weights for the layers {unassigned[:_SHOWN]}; "
            "build the model with adambnn_tf.zoo.ResNet34."
        )
    return arrays
