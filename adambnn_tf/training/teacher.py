"""Training the real-valued teacher of knowledge distillation, resumable per epoch.

The teacher runs the same per-epoch loop as the stages (`adambnn_tf.training.epoch_loop`):
the same atomic checkpoints and `state.json`, in its own folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import tensorflow as tf

from adambnn_tf._files import save_model_atomically
from adambnn_tf.optimizers import OfficialAdam
from adambnn_tf.schedules import linear_decay
from adambnn_tf.training.data import training_dataset
from adambnn_tf.training.epoch_loop import Phase, fit_resumably, restore_last_epoch
from adambnn_tf.training.stage_store import StageState, StageStore
from adambnn_tf.training.two_stage import create_slots

__all__ = ["TEACHER_MODEL_FILE", "TEACHER_PHASE", "train_teacher"]

TEACHER_MODEL_FILE = "model.h5"
TEACHER_PHASE = "teacher"
"""The phase name of the teacher in its `state.json`."""


def train_teacher(
    build_model: Callable[[], tf.keras.Model],
    train_batches: Callable[[int], tf.data.Dataset],
    output_dir: str | os.PathLike,
    *,
    epochs: int,
    steps_per_epoch: int,
    learning_rate: float,
    schedule: str,
    seed: int,
    validation_data: tf.data.Dataset | None = None,
    callbacks: Sequence[tf.keras.callbacks.Callback] = (),
    strategy: tf.distribute.Strategy | None = None,
    verbose: int = 0,
) -> tuple[tf.keras.Model, dict[str, list[float]]]:
    """Trains a real-valued teacher with Adam and a linear decay to 0, one epoch at a time.

    After every epoch the model and its optimizer are checkpointed and `state.json` is
    rewritten atomically, so a killed run resumes at the last finished epoch with the same
    data order. The finished teacher is also saved as `output_dir/model.h5`; once the phase is
    done, the function only restores it.

    !!! example
        ```python
        from adambnn_tf.zoo import ResNetTeacher

        teacher, history = train_teacher(
            lambda: ResNetTeacher(num_classes=10, classifier_activation=None),
            lambda epoch: train_dataset.shuffle(10_000, seed=epoch),
            "runs/demo/teacher",
            epochs=5,
            steps_per_epoch=468,
            learning_rate=2e-3,
            schedule="stepwise",
            seed=0,
        )
        ```

    # Arguments
        build_model: returns the uncompiled teacher (logits out).
        train_batches: `epoch -> tf.data.Dataset` of `(images, labels)` batches for that epoch.
        output_dir: the teacher's folder (checkpoints, state, final model).
        epochs: number of epochs.
        steps_per_epoch: batches per epoch.
        learning_rate: the initial learning rate (the main job uses stage 1's).
        schedule: the linear decay's form, `"stepwise"` or `"epochwise"`.
        seed: the seed set before the model is built (reproducible initial weights).
        validation_data: optional dataset evaluated after each epoch.
        callbacks: extra Keras callbacks for `fit`.
        strategy: the `tf.distribute` strategy (default: the current one).
        verbose: Keras verbosity.

    # Returns
        The trained teacher and its per-epoch history (`loss`, `accuracy`, ...).

    # Raises
        ValueError: for `epochs` or `steps_per_epoch` below 1.
    """
    if epochs < 1 or steps_per_epoch < 1:
        raise ValueError(
            f"epochs and steps_per_epoch must be positive, got {epochs} and {steps_per_epoch}."
        )
    output_dir = os.fspath(output_dir)
    store = StageStore(output_dir, TEACHER_PHASE)
    state = store.load_state() or StageState(stage=TEACHER_PHASE)
    strategy = strategy or tf.distribute.get_strategy()
    tf.keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = build_model()
        optimizer = OfficialAdam(linear_decay(schedule, learning_rate, epochs, steps_per_epoch))
        model.compile(
            optimizer,
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        create_slots(optimizer, model.trainable_variables)
    phase = Phase(
        store=store,
        state=state,
        fit_model=model,
        checkpoint=tf.train.Checkpoint(model=model, optimizer=optimizer),
        weights_checkpoint=tf.train.Checkpoint(weights=list(model.weights)),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
    )
    restore_last_epoch(phase)
    final_path = os.path.join(output_dir, TEACHER_MODEL_FILE)
    if not state.done:
        fit_resumably(
            phase,
            lambda first_epoch: training_dataset(
                lambda _, epoch: train_batches(epoch), 0, first_epoch, epochs, seed
            ),
            validation_data=validation_data,
            callbacks=callbacks,
            verbose=verbose,
        )
    if not os.path.exists(final_path):
        save_model_atomically(model, final_path)
    return model, state.history
