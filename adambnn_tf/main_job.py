"""The main job: two-stage AdamBNN training of a zoo model on a dataset, export and report.

`run_main_job(config)` is what `adambnn train` runs. It ties the plugin together:
`adambnn_tf.data.load_dataset` (offline Fashion-MNIST by default), a `adambnn_tf.zoo` model,
`adambnn_tf.training.TwoStageTraining` (resumable, with FF/C2I tracking), TensorBoard logs,
`adambnn_tf.export.export` to a Larq Compute Engine `.tflite`, and
`adambnn_tf.report.write_report`. The run directory follows `adambnn_tf.report.layout`.

!!! example
    ```python
    from adambnn_tf.main_job import MainJobConfig, run_main_job

    summary = run_main_job(MainJobConfig(output_dir="runs/demo", epochs=(1, 1)))
    print(summary.test_accuracy, summary.tflite_path)
    ```
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import numbers
import os
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from adambnn_tf._checks import check_positive_int
from adambnn_tf._files import save_model_atomically, write_atomically
from adambnn_tf.data import load_dataset
from adambnn_tf.losses import SmoothedSparseCategoricalCrossentropy, check_label_smoothing
from adambnn_tf.optimizers import OfficialAdam, StageAwareOptimizer
from adambnn_tf.report.layout import FF_PER_STEP, LATENT_WEIGHTS
from adambnn_tf.report.recording import EpochTimer, StepMetricCSV, save_latent_weights
from adambnn_tf.schedules import per_stage_learning_rates
from adambnn_tf.training.teacher import train_teacher
from adambnn_tf.training.two_stage import STAGE2_TEACHERS, TwoStageTraining

__all__ = [
    "MODELS",
    "MainJobConfig",
    "MainJobSummary",
    "RunDirectoryConflictError",
    "build_zoo_model",
    "run_main_job",
    "tuning_trial",
]

_log = logging.getLogger(__name__)

RUN_CONFIG_FILE = "run.json"
# Options that do not change what is trained: a run may resume with other values.
_NOT_TRAINING_OPTIONS = (
    "export",
    "export_test_examples",
    "report",
    "verbose",
    "track_every",
    "validate_every",
)
SCHEMES = ("two-step", "one-step")
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("stepwise", "epochwise")
PROGRESS_KEYS = ("loss", "accuracy", "ff_ratio", "c2i_ratio", "saturation")
"""The logs shown in the progress bar (all logs, per layer too, go to History/TensorBoard)."""


MODELS: dict[str, tuple[str, dict]] = {
    "reactnet_a_small": ("ReActNetA", {"small_input": True}),
    "reactnet_a_compact": ("ReActNetACompact", {}),
    "reactnet_a": ("ReActNetA", {}),
    "reactnet18_small": ("ReActNet18", {"small_input": True}),
    "reactnet18": ("ReActNet18", {}),
}
"""Model names of the main job: the `adambnn_tf.zoo` function and its fixed options."""


class RunDirectoryConflictError(ValueError):
    """The output directory holds a run with another configuration."""


@dataclasses.dataclass
class MainJobConfig:
    """The configuration of one run of the main job (`adambnn train`).

    # Arguments
        output_dir: the run directory (checkpoints, histories, TensorBoard, export, report).
        model: a name in `MODELS`; the default, `reactnet_a_compact`, is made for 28x28 to
            32x32 images.
        dataset: a dataset name of `adambnn_tf.data.load_dataset`.
        data_dir: where the dataset's files are (default: the loader's offline default).
        epochs: epochs of stage 1 and stage 2 (`one-step` uses the second only).
        batch_size: the global batch size.
        learning_rate: the base learning rate of each stage (linear decay to 0 per stage), one
            number or `(stage1, stage2)`; a trained teacher uses stage 1's, and the one-step
            scheme stage 2's.
        schedule: `"stepwise"` (default: linear decay every step, which suits short runs) or
            `"epochwise"` (the official schedule: constant within an epoch, the last epoch at
            learning rate 0, so a 1-epoch stage would not train).
        weight_decay: the weight decay of stage 1 and of stage 2 on the latent weights.
        scheme: `"two-step"` (the recipe) or `"one-step"` (binary weights from scratch, for the
            paper's comparison).
        optimizer: `"adam"` (official betas and epsilon) or `"sgd"` (momentum 0.9).
        label_smoothing: label smoothing of the training cross-entropy (0: none); not with a
            teacher, whose distribution loss replaces the labels.
        teacher: optional path of a saved Keras teacher for knowledge distillation.
        teacher_epochs: when above 0 (and no `teacher` is given), first train a real-valued
            `adambnn_tf.zoo.ResNetTeacher` for this many epochs on the same data, then distil
            it into both stages. Its time counts in the run's training time.
        teacher_width: the teacher's stem channels (its blocks have 1x, 2x and 4x as many).
        stage2_teacher: `None`, or `"stage1"` to distil the finished stage-1 model into stage
            2 (in place of `teacher` there): a teacher that needs no training of its own.
            Stage 1 then keeps `label_smoothing`. (On Fashion-MNIST it did not keep more of
            stage 1's accuracy than label smoothing did, `bench/RESULTS.md`.)
        width_multiplier: the zoo model's width multiplier (`reactnet_a_small` trained here at
            0.25; `reactnet_a_compact` at 1).
        padding: the zoo model's padding convention (`"lce"` for models trained here).
        seed: the seed of initialisation, data order and augmentation.
        augment: random crop and flip for training.
        train_examples: use only the first N training examples (quick runs); `None` for all.
        test_examples: evaluate on the first N test examples only; `None` for all.
        export_test_examples: compare the exported model with Keras on the first N test
            examples (LCE's interpreter runs one image at a time, with reference kernels on
            x86: minutes for 10,000 images); `None` for all of them.
        track_every: measure the FF-ratio and the share of saturated activations in every
            training step (1, the paper's per-iteration measure) or in every n-th step only;
            measuring every step costs about a tenth of a stage-1 training step of
            `reactnet_a_compact`, every 10th step nothing measurable (`bench/RESULTS.md`). C2I is
            measured at epoch ends either way.
        validate_every: evaluate on the test split after every epoch (1), or after every n-th
            epoch and the last epoch of each stage (each evaluation of the 10,000 Fashion-MNIST
            test images takes about 10 s on 2 cores); the `val_*` histories hold NaN for the
            epochs without one.
        export: export the final model to `.tflite` with LCE.
        report: write the Markdown report.
        verbose: Keras progress bars (1) or not (0).
    """

    output_dir: str = "runs/fashion_mnist"
    model: str = "reactnet_a_compact"
    dataset: str = "fashion_mnist"
    data_dir: str | None = None
    epochs: tuple[int, int] = (2, 2)
    batch_size: int = 128
    learning_rate: float | tuple[float, float] = 2e-3
    schedule: str = "stepwise"
    weight_decay: tuple[float, float] = (5e-6, 0.0)
    scheme: str = "two-step"
    optimizer: str = "adam"
    label_smoothing: float = 0.0
    teacher: str | None = None
    teacher_epochs: int = 0
    teacher_width: int = 32
    stage2_teacher: str | None = None
    width_multiplier: float = 1.0
    padding: str = "lce"
    seed: int = 0
    augment: bool = True
    train_examples: int | None = None
    test_examples: int | None = None
    export_test_examples: int | None = 2000
    track_every: int = 1
    validate_every: int = 1
    export: bool = True
    report: bool = True
    verbose: int = 1

    def validate(self) -> None:
        """Checks the configuration before any work is done.

        # Raises
            ValueError: naming the bad option and what it accepts.
        """
        if self.model not in MODELS:
            raise ValueError(f"Unknown model {self.model!r}; choose one of {sorted(MODELS)}.")
        if self.scheme not in SCHEMES:
            raise ValueError(f"Unknown scheme {self.scheme!r}; choose one of {SCHEMES}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}.")
        if len(self.epochs) != 2 or min(self.epochs) < 1:
            raise ValueError(f"epochs must be two positive numbers, got {self.epochs!r}.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Unknown schedule {self.schedule!r}; choose one of {SCHEDULES}.")
        per_stage_learning_rates(self.learning_rate)  # raises ValueError naming the fix
        if self.train_examples is not None and self.train_examples < self.batch_size:
            raise ValueError(
                f"train_examples={self.train_examples} is smaller than one batch "
                f"({self.batch_size}); raise it or lower batch_size."
            )
        check_label_smoothing(self.label_smoothing)
        check_positive_int(self.track_every, "track_every")
        check_positive_int(self.validate_every, "validate_every")
        if self.label_smoothing and (self.teacher is not None or self.teacher_epochs):
            raise ValueError(
                "label_smoothing applies to the label loss, which distillation replaces with "
                "the teacher's distribution; drop one of label_smoothing and the teacher."
            )
        if self.stage2_teacher not in STAGE2_TEACHERS:
            raise ValueError(
                f"Unknown stage2_teacher {self.stage2_teacher!r}; choose one of {STAGE2_TEACHERS}."
            )
        if self.stage2_teacher and self.scheme == "one-step":
            raise ValueError(
                "stage2_teacher='stage1' distils stage 1, which the one-step scheme skips; "
                "drop stage2_teacher or use scheme='two-step'."
            )
        if self.teacher_epochs < 0 or self.teacher_width < 1:
            raise ValueError(
                f"teacher_epochs must be 0 or more and teacher_width positive, got "
                f"{self.teacher_epochs} and {self.teacher_width}."
            )
        if self.teacher is not None and self.teacher_epochs:
            raise ValueError(
                "Give either a trained teacher (teacher) or a number of epochs to train one "
                "(teacher_epochs), not both."
            )
        if self.teacher is not None and not os.path.exists(self.teacher):
            raise FileNotFoundError(
                f"Teacher model {self.teacher!r} does not exist; give the path of a saved "
                "Keras model (SavedModel folder or .h5)."
            )

    @property
    def stage_learning_rates(self) -> tuple[float, float]:
        """`(stage1, stage2)` base learning rates (`learning_rate` given once or per stage)."""
        return per_stage_learning_rates(self.learning_rate)

    def to_json(self) -> dict:
        """The configuration as JSON-friendly values (what `run.json` holds)."""
        values = dataclasses.asdict(self)
        values["epochs"] = list(self.epochs)
        values["weight_decay"] = list(self.weight_decay)
        if not isinstance(self.learning_rate, numbers.Real):
            values["learning_rate"] = list(self.learning_rate)
        return values


@dataclasses.dataclass
class MainJobSummary:
    """What a run produced.

    # Attributes
        output_dir: the run directory.
        test_accuracy: the final model's accuracy on the test split.
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
    tflite_path: str | None = None
    tflite_accuracy: float | None = None
    keras_accuracy_on_export_examples: float | None = None
    report_path: str | None = None


def build_zoo_model(config: MainJobConfig, stage: int, input_shape, num_classes: int):
    """Builds the configured zoo model for one stage (logits out).

    # Arguments
        config: the run configuration.
        stage: 1 or 2.
        input_shape: the image shape.
        num_classes: the number of classes.

    # Returns
        An uncompiled `tf.keras.Model`.
    """
    from adambnn_tf import zoo

    function_name, options = MODELS[config.model]
    return getattr(zoo, function_name)(
        input_shape=tuple(input_shape),
        num_classes=num_classes,
        stage=stage,
        width_multiplier=config.width_multiplier,
        padding=config.padding,
        classifier_activation=None,  # logits, for the from_logits loss and distillation
        weights=None,
        **options,
    )


def _claim_output_dir(config: MainJobConfig) -> None:
    """Records the configuration, or checks that a resumed run has the same one."""
    path = os.path.join(config.output_dir, RUN_CONFIG_FILE)
    wanted = config.to_json()
    if os.path.exists(path):
        with open(path) as file:
            try:
                recorded = json.load(file)
            except json.JSONDecodeError as error:
                raise RunDirectoryConflictError(
                    f"{path} is not valid JSON ({error}); this directory does not hold a "
                    "readable run. Choose another --output-dir."
                ) from error
        resumable = {
            key: value for key, value in recorded.items() if key not in _NOT_TRAINING_OPTIONS
        }
        differences = {
            key: (value, wanted.get(key))
            for key, value in resumable.items()
            if wanted.get(key) != value
        }
        if differences:
            listed = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in differences.items())
            raise RunDirectoryConflictError(
                f"{config.output_dir!r} holds another run ({listed}). Resume it with the same "
                "options, or choose a new --output-dir; nothing was changed."
            )
        return
    if os.path.isdir(config.output_dir) and os.listdir(config.output_dir):
        raise RunDirectoryConflictError(
            f"{config.output_dir!r} is not empty and holds no run of this tool ({RUN_CONFIG_FILE} "
            "is missing); choose a new --output-dir so that nothing there is overwritten."
        )
    os.makedirs(config.output_dir, exist_ok=True)
    write_atomically(path, json.dumps(wanted, indent=2))


def _history_csv(history: dict[str, list[float]]) -> str:
    keys = sorted(history)
    rows = max((len(values) for values in history.values()), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch", *keys])
    for epoch in range(rows):
        writer.writerow(
            [epoch, *(history[key][epoch] if epoch < len(history[key]) else "" for key in keys)]
        )
    return buffer.getvalue()


def _write_history(stage_dir: str, history: dict[str, list[float]]) -> None:
    os.makedirs(stage_dir, exist_ok=True)
    write_atomically(os.path.join(stage_dir, "history.json"), json.dumps(history, indent=1))
    write_atomically(os.path.join(stage_dir, "history.csv"), _history_csv(history))


class _ConciseProgress(tf.keras.callbacks.Callback):
    """A Keras progress bar of the overall metrics only (the per-layer ones would flood it)."""

    def __init__(self, stage: int, steps_per_epoch: int):
        super().__init__()
        self.stage = stage
        self.steps_per_epoch = steps_per_epoch
        self._bar = None

    def _shown(self, logs, epoch_end: bool = False) -> list[tuple[str, float]]:
        keys = [*PROGRESS_KEYS, *(f"val_{key}" for key in PROGRESS_KEYS)]
        if not epoch_end:
            # C2IRatio recomputes its value at the end of each epoch only.
            keys.remove("c2i_ratio")
        return [(key, float(logs[key])) for key in keys if logs and key in logs]

    def on_epoch_begin(self, epoch, logs=None):
        print(f"Stage {self.stage}, epoch {epoch + 1}/{self.params.get('epochs')}")
        self._bar = tf.keras.utils.Progbar(self.steps_per_epoch, stateful_metrics=PROGRESS_KEYS)

    def on_train_batch_end(self, batch, logs=None):
        self._bar.update(batch + 1, self._shown(logs))

    def on_epoch_end(self, epoch, logs=None):
        self._bar.update(self.steps_per_epoch, self._shown(logs, epoch_end=True), finalize=True)


def _optimizer_fn(config: MainJobConfig):
    def make(stage: int, schedule, model):
        if config.optimizer == "adam":
            inner = OfficialAdam(schedule)
        else:
            inner = tf.keras.optimizers.legacy.SGD(schedule, momentum=0.9)
        return StageAwareOptimizer(inner, stage=stage, weight_decay=config.weight_decay[stage - 1])

    return make


def _evaluate_tflite(flatbuffer_path: str, images: np.ndarray, labels: np.ndarray) -> float:
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    with open(flatbuffer_path, "rb") as file:
        interpreter = Interpreter(file.read(), num_threads=os.cpu_count() or 1)
    logits = interpreter.predict(images)
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def _test_arrays(test_batches: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for batch_images, batch_labels in test_batches:
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
    return np.concatenate(images), np.concatenate(labels)


def _training_minutes(histories: dict[str, dict[str, list[float]]]) -> dict[str, float]:
    minutes = {
        name: sum(history.get("epoch_seconds", [])) / 60 for name, history in histories.items()
    }
    minutes["total"] = sum(minutes.values())
    return minutes


def _train_teacher(config, train_batches, test_batches, steps_per_epoch, train_info, strategy):
    """Trains (or, when done before, loads) the run's `ResNetTeacher`."""
    from adambnn_tf.zoo import ResNetTeacher

    teacher_dir = os.path.join(config.output_dir, "teacher")
    callbacks = [EpochTimer()]
    if config.verbose:
        print(f"Teacher: ResNetTeacher({config.teacher_width}), {config.teacher_epochs} epochs")
    model, history = train_teacher(
        lambda: ResNetTeacher(
            input_shape=train_info.input_shape,
            num_classes=train_info.num_classes,
            width=config.teacher_width,
            classifier_activation=None,
        ),
        lambda epoch: train_batches(0, epoch),
        teacher_dir,
        epochs=config.teacher_epochs,
        steps_per_epoch=steps_per_epoch,
        learning_rate=config.stage_learning_rates[0],
        validation_data=test_batches,
        callbacks=callbacks,
        strategy=strategy,
        seed=config.seed,
        verbose=2 if config.verbose else 0,
    )
    _write_history(teacher_dir, history)
    return model, history


def run_main_job(
    config: MainJobConfig,
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
        ValueError: for a bad configuration.
        RunDirectoryConflictError: when `output_dir` holds another run or foreign files.
    """
    config.validate()
    # Fail on missing data before touching the output directory.
    test = load_dataset(
        config.dataset, "test", batch_size=config.batch_size, data_dir=config.data_dir
    )
    test_batches = test.dataset
    if config.test_examples is not None:
        test_batches = test_batches.unbatch().take(config.test_examples).batch(config.batch_size)
    _claim_output_dir(config)
    train_info = load_dataset(
        config.dataset, "train", batch_size=config.batch_size, data_dir=config.data_dir
    )

    def train_batches(stage: int, epoch: int) -> tf.data.Dataset:
        loaded = load_dataset(
            config.dataset,
            "train",
            batch_size=config.batch_size,
            data_dir=config.data_dir,
            augment=config.augment,
            shuffle=True,
            repeat=False,
            drop_remainder=True,
            seed=config.seed * 10 + stage,
            initial_epoch=epoch,
        )
        dataset = loaded.dataset
        if config.train_examples is not None:
            dataset = dataset.take(config.train_examples // config.batch_size)
        return dataset

    examples = config.train_examples or train_info.num_examples
    steps_per_epoch = examples // config.batch_size
    teacher = None
    histories = {}
    if config.teacher is not None:

        def teacher():
            return tf.keras.models.load_model(config.teacher, compile=False)

    elif config.teacher_epochs:
        trained_teacher, histories["teacher"] = _train_teacher(
            config, train_batches, test_batches, steps_per_epoch, train_info, strategy
        )

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
                os.path.join(stage_dir, FF_PER_STEP), key="ff_ratio_step", every=config.track_every
            ),
            EpochTimer(),
        ]
        if config.verbose:
            callbacks.append(_ConciseProgress(stage, steps_per_epoch))
        if extra_callbacks is not None:
            callbacks += list(extra_callbacks(stage))
        return callbacks

    training = TwoStageTraining(
        lambda stage: build_zoo_model(
            config, stage, train_info.input_shape, train_info.num_classes
        ),
        config.output_dir,
        epochs_per_stage=tuple(config.epochs),
        learning_rate=config.stage_learning_rates,
        schedule=config.schedule,
        weight_decay=config.weight_decay[0],
        optimizer_fn=_optimizer_fn(config),
        loss=(
            SmoothedSparseCategoricalCrossentropy(config.label_smoothing)
            if config.label_smoothing
            else None
        ),
        teacher=teacher,
        stage2_teacher=config.stage2_teacher,
        stage2_init="last",
        monitor=None,
        callbacks_fn=callbacks_fn,
        track_saturation=True,
        ff_step_values=True,
        tracking_every_n_steps=config.track_every,
        validation_every=config.validate_every,
        one_step=config.scheme == "one-step",
        steps_per_epoch=steps_per_epoch,
        seed=config.seed,
        strategy=strategy,
        verbose=0,
    )
    results = training.run(train_batches, validation_data=test_batches)
    for result in results:
        if result is None:
            continue
        name = os.path.basename(result.directory)
        histories[name] = result.history
        _write_history(result.directory, result.history)
    final_model = results[-1].model
    final_model.compile(metrics=["accuracy"], loss=None)
    images, labels = _test_arrays(test_batches)
    logits = final_model.predict(images, batch_size=config.batch_size, verbose=0)
    correct = np.argmax(logits, axis=-1) == labels
    test_accuracy = float(np.mean(correct))
    save_latent_weights(final_model, os.path.join(config.output_dir, LATENT_WEIGHTS))
    save_model_atomically(final_model, os.path.join(config.output_dir, "final_model.h5"))
    summary = MainJobSummary(
        config.output_dir, test_accuracy, histories, _training_minutes(histories)
    )

    if config.export:
        from adambnn_tf.export import export

        export_dir = os.path.join(config.output_dir, "export")
        os.makedirs(export_dir, exist_ok=True)
        summary.tflite_path = os.path.join(export_dir, "model.tflite")
        report = export(final_model, summary.tflite_path, parity_image_count=16)
        compared = slice(0, config.export_test_examples)
        summary.tflite_accuracy = _evaluate_tflite(
            summary.tflite_path, images[compared], labels[compared]
        )
        summary.keras_accuracy_on_export_examples = float(np.mean(correct[compared]))
        report_dict = report.to_dict()
        report_dict["test_accuracy_keras"] = summary.keras_accuracy_on_export_examples
        report_dict["test_accuracy_tflite"] = summary.tflite_accuracy
        report_dict["test_examples_compared"] = int(len(labels[compared]))
        write_atomically(os.path.join(export_dir, "report.json"), json.dumps(report_dict, indent=2))
        write_atomically(os.path.join(export_dir, "report.txt"), report.summary())

    write_atomically(
        os.path.join(config.output_dir, "results.json"),
        json.dumps(
            {
                "test_accuracy": test_accuracy,
                "training_minutes": summary.training_minutes,
                "tflite_accuracy": summary.tflite_accuracy,
                "keras_accuracy_on_export_examples": summary.keras_accuracy_on_export_examples,
                "tflite_path": summary.tflite_path,
            },
            indent=2,
        ),
    )
    if config.report:
        from adambnn_tf.report import write_report

        summary.report_path = write_report(config.output_dir)
    return summary


def tuning_trial(hp, output_root: str = os.path.join("runs", "tune")) -> dict[str, list[float]]:
    """A quick two-stage main-job run with a keras-tuner trial's hyperparameters.

    The default training function of `adambnn tune`: ReActNet-A Compact on offline
    Fashion-MNIST, 1 + 1 epochs on the first 6000 training images, validated on the first 2000
    test images, no export or report. Stage 1 uses `hp["stage1_weight_decay"]` and both stages
    `hp["learning_rate"]`. Each trial trains in its own folder under `output_root`, so an
    interrupted trial resumes. For another budget or model, write a function like this one
    that builds a `MainJobConfig` and calls `run_main_job`.

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
    config = MainJobConfig(
        output_dir=os.path.join(output_root, f"lr{learning_rate:.3g}_wd{weight_decay:.3g}"),
        epochs=(1, 1),
        train_examples=6000,
        test_examples=2000,
        learning_rate=learning_rate,
        weight_decay=(weight_decay, 0.0),
        export=False,
        report=False,
        verbose=0,
    )
    summary = run_main_job(config)
    history = dict(summary.history["stage2"])
    for key in ("ff_ratio", "c2i_ratio"):
        history[f"stage1_{key}"] = summary.history["stage1"][key]
    return history
