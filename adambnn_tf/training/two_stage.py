"""The two-stage AdamBNN recipe: stage 1 then stage 2, with atomic per-epoch checkpoints."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import tensorflow as tf

from adambnn_tf._checks import check_positive_int
from adambnn_tf.callbacks import BinarizerSaturation, C2IRatio, FFRatio
from adambnn_tf.distillation import DistillationModel
from adambnn_tf.optimizers import (
    STAGE1_WEIGHT_DECAY,
    OfficialAdam,
    StageAwareOptimizer,
    official_decay_filter,
)
from adambnn_tf.quantizers import is_latent_weight
from adambnn_tf.schedules import (
    EpochwiseLinearDecay,
    StepwiseLinearDecay,
    per_stage_learning_rates,
)
from adambnn_tf.training.checkpoints import StageState, StageStore
from adambnn_tf.training.data import TrainData, steps_per_epoch_of, training_dataset

__all__ = ["STAGE2_TEACHERS", "StageResult", "TwoStageTraining"]

_log = logging.getLogger(__name__)
_STAGES = (1, 2)
_MODES = ("max", "min")
STAGE2_TEACHERS = (None, "stage1")
"""The choices of `TwoStageTraining(stage2_teacher=...)`."""


@dataclass
class StageResult:
    """The outcome of one stage.

    # Attributes
        model: the trained model of the stage (the student when distilling).
        optimizer: its optimizer, with the state it ended with.
        history: per-epoch logs of the whole stage, resumed parts included.
        best_epoch: the epoch with the best `monitor` value (or `None` without one).
        best_value: that value.
        directory: where the stage's checkpoints are.
    """

    model: tf.keras.Model
    optimizer: tf.keras.optimizers.legacy.Optimizer | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int | None = None
    best_value: float | None = None
    directory: str = ""


def _append_epoch(history: dict[str, list[float]], logs: dict[str, float], index: int) -> None:
    """Appends one epoch's logs at list position `index`, NaN where a key has no value.

    Epochs without validation (`validation_every > 1`) have no `val_*` logs: the lists stay
    aligned with the epochs, NaN marking the epochs without a value.
    """
    for key in [*history, *(key for key in logs if key not in history)]:
        values = history.setdefault(key, [])
        values.extend([math.nan] * (index - len(values)))
        values.append(logs.get(key, math.nan))


class _EpochCheckpoint(tf.keras.callbacks.Callback):
    """Commits the epoch: history, best weights, checkpoint and `state.json`, atomically."""

    def __init__(self, runner, store, state, checkpoint, weights_checkpoint):
        super().__init__()
        self._runner = runner
        self._store = store
        self._state = state
        self._checkpoint = checkpoint
        self._weights_checkpoint = weights_checkpoint

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) for key, value in (logs or {}).items()}
        state = self._state
        _append_epoch(state.history, logs, epoch)
        monitor = self._runner.monitor
        if monitor is not None:
            if monitor not in logs:
                raise ValueError(
                    f"monitor={monitor!r} is not among the epoch logs {sorted(logs)}; pass "
                    "monitor=<one of them>, or monitor=None with stage2_init='last'."
                )
            value = logs[monitor]
            better = state.best_value is None or (
                value > state.best_value if self._runner.mode == "max" else value < state.best_value
            )
            if better and not math.isnan(value):
                state.best_checkpoint = self._store.write_checkpoint(
                    self._weights_checkpoint, f"best_{epoch:04d}"
                )
                state.best_value, state.best_epoch = value, epoch
        state.last_checkpoint = self._store.write_checkpoint(self._checkpoint, f"epoch_{epoch:04d}")
        state.completed_epochs = epoch + 1
        state.done = state.completed_epochs >= self._runner.epochs_per_stage[state.stage - 1]
        self._store.commit(state)


class TwoStageTraining:
    r"""Runs the two-stage AdamBNN recipe with `model.fit`, resumably.

    Stage 1 trains `build_model(1)` (binary activations, real latent weights,
    `kernel_quantizer="real_latent_weight"`) with weight decay on the latent weights; stage 2
    trains `build_model(2)` (binary weights too) without weight decay, initialised from stage
    1's best (by `monitor`) or last weights, with a fresh optimizer and learning-rate schedule.
    Each stage uses Adam with the official betas and epsilon (`OfficialAdam`) inside a
    `StageAwareOptimizer`, and the official epoch-wise linear decay of the learning rate.

    After every epoch a checkpoint (model, optimizer state, FF/C2I state) and `state.json`
    (epoch, history, best) are written atomically under `output_dir/stage<k>/`. Calling `run`
    again with the same arguments resumes after the last completed epoch: a run killed at any
    point and resumed ends with the same weights, optimizer state, history and FF/C2I values as
    an uninterrupted run, provided that the data order is deterministic (it is for the
    per-epoch shuffling done here; a callable `train_data` must make it so) and that the
    model has no stateful randomness (ReActNet has none; dropout or random augmentation ops
    inside the model would draw different numbers after a restart). Callbacks returned by
    `callbacks_fn` are not checkpointed (e.g. `EarlyStopping` restarts its patience).

    With `teacher`, each stage trains a `DistillationModel(student, teacher)` with the official
    distribution loss (the labels are then only used by the metrics and the validation loss).
    With `stage2_teacher="stage1"`, stage 2 instead distils the finished stage-1 model (the
    weights stage 2 starts from, with real weights): a teacher that costs no training of its
    own, only its forward pass in each stage-2 step.

    !!! example
        ```python
        def build_model(stage):
            return adambnn_tf.zoo.ReActNetA(stage=stage, num_classes=10, input_shape=(32, 32, 3))

        training = TwoStageTraining(build_model, "runs/reactnet", epochs_per_stage=(128, 128))
        stage1, stage2 = training.run(train_images_labels, validation_data=val_batches)
        stage2.history["ff_ratio"], stage2.model
        ```

    # Arguments
        build_model: `stage -> tf.keras.Model` (uncompiled, logits out). Stage 2's model must
            have the same variables as stage 1's, in the same structure.
        output_dir: where checkpoints and state go.
        epochs_per_stage: epochs of each stage, an int or `(stage1, stage2)`.
        learning_rate: the base learning rate of each stage (official 1.25e-3 at batch 256),
            a float or `(stage1, stage2)`.
        weight_decay: the stage-1 weight decay (stage 2 uses 0).
        decay_form: `"coupled"` (official L2) or `"decoupled"` (AdamW).
        decay_filter: `"latent"` (the latent weights) or `"official"` (the official code's
            grouping, `official_decay_filter`).
        schedule: `"epochwise"` (official) or `"stepwise"` linear decay to 0.
        optimizer_fn: optional `(stage, learning_rate_schedule, model) -> optimizer` replacing
            the default.
        loss: the training loss without a teacher, and the validation loss.
        metrics: compiled metrics.
        teacher: optional frozen teacher model (or a zero-argument callable building it,
            called under the strategy's scope) for knowledge distillation.
        stage2_teacher: `None`, or `"stage1"` to distil stage 1's model (`stage2_init`'s
            weights) into stage 2, in place of `teacher` there.
        stage2_init: `"best"` or `"last"` stage-1 weights.
        monitor: the epoch log that picks the best epoch; `None` to track none.
        mode: `"max"` or `"min"` for `monitor`.
        callbacks_fn: optional `stage -> list of callbacks` added to each stage's `fit`.
        track_sign_flips: log the FF- and C2I-ratios (`adambnn_tf.callbacks`).
        c2i_reference: `"stage"` (signs at the start of each stage) or `"training"` (stage 2
            compares with the signs at the start of stage 1).
        track_saturation: also log the share of binarizer inputs outside [-1, 1].
        ff_step_values: also log each iteration's FF-ratio as `ff_ratio_step` (batch logs),
            e.g. for `adambnn_tf.report.recording.StepMetricCSV`.
        tracking_every_n_steps: measure the FF-ratio and the saturation in every step (1) or
            in every n-th step only (faster; `FFRatio(every_n_steps=...)`).
        validation_every: validate after every epoch (1), or after every n-th epoch and the
            last epoch of each stage; the `val_*` histories hold NaN for the other epochs.
            Needs a `monitor` that is not a validation log.
        one_step: skip stage 1 and train stage 2 (binary weights) from scratch, the paper's
            one-step baseline; `run` then returns `(None, stage2)`.
        batch_size: batch size for an unbatched `train_data` dataset.
        shuffle_buffer: shuffle buffer for a `train_data` dataset (per-epoch seeded).
        steps_per_epoch: batches per epoch, when `train_data`'s cardinality is unknown.
        seed: the seed of the model initialisation and of the data order.
        keep_checkpoints: epoch checkpoints kept per stage (the best one is kept too).
        strategy: the `tf.distribute` strategy (default: the current one).
        verbose: `fit`'s verbosity.

    # Raises
        ValueError: for inconsistent arguments (see the messages).
    """

    def __init__(
        self,
        build_model: Callable[[int], tf.keras.Model],
        output_dir: str | os.PathLike,
        epochs_per_stage: int | Sequence[int],
        learning_rate: float | Sequence[float] = 1.25e-3,
        weight_decay: float = STAGE1_WEIGHT_DECAY,
        decay_form: str = "coupled",
        decay_filter: str = "latent",
        schedule: str = "epochwise",
        optimizer_fn: Callable | None = None,
        loss=None,
        metrics: Sequence = ("accuracy",),
        teacher: tf.keras.Model | Callable[[], tf.keras.Model] | None = None,
        stage2_teacher: str | None = None,
        stage2_init: str = "best",
        monitor: str | None = "val_accuracy",
        mode: str = "max",
        callbacks_fn: Callable[[int], list[tf.keras.callbacks.Callback]] | None = None,
        track_sign_flips: bool = True,
        c2i_reference: str = "stage",
        track_saturation: bool = False,
        ff_step_values: bool = False,
        tracking_every_n_steps: int = 1,
        validation_every: int = 1,
        one_step: bool = False,
        batch_size: int | None = None,
        shuffle_buffer: int | None = None,
        steps_per_epoch: int | None = None,
        seed: int = 0,
        keep_checkpoints: int = 2,
        strategy: tf.distribute.Strategy | None = None,
        verbose: int = 1,
    ):
        if isinstance(epochs_per_stage, int):
            epochs_per_stage = (epochs_per_stage, epochs_per_stage)
        epochs_per_stage = tuple(epochs_per_stage)
        if len(epochs_per_stage) != 2 or any(
            not isinstance(e, int) or isinstance(e, bool) or e < 1 for e in epochs_per_stage
        ):
            raise ValueError(
                "epochs_per_stage must be a positive int or a pair of them, got "
                f"{epochs_per_stage!r}."
            )
        learning_rates = per_stage_learning_rates(learning_rate)
        _check_choice("stage2_init", stage2_init, ("best", "last"))
        _check_choice("mode", mode, _MODES)
        _check_choice("schedule", schedule, ("epochwise", "stepwise"))
        _check_choice("decay_filter", decay_filter, ("latent", "official"))
        _check_choice("c2i_reference", c2i_reference, ("stage", "training"))
        _check_choice("stage2_teacher", stage2_teacher, STAGE2_TEACHERS)
        if stage2_teacher and one_step:
            raise ValueError(
                "stage2_teacher='stage1' needs stage 1, which one_step=True skips; drop one."
            )
        if stage2_init == "best" and monitor is None and not one_step:
            raise ValueError("stage2_init='best' needs a monitor; pass monitor=... or 'last'.")
        check_positive_int(tracking_every_n_steps, "tracking_every_n_steps")
        check_positive_int(validation_every, "validation_every")
        if validation_every > 1 and monitor and monitor.startswith("val_"):
            raise ValueError(
                f"monitor={monitor!r} needs validation after every epoch; use "
                "validation_every=1, or monitor=None with stage2_init='last'."
            )
        if c2i_reference == "training" and not track_sign_flips:
            raise ValueError("c2i_reference='training' needs track_sign_flips=True.")
        self.build_model = build_model
        self.output_dir = os.fspath(output_dir)
        self.epochs_per_stage = epochs_per_stage
        self.learning_rates = learning_rates
        self.weight_decay = weight_decay
        self.decay_form = decay_form
        self.decay_filter = decay_filter
        self.schedule = schedule
        self.optimizer_fn = optimizer_fn
        self.loss = loss
        self.metrics = list(metrics)
        self.teacher = teacher
        self.stage2_teacher = stage2_teacher
        self.stage2_init = stage2_init
        self.monitor = monitor
        self.mode = mode
        self.callbacks_fn = callbacks_fn
        self.track_sign_flips = track_sign_flips
        self.c2i_reference = c2i_reference
        self.track_saturation = track_saturation
        self.ff_step_values = ff_step_values
        self.tracking_every_n_steps = tracking_every_n_steps
        self.validation_every = validation_every
        self.one_step = one_step
        self.batch_size = batch_size
        self.shuffle_buffer = shuffle_buffer
        self.steps_per_epoch = steps_per_epoch
        self.seed = seed
        self.keep_checkpoints = keep_checkpoints
        self.strategy = strategy
        self.verbose = verbose
        self._teacher_model = None

    def stage_dir(self, stage: int) -> str:
        """The checkpoint directory of `stage`."""
        return os.path.join(self.output_dir, f"stage{stage}")

    def run(
        self, train_data: TrainData, validation_data=None
    ) -> tuple[StageResult | None, StageResult]:
        """Runs (or resumes) stage 1, then stage 2 (only stage 2 with `one_step`).

        # Arguments
            train_data: a `tf.data.Dataset` of `(x, y)` (batched, or unbatched with
                `batch_size`), or a callable `(stage, epoch) -> dataset of batches`.
            validation_data: optional validation batches for `fit`.

        # Returns
            The `StageResult` of stage 1 (`None` with `one_step`) and of stage 2.

        # Raises
            ValueError: if `monitor` is a validation log but there is no `validation_data`.
        """
        if self.monitor and self.monitor.startswith("val_") and validation_data is None:
            raise ValueError(
                f"monitor={self.monitor!r} needs validation_data; pass it, or "
                "monitor='loss', mode='min' (or monitor=None, stage2_init='last')."
            )
        if self.one_step:
            return None, self.run_stage(2, train_data, validation_data)
        first = self.run_stage(1, train_data, validation_data)
        second = self.run_stage(2, train_data, validation_data)
        return first, second

    def run_stage(self, stage: int, train_data: TrainData, validation_data=None) -> StageResult:
        """Runs (or resumes, or just reloads if done) one stage.

        # Arguments
            stage: 1 or 2. Stage 2 needs stage 1 to be done in the same `output_dir`.
            train_data: see `run`.
            validation_data: see `run`.

        # Returns
            The stage's `StageResult`.

        # Raises
            ValueError: for a bad stage, or stage 2 before stage 1 is done.
        """
        if stage not in _STAGES:
            raise ValueError(f"stage must be 1 or 2, got {stage!r}.")
        strategy = self.strategy or tf.distribute.get_strategy()
        store = StageStore(self.stage_dir(stage), stage, self.keep_checkpoints)
        state = store.load_state() or StageState(stage=stage)
        epochs = self.epochs_per_stage[stage - 1]
        steps = state.steps_per_epoch or self.steps_per_epoch
        if steps is None:
            steps = steps_per_epoch_of(train_data, stage, self.shuffle_buffer, self.batch_size)
        state.steps_per_epoch = steps

        # The same seed before building makes the initial weights reproducible.
        tf.keras.utils.set_random_seed(self.seed + stage)
        with strategy.scope():
            student = self.build_model(stage)
            fit_model = student
            teacher = self._teacher_of_stage(stage, state.done)
            if teacher is not None:
                fit_model = DistillationModel(student, teacher, name="distillation")
            optimizer = self._optimizer(stage, student, epochs, steps)
            fit_model.compile(optimizer=optimizer, loss=self._loss(), metrics=self.metrics)
            # Create the optimizer's slots now, so that a checkpoint restores them directly.
            if hasattr(optimizer, "_create_all_weights"):  # legacy optimizers
                optimizer._create_all_weights(student.trainable_variables)
            else:
                optimizer.build(student.trainable_variables)
        if not student.built:
            raise ValueError(
                "build_model must return a built model (e.g. a functional model, or call it "
                "on an input first)."
            )

        tracking = self._tracking_callbacks(stage, fit_model)
        states = {name: callback.state for name, callback in tracking.items()}
        # `weights` holds the model's variables only: a checkpoint of the compiled model would
        # also carry its optimizer, which stage 2 must not inherit.
        weights = list(student.weights)
        checkpoint = tf.train.Checkpoint(
            model=student, optimizer=optimizer, weights=weights, **states
        )
        weights_checkpoint = tf.train.Checkpoint(weights=weights)

        if state.completed_epochs > 0:
            checkpoint.read(store.checkpoint_prefix(state.last_checkpoint)).assert_consumed()
            _log.info("stage %d: resuming after epoch %d", stage, state.completed_epochs)
        elif stage == 2 and not self.one_step:
            self._initialise_from_stage1(student, tracking)

        if not state.done:
            dataset = training_dataset(
                train_data,
                stage,
                state.completed_epochs,
                epochs,
                self.seed,
                self.shuffle_buffer,
                self.batch_size,
            )
            user_callbacks = list(self.callbacks_fn(stage)) if self.callbacks_fn else []
            committer = _EpochCheckpoint(self, store, state, checkpoint, weights_checkpoint)
            fit_model.fit(
                dataset,
                epochs=epochs,
                initial_epoch=state.completed_epochs,
                steps_per_epoch=steps,
                validation_data=validation_data,
                validation_freq=_validation_epochs(epochs, self.validation_every),
                callbacks=[*tracking.values(), *user_callbacks, committer],
                verbose=self.verbose,
            )
        return StageResult(
            model=student,
            optimizer=optimizer,
            history=state.history,
            best_epoch=state.best_epoch,
            best_value=state.best_value,
            directory=store.directory,
        )

    # Parts of a stage.

    def _teacher_of_stage(self, stage: int, done: bool) -> tf.keras.Model | None:
        """The stage's frozen teacher, or `None` (also for a finished stage: it trains no more)."""
        if done:
            return None
        if stage == 2 and self.stage2_teacher == "stage1":
            teacher = self.build_model(1)
            self._read_stage1_weights(teacher)
            return teacher
        return self._teacher() if self.teacher is not None else None

    def _teacher(self) -> tf.keras.Model:
        if self._teacher_model is None:
            teacher = self.teacher
            if not isinstance(teacher, tf.keras.Model):
                teacher = teacher()
            self._teacher_model = teacher
        return self._teacher_model

    def _loss(self):
        if self.loss is not None:
            return self.loss
        return tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def _optimizer(self, stage: int, model: tf.keras.Model, epochs: int, steps: int):
        learning_rate = self.learning_rates[stage - 1]
        if self.schedule == "epochwise":
            schedule = EpochwiseLinearDecay(learning_rate, epochs, steps)
        else:
            schedule = StepwiseLinearDecay(learning_rate, epochs * steps)
        if self.optimizer_fn is not None:
            return self.optimizer_fn(stage, schedule, model)
        decay_filter = (
            official_decay_filter(model) if self.decay_filter == "official" else is_latent_weight
        )
        return StageAwareOptimizer(
            OfficialAdam(schedule),
            stage=stage,
            weight_decay=self.weight_decay if stage == 1 else 0.0,
            decay_form=self.decay_form,
            decay_filter=decay_filter,
        )

    def _tracking_callbacks(self, stage: int, fit_model: tf.keras.Model) -> dict:
        tracking = {}
        if self.track_sign_flips:
            tracking["ff_ratio"] = FFRatio(
                log_step_value=self.ff_step_values, every_n_steps=self.tracking_every_n_steps
            )
            tracking["c2i_ratio"] = C2IRatio()
        if self.track_saturation:
            tracking["saturation"] = BinarizerSaturation(every_n_steps=self.tracking_every_n_steps)
        for callback in tracking.values():
            callback.build(fit_model)
        return tracking

    def _stage1_checkpoint(self) -> tuple[StageStore, StageState]:
        store = StageStore(self.stage_dir(1), 1, self.keep_checkpoints)
        state = store.load_state()
        if state is None or not state.done:
            raise ValueError(
                f"stage 2 starts from stage 1, which is not done in {self.output_dir!r}: run "
                "stage 1 first (run() does both)."
            )
        return store, state

    def _read_stage1_weights(self, model: tf.keras.Model) -> None:
        """Loads stage 1's `stage2_init` weights (best or last) into `model`."""
        store, state = self._stage1_checkpoint()
        name = state.best_checkpoint if self.stage2_init == "best" else state.last_checkpoint
        if name is None:
            raise ValueError("stage 1 recorded no best epoch; use stage2_init='last'.")
        status = tf.train.Checkpoint(weights=list(model.weights)).read(
            store.checkpoint_prefix(name)
        )
        status.expect_partial().assert_existing_objects_matched()

    def _initialise_from_stage1(self, student: tf.keras.Model, tracking: dict) -> None:
        self._read_stage1_weights(student)
        if self.c2i_reference == "training":
            store, state = self._stage1_checkpoint()
            # The stage-1 reference signs, read from stage 1's last checkpoint.
            c2i = tracking["c2i_ratio"]
            tf.train.Checkpoint(c2i_ratio=c2i.state).read(
                store.checkpoint_prefix(state.last_checkpoint)
            ).expect_partial()


def _validation_epochs(epochs: int, every: int) -> list[int]:
    """The 1-based epochs to validate after (Keras' `validation_freq`): every `every`-th and
    the last."""
    return sorted({*range(every, epochs + 1, every), epochs})


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")
