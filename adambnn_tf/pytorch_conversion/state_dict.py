"""Reading a normalized PyTorch state dict into Keras layers: the pieces every converter uses.

`detect_layout` tells which architecture a state dict holds; `_StateDictReader` hands out its
tensors in Keras' layouts and remembers which were used; `_assign_layer` and
`_batch_norm_values` fill a Keras layer's variables from them. The ReActNet converter
(`convert`) and torchvision's ResNet-34 converter (`torchvision_resnet`) both build on them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import tensorflow as tf

__all__ = ["detect_layout"]

# Keras weight name (last part of the variable name) of each PyTorch BatchNorm entry.
_BATCH_NORM = {
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}


def detect_layout(state_dict: Mapping[str, np.ndarray]) -> str:
    """Tells which official model a (normalized) state dict belongs to.

    # Arguments
        state_dict: keys without the `module.` prefix.

    # Returns
        `"reactnet_a"`, `"reactnet18"` or `"resnet34"` (torchvision's BasicBlock layout,
        told from ReActNet-18's by the blocks' real `conv1`; its depth is checked when it
        is converted).

    # Raises
        ValueError: for any other key layout.
    """
    if "feature.0.conv1.weight" in state_dict:
        return "reactnet_a"
    if "conv1.weight" in state_dict and "layer1.0.conv1.weight" in state_dict:
        return "resnet34"
    if "conv1.weight" in state_dict and any(k.startswith("layer1.0.") for k in state_dict):
        return "reactnet18"
    sample = sorted(state_dict)[:6]
    raise ValueError(
        "Unknown checkpoint key layout: expected the official ReActNet-A keys "
        "('feature.0.conv1.weight', 'feature.1.binary_3x3.weight', ...), ReActNet-18 keys "
        "('conv1.weight', 'layer1.0.binary_conv.weight', ...) or torchvision's ResNet-34 "
        f"keys ('conv1.weight', 'layer1.0.conv1.weight', ...), got keys like {sample}."
    )


class _StateDictReader:
    """Takes entries out of a state dict, so that leftovers can be reported."""

    def __init__(self, state_dict: Mapping[str, np.ndarray]):
        self.remaining = dict(state_dict)

    def take(self, key: str) -> np.ndarray:
        if key not in self.remaining:
            raise ValueError(
                f"The checkpoint has no entry {key!r}, which the Keras model needs. Is it a "
                "checkpoint of another model, or of a different depth?"
            )
        return self.remaining.pop(key)

    def take_kernel(self, key_base: str, keras_shape: tuple[int, ...]) -> np.ndarray:
        """A conv kernel as HWIO, from `weight` (OIHW) or `weights` ([O*I*k*k, 1])."""
        kh, kw, cin, cout = keras_shape
        if f"{key_base}.weights" in self.remaining:
            flat = self.take(f"{key_base}.weights")
            if flat.size != cout * cin * kh * kw:
                raise ValueError(
                    f"{key_base}.weights has {flat.size} values, but the Keras kernel needs "
                    f"{cout}x{cin}x{kh}x{kw} = {cout * cin * kh * kw}."
                )
            oihw = flat.reshape(cout, cin, kh, kw)
        else:
            oihw = self.take(f"{key_base}.weight")
        if oihw.ndim != 4:
            raise ValueError(f"{key_base}.weight should be a 4-D OIHW kernel, got {oihw.shape}.")
        return oihw.transpose(2, 3, 1, 0)

    def take_channels(self, key: str) -> np.ndarray:
        return self.take(key).reshape(-1)


def _short_name(variable: tf.Variable) -> str:
    return variable.name.split("/")[-1].split(":")[0]


def _assign_layer(model: tf.keras.Model, layer_name: str, values: Mapping[str, Callable]) -> list:
    """Returns the arrays of one layer in its weight order; `values` maps short names to
    functions of the expected Keras shape."""
    layer = model.get_layer(layer_name)
    arrays = []
    for variable in layer.weights:
        short = _short_name(variable)
        shape = tuple(variable.shape)
        array = np.asarray(values[short](shape), dtype="float32")
        if array.shape != shape:
            raise ValueError(
                f"Layer {layer_name!r} weight {short!r} has shape {shape} in the Keras model "
                f"but {array.shape} in the checkpoint. Build the model with the checkpoint's "
                "num_classes, input channels and width_multiplier."
            )
        arrays.append(array)
    return arrays


def _batch_norm_values(reader: _StateDictReader, *bases: str) -> dict[str, Callable]:
    def read(torch_name):
        return lambda shape: np.concatenate(
            [reader.take_channels(f"{base}.{torch_name}") for base in bases]
        )

    return {keras: read(torch) for keras, torch in _BATCH_NORM.items()}
