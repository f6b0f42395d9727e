"""The registry of named pretrained weights: which file `weights="<name>"` loads, and for what.

An entry names one Keras weights file by URL and SHA-256, and the model configuration it was
trained for. Entries are keyed by `(model, name, padding, include_top)`; a file with the
classifier also serves `include_top=False` (Keras loads it by layer name). Files shipped
inside the package have a `file://` URL into `adambnn_tf/zoo/weights/` and go through the
same download, cache and SHA-256 check as remote files.

!!! example
    ```python
    from adambnn_tf.zoo import register_pretrained_weights, registered_weights

    register_pretrained_weights(
        "reactnet_a", name="imagenet", padding="pytorch", include_top=True,
        url="https://example.org/reactnet_a_weights.h5",
        sha256="<64 hex digits>", file_name="reactnet_a_weights.h5",
    )
    registered_weights("reactnet_a_compact")  # ('fashion_mnist',)
    ```
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "PACKAGED_MANIFEST",
    "PACKAGED_WEIGHTS_DIR",
    "PRETRAINED_WEIGHTS",
    "PretrainedWeights",
    "find_weights",
    "packaged_weights",
    "register_pretrained_weights",
    "registered_weights",
    "weights_named",
]

PACKAGED_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
"""Where the weights files shipped with the package are (package data of `adambnn_tf.zoo`)."""


@dataclass(frozen=True)
class PretrainedWeights:
    """One Keras weights file that `weights="<name>"` loads.

    # Arguments
        url: where to download it from (`https://...` or `file://...`).
        sha256: its SHA-256 as 64 hexadecimal digits.
        file_name: name of the file in the cache.
        configuration: the model options the file was trained for, e.g.
            `{"input_shape": (28, 28, 1), "num_classes": 10}`; a model built with other
            values is refused with an error that names them (empty: not checked).
    """

    url: str
    sha256: str
    file_name: str
    configuration: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        check_cache_name(self.file_name, "file_name")


def check_cache_name(name: str, what: str) -> None:
    """Refuses a name that would leave its cache folder: the cached file is written, and on a
    hash mismatch deleted, at `<cache>/larq/models/<model>/<file_name>`.

    # Arguments
        name: the model or file name.
        what: what it is, for the message.

    # Raises
        ValueError: for an empty name, `.`, `..` or a name with a path separator.
    """
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or any(separator in name for separator in ("/", "\\", os.sep, os.altsep or "/"))
    ):
        raise ValueError(
            f"{what} must be a plain name, without path separators or '..', so that the file "
            f"stays in the weights cache; got {name!r}."
        )


PRETRAINED_WEIGHTS: dict[tuple[str, str, str, bool], PretrainedWeights] = {}
"""Keyed by `(model, name, padding, include_top)`; filled with the files shipped in the package
(`PACKAGED_MANIFEST`) when this module is imported. No ImageNet files of these models are
published, and hashes are never guessed: `"imagenet"` has no entry until one is registered."""


def register_pretrained_weights(
    model: str,
    *,
    name: str = "imagenet",
    padding: str,
    include_top: bool,
    url: str,
    sha256: str,
    file_name: str,
    configuration: Mapping[str, Any] | None = None,
) -> None:
    """Adds (or replaces) the weights file that `weights=name` loads for one configuration.

    !!! example
        ```python
        register_pretrained_weights(
            "reactnet_a", padding="pytorch", include_top=True,
            url="https://example.org/reactnet_a_weights.h5",
            sha256="<64 hex digits>", file_name="reactnet_a_weights.h5",
        )
        ```

    # Arguments
        model: the zoo model's name, e.g. `"reactnet_a"`, `"reactnet_a_compact"`,
            `"reactnet18"` or `"resnet34"` (whose padding is always `"pytorch"`).
        name: the value of `weights=` that loads the file (default `"imagenet"`).
        padding: the padding mode the weights were trained or converted for.
        include_top: whether the file includes the classifier.
        url: download URL (`file://` for a local file).
        sha256: the file's SHA-256 (64 hexadecimal digits).
        file_name: name of the file in the cache.
        configuration: the model options the file fits (see `PretrainedWeights`).

    # Raises
        ValueError: if `sha256` is not 64 hexadecimal digits, `name` is empty, or `model` or
            `file_name` is not a plain name (a path separator or `..` would write, and on a
            hash mismatch delete, a file outside the cache).
    """
    check_cache_name(model, "model")
    if not isinstance(name, str) or not name or os.sep in name or "/" in name:
        raise ValueError(f"name must be a non-empty name without '/', got {name!r}.")
    digest = sha256.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}.")
    PRETRAINED_WEIGHTS[(model, name, padding, include_top)] = PretrainedWeights(
        url, digest, file_name, dict(configuration or {})
    )


def registered_weights(model: str) -> tuple[str, ...]:
    """The weights names registered for a model.

    # Arguments
        model: the zoo model's name, e.g. `"reactnet_a_compact"`.

    # Returns
        The sorted names (`weights=` values) with at least one entry for `model`.
    """
    return tuple(sorted({key[1] for key in PRETRAINED_WEIGHTS if key[0] == model}))


def weights_named(model: str, name: str) -> list[tuple[str, PretrainedWeights]]:
    """The files with the classifier that `weights=name` loads for a model, with the padding
    each was trained for (what a model must be built with to fit them).

    # Arguments
        model: the zoo model's name.
        name: the `weights=` value.

    # Returns
        `(padding, entry)` pairs, empty if none is registered.
    """
    return [
        (key[2], entry)
        for key, entry in PRETRAINED_WEIGHTS.items()
        if key[:2] == (model, name) and key[3]
    ]


def find_weights(
    model: str, name: str, *, padding: str, include_top: bool
) -> PretrainedWeights | None:
    """The entry that `weights=name` loads for a model configuration.

    # Arguments
        model: the zoo model's name.
        name: the `weights=` value.
        padding: the model's padding mode.
        include_top: whether the model has its classifier; without it, an entry with the
            classifier serves too (loaded by layer name).

    # Returns
        The entry, or `None` if none fits.
    """
    entry = PRETRAINED_WEIGHTS.get((model, name, padding, include_top))
    if entry is None and not include_top:
        entry = PRETRAINED_WEIGHTS.get((model, name, padding, True))
    return entry


PACKAGED_MANIFEST = PACKAGED_WEIGHTS_DIR / "manifest.json"
"""The list of the files shipped in `PACKAGED_WEIGHTS_DIR`: for each, its registry entry
(model, name, padding, file, SHA-256, configuration) and its model card (accuracy, sizes,
the command that trained it). `bench/ship_pretrained.py` writes it."""


def packaged_weights() -> list[dict[str, Any]]:
    """The entries of the package's weights manifest (none if it has no manifest).

    # Returns
        One dict per shipped file, with the keys `model`, `name`, `padding`, `file_name`,
        `sha256`, `configuration` and `card`.
    """
    if not PACKAGED_MANIFEST.is_file():
        return []
    return json.loads(PACKAGED_MANIFEST.read_text())["weights"]


def _register_packaged_weights() -> None:
    for shipped in packaged_weights():
        register_pretrained_weights(
            shipped["model"],
            name=shipped["name"],
            padding=shipped["padding"],
            include_top=True,
            url=(PACKAGED_WEIGHTS_DIR / shipped["file_name"]).as_uri(),
            sha256=shipped["sha256"],
            file_name=shipped["file_name"],
            configuration=shipped["configuration"],
        )


_register_packaged_weights()
