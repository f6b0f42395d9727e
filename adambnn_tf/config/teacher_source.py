"""Where a distillation teacher comes from, from what `distillation.teacher` says.

- a saved Keras model (`.h5` with its architecture, or a SavedModel folder);
- torchvision's ResNet-34 weights, the official recipe's teacher: a `.pth` file of
  torchvision's layout or an `.h5` weights file written by `adambnn convert-checkpoint --arch
  resnet34`;
- the name `resnet34`: torchvision's own cached download of those weights,
  `$TORCH_HOME/hub/checkpoints/resnet34-*.pth` (`~/.cache/torch` without `TORCH_HOME`), where
  `torchvision.models.resnet34(weights="IMAGENET1K_V1")` puts them.

Pure Python (no TensorFlow import), so that a configuration's teacher is checked before
anything heavy; `adambnn_tf.teachers.load_teacher` builds the model.

!!! example
    ```python
    source = resolve_teacher("runs/teacher/final_model.h5")
    source.kind  # "keras_model"
    ```
"""

from __future__ import annotations

import glob
import os

from adambnn_tf.config.choices import NAMED_TEACHERS

__all__ = ["TeacherSource", "resolve_teacher"]
_PYTORCH_SUFFIXES = (".pth", ".pth.tar", ".pt")


class TeacherSource:
    """Where a teacher comes from: `kind` is `"keras_model"` or `"resnet34_weights"`.

    # Arguments
        kind: how to build it.
        path: the file or folder.
    """

    def __init__(self, kind: str, path: str):
        self.kind = kind
        self.path = path

    def __repr__(self) -> str:
        return f"TeacherSource({self.kind!r}, {self.path!r})"


def _torch_hub_checkpoints() -> str:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser(os.path.join("~", ".cache")),
        "torch",
    )
    return os.path.join(torch_home, "hub", "checkpoints")


def _is_weights_only_h5(path: str) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as file:
            return "model_config" not in file.attrs
    except OSError as error:
        raise ValueError(
            f"The teacher {path!r} is not a readable HDF5 file ({error}); give a saved Keras "
            "model, torchvision ResNet-34 weights (.pth), or an .h5 from `adambnn "
            "convert-checkpoint --arch resnet34`."
        ) from error


def resolve_teacher(value: str) -> TeacherSource:
    """Finds the teacher that `distillation.teacher` names.

    # Arguments
        value: a path, or a name of `NAMED_TEACHERS`.

    # Returns
        Its `TeacherSource`.

    # Raises
        FileNotFoundError: for a path that does not exist, or a name whose weights are not
            cached (the message says where it looked and what to give instead).
        ValueError: for an `.h5` file that HDF5 cannot read.
    """
    if value in NAMED_TEACHERS:
        folder = _torch_hub_checkpoints()
        found = sorted(glob.glob(os.path.join(folder, f"{value}-*.pth")))
        if not found:
            raise FileNotFoundError(
                f"The teacher {value!r} is torchvision's ImageNet ResNet-34, whose weights are "
                f"not in {folder} (where torchvision caches resnet34-*.pth). Give their path "
                "instead: --teacher PATH/resnet34-b627a593.pth, or an .h5 from `adambnn "
                "convert-checkpoint --arch resnet34`."
            )
        return TeacherSource("resnet34_weights", found[-1])
    if not os.path.exists(value):
        raise FileNotFoundError(
            f"The teacher {value!r} does not exist; give a saved Keras model (.h5 or "
            f"SavedModel folder), torchvision ResNet-34 weights (.pth), or one of "
            f"{list(NAMED_TEACHERS)}."
        )
    if value.endswith(_PYTORCH_SUFFIXES):
        return TeacherSource("resnet34_weights", value)
    if value.endswith(".h5") and _is_weights_only_h5(value):
        return TeacherSource("resnet34_weights", value)
    return TeacherSource("keras_model", value)
