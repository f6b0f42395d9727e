"""Pretrained weights of the zoo models: the `"imagenet"` registry, files and checkpoints.

`weights=` of every model accepts

- `None`: random initialisation;
- `"imagenet"`: a Keras weights file listed in `PRETRAINED_WEIGHTS`, downloaded once with
  `tf.keras.utils.get_file` into larq-zoo's cache layout (`~/.keras/larq/models/<model>/`)
  and checked against its SHA-256;
- a path to a Keras weights file (`.h5`), loaded by layer name;
- a path to an official PyTorch checkpoint (`.pth.tar`, `.pth`, `.pt`; torchvision's state
  dict for `ResNet34`), converted on the fly with `adambnn_tf.pytorch_conversion` (needs
  `pip install adambnn-tf[torch]`).

!!! warning "No published ImageNet files yet"
    The registry is empty: no Keras weight files of these models are published yet, so
    `weights="imagenet"` raises an error that says how to convert an official checkpoint.
    Once a file is published, add it with `register_pretrained_weights` (or an entry in
    `PRETRAINED_WEIGHTS`) giving its URL and SHA-256.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import tensorflow as tf

__all__ = [
    "PRETRAINED_WEIGHTS",
    "PYTORCH_CHECKPOINT_SUFFIXES",
    "PretrainedWeights",
    "download_weights",
    "load_weights",
    "register_pretrained_weights",
    "resolve_weights",
]

PYTORCH_CHECKPOINT_SUFFIXES = (".pth.tar", ".pth", ".pt", ".tar")
_KERAS_WEIGHTS_SUFFIXES = (".h5", ".hdf5", ".keras")


@dataclass(frozen=True)
class PretrainedWeights:
    """One downloadable Keras weights file.

    # Arguments
        url: where to download it from (`https://...` or `file://...`).
        sha256: its SHA-256 as 64 hexadecimal digits.
        file_name: name of the file in the cache.
    """

    url: str
    sha256: str
    file_name: str

    def __post_init__(self):
        _check_cache_name(self.file_name, "file_name")


def _check_cache_name(name: str, what: str) -> None:
    """Refuses a name that would leave its cache folder: the cached file is written, and on a
    hash mismatch deleted, at `<cache>/larq/models/<model>/<file_name>`."""
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or any(separator in name for separator in ("/", "\\", os.sep, os.altsep or "/"))
    ):
        raise ValueError(
            f"{what} must be a plain name, without path separators or '..', so that the file "
            f"stays in the weights cache; got {name!r}."
        )


# Keyed by (model name, padding, include_top). Empty until files are published: no Keras
# weights of these models exist yet, and hashes must never be guessed.
PRETRAINED_WEIGHTS: dict[tuple[str, str, bool], PretrainedWeights] = {}


def register_pretrained_weights(
    model: str, *, padding: str, include_top: bool, url: str, sha256: str, file_name: str
) -> None:
    """Adds (or replaces) the `"imagenet"` weights file of one model configuration.

    !!! example
        ```python
        register_pretrained_weights(
            "reactnet_a", padding="pytorch", include_top=True,
            url="https://example.org/reactnet_a_weights.h5",
            sha256="<64 hex digits>", file_name="reactnet_a_weights.h5",
        )
        ```

    # Arguments
        model: `"reactnet_a"`, `"reactnet18"` or `"resnet34"` (whose padding is always
            `"pytorch"`).
        padding: the padding mode the weights were trained or converted for.
        include_top: whether the file includes the classifier.
        url: download URL.
        sha256: the file's SHA-256 (64 hexadecimal digits).
        file_name: name of the file in the cache.

    # Raises
        ValueError: if `sha256` is not 64 hexadecimal digits, or `model` or `file_name` is
            not a plain name (a path separator or `..` would write, and on a hash mismatch
            delete, a file outside the cache).
    """
    _check_cache_name(model, "model")
    digest = sha256.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}.")
    PRETRAINED_WEIGHTS[(model, padding, include_top)] = PretrainedWeights(url, digest, file_name)


def download_weights(
    model: str, *, padding: str, include_top: bool, cache_dir: str | None = None
) -> str:
    """Returns the local path of a registered `"imagenet"` file, downloading it if needed.

    The cache layout is larq-zoo's (`<cache_dir>/larq/models/<model>/<file>`, `cache_dir`
    defaulting to `~/.keras`). larq-zoo's own `download_pretrained_model` cannot be used as it
    is because it hard-codes the larq/zoo GitHub release URL; this calls the same
    `tf.keras.utils.get_file` with the same cache layout.

    # Arguments
        model: model name, e.g. `"reactnet_a"`.
        padding: padding mode of the model.
        include_top: whether the model has its classifier.
        cache_dir: cache root (default `~/.keras`).

    # Returns
        The path of the verified file.

    # Raises
        ValueError: if no file is registered for this configuration, its model or file name
            would leave the cache, or the downloaded file's SHA-256 does not match (the bad
            file is removed from the cache, and from nowhere else).
    """
    entry = PRETRAINED_WEIGHTS.get((model, padding, include_top))
    if entry is None:
        available = sorted(k for k in PRETRAINED_WEIGHTS if k[0] == model)
        # ResNet-34 has PyTorch's padding only, so it takes no padding argument.
        padding_hint = "" if model == "resnet34" else " with padding='pytorch'"
        raise ValueError(
            f"No ImageNet weights are registered for {model} with padding={padding!r} and "
            f"include_top={include_top} (registered: {available or 'none'}). No Keras weight "
            "files of the zoo models are published yet. Convert an official PyTorch "
            "checkpoint (torchvision's for resnet34) instead: `adambnn convert-checkpoint "
            f"model.pth.tar weights.h5 --model {model}`, then pass weights='weights.h5'"
            f"{padding_hint} (or pass the checkpoint's path directly)."
        )
    # Checked again here: an entry may have been put in PRETRAINED_WEIGHTS or changed since.
    _check_cache_name(model, "model")
    _check_cache_name(entry.file_name, "file_name")
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
        raise ValueError(
            f"The file downloaded from {entry.url} does not have the registered SHA-256 "
            f"{entry.sha256}; it was removed from the cache ({bad_file}). The download was "
            "corrupted or the registry entry is wrong; retry, or check the URL and hash."
        ) from None


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


def resolve_weights(
    weights: str | os.PathLike | None,
    *,
    model_name: str,
    padding: str,
    include_top: bool,
    standard_configuration: bool,
) -> str | None:
    """Checks `weights` before the model is built and returns a local path (or `None`).

    `"imagenet"` is looked up in the registry and downloaded (and hash-checked) here, so
    that a missing entry fails before the model is built.

    # Arguments
        weights: `None`, `"imagenet"`, or a path to a Keras weights file or an official
            PyTorch checkpoint.
        model_name: registry name of the model, e.g. `"reactnet_a"`.
        padding: the model's padding mode.
        include_top: whether the model has its classifier.
        standard_configuration: whether the model has the published shape (width 1, regular
            input stem); `"imagenet"` needs it.

    # Returns
        `None` for random initialisation, else the path of the file to load.

    # Raises
        ValueError: for `"imagenet"` without a registered file, with a hash mismatch or with
            a non-standard configuration; for a path that does not exist or whose kind is
            unknown.
    """
    if weights is None:
        return None
    if weights == "imagenet":
        if not standard_configuration:
            raise ValueError(
                "weights='imagenet' needs the published configuration: width_multiplier=1.0 "
                "and small_input=False. Use weights=None to train a small model."
            )
        return download_weights(model_name, padding=padding, include_top=include_top)
    path = os.fspath(weights)
    if not os.path.exists(path):
        raise ValueError(
            f"weights={path!r} is neither None, 'imagenet' nor an existing file. Pass a Keras "
            "weights file (.h5) or an official PyTorch checkpoint (.pth.tar)."
        )
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
