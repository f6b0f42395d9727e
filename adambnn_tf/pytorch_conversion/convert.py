"""Official ReActNet/AdamBNN state dicts (and torchvision's ResNet-34) to the Keras models of
`adambnn_tf.zoo`.

Key layouts (see the spec of the official code):

- ReActNet-A (`reactnet.py` of AdamBNN and of ReActNet's `mobilenet/`): `feature.0.*` is the
  stem, `feature.{1..13}.*` the blocks, `fc.*` the classifier.
- ReActNet-18 (`birealnet.py` of ReActNet's `resnet/`): `conv1`, `bn1`, `layer{1..4}.{0..3}.*`
  with `downsample.{1,2}` in the first blocks of layers 2-4, and `fc`.
- ResNet-34 (torchvision's `resnet34`, the distillation teacher): `conv1`, `bn1`,
  `layer{l}.{i}.conv{1,2}`, `layer{l}.{i}.bn{1,2}`, `downsample.{0,1}`, `fc`; converted by
  `adambnn_tf.pytorch_conversion.torchvision_resnet`, which this module dispatches to.

Binary kernels come as `weight` in OIHW (AdamBNN, nn.Conv2d of stage 1) or as `weights` of
shape `[O*I*k*k, 1]` (ReActNet's `mobilenet/2_step2`), with or without the `module.` prefix,
stored as real latent values or as exact +-1 (the re-uploaded ReActNet files, whose scale
`mean|w|` is then 1). All are accepted; values are copied as they are.

Layout mapping: conv OIHW -> HWIO, `Linear` `[out, in]` -> Dense `[in, out]`,
`LearnableBias` `(1, C, 1, 1)` -> `(C,)`, PReLU `(C,)` -> RPReLU `alpha`, BatchNorm
weight/bias/running_mean/running_var -> gamma/beta/moving_mean/moving_variance. A
channel-doubling ReActNet-A block's `binary_pw_down1/2` and `bn2_1/2` are concatenated on
the output-channel axis into the Keras block's single C->2C convolution and BatchNorm.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import numpy as np
import tensorflow as tf

from adambnn_tf._files import atomic_path
from adambnn_tf.pytorch_conversion.pytorch import load_pytorch_state_dict
from adambnn_tf.pytorch_conversion.state_dict import (
    _assign_layer,
    _batch_norm_values,
    _StateDictReader,
    detect_layout,
)

__all__ = [
    "MODEL_NAMES",
    "convert_checkpoint",
    "convert_state_dict",
    "detect_layout",
    "load_state_dict_into",
]

MODEL_NAMES = ("reactnet_a", "reactnet18", "resnet34")

_RPRELU = ("input_bias", "alpha", "output_bias")


def _rprelu_values(reader: _StateDictReader, prefix: str, index: int) -> dict[str, Callable]:
    keys = (
        f"{prefix}.move{index}2.bias",
        f"{prefix}.prelu{index}.weight",
        f"{prefix}.move{index}3.bias",
    )
    return {
        name: (lambda shape, key=key: reader.take_channels(key))
        for name, key in zip(_RPRELU, keys, strict=True)
    }


def _reactnet_a_weights(model, reader: _StateDictReader) -> dict[str, list]:
    arrays = {
        "stem_conv": _assign_layer(
            model, "stem_conv", {"kernel": lambda s: reader.take_kernel("feature.0.conv1", s)}
        ),
        "stem_bn": _assign_layer(model, "stem_bn", _batch_norm_values(reader, "feature.0.bn1")),
    }
    names = {layer.name for layer in model.layers}
    index = 1
    while f"block{index}_conv3x3" in names:
        p, k = f"block{index}", f"feature.{index}"
        arrays[f"{p}_conv3x3"] = _assign_layer(
            model,
            f"{p}_conv3x3",
            {
                "kernel": lambda s, k=k: reader.take_kernel(f"{k}.binary_3x3", s),
                "bias": lambda s, k=k: reader.take_channels(f"{k}.move11.bias"),
            },
        )
        arrays[f"{p}_bn1"] = _assign_layer(
            model, f"{p}_bn1", _batch_norm_values(reader, f"{k}.bn1")
        )
        arrays[f"{p}_rprelu1"] = _assign_layer(model, f"{p}_rprelu1", _rprelu_values(reader, k, 1))
        duplicated = f"{k}.bn2_1.weight" in reader.remaining

        def pointwise(shape, k=k, duplicated=duplicated):
            if not duplicated:
                return reader.take_kernel(f"{k}.binary_pw", shape)
            half = (*shape[:3], shape[3] // 2)
            return np.concatenate(
                [reader.take_kernel(f"{k}.binary_pw_down{i}", half) for i in (1, 2)], axis=-1
            )

        arrays[f"{p}_conv1x1"] = _assign_layer(
            model,
            f"{p}_conv1x1",
            {"kernel": pointwise, "bias": lambda s, k=k: reader.take_channels(f"{k}.move21.bias")},
        )
        bn2 = (f"{k}.bn2_1", f"{k}.bn2_2") if duplicated else (f"{k}.bn2",)
        arrays[f"{p}_bn2"] = _assign_layer(model, f"{p}_bn2", _batch_norm_values(reader, *bn2))
        arrays[f"{p}_rprelu2"] = _assign_layer(model, f"{p}_rprelu2", _rprelu_values(reader, k, 2))
        index += 1
    return arrays


def _reactnet18_weights(model, reader: _StateDictReader) -> dict[str, list]:
    names = {layer.name for layer in model.layers}
    arrays = {
        "stem_conv": _assign_layer(
            model, "stem_conv", {"kernel": lambda s: reader.take_kernel("conv1", s)}
        ),
        "stem_bn": _assign_layer(model, "stem_bn", _batch_norm_values(reader, "bn1")),
    }
    for layer in range(1, 5):
        block = 0
        while f"layer{layer}_{block}_conv3x3" in names:
            p, k = f"layer{layer}_{block}", f"layer{layer}.{block}"
            arrays[f"{p}_conv3x3"] = _assign_layer(
                model,
                f"{p}_conv3x3",
                {
                    "kernel": lambda s, k=k: reader.take_kernel(f"{k}.binary_conv", s),
                    "bias": lambda s, k=k: reader.take_channels(f"{k}.move0.bias"),
                },
            )
            arrays[f"{p}_bn"] = _assign_layer(
                model, f"{p}_bn", _batch_norm_values(reader, f"{k}.bn1")
            )
            if f"{p}_downsample_conv" in names:
                arrays[f"{p}_downsample_conv"] = _assign_layer(
                    model,
                    f"{p}_downsample_conv",
                    {"kernel": lambda s, k=k: reader.take_kernel(f"{k}.downsample.1", s)},
                )
                arrays[f"{p}_downsample_bn"] = _assign_layer(
                    model, f"{p}_downsample_bn", _batch_norm_values(reader, f"{k}.downsample.2")
                )
            keys = (f"{k}.move1.bias", f"{k}.prelu.weight", f"{k}.move2.bias")
            arrays[f"{p}_rprelu"] = _assign_layer(
                model,
                f"{p}_rprelu",
                {
                    n: (lambda s, key=key: reader.take_channels(key))
                    for n, key in zip(_RPRELU, keys, strict=True)
                },
            )
            block += 1
    return arrays


def convert_state_dict(
    state_dict: Mapping[str, np.ndarray], model: tf.keras.Model
) -> dict[str, list[np.ndarray]]:
    """Maps an official state dict onto the layers of a zoo model.

    # Arguments
        state_dict: from `load_pytorch_state_dict` (or any mapping of the official keys,
            `module.` prefixes and `num_batches_tracked` allowed).
        model: a `ReActNetA` or `ReActNet18` model of matching widths and classes (the
            padding mode and stage do not matter), or a `ResNet34` for a torchvision-layout
            state dict (see `torchvision_resnet.convert_resnet34_state_dict`).

    # Returns
        For each layer name, the list of arrays for `layer.set_weights`.

    # Raises
        ValueError: for an unknown key layout, a checkpoint of the other model, a missing or
            left-over entry, or a shape that does not fit.
    """
    from adambnn_tf.pytorch_conversion.pytorch import normalize_state_dict

    state_dict = normalize_state_dict(state_dict)
    if model.name == "resnet34":
        # Imported here: torchvision_resnet builds on this module's helpers. Its check of the
        # whole key set names the offending keys of any other layout too.
        from adambnn_tf.pytorch_conversion.torchvision_resnet import convert_resnet34_state_dict

        return convert_resnet34_state_dict(state_dict, model)
    layout = detect_layout(state_dict)
    if model.name not in MODEL_NAMES:
        raise ValueError(
            f"Can only convert into the zoo models {MODEL_NAMES}, got a model named "
            f"{model.name!r}. Build it with adambnn_tf.zoo.ReActNetA, ReActNet18 or ResNet34."
        )
    if layout != model.name:
        raise ValueError(
            f"The checkpoint is a {layout} checkpoint but the model is {model.name}; build "
            f"the {layout} model to load it."
        )
    reader = _StateDictReader(state_dict)
    arrays = (_reactnet_a_weights if layout == "reactnet_a" else _reactnet18_weights)(model, reader)
    layer_names = {layer.name for layer in model.layers}
    if "logits" in layer_names:
        arrays["logits"] = _assign_layer(
            model,
            "logits",
            {
                "kernel": lambda s: reader.take("fc.weight").T,
                "bias": lambda s: reader.take_channels("fc.bias"),
            },
        )
    else:
        reader.remaining.pop("fc.weight", None)
        reader.remaining.pop("fc.bias", None)
    if reader.remaining:
        raise ValueError(
            f"The checkpoint has {len(reader.remaining)} entries the Keras model has no place "
            f"for, e.g. {sorted(reader.remaining)[:5]}. Is the model shallower than the "
            "checkpoint (small_input changes no depth; check the model)?"
        )
    unassigned = [
        layer.name for layer in model.layers if layer.weights and layer.name not in arrays
    ]
    if unassigned:
        raise ValueError(f"The checkpoint gives no weights for the layers {unassigned[:5]}.")
    return arrays


def load_state_dict_into(model: tf.keras.Model, state_dict: Mapping[str, np.ndarray]) -> None:
    """Sets a zoo model's weights from an official state dict (see `convert_state_dict`).

    !!! example
        ```python
        model = ReActNetA(padding="pytorch", classifier_activation=None)
        load_state_dict_into(model, load_pytorch_state_dict("model_best.pth.tar"))
        ```

    # Arguments
        model: a `ReActNetA`, `ReActNet18` or `ResNet34` model.
        state_dict: the official state dict (torchvision's for `ResNet34`).

    # Raises
        ValueError: as `convert_state_dict`; the model is left unchanged then.
    """
    arrays = convert_state_dict(state_dict, model)  # everything is checked before any write
    for layer_name, layer_arrays in arrays.items():
        model.get_layer(layer_name).set_weights(layer_arrays)


def _infer_model_kwargs(state_dict: Mapping[str, np.ndarray], layout: str) -> dict:
    stem = state_dict["feature.0.conv1.weight" if layout == "reactnet_a" else "conv1.weight"]
    base = 32 if layout == "reactnet_a" else 64
    kwargs = {"width_multiplier": stem.shape[0] / base}
    if "fc.weight" in state_dict:
        kwargs["num_classes"] = int(state_dict["fc.weight"].shape[0])
        kwargs["input_shape"] = (224, 224, stem.shape[1])  # the top needs a static size
    else:
        kwargs["include_top"] = False
        kwargs["input_shape"] = (None, None, stem.shape[1])
    return kwargs


def convert_checkpoint(
    in_path: str | os.PathLike,
    out_path: str | os.PathLike,
    model_name: str | None = None,
    *,
    stage: int = 2,
    weights_only: bool = True,
) -> tf.keras.Model:
    """Converts an official PyTorch checkpoint to a Keras weights file (`.h5`).

    The widths, input channels and number of classes are read from the checkpoint. The
    Keras model is built with `padding="pytorch"`, the mode that reproduces the official
    outputs; the file also loads into `padding="lce"` models (same layers and names).
    A torchvision ResNet-34 state dict becomes `adambnn_tf.zoo.ResNet34` weights; its whole
    key set is checked first, so a state dict of another architecture is refused with
    its first offending keys named.

    !!! example
        ```python
        convert_checkpoint("model_best.pth.tar", "reactnet_a.h5", "reactnet_a")
        model = ReActNetA(weights="reactnet_a.h5", padding="pytorch")
        convert_checkpoint("resnet34-b627a593.pth", "resnet34.h5", "resnet34")
        teacher = ResNet34(weights="resnet34.h5", classifier_activation=None)
        ```

    # Arguments
        in_path: the `.pth.tar` file.
        out_path: the Keras weights file to write (atomically).
        model_name: `"reactnet_a"`, `"reactnet18"` or `"resnet34"`; `None` detects it from
            the keys.
        stage: the stage of the ReActNet model written (the weights are the same; ResNet-34
            has no stages).
        weights_only: passed to `torch.load`.

    # Returns
        The Keras model holding the converted weights.

    # Raises
        ValueError: for an unknown model name or key layout, a checkpoint of another
            model, or (for ResNet-34) missing or extra keys; nothing is written then.
        ImportError: if torch is not installed.
    """
    from adambnn_tf.zoo import ReActNet18, ReActNetA

    state_dict = load_pytorch_state_dict(in_path, weights_only=weights_only)
    if model_name is not None and model_name not in MODEL_NAMES:
        raise ValueError(f"model_name must be one of {MODEL_NAMES}, got {model_name!r}.")
    # For ResNet-34 the check of the whole key set names the offending keys of any layout.
    layout = "resnet34" if model_name == "resnet34" else detect_layout(state_dict)
    if model_name is not None and model_name != layout:
        raise ValueError(
            f"{os.fspath(in_path)!r} is a {layout} checkpoint, not {model_name}; pass "
            f"--model {layout} (or omit it)."
        )
    if layout == "resnet34":
        return _convert_resnet34_checkpoint(state_dict, out_path)
    build = ReActNetA if layout == "reactnet_a" else ReActNet18
    model = build(
        weights=None,
        stage=stage,
        padding="pytorch",
        classifier_activation=None,
        **_infer_model_kwargs(state_dict, layout),
    )
    load_state_dict_into(model, state_dict)
    with atomic_path(out_path, suffix=".h5") as temporary:
        model.save_weights(temporary, save_format="h5")
    return model


def _convert_resnet34_checkpoint(
    state_dict: Mapping[str, np.ndarray], out_path: str | os.PathLike
) -> tf.keras.Model:
    """`convert_checkpoint` for a torchvision ResNet-34 state dict (keys checked first)."""
    from adambnn_tf.pytorch_conversion import torchvision_resnet
    from adambnn_tf.zoo import ResNet34

    include_top = "fc.weight" in state_dict or "fc.bias" in state_dict
    # Before the model is built: its input channels and classes come from these keys.
    torchvision_resnet.check_resnet34_keys(state_dict, include_top=include_top)
    model = ResNet34(
        weights=None,
        classifier_activation=None,
        **torchvision_resnet.resnet34_model_kwargs(state_dict),
    )
    load_state_dict_into(model, state_dict)
    with atomic_path(out_path, suffix=".h5") as temporary:
        model.save_weights(temporary, save_format="h5")
    return model
