"""Reading official PyTorch checkpoints into NumPy state dicts (torch is an optional extra)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["UnsafeCheckpointError", "load_pytorch_state_dict", "normalize_state_dict"]

_DATA_PARALLEL_PREFIX = "module."
# torch.load(weights_only=True) names a class it refuses as "Unsupported global: GLOBAL a.B".
_REFUSED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


class UnsafeCheckpointError(ValueError):
    """A checkpoint that pickles Python objects besides tensors, which `weights_only=True`
    refuses to load: it loads with `weights_only=False`, which runs code from the file.

    # Attributes
        path: the checkpoint.
        global_name: the first class or function refused, e.g. `"argparse.Namespace"`.
    """

    def __init__(self, path: str, global_name: str):
        super().__init__(
            f"{path} stores Python objects besides tensors ({global_name}), which "
            "torch.load(weights_only=True) does not unpickle. If you trust the file, load it "
            "with weights_only=False (`adambnn convert-checkpoint --unsafe-pickle`); that runs "
            "code stored in the file."
        )
        self.path = path
        self.global_name = global_name


def _import_torch():
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            "Reading PyTorch checkpoints needs PyTorch, which is an optional dependency: "
            "`pip install adambnn-tf[torch]` (or `pip install torch`)."
        ) from error
    return torch


def normalize_state_dict(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Returns a state dict with NumPy float32 values and without `module.` prefixes.

    Unwraps a training checkpoint (`{"state_dict": ..., "epoch": ..., "optimizer": ...}`),
    strips the `module.` prefix `nn.DataParallel` adds, and drops BatchNorm's
    `num_batches_tracked` counters, which Keras does not have.

    # Arguments
        state_dict: a PyTorch state dict or training checkpoint; values may be torch
            tensors or NumPy arrays.

    # Returns
        A dict from key to float32 array.

    # Raises
        ValueError: if the object is not a mapping of names to tensors.
    """
    if not isinstance(state_dict, Mapping):
        raise ValueError(
            f"Expected a state dict (a mapping of names to tensors), got {type(state_dict)}."
        )
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], Mapping):
        state_dict = state_dict["state_dict"]
    normalized = {}
    for key, value in state_dict.items():
        name = key[len(_DATA_PARALLEL_PREFIX) :] if key.startswith(_DATA_PARALLEL_PREFIX) else key
        if name.endswith("num_batches_tracked"):
            continue
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().float().numpy()
        try:
            normalized[name] = np.asarray(value, dtype="float32")
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"State dict entry {key!r} is not a tensor ({type(value).__name__}); is this a "
                "model state dict or training checkpoint?"
            ) from error
    return normalized


def load_pytorch_state_dict(
    path_or_state_dict: str | os.PathLike | Mapping[str, Any], *, weights_only: bool = True
) -> dict[str, np.ndarray]:
    """Loads an official ReActNet/AdamBNN checkpoint as a dict of NumPy arrays.

    !!! example
        ```python
        state = load_pytorch_state_dict("model_best.pth.tar")
        state["feature.1.binary_3x3.weight"].shape  # (32, 32, 3, 3)
        ```

    # Arguments
        path_or_state_dict: a `.pth.tar`/`.pth` file, or an already loaded state dict or
            training checkpoint.
        weights_only: passed to `torch.load`; keep `True` (no arbitrary code from pickles)
            unless you trust the file and it needs more.

    # Returns
        A dict from parameter name (without `module.`) to float32 array, without
        `num_batches_tracked`.

    # Raises
        ImportError: if a file is given and torch is not installed.
        FileNotFoundError: if the file does not exist.
        UnsafeCheckpointError: if `weights_only` refuses a Python object the file pickles.
        ValueError: if the file is not a readable PyTorch checkpoint (truncated, damaged or
            another kind of file).
    """
    if isinstance(path_or_state_dict, Mapping):
        return normalize_state_dict(path_or_state_dict)
    path = os.fspath(path_or_state_dict)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} is a folder, not a checkpoint file."
            if os.path.isdir(path)
            else f"{path} does not exist."
        )
    torch = _import_torch()
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as error:  # torch raises pickle, zip and runtime errors alike
        text = str(error)
        refused = _REFUSED_GLOBAL.search(text)
        if weights_only and refused:
            raise UnsafeCheckpointError(path, refused.group(1).rstrip(".")) from error
        raise ValueError(
            f"{path} is not a readable PyTorch checkpoint: it is truncated, damaged or another "
            f"kind of file ({_torch_reason(error)})."
        ) from error
    return normalize_state_dict(loaded)


def _torch_reason(error: Exception) -> str:
    """The specific part of a torch.load error, without its advice about weights_only.

    For any pickle it cannot read, torch's weights-only unpickler suggests retrying with
    `weights_only=False`; for a damaged file that advice is wrong, so only its own reason
    ("Unsupported operand 123") is kept.
    """
    text = str(error)
    marker = "WeightsUnpickler error:"
    if marker in text:
        reason = text.split(marker, 1)[1].strip().split("\n\n", 1)[0]
    else:
        reason = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(error).__name__}: {' '.join(reason.split())}" if reason else type(error).__name__
