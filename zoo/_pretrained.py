"""Pretrained weights of the zoo models: named files, local files and PyTorch checkpoints.

`weights=` of every model accepts

- `None`: random initialisation;
- a registered name (`adambnn_tf.zoo.registered_weights(model)` lists them, e.g.
  `"fashion_mnist"` for `ReActNetACompact`, shipped inside the package; `"imagenet"` once a
  file is registered): the Keras weights file of `adambnn_tf.zoo._registry`, fetched once
  with `tf.keras.utils.get_file` into larq-zoo's cache layout
  (`~/.keras/larq/models/<model>/`) and checked against its SHA-256, after the model's
  configuration was checked against the one the file was trained for;
- a path to a Keras weights file (`.h5`), loaded by layer name;
- a path to an official PyTorch checkpoint (`.pth.tar`, `.pth`, `.pt`; torchvision's state
  dict for `ResNet34`), converted on the fly with `adambnn_tf.pytorch_conversion` (needs
  `pip install adambnn-tf[torch]`).

!!! warning "No published ImageNet files yet"
    No Keras weight files of these models are published for ImageNet, so
    `weights="imagenet"` raises an error that says how to convert an official checkpoint.
    Once a file is published, add it with `register_pretrained_weights` giving its URL and
    SHA-256.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import tensorflow as tf
from larq_zoo.core import utils as zoo_utils
from larq_zoo.core.model_factory import ModelFactory

from adambnn_tf.zoo._registry import (
    PACKAGED_WEIGHTS_DIR,
    PRETRAINED_WEIGHTS,
    PretrainedWeights,
    check_cache_name,
    find_weights,
    register_pretrained_weights,
    registered_weights,
)

__all__ = [
    "PRETRAINED_WEIGHTS",
    "PYTORCH_CHECKPOINT_SUFFIXES",
    "PretrainedModelFactory",
    "PretrainedWeights",
    "download_weights",
    "load_weights",
    "register_pretrained_weights",
    "registered_weights",
    "resolve_weights",
]

PYTORCH_CHECKPOINT_SUFFIXES = (".pth.tar", ".pth", ".pt", ".tar")
_KERAS_WEIGHTS_SUFFIXES = (".h5", ".hdf5", ".keras")
IMAGENET = "imagenet"
# Factory fields besides the input shape and classes that change what a weights file means.
_SHAPING_OPTIONS = ("width_multiplier", "small_input", "binary")


def _no_entry_error(model: str, name: str, padding: str, include_top: bool) -> ValueError:
    if name != IMAGENET:
        return ValueError(
            f"No weights named {name!r} are registered for {model} with padding={padding!r} "
            f"and include_top={include_top}; registered names for {model}: "
            f"{list(registered_weights(model)) or 'none'}."
        )
    # ResNet-34 has PyTorch's padding only, so it takes no padding argument.
    padding_hint = "" if model == "resnet34" else " with padding='pytorch'"
    return ValueError(
        f"No ImageNet weights are registered for {model} with padding={padding!r} and "
        f"include_top={include_top} (registered names: {list(registered_weights(model))}). "
        "No Keras weight files of the zoo models are published for ImageNet. Convert an "
        "official PyTorch checkpoint (torchvision's for resnet34) instead: `adambnn "
        f"convert-checkpoint model.pth.tar weights.h5 --model {model}`, then pass "
        f"weights='weights.h5'{padding_hint} (or pass the checkpoint's path directly)."
    )


def download_weights(
    model: str,
    *,
    name: str = IMAGENET,
    padding: str,
    include_top: bool,
    cache_dir: str | None = None,
) -> str:
    """Returns the local path of a registered weights file, fetching it if needed.

    The cache layout is larq-zoo's (`<cache_dir>/larq/models/<model>/<file>`, `cache_dir`
    defaulting to `~/.keras`). larq-zoo's own `download_pretrained_model` cannot be used as it
    is because it hard-codes the larq/zoo GitHub release URL; this calls the same
    `tf.keras.utils.get_file` with the same cache layout. Files shipped in the package
    (`file://` URLs) take the same path, so a damaged copy is refused the same way.

    # Arguments
        model: model name, e.g. `"reactnet_a"`.
        name: the registered name (`weights=` value), default `"imagenet"`.
        padding: padding mode of the model.
        include_top: whether the model has its classifier.
        cache_dir: cache root (default `~/.keras`).

    # Returns
        The path of the verified file.

    # Raises
        ValueError: if no file is registered for this configuration, its model or file name
            would leave the cache, or the fetched file's SHA-256 does not match (the bad
            file is removed from the cache, and from nowhere else).
    """
    entry = find_weights(model, name, padding=padding, include_top=include_top)
    if entry is None:
        raise _no_entry_error(model, name, padding, include_top)
    # Checked again here: an entry may have been put in PRETRAINED_WEIGHTS or changed since.
    check_cache_name(model, "model")
    check_cache_name(entry.file_name, "file_name")
    cache_subdir = os.path.join("larq", "models", model)
    try:
        return tf.keras.utils.get_file(
            fname=entry.file_name,
            origin=entry.url,
            cache_dir=cache_dir,
            cache_subdir=cache_subdir,
            file_hash=entry.sha256,
            hash_algorithm="sha256",
        )
    except ValueError as error:
        if "hash does not match" not in str(error):
            raise
        base = os.path.expanduser(cache_dir or os.path.join("~", ".keras"))
        if not os.access(base, os.W_OK):
            base = os.path.join("/tmp", ".keras")
        folder = os.path.abspath(os.path.join(base, cache_subdir))
        bad_file = os.path.join(folder, entry.file_name)
        # Only a file directly in the cache folder is removed, whatever the name says.
        if os.path.dirname(os.path.abspath(bad_file)) == folder and os.path.isfile(bad_file):
            os.remove(bad_file)
        fix = (
            "The package's copy is damaged: reinstall adambnn-tf."
            if entry.url.startswith(PACKAGED_WEIGHTS_DIR.as_uri())
            else "The download was corrupted or the registry entry is wrong; retry, or "
            "check the URL and hash."
        )
        raise ValueError(
            f"The file fetched from {entry.url} does not have the registered SHA-256 "
            f"{entry.sha256}; it was removed from the cache ({bad_file}). {fix}"
        ) from None


def check_configuration(
    entry: PretrainedWeights,
    *,
    model: str,
    name: str,
    include_top: bool,
    configuration: Mapping[str, Any],
) -> None:
    """Refuses a model built for another configuration than the weights file's.

    Without the classifier, only the input channels of `input_shape` must match (a feature
    extractor runs at any image size) and `num_classes` does not matter.

    # Arguments
        entry: the registered file.
        model: the model's name.
        name: the `weights=` value.
        include_top: whether the model has its classifier.
        configuration: the model's options; the keys of `entry.configuration` it has are
            compared.

    # Raises
        ValueError: naming every option that differs, its value in the file and the model.
    """
    differences = []
    for key, expected in entry.configuration.items():
        if (key == "num_classes" and not include_top) or key not in configuration:
            continue
        actual = configuration[key]
        if key == "input_shape":
            expected, actual = tuple(expected), tuple(actual)
            if not include_top:
                expected, actual, key = expected[-1], actual[-1], "input channels"
        if actual != expected:
            differences.append(f"{key}={actual!r} (the weights: {expected!r})")
    if differences:
        trained_for = ", ".join(
            f"{key}={tuple(value) if isinstance(value, list) else value!r}"
            for key, value in entry.configuration.items()
        )
        raise ValueError(
            f"weights={name!r} of {model} were trained for {trained_for}, but this model "
            f"has {'; '.join(differences)}. Build it with the weights' values, or with "
            "include_top=False for a feature extractor at another image size or number of "
            "classes."
        )


def _is_pytorch_checkpoint(path: str) -> bool:
    return str(path).endswith(PYTORCH_CHECKPOINT_SUFFIXES)


def _load_keras_weights(model: tf.keras.Model, path: str) -> None:
    if str(path).endswith(".keras"):
        model.load_weights(path)
        return
    _check_h5_covers_model(model, path)
    try:
        model.load_weights(path, by_name=True)
    except ValueError as error:
        raise ValueError(
            f"The weights in {path} do not fit {model.name} as built (input channels, "
            f"num_classes, width_multiplier or model differ?): {error}"
        ) from error


def _check_h5_covers_model(model: tf.keras.Model, path: str) -> None:
    import h5py

    try:
        with h5py.File(path, "r") as file:
            group = file.get("model_weights", file)
            raw_names = group.attrs.get("layer_names")
            if raw_names is None:
                raise ValueError("no 'layer_names' attribute")
            names = {n.decode() if isinstance(n, bytes) else str(n) for n in raw_names}
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(
            f"{path} is not a Keras HDF5 weights file ({error}). Pass a file written by "
            "`model.save_weights('weights.h5')`, or an official PyTorch checkpoint "
            f"ending in one of {PYTORCH_CHECKPOINT_SUFFIXES}."
        ) from None
    missing = [layer.name for layer in model.layers if layer.weights and layer.name not in names]
    if missing:
        raise ValueError(
            f"{path} has no weights for {len(missing)} layers of {model.name}, e.g. "
            f"{missing[:5]}. Is it a file of another model, or of a model without the "
            "classifier while this one has include_top=True?"
        )


def _is_registered_name(weights: Any, model: str) -> bool:
    return isinstance(weights, str) and (
        weights == IMAGENET or weights in registered_weights(model)
    )


def check_weights_argument(weights: Any, model: str) -> None:
    """Refuses a `weights=` value that is neither `None`, a registered name nor a file.

    # Arguments
        weights: the value.
        model: the model's name.

    # Raises
        ValueError: naming the registered names of `model`.
    """
    if weights is None or _is_registered_name(weights, model):
        return
    if isinstance(weights, (str, os.PathLike)) and os.path.exists(os.fspath(weights)):
        return
    raise ValueError(
        f"weights={weights!r} is neither None, a registered name for {model} "
        f"({', '.join(map(repr, registered_weights(model))) or 'none registered'}; "
        f"'{IMAGENET}' once registered) nor an existing file. Pass one of those names, a "
        "Keras weights file (.h5) or an official PyTorch checkpoint (.pth.tar)."
    )


class PretrainedModelFactory(ModelFactory):
    """larq-zoo's `ModelFactory`, whose `weights` also takes the registered names.

    larq-zoo's `image_input` accepts only `None`, `"imagenet"` or an existing path for
    `weights`; this one checks the value against the registry (`check_weights_argument`)
    and hands larq-zoo's input checks `None` for another registered name: its file is
    fetched and checked by `resolve_weights`.
    """

    @property
    def image_input(self) -> zoo_utils.TensorType:
        if not hasattr(self, "_image_input"):
            check_weights_argument(self.weights, self.name)
            weights = self.weights
            if _is_registered_name(weights, self.name) and weights != IMAGENET:
                weights = None
            input_shape = zoo_utils.validate_input(
                self.input_shape, weights, self.include_top, self.num_classes
            )
            self._image_input = zoo_utils.get_input_layer(input_shape, self.input_tensor)
        return self._image_input

    def weights_configuration(self) -> dict[str, Any]:
        """The options a registered weights file is checked against (`check_configuration`):
        the input shape, the number of classes, and the width, input stem and binarization
        where the model has them."""
        configuration = {
            "input_shape": tuple(self.image_input.shape[1:]),
            "num_classes": self.num_classes,
        }
        for option in _SHAPING_OPTIONS:
            if hasattr(self, option):
                configuration[option] = getattr(self, option)
        return configuration


def resolve_weights(
    weights: str | os.PathLike | None,
    *,
    model_name: str,
    padding: str,
    include_top: bool,
    standard_configuration: bool,
    configuration: Mapping[str, Any] | None = None,
) -> str | None:
    """Checks `weights` before the model is built and returns a local path (or `None`).

    A registered name is looked up, checked against the model's configuration, and fetched
    (and hash-checked) here, so that a wrong configuration or a missing entry fails before
    the model is built.

    # Arguments
        weights: `None`, a registered name (`"imagenet"`, `"fashion_mnist"`, ...), or a path
            to a Keras weights file or an official PyTorch checkpoint.
        model_name: registry name of the model, e.g. `"reactnet_a"`.
        padding: the model's padding mode.
        include_top: whether the model has its classifier.
        standard_configuration: whether the model has the published ImageNet shape (width 1,
            regular input stem); `"imagenet"` needs it.
        configuration: the model's options (`input_shape`, `num_classes`, ...) to check
            against a registered file's.

    # Returns
        `None` for random initialisation, else the path of the file to load.

    # Raises
        ValueError: for a name without a registered file, with a hash mismatch or for
            another configuration (the message names the differing options); for a path
            that does not exist or whose kind is unknown.
    """
    if weights is None:
        return None
    check_weights_argument(weights, model_name)
    if _is_registered_name(weights, model_name):
        if weights == IMAGENET and not standard_configuration:
            raise ValueError(
                "weights='imagenet' needs the published configuration: width_multiplier=1.0 "
                "and small_input=False. Use weights=None to train a small model."
            )
        entry = find_weights(model_name, weights, padding=padding, include_top=include_top)
        if entry is None:
            raise _no_entry_error(model_name, weights, padding, include_top)
        check_configuration(
            entry,
            model=model_name,
            name=weights,
            include_top=include_top,
            configuration=configuration or {},
        )
        return download_weights(model_name, name=weights, padding=padding, include_top=include_top)
    path = os.fspath(weights)
    if not str(path).endswith(PYTORCH_CHECKPOINT_SUFFIXES + _KERAS_WEIGHTS_SUFFIXES):
        raise ValueError(
            f"Cannot tell what kind of weights file {path!r} is. Keras weights files end in "
            f"{_KERAS_WEIGHTS_SUFFIXES}, official PyTorch checkpoints in "
            f"{PYTORCH_CHECKPOINT_SUFFIXES}."
        )
    return path


def load_weights(model: tf.keras.Model, path: str | None) -> None:
    """Loads a file returned by `resolve_weights` into a freshly built zoo model.

    Keras HDF5 files are loaded by layer name (so a file with the classifier also fills a
    model without it); official PyTorch checkpoints are converted on the fly.

    # Arguments
        model: the model.
        path: `None` (nothing to load), a Keras weights file or a PyTorch checkpoint.

    # Raises
        ValueError: for a file that does not fit the model or an unknown checkpoint layout.
        ImportError: for a PyTorch checkpoint when torch is not installed.
    """
    if path is None:
        return
    if _is_pytorch_checkpoint(path):
        from adambnn_tf.pytorch_conversion import load_pytorch_state_dict, load_state_dict_into

        load_state_dict_into(model, load_pytorch_state_dict(path))
    else:
        _load_keras_weights(model, path)
