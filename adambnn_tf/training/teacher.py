"""Training the real-valued teacher of knowledge distillation, resumable per epoch."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence

import tensorflow as tf

from adambnn_tf._files import save_model_atomically, write_atomically
from adambnn_tf.optimizers import OfficialAdam

__all__ = ["TEACHER_MODEL_FILE", "train_teacher"]

TEACHER_MODEL_FILE = "model.h5"
_STATE_FILE = "state.json"


def train_teacher(
    build_model: Callable[[], tf.keras.Model],
    train_batches: Callable[[int], tf.data.Dataset],
    output_dir: str | os.PathLike,
    *,
    epochs: int,
    steps_per_epoch: int,
    learning_rate: float = 2e-3,
    validation_data: tf.data.Dataset | None = None,
    callbacks: Sequence[tf.keras.callbacks.Callback] = (),
    strategy: tf.distribute.Strategy | None = None,
    seed: int | None = None,
    verbose: int = 0,
) -> tuple[tf.keras.Model, dict[str, list[float]]]:
    """Trains a real-valued teacher with Adam and a linear decay to 0, one epoch at a time.

    After every epoch the model and its optimizer are checkpointed (TensorFlow's
    `CheckpointManager`) and `state.json` is rewritten atomically, so a killed run resumes
    at the last finished epoch with the same data order. The finished teacher is saved as
    `output_dir/model.h5` (written to a temporary file, then renamed); once it exists, the
    function only loads it.

    !!! example
        ```python
        from adambnn_tf.zoo import ResNetTeacher

        teacher, history = train_teacher(
            lambda: ResNetTeacher(num_classes=10, classifier_activation=None),
            lambda epoch: train_dataset.shuffle(10_000, seed=epoch),
            "runs/demo/teacher",
            epochs=5,
            steps_per_epoch=468,
        )
        ```

    # Arguments
        build_model: returns the uncompiled teacher (logits out).
        train_batches: `epoch -> tf.data.Dataset` of `(images, labels)` batches for that epoch.
        output_dir: the teacher's folder (checkpoints, state, final model).
        epochs: number of epochs.
        steps_per_epoch: batches per epoch (the length of the linear decay is
            `epochs * steps_per_epoch`).
        learning_rate: the initial learning rate.
        validation_data: optional dataset evaluated after each epoch.
        callbacks: extra Keras callbacks for each epoch's `fit`.
        strategy: the `tf.distribute` strategy (default: the current one).
        seed: optional seed set before the model is built (reproducible initial weights).
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
    os.makedirs(output_dir, exist_ok=True)
    final_path = os.path.join(output_dir, TEACHER_MODEL_FILE)
    state_path = os.path.join(output_dir, _STATE_FILE)
    state = {"completed_epochs": 0, "history": {}}
    if os.path.exists(state_path):
        with open(state_path) as file:
            state = json.load(file)
    if os.path.exists(final_path):
        return tf.keras.models.load_model(final_path, compile=False), state["history"]

    strategy = strategy or tf.distribute.get_strategy()
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = build_model()
        schedule = tf.keras.optimizers.schedules.PolynomialDecay(
            learning_rate, epochs * steps_per_epoch, end_learning_rate=0.0
        )
        optimizer = OfficialAdam(schedule)
        model.compile(
            optimizer,
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    checkpoint_dir = os.path.join(output_dir, "checkpoints")
    # Two kept: a kill between saving and rewriting the state leaves the recorded one intact.
    manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir, max_to_keep=2)
    if state["completed_epochs"] > 0:
        recorded = os.path.join(checkpoint_dir, state["checkpoint"])
        checkpoint.restore(recorded).assert_existing_objects_matched()
    for epoch in range(state["completed_epochs"], epochs):
        history = model.fit(
            train_batches(epoch),
            epochs=epoch + 1,
            initial_epoch=epoch,
            steps_per_epoch=steps_per_epoch,
            validation_data=validation_data,
            callbacks=list(callbacks),
            verbose=verbose,
        )
        for key, values in history.history.items():
            state["history"].setdefault(key, []).extend(float(value) for value in values)
        state["checkpoint"] = os.path.basename(manager.save())
        state["completed_epochs"] = epoch + 1
        write_atomically(state_path, json.dumps(state, indent=1))
    save_model_atomically(model, final_path)
    return model, state["history"]
