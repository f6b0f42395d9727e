"""The main job: two-stage AdamBNN training of a zoo model on a dataset, export and report.

`run_main_job(config)` is what `adambnn train` runs: data (`adambnn_tf.data.load_dataset`) ->
training (`adambnn_tf.training.TwoStageTraining`, resumable, with FF/C2I tracking and an
optional teacher) -> evaluation (`adambnn_tf.evaluation`) -> export to a Larq Compute Engine
`.tflite` (`adambnn_tf.export.export`) -> report (`adambnn_tf.report.write_report`), in a run
directory (`adambnn_tf.run_directory`) laid out as `adambnn_tf.report.layout` says.

!!! example
    ```python
    from adambnn_tf.config import recipe
    from adambnn_tf.main_job import run_main_job

    summary = run_main_job(recipe("quickstart").with_overrides({"output_dir": "runs/demo"}))
    print(summary.test_accuracy, summary.tflite_path)
    ```
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from adambnn_tf._files import save_model_atomically, write_atomically
from adambnn_tf.config import ModelConfig, RunConfig
from adambnn_tf.config.choices import MODELS
from adambnn_tf.data import load_dataset
from adambnn_tf.data.datasets import VALIDATION_SPLIT
from adambnn_tf.data.seeds import stage_seed
from adambnn_tf.evaluation import dataset_arrays, predict, top1
from adambnn_tf.losses import SmoothedSparseCategoricalCrossentropy
from adambnn_tf.report.layout import FF_PER_STEP, FINAL_MODEL, LATENT_WEIGHTS, TEACHER_FOLDER
from adambnn_tf.report.recording import EpochTimer, StepMetricCSV, save_latent_weights
from adambnn_tf.run_directory import claim_run_directory, write_history, write_results
from adambnn_tf.teachers import load_teacher
from adambnn_tf.training.progress import ConciseProgress
from adambnn_tf.training.teacher import train_teacher
from adambnn_tf.training.two_stage import TwoStageTraining

__all__ = ["MainJobSummary", "build_zoo_model", "float32_copy", "run_main_job", "tuning_trial"]


@dataclasses.dataclass
class MainJobSummary:
    """What a run produced.

    # Attributes
        output_dir: the run directory.
        test_accuracy: the final model's accuracy on the test split.
        validation_accuracy: its accuracy on the validation split carved from the training set
            (`data.validation_examples`), or `None` without one.
        history: per-stage histories, `{"stage1": {...}, "stage2": {...}}`, plus
            `"teacher"` when the run trained its teacher.
        training_minutes: wall time of each training phase (`teacher`, `stage1`, `stage2`,
            each epoch's validation included) and their `total`, summed over resumptions.
        tflite_path: the exported model (or `None`).
        tflite_accuracy: the exported model's accuracy on the first `export_test_examples`
            test examples, through LCE's interpreter.
        keras_accuracy_on_export_examples: the Keras model's accuracy on the same examples.
        report_path: the Markdown report (or `None`).
    """

    output_dir: str
    test_accuracy: float
    history: dict[str, dict[str, list[float]]]
    training_minutes: dict[str, float] = dataclasses.field(default_factory=dict)
    validation_accuracy: float | None = None
    tflite_path: str | None = None
    tflite_accuracy: float | None = None
    keras_accuracy_on_export_examples: float | None = None
    report_path: str | None = None


def build_zoo_model(model: ModelConfig, stage: int, input_shape, num_classes: int):
    """Builds the configured zoo model for one stage (logits out), with `model.weights` loaded
    if given (a resumed run then restores its checkpoint over them), in the dtype policy
    `model.precision` (a mixed policy's logits cast to float32).

    # Arguments
        model: the model section of the run configuration.
        stage: 1 or 2.
        input_shape: the image shape.
        num_classes: the number of classes.

    # Returns
        An uncompiled `tf.keras.Model`.
    """
    from adambnn_tf import zoo

    function_name, options = MODELS[model.name]
    # Keras gives each layer the global policy when it is built, so a mixed one is set for the
    # build; "float32" leaves the policy as it is (a float64 parity test sets its own).
    mixed = model.precision != "float32"
    previous = tf.keras.mixed_precision.global_policy()
    if previous.name == tf.keras.backend.floatx():
        # The default policy follows floatx; setting its object back would pin it, and a later
        # `set_floatx` (the float64 parity test's) would no longer reach new layers. `None`
        # makes Keras derive the policy from floatx again.
        previous = None
    if mixed:
        tf.keras.mixed_precision.set_global_policy(model.precision)
    try:
        built = getattr(zoo, function_name)(
            input_shape=tuple(input_shape),
            num_classes=num_classes,
            stage=stage,
            width_multiplier=model.width_multiplier,
            padding=model.padding,
            initializer=model.initializer,
            binary=model.binary,
            classifier_activation=None,  # logits, for the from_logits loss and distillation
            weights=model.weights,
            **options,
        )
    finally:
        if mixed:
            tf.keras.mixed_precision.set_global_policy(previous)
    if not mixed:
        return built
    # Keras' advice for mixed policies: the loss and metrics see float32 logits.
    logits = tf.keras.layers.Activation("linear", dtype="float32", name="logits_float32")
    return tf.keras.Model(built.input, logits(built.output), name=built.name)


def float32_copy(model: ModelConfig, trained: tf.keras.Model, stage: int = 2) -> tf.keras.Model:
    """The trained model in float32, for evaluation, saving and export (the same if it is).

    # Arguments
        model: the model section of the run configuration.
        trained: the trained model (of `model.precision`).
        stage: the stage it was built for.

    # Returns
        `trained` itself for `float32`, else a float32 build with its weights (the variables
        of a mixed policy are float32 already).
    """
    if model.precision == "float32":
        return trained
    copy = build_zoo_model(
        dataclasses.replace(model, precision="float32", weights=None),
        stage,
        trained.input_shape[1:],
        trained.output_shape[-1],
    )
    copy.set_weights(trained.get_weights())
    return copy


@dataclasses.dataclass
class _Data:
    """The run's data: validation and test batches, the training set's description and its
    batches."""

    validation_batches: tf.data.Dataset
    test_batches: tf.data.Dataset
    input_shape: tuple[int, ...]
    num_classes: int
    steps_per_epoch: int
    train_batches: Callable[[int, int], tf.data.Dataset]


def _load_data(config: RunConfig) -> _Data:
    data = config.data
    common = {
        "batch_size": data.batch_size,
        "data_dir": data.data_dir,
        "imagenet_pipeline": data.imagenet_pipeline,
        "lighting": data.lighting,
        "validation_examples": data.validation_examples,
    }
    test_batches = load_dataset(data.dataset, "test", **common).dataset
    if data.test_examples:
        test_batches = test_batches.unbatch().take(data.test_examples).batch(data.batch_size)
    validation_batches = test_batches
    if data.validation_examples:
        validation_batches = load_dataset(data.dataset, VALIDATION_SPLIT, **common).dataset
    train = load_dataset(data.dataset, "train", **common)
    if data.train_examples > train.num_examples:
        raise ValueError(
            f"data.train_examples={data.train_examples} exceeds the {train.num_examples} "
            f"training images of {data.dataset}; lower it, or give 0 for all of them."
        )

    def train_batches(stage: int, epoch: int) -> tf.data.Dataset:
        batches = load_dataset(
            data.dataset,
            "train",
            augment=data.augment,
            crop_padding=None if data.random_crop else 0,
            shuffle=True,
            repeat=False,
            drop_remainder=True,
            seed=stage_seed(config.training.seed, stage),
            initial_epoch=epoch,
            **common,
        ).dataset
        if data.train_examples:
            batches = batches.take(data.train_examples // data.batch_size)
        return batches

    return _Data(
        validation_batches=validation_batches,
        test_batches=test_batches,
        input_shape=tuple(train.input_shape),
        num_classes=train.num_classes,
        steps_per_epoch=(data.train_examples or train.num_examples) // data.batch_size,
        train_batches=train_batches,
    )


def _training_minutes(histories: dict[str, dict[str, list[float]]]) -> dict[str, float]:
    minutes = {
        name: sum(history.get("epoch_seconds", [])) / 60 for name, history in histories.items()
    }
    minutes["total"] = sum(minutes.values())
    return minutes


def _training_images(
    histories: dict[str, dict[str, list[float]]], images_per_epoch: int
) -> dict[str, int]:
    """Training images seen per phase and in all, the machine-independent training budget
    (`training_minutes` is this machine's)."""
    images = {
        name: len(history.get("loss", [])) * images_per_epoch for name, history in histories.items()
    }
    images["total"] = sum(images.values())
    return images


def _trained_teacher(config: RunConfig, data: _Data, strategy) -> tuple[tf.keras.Model, dict]:
    """Trains (or, when done before, restores) the run's `ResNetTeacher`."""
    from adambnn_tf.zoo import ResNetTeacher

    distillation = config.distillation
    teacher_dir = os.path.join(config.output_dir, TEACHER_FOLDER)
    if config.output.progress:
        print(
            f"Teacher: ResNetTeacher({distillation.teacher_width}), "
            f"{distillation.teacher_epochs} epochs"
        )
    model, history = train_teacher(
        lambda: ResNetTeacher(
            input_shape=data.input_shape,
            num_classes=data.num_classes,
            width=distillation.teacher_width,
            classifier_activation=None,
        ),
        lambda epoch: data.train_batches(0, epoch),
        teacher_dir,
        epochs=distillation.teacher_epochs,
        steps_per_epoch=data.steps_per_epoch,
        learning_rate=config.stage1.learning_rate,
        schedule=config.training.schedule,
        seed=config.training.seed,
        validation_data=data.validation_batches,
        callbacks=[EpochTimer()],
        strategy=strategy,
        verbose=2 if config.output.progress else 0,
    )
    write_history(teacher_dir, history)
    return model, history


def _export(config: RunConfig, model, images, labels, correct, summary: MainJobSummary) -> None:
    """Exports the final model, checks the `.tflite` against Keras and writes its report."""
    from adambnn_tf.export import export

    export_dir = os.path.join(config.output_dir, "export")
    os.makedirs(export_dir, exist_ok=True)
    summary.tflite_path = os.path.join(export_dir, "model.tflite")
    # The parity check's real images: the run's Fashion-MNIST copy (another dataset's data_dir
    # is a tfds folder, which the export's sample images do not read).
    fashion_mnist_dir = config.data.data_dir if config.data.dataset == "fashion_mnist" else None
    report = export(model, summary.tflite_path, parity_image_count=16, data_dir=fashion_mnist_dir)
    compared = slice(0, config.output.export_test_examples or None)
    summary.tflite_accuracy = top1(predict(summary.tflite_path, images[compared]), labels[compared])
    summary.keras_accuracy_on_export_examples = float(np.mean(correct[compared]))
    report_dict = report.to_dict()
    report_dict["test_accuracy_keras"] = summary.keras_accuracy_on_export_examples
    report_dict["test_accuracy_tflite"] = summary.tflite_accuracy
    report_dict["test_examples_compared"] = int(len(labels[compared]))
    write_atomically(os.path.join(export_dir, "report.json"), json.dumps(report_dict, indent=2))
    write_atomically(os.path.join(export_dir, "report.txt"), report.summary())


def run_main_job(
    config: RunConfig,
    strategy: tf.distribute.Strategy | None = None,
    extra_callbacks: Callable[[int], Sequence[tf.keras.callbacks.Callback]] | None = None,
) -> MainJobSummary:
    """Trains, evaluates, exports and reports one run; resumes it if it was interrupted.

    # Arguments
        config: the run configuration.
        strategy: the `tf.distribute` strategy (default: the current one).
        extra_callbacks: optional `stage -> callbacks` added to each stage's `fit`.

    # Returns
        A `MainJobSummary`.

    # Raises
        ConfigError: for a bad configuration.
        RunDirectoryConflictError: when `output_dir` holds another run or foreign files.
    """
    config.validate()
    # Every input is read before the run directory is claimed: a bad file costs nothing.
    data = _load_data(config)
    if config.model.weights is not None:  # fetched, hash- and fit-checked, then let go
        build_zoo_model(config.model, 1, data.input_shape, data.num_classes)
    teacher = None
    if config.distillation.teacher is not None:
        with (strategy or tf.distribute.get_strategy()).scope():  # where the stages use it
            given_teacher = load_teacher(
                config.distillation.teacher,
                input_shape=data.input_shape,
                num_classes=data.num_classes,
            )

        def teacher():
            return given_teacher

    claim_run_directory(config)
    histories = {}
    if config.distillation.teacher_epochs:
        trained_teacher, histories["teacher"] = _trained_teacher(config, data, strategy)

        def teacher():
            return trained_teacher

    def callbacks_fn(stage: int) -> list[tf.keras.callbacks.Callback]:
        stage_dir = os.path.join(config.output_dir, f"stage{stage}")
        callbacks = [
            tf.keras.callbacks.TensorBoard(
                os.path.join(config.output_dir, "tensorboard", f"stage{stage}"),
                update_freq="epoch",
            ),
            StepMetricCSV(
                os.path.join(stage_dir, FF_PER_STEP),
                key="ff_ratio_step",
                every=config.tracking.track_every,
            ),
            EpochTimer(),
        ]
        if config.output.progress:
            callbacks.append(ConciseProgress(f"Stage {stage}", data.steps_per_epoch))
        if extra_callbacks is not None:
            callbacks += list(extra_callbacks(stage))
        return callbacks

    smoothing = config.training.label_smoothing
    training = TwoStageTraining(
        lambda stage: build_zoo_model(config.model, stage, data.input_shape, data.num_classes),
        config,
        loss=SmoothedSparseCategoricalCrossentropy(smoothing) if smoothing else None,
        teacher=teacher,
        callbacks_fn=callbacks_fn,
        log_ff_per_step=True,
        strategy=strategy,
        verbose=0,
    )
    results = training.run(
        data.train_batches,
        validation_data=data.validation_batches,
        steps_per_epoch=data.steps_per_epoch,
    )
    for result in results:
        if result is not None:
            histories[os.path.basename(result.directory)] = result.history
            write_history(result.directory, result.history)
    final_model = float32_copy(config.model, results[-1].model)
    # Compiled without the training loss, so that the saved file reloads without custom
    # objects for it.
    final_model.compile(metrics=["accuracy"], loss=None)
    validation_accuracy = None
    if config.data.validation_examples:
        validation_images, validation_labels = dataset_arrays(data.validation_batches)
        validation_accuracy = top1(
            predict(final_model, validation_images, batch_size=config.data.batch_size),
            validation_labels,
        )
    # The test split is read here once, for the final model.
    images, labels = dataset_arrays(data.test_batches)
    logits = predict(final_model, images, batch_size=config.data.batch_size)
    correct = np.argmax(logits, axis=-1) == labels
    save_latent_weights(final_model, os.path.join(config.output_dir, LATENT_WEIGHTS))
    save_model_atomically(final_model, os.path.join(config.output_dir, FINAL_MODEL))
    summary = MainJobSummary(
        config.output_dir,
        float(np.mean(correct)),
        histories,
        _training_minutes(histories),
        validation_accuracy=validation_accuracy,
    )
    # A float twin has no binary layer for LCE to run: it is trained to be compared, not shipped.
    if config.output.export and config.model.binary:
        _export(config, final_model, images, labels, correct, summary)
    write_results(
        config.output_dir,
        {
            "test_accuracy": summary.test_accuracy,
            "validation_accuracy": summary.validation_accuracy,
            "training_minutes": summary.training_minutes,
            "training_images": _training_images(
                histories, data.steps_per_epoch * config.data.batch_size
            ),
            "tflite_accuracy": summary.tflite_accuracy,
            "keras_accuracy_on_export_examples": summary.keras_accuracy_on_export_examples,
            "tflite_path": summary.tflite_path,
        },
    )
    if config.output.report:
        from adambnn_tf.report import write_report

        summary.report_path = write_report(config.output_dir)
    return summary


def tuning_trial(hp, output_root: str = os.path.join("runs", "tune")) -> dict[str, list[float]]:
    """A quick two-stage main-job run with a keras-tuner trial's hyperparameters.

    The default training function of `adambnn tune`: the quickstart recipe (ReActNet-A Compact
    on offline Fashion-MNIST) at 1 + 1 epochs on the first 6000 training images, validated on
    the first 2000 test images, no export or report. Stage 1 uses `hp["stage1_weight_decay"]`
    and both stages `hp["learning_rate"]`. Each trial trains in its own folder under
    `output_root`, so an interrupted trial resumes. For another budget or model, write a
    function like this one that changes a recipe (`adambnn_tf.config.recipe`) and calls
    `run_main_job`.

    !!! example
        ```bash
        adambnn tune adambnn_tf.main_job:tuning_trial --max-trials 4
        ```

    # Arguments
        hp: the trial's `keras_tuner.HyperParameters`.
        output_root: where the trials' run directories go.

    # Returns
        Stage 2's per-epoch history (`val_accuracy`, `ff_ratio`, `c2i_ratio`, ...) plus stage
        1's FF- and C2I-ratios as `stage1_ff_ratio` and `stage1_c2i_ratio`.
    """
    learning_rate = float(hp["learning_rate"])
    weight_decay = float(hp["stage1_weight_decay"])
    config = RunConfig().with_overrides(
        {
            "output_dir": os.path.join(output_root, f"lr{learning_rate:.3g}_wd{weight_decay:.3g}"),
            "stage1.epochs": 1,
            "stage2.epochs": 1,
            "stage1.learning_rate": learning_rate,
            "stage2.learning_rate": learning_rate,
            "stage1.weight_decay": weight_decay,
            "stage2.weight_decay": 0.0,
            "data.train_examples": 6000,
            "data.test_examples": 2000,
            "output.export": False,
            "output.report": False,
            "output.progress": False,
        }
    )
    summary = run_main_job(config)
    history = dict(summary.history["stage2"])
    for key in ("ff_ratio", "c2i_ratio"):
        history[f"stage1_{key}"] = summary.history["stage1"][key]
    return history
