"""The run configuration: one typed, nested, frozen dataclass tree with one set of defaults.

`RunConfig()` with no arguments is the `quickstart` recipe (the README's demo); the named
recipes (`adambnn_tf.config.recipes`) change some of its values. Every consumer (the command
line, the main job, `TwoStageTraining`, the teacher's training, the bench scripts) reads its
settings from here.

!!! example
    ```python
    from adambnn_tf.config import RunConfig, StageConfig

    config = RunConfig(output_dir="runs/demo").with_overrides(
        {"stage1.epochs": 3, "training.schedule": "epochwise"}
    )
    config.validate()
    assert RunConfig.from_json(config.to_json()) == config
    ```
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from adambnn_tf.config.choices import (
    C2I_REFERENCES,
    DECAY_FORMS,
    DECAY_PARAMETERS,
    IMAGENET_PIPELINES,
    INITIALIZERS,
    MODELS,
    NAMED_TEACHERS,
    OPTIMIZERS,
    PADDINGS,
    PRECISIONS,
    SCHEDULES,
    SCHEMES,
    STAGE2_INITS,
    STAGE2_TEACHERS,
)
from adambnn_tf.config.fields import ConfigError, check_value, coerce, setting, setting_of
from adambnn_tf.config.teacher_source import resolve_teacher

__all__ = [
    "DataConfig",
    "DistillationConfig",
    "ModelConfig",
    "OutputConfig",
    "RunConfig",
    "StageConfig",
    "TrackingConfig",
    "TrainingConfig",
]


class _Section:
    """JSON round-trip, overrides and field checks shared by every section of the tree."""

    @classmethod
    def leaves(cls, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field, Any]]:
        """Every leaf field as `(dotted key, field, annotation)`, in declaration order."""
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            kind = hints[field.name]
            key = f"{prefix}{field.name}"
            if isinstance(kind, type) and issubclass(kind, _Section):
                yield from kind.leaves(f"{key}.")
            else:
                yield key, field, kind

    def to_json(self) -> dict[str, Any]:
        """The configuration as nested JSON values (what `run.json` holds)."""
        return {
            field.name: (
                value.to_json()
                if isinstance(value := getattr(self, field.name), _Section)
                else value
            )
            for field in dataclasses.fields(self)
        }

    @classmethod
    def from_json(cls, values: Mapping[str, Any], prefix: str = "", base=None):
        """Builds a section from nested JSON values; missing keys keep their defaults.

        # Arguments
            values: nested JSON values (a whole or partial configuration).
            prefix: the dotted key of this section, for messages.
            base: the section whose values missing keys keep (default: the defaults).

        # Raises
            ConfigError: for an unknown key or a value of the wrong type (the message names
                the key and the allowed keys or type).
        """
        if not isinstance(values, Mapping):
            raise ConfigError(f"{prefix.rstrip('.') or 'the configuration'} must be a JSON object.")
        base = cls() if base is None else base
        hints = typing.get_type_hints(cls)
        known = {field.name: field for field in dataclasses.fields(cls)}
        arguments = {}
        for name, value in values.items():
            if name not in known:
                raise ConfigError(
                    f"Unknown key {prefix + name!r}; {prefix.rstrip('.') or 'the top level'} "
                    f"has {sorted(known)}."
                )
            kind = hints[name]
            if isinstance(kind, type) and issubclass(kind, _Section):
                arguments[name] = kind.from_json(value, f"{prefix}{name}.", getattr(base, name))
            else:
                arguments[name] = coerce(value, kind, prefix + name)
        return dataclasses.replace(base, **arguments)

    def get(self, key: str) -> Any:
        """The value at a dotted key, e.g. `config.get("stage1.learning_rate")`."""
        value = self
        for part in key.split("."):
            value = getattr(value, part)
        return value

    def with_overrides(self, overrides: Mapping[str, Any]):
        """A copy with values replaced at dotted keys (text values are parsed).

        # Arguments
            overrides: `{"stage1.learning_rate": "1e-3", "data.augment": False, ...}`.

        # Returns
            The new configuration (not validated: call `validate()`).

        # Raises
            ConfigError: for an unknown key (the message lists the keys) or a bad type.
        """
        values = self.to_json()
        leaves = {key: kind for key, _, kind in type(self).leaves()}
        for key, value in overrides.items():
            if key not in leaves:
                raise ConfigError(
                    f"Unknown setting {key!r}; the settings are: {', '.join(leaves)}."
                )
            *sections, name = key.split(".")
            target = values
            for section in sections:
                target = target[section]
            target[name] = coerce(value, leaves[key], key)
        return type(self).from_json(values)

    def check_fields(self) -> None:
        """Checks every leaf value against its type, choices and range.

        # Raises
            ConfigError: naming the first bad key and what it accepts.
        """
        for key, field, kind in type(self).leaves():
            check_value(self.get(key), kind, setting_of(field), key)


@dataclasses.dataclass(frozen=True)
class ModelConfig(_Section):
    """The zoo model (see `adambnn_tf.zoo`)."""

    name: str = setting(
        "reactnet_a_compact",
        "the zoo model (reactnet_a_compact is made for 28x28 to 32x32 images)",
        choices=tuple(MODELS),
        flag="--model",
    )
    width_multiplier: float = setting(1.0, "the model's width multiplier", check="positive")
    padding: str = setting("lce", "padding convention of the convolutions", choices=PADDINGS)
    initializer: str = setting(
        "keras", "kernel initialisers: Keras' glorot-uniform or PyTorch's", choices=INITIALIZERS
    )
    binary: bool = setting(
        True,
        "binary activations and weights; off trains the float twin (the same architecture with "
        "the binarizers replaced by their real-valued identity; not exported to LCE)",
        negative_flag="--float-twin",
    )
    precision: str = setting(
        "float32",
        "the dtype policy the model trains in: mixed_bfloat16 computes in bfloat16 with float32 "
        "variables (opt-in, for CPUs with AVX512-BF16 or AMX); the saved and exported final "
        "model is float32 either way",
        choices=PRECISIONS,
    )
    weights: str | None = setting(
        None,
        "start from these weights instead of a random initialisation: a registered name "
        "(e.g. fashion_mnist, shipped with the package) or a Keras .h5 / official checkpoint "
        "file; they must fit the model, its input and classes",
    )


@dataclasses.dataclass(frozen=True)
class DataConfig(_Section):
    """The dataset and its input pipeline (see `adambnn_tf.data.load_dataset`)."""

    dataset: str = setting("fashion_mnist", "dataset name")
    data_dir: str | None = setting(
        None,
        "dataset files (default: the offline Fashion-MNIST files of Debian's "
        "dataset-fashion-mnist, or $ADAMBNN_FASHION_MNIST_DIR; tfds's data_dir for others)",
        path=True,
    )
    batch_size: int = setting(128, "the global batch size", check="positive")
    augment: bool = setting(
        True, "training augmentation (random crop and flip)", negative_flag="--no-augment"
    )
    random_crop: bool = setting(
        True,
        "the random crop (after zero padding) of the augmentation of small images; off "
        "leaves the random horizontal flip only",
        negative_flag="--no-random-crop",
    )
    imagenet_pipeline: str = setting(
        "larq_zoo",
        "preprocessing of ImageNet-style sources (imagenet2012, image folders)",
        choices=IMAGENET_PIPELINES,
    )
    lighting: float = setting(
        0.1, "AlexNet PCA lighting noise of the official pipeline (0: off)", check="non_negative"
    )
    train_examples: int = setting(
        30000, "train on the first N training images (0: all)", check="non_negative"
    )
    test_examples: int = setting(
        0, "evaluate on the first N test images (0: all)", check="non_negative"
    )
    validation_examples: int = setting(
        0,
        "carve a fixed class-stratified validation split of N training images (before "
        "train_examples takes its first images from the rest), validate on it during training "
        "and read the test split once at the end (0: validate on the test split)",
        check="non_negative",
    )


@dataclasses.dataclass(frozen=True)
class StageConfig(_Section):
    """One stage of the recipe."""

    epochs: int = setting(1, "epochs of each stage", check="positive", both_stages=True)
    learning_rate: float = setting(
        2e-3,
        "base learning rate of each stage (linear decay to 0)",
        check="positive",
        both_stages=True,
    )
    weight_decay: float = setting(
        0.0, "weight decay of the decayed parameters in each stage", check="finite"
    )


def _stage1() -> StageConfig:
    return StageConfig(weight_decay=5e-6)


@dataclasses.dataclass(frozen=True)
class TrainingConfig(_Section):
    """The optimisation shared by both stages."""

    scheme: str = setting(
        "two-step", "two-step (the recipe) or one-step (binary from scratch)", choices=SCHEMES
    )
    optimizer: str = setting(
        "adam", "Adam with PyTorch's betas and epsilon, or SGD (momentum 0.9)", choices=OPTIMIZERS
    )
    schedule: str = setting(
        "stepwise", "linear decay of the learning rate: every step or per epoch", choices=SCHEDULES
    )
    decay_parameters: str = setting(
        "latent",
        "what weight decay acts on: latent weights only, or the official code's group "
        "(every conv kernel and LearnableBias)",
        choices=DECAY_PARAMETERS,
    )
    decay_form: str = setting(
        "coupled", "coupled L2 (PyTorch Adam) or decoupled (AdamW)", choices=DECAY_FORMS
    )
    label_smoothing: float = setting(
        0.0,
        "label smoothing of the training cross-entropy (not with a teacher)",
        check="unit_interval",
    )
    stage2_init: str = setting(
        "last",
        "the stage-1 epoch stage 2 starts from: last, or best by stage2_init_metric",
        choices=STAGE2_INITS,
    )
    stage2_init_metric: str = setting(
        "val_accuracy", "the epoch log that picks stage 1's best epoch (loss names: lowest)"
    )
    seed: int = setting(0, "seed of initialisation, data order and augmentation")


@dataclasses.dataclass(frozen=True)
class DistillationConfig(_Section):
    """Knowledge distillation (the distribution loss replaces the labels)."""

    teacher: str | None = setting(
        None,
        "the teacher distilled into both stages: a saved Keras model (.h5 or SavedModel), "
        "torchvision ResNet-34 weights (.pth, or an .h5 from convert-checkpoint --arch "
        f"resnet34), or {list(NAMED_TEACHERS)} (torchvision's cached download)",
        path=True,
    )
    teacher_epochs: int = setting(
        0,
        "first train a real-valued ResNetTeacher for N epochs and distil it (0: none)",
        check="non_negative",
    )
    teacher_width: int = setting(32, "the ResNetTeacher's stem channels", check="positive")
    stage2_teacher: str | None = setting(
        None, "distil the finished stage-1 model into stage 2", choices=STAGE2_TEACHERS
    )


@dataclasses.dataclass(frozen=True)
class TrackingConfig(_Section):
    """What is measured during training."""

    track_every: int = setting(
        1,
        "measure FF-ratio and saturation every N training steps",
        check="positive",
        identity=False,
    )
    validate_every: int = setting(
        1,
        "evaluate on the test split every N epochs and at the end of each stage",
        check="positive",
        identity=False,
    )
    sign_flips: bool = setting(
        True, "log the FF- and C2I-ratios", negative_flag="--no-sign-flips", identity=False
    )
    c2i_reference: str = setting(
        "stage",
        "C2I reference signs: each stage's start, or the training's start (the paper's)",
        choices=C2I_REFERENCES,
    )
    saturation: bool = setting(
        True,
        "log the share of binarizer inputs outside [-1, 1]",
        negative_flag="--no-saturation",
        identity=False,
    )


@dataclasses.dataclass(frozen=True)
class OutputConfig(_Section):
    """What a finished run writes besides its checkpoints."""

    export: bool = setting(
        True,
        "export the final model to an LCE .tflite",
        negative_flag="--no-export",
        identity=False,
    )
    export_test_examples: int = setting(
        2000,
        "compare the .tflite with Keras on the first N test images (0: all)",
        check="non_negative",
        identity=False,
    )
    report: bool = setting(
        True, "write the Markdown report", negative_flag="--no-report", identity=False
    )
    progress: bool = setting(
        True, "progress bars while training", negative_flag="--quiet", identity=False
    )


@dataclasses.dataclass(frozen=True)
class RunConfig(_Section):
    """The configuration of one run of `adambnn train` (`adambnn_tf.main_job.run_main_job`).

    Its sections and fields, with their help, are listed by `adambnn train --help` and
    `adambnn recipes --show NAME`; `RunConfig()` is the `quickstart` recipe.
    """

    output_dir: str = setting(
        os.path.join("runs", "quickstart"), "the run directory", path=True, identity=False
    )
    recipe: str = setting("quickstart", "the recipe the run started from", flag="", identity=False)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    stage1: StageConfig = dataclasses.field(default_factory=_stage1)
    stage2: StageConfig = dataclasses.field(default_factory=StageConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    distillation: DistillationConfig = dataclasses.field(default_factory=DistillationConfig)
    tracking: TrackingConfig = dataclasses.field(default_factory=TrackingConfig)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)

    @property
    def stages(self) -> tuple[StageConfig, StageConfig]:
        """`(stage1, stage2)`."""
        return self.stage1, self.stage2

    def stage(self, stage: int) -> StageConfig:
        """The `StageConfig` of stage 1 or 2."""
        return self.stages[stage - 1]

    @property
    def distils(self) -> bool:
        """Whether a teacher (given or trained by the run) is distilled into the stages."""
        return self.distillation.teacher is not None or self.distillation.teacher_epochs > 0

    def validate(self) -> None:
        """Checks every value and every combination, before any work is done.

        # Raises
            ConfigError: naming the key (or keys) and what is accepted.
        """
        self.check_fields()
        if 0 < self.data.train_examples < self.data.batch_size:
            raise ConfigError(
                f"data.train_examples={self.data.train_examples} is smaller than one batch "
                f"({self.data.batch_size}); raise it or lower data.batch_size."
            )
        if self.training.label_smoothing and self.distils:
            raise ConfigError(
                "training.label_smoothing applies to the label loss, which distillation "
                "replaces with the teacher's distribution; drop one of label_smoothing and the "
                "teacher."
            )
        if self.distillation.teacher is not None and self.distillation.teacher_epochs:
            raise ConfigError(
                "Give either a trained teacher (distillation.teacher) or a number of epochs to "
                "train one (distillation.teacher_epochs), not both."
            )
        self._check_teacher()
        if self.model.precision != "float32" and (self.distils or self.distillation.teacher_epochs):
            raise ConfigError(
                f"model.precision={self.model.precision!r} is not supported with distillation "
                "(the teacher's float32 outputs against the student's); drop the teacher or use "
                "model.precision='float32'."
            )
        one_step = self.training.scheme == "one-step"
        if self.distillation.stage2_teacher and one_step:
            raise ConfigError(
                "distillation.stage2_teacher='stage1' distils stage 1, which the one-step "
                "scheme skips; drop stage2_teacher or use training.scheme='two-step'."
            )
        if self.tracking.c2i_reference == "training" and not self.tracking.sign_flips:
            raise ConfigError(
                "tracking.c2i_reference='training' measures sign flips; set "
                "tracking.sign_flips=true or tracking.c2i_reference='stage'."
            )
        if self.training.stage2_init == "best" and not one_step:
            metric = self.training.stage2_init_metric
            if metric.startswith("val_") and self.tracking.validate_every != 1:
                raise ConfigError(
                    f"training.stage2_init='best' by {metric!r} needs a validation after every "
                    "epoch; set tracking.validate_every=1, or training.stage2_init='last'."
                )

    def _check_teacher(self) -> None:
        if self.distillation.teacher is None:
            return
        try:
            resolve_teacher(self.distillation.teacher)
        except (FileNotFoundError, ValueError) as error:
            raise ConfigError(f"distillation.teacher: {error}") from error

    def identity(self) -> dict[str, Any]:
        """The settings that change what is trained, by dotted key (paths resolved): a run
        directory resumes only with the same identity."""
        values = {}
        for key, field, _ in type(self).leaves():
            spec = setting_of(field)
            if not spec.identity:
                continue
            value = self.get(key)
            if spec.path and value is not None:
                value = os.path.realpath(value)
            values[key] = value
        return values

    @classmethod
    def load(cls, path: str | os.PathLike) -> RunConfig:
        """Reads a configuration file (e.g. a run directory's `run.json`).

        # Raises
            ConfigError: for a missing or unreadable file, or bad content.
        """
        try:
            with open(path) as file:
                values = json.load(file)
        except (OSError, json.JSONDecodeError) as error:
            raise ConfigError(
                f"Cannot read the configuration {os.fspath(path)!r} ({error}); give the "
                "run.json of a run directory or a JSON file written by `adambnn recipes --show`."
            ) from error
        return cls.from_json(values)
