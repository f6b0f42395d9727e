"""Two-stage training: stage hand-off, atomic checkpoints, and kill-and-resume equivalence."""

import json
import os

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.config import ConfigError, RunConfig
from adambnn_tf.distillation import distribution_loss
from adambnn_tf.layers import RPReLU
from adambnn_tf.optimizers import StageAwareOptimizer
from adambnn_tf.quantizers import RealLatentWeight, ScaledWeightSign
from adambnn_tf.training import StageState, StageStore, TwoStageTraining

EPOCHS = (2, 2)


def build_model(stage: int) -> tf.keras.Model:
    """A tiny ReActNet-like BNN; layer names are fixed so that log keys are stable."""
    inputs = tf.keras.Input((6, 6, 2))
    x = tf.keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = tf.keras.layers.BatchNormalization(epsilon=1e-5, name="stem_bn")(x)
    for index in (1,):
        x = lq.layers.QuantConv2D(
            4,
            3,
            padding="same",
            input_quantizer="rsign",
            kernel_quantizer="real_latent_weight" if stage == 1 else "scaled_weight_sign",
            kernel_constraint=None if stage == 1 else "weight_clip",
            kernel_initializer=tf.keras.initializers.RandomUniform(-0.05, 0.05),
            use_bias=False,
            name=f"binary{index}",
        )(x)
        x = tf.keras.layers.BatchNormalization(epsilon=1e-5, name=f"bn{index}")(x)
        x = RPReLU(name=f"rprelu{index}")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3, name="fc")(x), name=f"tiny{stage}")


def _data():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(16, 6, 6, 2)).astype("float32")
    labels = rng.integers(0, 3, size=16)
    train = tf.data.Dataset.from_tensor_slices((images, labels))
    validation = tf.data.Dataset.from_tensor_slices((images[:8], labels[:8])).batch(8)
    return train, validation


def _config(output_dir, epochs=EPOCHS, **settings) -> RunConfig:
    """The run configuration of these tests: `settings` by dotted key, "." spelled "__"."""
    overrides = {
        "output_dir": str(output_dir),
        "stage1.epochs": epochs[0],
        "stage2.epochs": epochs[1],
        "tracking.saturation": False,
    }
    overrides.update({key.replace("__", "."): value for key, value in settings.items()})
    return RunConfig().with_overrides(overrides)


class _SimulatedKillError(Exception):
    pass


class _KillAfter(tf.keras.callbacks.Callback):
    def __init__(self, batches: int):
        super().__init__()
        self.batches = batches
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.batches:
            raise _SimulatedKillError(f"killed after {self.batches} batches")


def _training(output_dir, kill_in_stage=None, kill_after=0):
    def callbacks_fn(stage):
        return [_KillAfter(kill_after)] if stage == kill_in_stage else []

    config = _config(
        output_dir,
        stage1__learning_rate=2e-2,
        stage2__learning_rate=2e-2,
        stage1__weight_decay=1e-2,
        training__seed=7,
        training__schedule="epochwise",
        training__stage2_init="best",
        training__stage2_init_metric="accuracy",
        tracking__c2i_reference="training",
    )
    return TwoStageTraining(build_model, config, callbacks_fn=callbacks_fn, verbose=0)


_BATCHES = {"batch_size": 4, "shuffle_buffer": 16}


def _assert_same_stage(one, two):
    assert one.history.keys() == two.history.keys()
    for key in one.history:
        np.testing.assert_array_equal(one.history[key], two.history[key], err_msg=key)
    for a, b in zip(one.model.weights, two.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)
    slots_one, slots_two = one.optimizer.get_weights(), two.optimizer.get_weights()
    assert len(slots_one) == len(slots_two) > 1
    for a, b in zip(slots_one, slots_two, strict=True):
        np.testing.assert_array_equal(a, b)
    assert (one.best_epoch, one.best_value) == (two.best_epoch, two.best_value)


def test_killed_in_both_stages_and_resumed_equals_uninterrupted(tmp_path):
    train, _ = _data()
    reference = _training(tmp_path / "reference").run(train, **_BATCHES)

    resumed_dir = tmp_path / "resumed"
    with pytest.raises(_SimulatedKillError):  # in stage 1, epoch 2 (4 batches per epoch)
        _training(resumed_dir, kill_in_stage=1, kill_after=6).run(train, **_BATCHES)
    state = json.loads((resumed_dir / "stage1" / "state.json").read_text())
    assert state["completed_epochs"] == 1 and not state["done"]
    with pytest.raises(_SimulatedKillError):  # stage 1 finishes, then stage 2 dies in epoch 2
        _training(resumed_dir, kill_in_stage=2, kill_after=5).run(train, **_BATCHES)
    assert json.loads((resumed_dir / "stage2" / "state.json").read_text())["completed_epochs"] == 1
    resumed = _training(resumed_dir).run(train, **_BATCHES)

    for one, two in zip(reference, resumed, strict=True):
        _assert_same_stage(one, two)
    stage1, stage2 = reference
    # The recipe: stage 1 decays the real latent weights, stage 2 binarizes without decay.
    assert isinstance(stage1.model.get_layer("binary1").kernel_quantizer, RealLatentWeight)
    assert isinstance(stage2.model.get_layer("binary1").kernel_quantizer, ScaledWeightSign)
    assert (
        isinstance(stage1.optimizer, StageAwareOptimizer) and stage1.optimizer.weight_decay == 1e-2
    )
    assert stage2.optimizer.weight_decay == 0.0
    assert int(stage2.optimizer.iterations.numpy()) == EPOCHS[1] * 4  # fresh optimizer
    for key in ("ff_ratio", "ff_ratio_run", "c2i_ratio", "ff_ratio/binary1", "accuracy"):
        assert len(stage2.history[key]) == EPOCHS[1], key
    assert max(stage1.history["ff_ratio"]) > 0
    # No temporary files are left, and only the checkpoints that state.json names remain.
    for stage in ("stage1", "stage2"):
        names = set(os.listdir(resumed_dir / stage))
        state = json.loads((resumed_dir / stage / "state.json").read_text())
        assert {"state.json", state["last_checkpoint"], state["best_checkpoint"]} <= names
        allowed = {f"{kind}_{epoch:04d}" for kind in ("epoch", "best") for epoch in range(2)}
        assert names - {"state.json"} <= allowed  # no temporary folders or files left


def _teacher() -> tf.keras.Model:
    inputs = tf.keras.Input((6, 6, 2))
    x = tf.keras.layers.Flatten()(inputs)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3, name="teacher_fc")(x), name="teacher")


def test_stage2_starts_from_stage1_best_or_last_with_distillation(tmp_path):
    train, _ = _data()
    teacher = _teacher()
    teacher_weights = [w.numpy() for w in teacher.weights]

    def training(stage2_init):
        config = _config(
            tmp_path,
            epochs=(2, 1),
            stage1__learning_rate=2e-2,
            stage2__learning_rate=2e-2,
            training__stage2_init=stage2_init,
            training__stage2_init_metric="loss",
            tracking__sign_flips=False,
        )
        return TwoStageTraining(build_model, config, teacher=teacher, verbose=0)

    stage1 = training("best").run_stage(1, train, batch_size=4)
    # Loading stage 1's last checkpoint into a stage-2 model reproduces stage 1's weights.
    status_model = build_model(2)
    training("last")._initialise_from_stage1(status_model, {})
    for a, b in zip(stage1.model.weights, status_model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    best_model = build_model(2)
    training("best")._initialise_from_stage1(best_model, {})
    store = StageStore(str(tmp_path / "stage1"), 1)
    state = store.load_state()
    assert state.done and state.best_epoch in (0, 1)
    assert state.history["loss"][state.best_epoch] == min(state.history["loss"])
    expected = build_model(1)
    tf.train.Checkpoint(weights=expected.weights).read(
        store.checkpoint_prefix(state.best_checkpoint)
    ).expect_partial()
    for a, b in zip(expected.weights, best_model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Only weights are carried over: stage 2 gets a fresh optimizer.
    stage2 = training("best").run_stage(2, train, batch_size=4)
    assert int(stage2.optimizer.iterations.numpy()) == 4
    # Distillation: the loss is the soft-target loss, and the teacher never moved.
    assert len(stage2.history["loss"]) == 1
    for before, after in zip(teacher_weights, teacher.weights, strict=True):
        np.testing.assert_array_equal(before, after.numpy())


def test_stage2_distils_the_stage1_model_and_counts_only_the_students_binarizers(tmp_path):
    train, _ = _data()
    images, labels = (np.stack(part) for part in zip(*train.as_numpy_iterator(), strict=True))
    config = _config(
        tmp_path,
        epochs=(2, 1),
        stage1__learning_rate=5e-2,
        stage2__learning_rate=5e-2,
        distillation__stage2_teacher="stage1",
        tracking__saturation=True,
    )
    training = TwoStageTraining(build_model, config, verbose=0)
    # One step per epoch: the epoch's logs are the first step's.
    stage1, stage2 = training.run(train, batch_size=16, shuffle_buffer=16)
    # The teacher is stage 1's final model; the student starts from the same weights.
    teacher, student = build_model(1), build_model(2)
    for model in (teacher, student):
        model.set_weights(stage1.model.get_weights())
    teacher_logits = teacher(images, training=False)
    student_logits = student(images, training=True)
    expected_loss = float(tf.reduce_mean(distribution_loss(teacher_logits, student_logits)))
    label_loss = float(
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, student_logits)
    )
    assert abs(expected_loss - label_loss) > 1e-3  # the two losses are told apart
    assert stage2.history["loss"][0] == pytest.approx(expected_loss, rel=1e-5)
    # Saturation counts the student's binarizer only, not the teacher's, which also runs.
    per_layer = [key for key in stage2.history if key.startswith("saturation/")]
    assert len(per_layer) == 1 and per_layer[0].startswith("saturation/binary1/")
    binarizer_inputs = (
        tf.keras.Model(student.input, student.get_layer("stem_bn").output)(images, training=True)
        + student.get_layer("binary1").input_quantizer.threshold
    )
    assert stage2.history["saturation"][0] == pytest.approx(
        float(np.mean(np.abs(binarizer_inputs) > 1.0))
    )
    with pytest.raises(ConfigError, match="distillation.stage2_teacher: 'resnet' is not one of"):
        TwoStageTraining(build_model, _config(tmp_path, distillation__stage2_teacher="resnet"))
    with pytest.raises(ConfigError, match="one-step scheme skips"):
        TwoStageTraining(
            build_model,
            _config(tmp_path, distillation__stage2_teacher="stage1", training__scheme="one-step"),
        )


def test_failed_checkpoint_write_keeps_the_committed_state(tmp_path, monkeypatch):
    store = StageStore(str(tmp_path), stage=1, keep_last=1)
    variable = tf.Variable([1.0, 2.0])
    checkpoint = tf.train.Checkpoint(v=variable)
    state = StageState(stage=1, completed_epochs=1)
    state.last_checkpoint = store.write_checkpoint(checkpoint, "epoch_0000")
    store.commit(state)

    def broken_write(self, prefix, options=None):
        open(prefix + ".index", "w").close()  # a partial file, then the "kill"
        raise OSError("disk full")

    variable.assign([5.0, 6.0])
    monkeypatch.setattr(tf.train.Checkpoint, "write", broken_write)
    with pytest.raises(OSError):
        store.write_checkpoint(checkpoint, "epoch_0001")
    monkeypatch.undo()
    assert store.load_state().last_checkpoint == "epoch_0000"
    assert sorted(os.listdir(tmp_path)) == ["epoch_0000", "state.json"]
    tf.train.Checkpoint(v=variable).read(store.checkpoint_prefix("epoch_0000"))
    np.testing.assert_array_equal(variable.numpy(), [1.0, 2.0])


def test_bad_arguments_are_explained(tmp_path):
    with pytest.raises(ConfigError, match="stage2.epochs must be positive"):
        TwoStageTraining(build_model, _config(tmp_path, epochs=(1, 0)))
    with pytest.raises(ConfigError, match=r"training.stage2_init: 'first' is not one of"):
        TwoStageTraining(build_model, _config(tmp_path, training__stage2_init="first"))
    train, _ = _data()
    best = _config(tmp_path, epochs=(1, 1), training__stage2_init="best")
    with pytest.raises(ValueError, match="validation_data"):
        TwoStageTraining(build_model, best).run(train, batch_size=4)
    with pytest.raises(ValueError, match="stage 1"):
        TwoStageTraining(build_model, _config(tmp_path)).run_stage(2, train, batch_size=4)


class _LearningRates(tf.keras.callbacks.Callback):
    """Records the learning rate each update of the stage uses."""

    def __init__(self):
        super().__init__()
        self.values: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self.model.optimizer
        self.values.append(float(optimizer.learning_rate(optimizer.iterations)))


def test_each_stage_decays_its_own_learning_rate(tmp_path):
    train, _ = _data()
    recorders = {1: _LearningRates(), 2: _LearningRates()}
    config = _config(
        tmp_path,
        epochs=(2, 1),
        stage1__learning_rate=2e-2,
        stage2__learning_rate=5e-3,
        training__schedule="stepwise",
    )
    training = TwoStageTraining(
        build_model, config, callbacks_fn=lambda stage: [recorders[stage]], verbose=0
    )
    training.run(train, batch_size=4)
    # 16 examples in batches of 4: 4 updates per epoch, lr_0 * (1 - t / T) at update t.
    np.testing.assert_allclose(recorders[1].values, 2e-2 * (1 - np.arange(8) / 8), rtol=1e-6)
    np.testing.assert_allclose(recorders[2].values, 5e-3 * (1 - np.arange(4) / 4), rtol=1e-6)
    with pytest.raises(ConfigError, match="stage2.learning_rate must be positive"):
        TwoStageTraining(build_model, _config(tmp_path, stage2__learning_rate=-1.0))


def test_stage2_c2i_counts_signs_unchanged_since_the_start_of_stage2(tmp_path):
    train, _ = _data()
    config = _config(tmp_path, stage1__learning_rate=5e-2, stage2__learning_rate=5e-2)
    training = TwoStageTraining(build_model, config, verbose=0)
    stage1 = training.run_stage(1, train, batch_size=4)
    stage1_end = stage1.model.get_layer("binary1").kernel.numpy()
    stage2 = training.run_stage(2, train, batch_size=4)
    stage2_end = stage2.model.get_layer("binary1").kernel.numpy()
    # The reference is the stage-1 result that stage 2 starts from, not stage 1's start.
    unchanged_since_stage2_start = np.mean(np.sign(stage2_end) == np.sign(stage1_end))
    assert stage2.history["c2i_ratio"][-1] == pytest.approx(unchanged_since_stage2_start)
    assert unchanged_since_stage2_start < 1.0  # signs did flip in stage 2


def test_validation_every_n_epochs_keeps_histories_aligned_across_a_kill(tmp_path):
    train, validation = _data()

    def training(output_dir, kill_after=0):
        config = _config(
            output_dir,
            epochs=(3, 1),
            stage1__learning_rate=2e-2,
            stage2__learning_rate=2e-2,
            training__seed=7,
            tracking__validate_every=2,
        )
        return TwoStageTraining(
            build_model,
            config,
            callbacks_fn=lambda stage: [_KillAfter(kill_after)] if kill_after else [],
            verbose=0,
        )

    stage1, stage2 = training(tmp_path / "whole").run(train, validation, **_BATCHES)
    # Validation after epochs 2 and 3 (the last) of stage 1, and the only epoch of stage 2.
    val_accuracy = stage1.history["val_accuracy"]
    assert np.isnan(val_accuracy[0]) and not np.isnan(val_accuracy[1:]).any()
    assert len(stage1.history["loss"]) == 3 and not np.isnan(stage1.history["loss"]).any()
    stage1.model.compile(metrics=["accuracy"])
    assert val_accuracy[-1] == pytest.approx(stage1.model.evaluate(validation, verbose=0)[-1])
    assert len(stage2.history["val_accuracy"]) == 1 and not np.isnan(stage2.history["val_loss"][0])

    # Killed in epoch 2 (4 steps per epoch), then resumed: the same aligned history.
    with pytest.raises(_SimulatedKillError):
        training(tmp_path / "killed", kill_after=6).run(train, validation, **_BATCHES)
    resumed, _ = training(tmp_path / "killed").run(train, validation, **_BATCHES)
    assert resumed.history.keys() == stage1.history.keys()
    for key in stage1.history:
        np.testing.assert_array_equal(resumed.history[key], stage1.history[key], err_msg=key)

    with pytest.raises(ConfigError, match="needs a validation after every epoch"):
        TwoStageTraining(
            build_model,
            _config(tmp_path, tracking__validate_every=2, training__stage2_init="best"),
        )
    with pytest.raises(ConfigError, match="tracking.validate_every must be positive"):
        TwoStageTraining(build_model, _config(tmp_path, tracking__validate_every=0))


def _recovery_training(output_dir, kill_in_stage=None, kill_after=0):
    def callbacks_fn(stage):
        return [_KillAfter(kill_after)] if stage == kill_in_stage else []

    config = _config(
        output_dir,
        epochs=(3, 2),
        stage1__learning_rate=2e-2,
        stage2__learning_rate=2e-2,
        stage1__weight_decay=1e-2,
        training__seed=7,
        tracking__c2i_reference="training",
    )
    return TwoStageTraining(build_model, config, callbacks_fn=callbacks_fn, verbose=0)


def _truncate_checkpoint(folder) -> None:
    (data,) = folder.glob("ckpt.data-*")
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])


def test_a_truncated_newest_checkpoint_resumes_from_the_epoch_before(tmp_path, caplog):
    train, _ = _data()
    reference = _recovery_training(tmp_path / "reference").run(train, **_BATCHES)
    killed = tmp_path / "killed"
    with pytest.raises(_SimulatedKillError):  # in epoch 3 of stage 1: epochs 1 and 2 committed
        _recovery_training(killed, kill_in_stage=1, kill_after=10).run(train, **_BATCHES)
    _truncate_checkpoint(killed / "stage1" / "epoch_0001")
    with caplog.at_level("WARNING"):
        resumed = _recovery_training(killed).run(train, **_BATCHES)
    assert "epoch_0001 is damaged" in caplog.text
    assert (killed / "stage1" / "corrupt_epoch_0001").is_dir()  # set aside, not deleted
    for one, two in zip(reference, resumed, strict=True):
        _assert_same_stage(one, two)


def test_an_unreadable_state_file_falls_back_to_the_state_saved_with_the_checkpoint(tmp_path):
    train, _ = _data()
    reference = _recovery_training(tmp_path / "reference").run(train, **_BATCHES)
    killed = tmp_path / "killed"
    with pytest.raises(_SimulatedKillError):
        _recovery_training(killed, kill_in_stage=1, kill_after=10).run(train, **_BATCHES)
    (killed / "stage1" / "state.json").write_text('{"stage": 1, "completed_ep')
    resumed = _recovery_training(killed).run(train, **_BATCHES)
    for one, two in zip(reference, resumed, strict=True):
        _assert_same_stage(one, two)


def test_damaged_stage1_checkpoints_do_not_block_stage2_that_has_its_own(tmp_path):
    train, _ = _data()
    reference = _recovery_training(tmp_path / "reference").run(train, **_BATCHES)
    killed = tmp_path / "killed"
    with pytest.raises(_SimulatedKillError):  # in epoch 2 of stage 2: its epoch 1 committed
        _recovery_training(killed, kill_in_stage=2, kill_after=6).run(train, **_BATCHES)
    for folder in (killed / "stage1").glob("epoch_*"):
        _truncate_checkpoint(folder)
    stage1, stage2 = _recovery_training(killed).run(train, **_BATCHES)
    assert stage1.model is None and stage1.history == reference[0].history
    _assert_same_stage(reference[1], stage2)
