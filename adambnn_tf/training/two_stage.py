"""The two-stage AdamBNN recipe: stage 1 then stage 2, with atomic per-epoch checkpoints."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import tensorflow as tf

from adambnn_tf.callbacks import BinarizerSaturation, C2IRatio, FFRatio
from adambnn_tf.config import RunConfig
from adambnn_tf.distillation import DistillationModel
from adambnn_tf.optimizers import OfficialAdam, StageAwareOptimizer, official_decay_filter
from adambnn_tf.quantizers import RSign, is_latent_weight
from adambnn_tf.schedules import linear_decay
from adambnn_tf.training.data import TrainData, steps_per_epoch_of, training_dataset
from adambnn_tf.training.epoch_loop import Phase, fit_resumably, restore_last_epoch
from adambnn_tf.training.stage_store import CorruptCheckpointError, StageState, StageStore

__all__ = ["StageResult", "TwoStageTraining"]

_log = logging.getLogger(__name__)
_STAGES = (1, 2)


@dataclass
class StageResult:
    """The outcome of one stage.

    # Attributes
        model: the trained model of the stage (the student when distilling); `None` for a
            finished stage 1 whose checkpoints were damaged after stage 2 began.
        optimizer: its optimizer, with the state it ended with.
        history: per-epoch logs of the whole stage, resumed parts included.
        best_epoch: the epoch with the best `training.stage2_init_metric` value (`None` when
            stage 2 starts from the last epoch).
        best_value: that value.
        directory: where the stage's checkpoints are.
    """

    model: tf.keras.Model | None
    optimizer: tf.keras.optimizers.legacy.Optimizer | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int | None = None
    best_value: float | None = None
    directory: str = ""


class TwoStageTraining:
    r"""Runs the two-stage AdamBNN recipe with `model.fit`, resumably, as a `RunConfig` says.

    Stage 1 trains `build_model(1)` (binary activations, real latent weights,
    `kernel_quantizer="real_latent_weight"`) with `config.stage1`'s weight decay on the
    decayed parameters (`training.decay_parameters`); stage 2 trains `build_model(2)` (binary
    weights too) with `config.stage2`'s (0 in the recipe), initialised from stage 1's last or
    best weights (`training.stage2_init`), with a fresh optimizer and learning-rate schedule.
    Each stage uses `training.optimizer` (Adam with the official betas and epsilon, or SGD)
    inside a `StageAwareOptimizer`, and the linear decay to 0 of `training.schedule`. The
    model, data, export and output sections of the configuration are the main job's: this
    class reads the stages, `training`, `tracking`, `distillation.stage2_teacher` and
    `output_dir`.

    After every epoch a checkpoint (model, optimizer state, FF/C2I state) and `state.json`
    (epoch, history, best) are written atomically under `output_dir/stage<k>/`. Calling `run`
    again with the same configuration resumes after the last completed epoch: a run killed at
    any point and resumed ends with the same weights, optimizer state, history and FF/C2I
    values as an uninterrupted run, provided that the data order is deterministic (it is for
    the per-epoch shuffling done here; a callable `train_data` must make it so) and that the
    model has no stateful randomness (ReActNet has none; dropout or random augmentation ops
    inside the model would draw different numbers after a restart). Callbacks returned by
    `callbacks_fn` are not checkpointed (e.g. `EarlyStopping` restarts its patience).

    With `teacher`, each stage trains a `DistillationModel(student, teacher)` with the official
    distribution loss (the labels are then only used by the metrics and the validation loss).
    With `distillation.stage2_teacher="stage1"`, stage 2 instead distils the finished stage-1
    model (the weights stage 2 starts from, with real weights): a teacher that costs no
    training of its own, only its forward pass in each stage-2 step.

    !!! example
        ```python
        from adambnn_tf.config import recipe

        def build_model(stage):
            return adambnn_tf.zoo.ReActNetA(stage=stage, num_classes=10, input_shape=(32, 32, 3))

        config = recipe("official-imagenet").with_overrides({"output_dir": "runs/reactnet"})
        training = TwoStageTraining(build_model, config)
        stage1, stage2 = training.run(train_images_labels, validation_data=val_batches)
        stage2.history["ff_ratio"], stage2.model
        ```

    # Arguments
        build_model: `stage -> tf.keras.Model` (uncompiled, logits out). Stage 2's model must
            have the same variables as stage 1's, in the same structure.
        config: the run configuration (validated here).
        loss: the training loss without a teacher, and the validation loss (default: sparse
            cross-entropy from logits).
        metrics: compiled metrics.
        teacher: optional frozen teacher model (or a zero-argument callable building it,
            called under the strategy's scope) for knowledge distillation.
        callbacks_fn: optional `stage -> list of callbacks` added to each stage's `fit`.
        log_ff_per_step: also log each iteration's FF-ratio as `ff_ratio_step` (batch logs),
            e.g. for `adambnn_tf.report.recording.StepMetricCSV`.
        keep_checkpoints: epoch checkpoints kept per stage (the best one is kept too).
        strategy: the `tf.distribute` strategy (default: the current one).
        verbose: `fit`'s verbosity.

    # Raises
        ConfigError: for a bad configuration (see the messages).
    """

    def __init__(
        self,
        build_model: Callable[[int], tf.keras.Model],
        config: RunConfig,
        *,
        loss=None,
        metrics: Sequence = ("accuracy",),
        teacher: tf.keras.Model | Callable[[], tf.keras.Model] | None = None,
        callbacks_fn: Callable[[int], list[tf.keras.callbacks.Callback]] | None = None,
        log_ff_per_step: bool = False,
        keep_checkpoints: int = 2,
        strategy: tf.distribute.Strategy | None = None,
        verbose: int = 1,
    ):
        config.validate()
        self.build_model = build_model
        self.config = config
        self.output_dir = os.fspath(config.output_dir)
        self.one_step = config.training.scheme == "one-step"
        # The best epoch is tracked only where stage 2 needs it.
        self.monitor = (
            config.training.stage2_init_metric
            if config.training.stage2_init == "best" and not self.one_step
            else None
        )
        self.loss = loss
        self.metrics = list(metrics)
        self.teacher = teacher
        self.callbacks_fn = callbacks_fn
        self.log_ff_per_step = log_ff_per_step
        self.keep_checkpoints = keep_checkpoints
        self.strategy = strategy
        self.verbose = verbose
        self._teacher_model = None

    def stage_dir(self, stage: int) -> str:
        """The checkpoint directory of `stage`."""
        return os.path.join(self.output_dir, f"stage{stage}")

    def run(
        self,
        train_data: TrainData,
        validation_data=None,
        *,
        batch_size: int | None = None,
        shuffle_buffer: int | None = None,
        steps_per_epoch: int | None = None,
    ) -> tuple[StageResult | None, StageResult]:
        """Runs (or resumes) stage 1, then stage 2 (only stage 2 with the one-step scheme).

        # Arguments
            train_data: a `tf.data.Dataset` of `(x, y)` (batched, or unbatched with
                `batch_size`), or a callable `(stage, epoch) -> dataset of batches`.
            validation_data: optional validation batches for `fit`.
            batch_size: the batch size for an unbatched `train_data` dataset.
            shuffle_buffer: the shuffle buffer for a `train_data` dataset (per-epoch seeded).
            steps_per_epoch: batches per epoch, when `train_data`'s cardinality is unknown.

        # Returns
            The `StageResult` of stage 1 (`None` for one-step) and of stage 2.

        # Raises
            ValueError: if the best epoch is picked by a validation log but there is no
                `validation_data`.
        """
        if self.monitor and self.monitor.startswith("val_") and validation_data is None:
            raise ValueError(
                f"stage 2 starts from stage 1's best epoch by {self.monitor!r}, which needs "
                "validation_data; pass it, or set training.stage2_init_metric='loss' (or "
                "training.stage2_init='last')."
            )
        data = (train_data, batch_size, shuffle_buffer, steps_per_epoch)
        if self.one_step:
            return None, self.run_stage(2, *data, validation_data=validation_data)
        try:
            first = self.run_stage(1, *data, validation_data=validation_data)
        except CorruptCheckpointError:
            # A finished stage 1 whose checkpoints were all damaged need not block stage 2 when
            # stage 2 has checkpoints of its own: its committed history is all that is left.
            first = self._stage1_from_its_history()
            if first is None:
                raise
        second = self.run_stage(2, *data, validation_data=validation_data)
        return first, second

    def _stage1_from_its_history(self) -> StageResult | None:
        """Stage 1's result without its model, when stage 1 is done and stage 2 has begun."""
        stage1 = StageStore(self.stage_dir(1), 1, self.keep_checkpoints).load_state()
        stage2 = StageStore(self.stage_dir(2), 2, self.keep_checkpoints).load_state()
        if stage1 is None or not stage1.done or stage2 is None or not stage2.completed_epochs:
            return None
        _log.warning("stage 1's checkpoints are damaged; stage 2 resumes from its own.")
        return StageResult(
            model=None,
            history=stage1.history,
            best_epoch=stage1.best_epoch,
            best_value=stage1.best_value,
            directory=self.stage_dir(1),
        )

    def run_stage(
        self,
        stage: int,
        train_data: TrainData,
        batch_size: int | None = None,
        shuffle_buffer: int | None = None,
        steps_per_epoch: int | None = None,
        *,
        validation_data=None,
    ) -> StageResult:
        """Runs (or resumes, or just reloads if done) one stage.

        # Arguments
            stage: 1 or 2. Stage 2 needs stage 1 to be done in the same `output_dir`.
            train_data, batch_size, shuffle_buffer, steps_per_epoch, validation_data: see
                `run`.

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
        epochs = self.config.stage(stage).epochs
        steps = state.steps_per_epoch or steps_per_epoch
        if steps is None:
            steps = steps_per_epoch_of(train_data, stage, shuffle_buffer, batch_size)
        seed = self.config.training.seed

        # The same seed before building makes the initial weights reproducible.
        tf.keras.utils.set_random_seed(seed + stage)
        with strategy.scope():
            student = self.build_model(stage)
            fit_model = student
            teacher = self._teacher_of_stage(stage, state.done)
            if teacher is not None:
                fit_model = DistillationModel(student, teacher, name="distillation")
            optimizer = self._optimizer(stage, student, epochs, steps)
            fit_model.compile(optimizer=optimizer, loss=self._loss(), metrics=self.metrics)
            create_slots(optimizer, student.trainable_variables)
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
        phase = Phase(
            store=store,
            state=state,
            fit_model=fit_model,
            checkpoint=tf.train.Checkpoint(
                model=student, optimizer=optimizer, weights=weights, **states
            ),
            weights_checkpoint=tf.train.Checkpoint(weights=weights),
            epochs=epochs,
            steps_per_epoch=steps,
            monitor=self.monitor,
        )
        if restore_last_epoch(phase):
            _log.info("stage %d: resuming after epoch %d", stage, state.completed_epochs)
        elif stage == 2 and not self.one_step:
            self._initialise_from_stage1(student, tracking)

        fit_resumably(
            phase,
            lambda first_epoch: training_dataset(
                train_data, stage, first_epoch, epochs, seed, shuffle_buffer, batch_size
            ),
            validation_data=validation_data,
            validation_freq=_validation_epochs(epochs, self.config.tracking.validate_every),
            callbacks=[
                *tracking.values(),
                *(self.callbacks_fn(stage) if self.callbacks_fn else []),
            ],
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
        if stage == 2 and self.config.distillation.stage2_teacher == "stage1":
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
        training, stage_config = self.config.training, self.config.stage(stage)
        schedule = linear_decay(training.schedule, stage_config.learning_rate, epochs, steps)
        if training.optimizer == "adam":
            inner = OfficialAdam(schedule)
        else:
            inner = tf.keras.optimizers.legacy.SGD(schedule, momentum=0.9)
        decay_filter = (
            official_decay_filter(model)
            if training.decay_parameters == "official"
            else is_latent_weight
        )
        return StageAwareOptimizer(
            inner,
            stage=stage,
            weight_decay=stage_config.weight_decay,
            decay_form=training.decay_form,
            decay_filter=decay_filter,
        )

    def _tracking_callbacks(self, stage: int, fit_model: tf.keras.Model) -> dict:
        tracking_config = self.config.tracking
        every = tracking_config.track_every
        tracking = {}
        # Per-layer values stay in the logs: the stage's history and TensorBoard record them.
        if tracking_config.sign_flips:
            tracking["ff_ratio"] = FFRatio(
                log_step_value=self.log_ff_per_step, every_n_steps=every, show_per_layer=True
            )
            tracking["c2i_ratio"] = C2IRatio(show_per_layer=True)
        # A float twin (`binary=False`) has no binarizer whose inputs could saturate.
        if tracking_config.saturation and _has_binarizer(fit_model):
            tracking["saturation"] = BinarizerSaturation(every_n_steps=every, show_per_layer=True)
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

    def _read_stage1_weights(self, model: tf.keras.Model) -> tuple[StageStore, StageState]:
        """Loads stage 1's `stage2_init` weights (best or last) into `model`.

        # Returns
            Stage 1's store and committed state.
        """
        store, state = self._stage1_checkpoint()
        best = self.config.training.stage2_init == "best"
        name = state.best_checkpoint if best else state.last_checkpoint
        if name is None:
            raise ValueError("stage 1 recorded no best epoch; use training.stage2_init='last'.")
        status = tf.train.Checkpoint(weights=list(model.weights)).read(
            store.checkpoint_prefix(name)
        )
        status.expect_partial().assert_existing_objects_matched()
        return store, state

    def _initialise_from_stage1(self, student: tf.keras.Model, tracking: dict) -> None:
        store, state = self._read_stage1_weights(student)
        if self.config.tracking.c2i_reference == "training":
            # The stage-1 reference signs, read from stage 1's last checkpoint.
            c2i = tracking["c2i_ratio"]
            tf.train.Checkpoint(c2i_ratio=c2i.state).read(
                store.checkpoint_prefix(state.last_checkpoint)
            ).expect_partial()


def create_slots(optimizer, variables) -> None:
    """Creates the optimizer's slots now, so that a checkpoint restores them directly.

    # Arguments
        optimizer: a legacy Keras optimizer (or a new-style one).
        variables: the variables it trains.
    """
    if hasattr(optimizer, "_create_all_weights"):  # legacy optimizers
        # Private Keras API: the legacy optimizers create their slots lazily on the first
        # update, and no public call creates them earlier (tests/test_two_stage.py fails if
        # it disappears: the resumed optimizer state would not match).
        optimizer._create_all_weights(variables)
    else:
        optimizer.build(variables)


def _has_binarizer(model: tf.keras.Model) -> bool:
    return any(
        isinstance(getattr(layer, "input_quantizer", None), RSign) for layer in model.submodules
    )


def _validation_epochs(epochs: int, every: int) -> list[int]:
    """The 1-based epochs to validate after (Keras' `validation_freq`): every `every`-th and
    the last."""
    return sorted({*range(every, epochs + 1, every), epochs})
