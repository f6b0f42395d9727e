"""FF-ratio, C2I-ratio, binarizer saturation and histograms equal hand counts."""

import csv

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.callbacks import BinarizerSaturation, C2IRatio, FFRatio, LatentWeightHistograms
from adambnn_tf.layers import RPReLU


class _ScriptedModel(tf.keras.Model):
    """Two latent layers whose weights follow a given sequence, one entry per training step."""

    def __init__(self, sequence):
        super().__init__()
        self.first = lq.layers.QuantDense(4, kernel_quantizer="real_latent_weight", name="first")
        self.second = lq.layers.QuantDense(
            2, kernel_quantizer="real_latent_weight", use_bias=False, name="second"
        )
        self.sequence = [tf.constant(np.stack(s), tf.float32) for s in zip(*sequence, strict=True)]
        self.counter = tf.Variable(0, trainable=False)

    def call(self, inputs):
        return self.second(self.first(inputs))

    def train_step(self, data):
        step = self.counter.read_value()
        self.first.kernel.latent_variable.assign(tf.gather(self.sequence[0], step))
        self.second.kernel.latent_variable.assign(tf.gather(self.sequence[1], step))
        self.counter.assign_add(1)
        return {}


def _flip(array, *indices):
    array = array.copy()
    for index in indices:
        array[index] = -array[index]
    return array


def _hand_made_sequence():
    """Kernel values before training and after each of 6 steps (2 epochs of 3 steps)."""
    first = np.full((2, 4), 0.5, np.float32)  # 8 weights, all +
    second = np.full((4, 2), 0.25, np.float32)  # 8 weights, all +
    states = [(first, second)]
    # step 1: 2 flips in `first`.
    first = _flip(first, (0, 0), (1, 3))
    states.append((first, second))
    # step 2: 1 of them flips back; 4 flips in `second`.
    first = _flip(first, (0, 0))
    second = _flip(second, (0, 0), (1, 0), (2, 1), (3, 1))
    states.append((first, second))
    # step 3: a positive weight becomes exactly 0, which is still +1: no flip.
    first = first.copy()
    first[0, 1] = 0.0
    states.append((first, second))
    # step 4: every weight of `second` flips (8).
    second = -second
    states.append((first, second))
    # step 5: magnitudes change, signs do not.
    states.append((first * 3, second * 0.5))
    # step 6: 1 flip in `first`.
    first = _flip(first * 3, (1, 1))
    states.append((first, second * 0.5))
    return states


def _scripted_model():
    """The scripted model at the sequence's starting weights, compiled."""
    states = _hand_made_sequence()
    model = _ScriptedModel(states[1:])
    model(tf.zeros((1, 2)))
    model.first.kernel.latent_variable.assign(states[0][0])
    model.second.kernel.latent_variable.assign(states[0][1])
    model.compile(optimizer="sgd")
    return model


@pytest.mark.parametrize("jit_compile", [False, True])
def test_ff_and_c2i_equal_a_hand_count(tmp_path, jit_compile):
    model = _scripted_model()
    ff = FFRatio(log_step_value=True, jit_compile=jit_compile)
    c2i = C2IRatio(jit_compile=jit_compile)
    csv_path = tmp_path / "log.csv"
    steps = []
    history = model.fit(
        np.zeros((6, 2), np.float32),
        np.zeros((6, 2), np.float32),
        batch_size=2,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[
            tf.keras.callbacks.CSVLogger(str(csv_path)),
            tf.keras.callbacks.LambdaCallback(
                on_train_batch_end=lambda batch, logs: steps.append(logs["ff_ratio_step"])
            ),
            ff,
            c2i,
        ],
    )
    # Flips per step, counted by hand above: 2, 2+4, 0 | 8, 0, 1 over 16 latent weights.
    np.testing.assert_allclose(steps, np.array([2, 5, 0, 8, 0, 1]) / 16, rtol=1e-6)
    np.testing.assert_allclose(history.history["ff_ratio"], [7 / 48, 9 / 48], rtol=1e-6)
    np.testing.assert_allclose(history.history["ff_ratio/first"], [3 / 24, 1 / 24], rtol=1e-6)
    np.testing.assert_allclose(history.history["ff_ratio/second"], [4 / 24, 8 / 24], rtol=1e-6)
    np.testing.assert_allclose(history.history["ff_ratio_run"], [7 / 48, 16 / 96], rtol=1e-6)
    assert ff.run_mean() == pytest.approx(1 / 6)
    # Unchanged signs since the start: first 7/8 and second 4/8, then 6/8 and 4/8.
    np.testing.assert_allclose(history.history["c2i_ratio"], [11 / 16, 10 / 16], rtol=1e-6)
    np.testing.assert_allclose(history.history["c2i_ratio/first"], [7 / 8, 6 / 8], rtol=1e-6)
    # CSVLogger sits *before* the callbacks in the list and still gets the values.
    with open(csv_path) as file:
        rows = list(csv.DictReader(file))
    assert float(rows[1]["ff_ratio"]) == pytest.approx(9 / 48)
    assert float(rows[1]["c2i_ratio"]) == pytest.approx(10 / 16)
    # The hook is removed after training: the model's own train_step is back.
    assert "train_step" not in model.__dict__


def _scripted_fit(model, ff, epochs, steps, initial_epoch=0):
    """Fits the scripted model in epochs of 2 steps, recording `ff_ratio_step` per step."""
    return model.fit(
        np.zeros((6, 2), np.float32),
        np.zeros((6, 2), np.float32),
        batch_size=3,
        epochs=epochs,
        initial_epoch=initial_epoch,
        shuffle=False,
        verbose=0,
        callbacks=[
            ff,
            tf.keras.callbacks.LambdaCallback(
                on_train_batch_end=lambda batch, logs: steps.append(logs["ff_ratio_step"])
            ),
        ],
    ).history


def test_sampled_ff_measures_every_nth_update_across_resumption():
    # Every third step of 3 epochs of 2: steps 0 and 3, with 2 and 8 of 16 signs flipped;
    # epoch 3 has no measured step. Step 3 must compare with the signs after step 2.
    steps = []
    model = _scripted_model()
    history = _scripted_fit(model, FFRatio(log_step_value=True, every_n_steps=3), 3, steps)
    np.testing.assert_allclose(steps, np.array([2, 2, 2, 8, 8, 8]) / 16, rtol=1e-6)
    np.testing.assert_allclose(history["ff_ratio"], [2 / 16, 8 / 16, 0], rtol=1e-6)
    np.testing.assert_allclose(history["ff_ratio/first"], [2 / 8, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(history["ff_ratio/second"], [0, 8 / 8, 0], rtol=1e-6)
    np.testing.assert_allclose(history["ff_ratio_run"], [2 / 16, 10 / 32, 10 / 32], rtol=1e-6)

    # Resumed at epoch 2 with a new callback (a new process): steps are counted from the start
    # of training, so step 3 is measured again (counting from the resumption would measure
    # step 2, with no flip, instead).
    resumed_steps = []
    model = _scripted_model()
    _scripted_fit(model, FFRatio(log_step_value=True, every_n_steps=3), 1, [])
    resumed_ff = FFRatio(log_step_value=True, every_n_steps=3)
    resumed = _scripted_fit(model, resumed_ff, 3, resumed_steps, initial_epoch=1)
    np.testing.assert_allclose(resumed_steps[1:], steps[3:], rtol=1e-6)
    np.testing.assert_allclose(resumed["ff_ratio"], history["ff_ratio"][1:], rtol=1e-6)
    assert resumed_ff.run_mean() == pytest.approx(8 / 16)


@pytest.mark.parametrize("every_n_steps", [0, -1, 1.5, True])
def test_sampling_period_must_be_a_positive_integer(every_n_steps):
    with pytest.raises(ValueError, match="every_n_steps must be"):
        FFRatio(every_n_steps=every_n_steps)
    with pytest.raises(ValueError, match="every_n_steps must be"):
        BinarizerSaturation(every_n_steps=every_n_steps)


def test_c2i_reference_from_another_callback():
    states = _hand_made_sequence()
    model = _ScriptedModel(states[1:])
    model(tf.zeros((1, 2)))
    model.compile(optimizer="sgd")
    reference = [-np.ones((2, 4)), np.ones((4, 2))]  # `first` starts all negative
    c2i = C2IRatio(initial_signs=reference)
    model.first.kernel.latent_variable.assign(states[0][0])
    model.second.kernel.latent_variable.assign(states[0][1])
    history = model.fit(
        np.zeros((2, 2)), np.zeros((2, 2)), batch_size=2, verbose=0, callbacks=[c2i]
    )
    # After step 1, `first` has 2 negative weights (equal to the reference), `second` 8.
    assert history.history["c2i_ratio"][0] == pytest.approx((2 + 8) / 16)
    chained = C2IRatio(initial_signs=c2i)
    other = _ScriptedModel(states[1:])
    other(tf.zeros((1, 2)))
    chained.set_model(other)
    chained.on_train_begin()
    np.testing.assert_array_equal(chained.initial_signs()[0], np.zeros((2, 4), bool))
    chained.on_train_end()
    with pytest.raises(ValueError, match="one per latent weight"):
        bad = C2IRatio(initial_signs=[np.ones((2, 4))])
        bad.set_model(other)
        bad.on_train_begin()


def _tiny_bnn(seed):
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((6, 6, 2))
    x = lq.layers.QuantConv2D(
        4,
        3,
        padding="same",
        input_quantizer="rsign",
        kernel_quantizer="scaled_weight_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
        kernel_initializer=tf.keras.initializers.RandomUniform(-0.01, 0.01),
        name="conv",
    )(inputs)
    x = RPReLU()(x)
    x = tf.keras.layers.Flatten()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3, name="fc")(x))


def _data():
    rng = np.random.default_rng(6)
    return rng.normal(size=(32, 6, 6, 2)).astype("float32") * 2, rng.integers(0, 3, size=32)


def _train(model, record):
    images, labels = _data()
    model.compile(
        tf.keras.optimizers.legacy.Adam(1e-2),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    callbacks = [FFRatio(log_step_value=True), C2IRatio(), BinarizerSaturation()]
    kernels = [model.get_layer("conv").kernel.latent_variable.numpy()]
    if record:
        callbacks.append(
            tf.keras.callbacks.LambdaCallback(
                on_train_batch_end=lambda b, logs: kernels.append(
                    model.get_layer("conv").kernel.latent_variable.numpy()
                )
            )
        )
    history = model.fit(
        images, labels, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=callbacks
    )
    return history.history, kernels


def _hand_counts(kernels):
    signs = [k >= 0 for k in kernels]
    flips = [np.mean(a != b) for a, b in zip(signs[:-1], signs[1:], strict=True)]
    c2i = [np.mean(s == signs[0]) for s in signs[1:]]
    return np.array(flips), np.array(c2i)


def _hand_saturation(model):
    """Share of |x + b| > 1 for the conv's RSign inputs, with the threshold after training.

    The inputs are the raw images (the RSign is the first op), and the threshold moves during
    training, so this is checked on a model whose threshold does not move (lr 0 below)."""
    images, _ = _data()
    threshold = model.get_layer("conv").input_quantizer.threshold.numpy()
    return np.mean(np.abs(images + threshold) > 1)


def test_real_training_matches_hand_count_and_mirrored_strategy(two_cpu_strategy):
    single = _tiny_bnn(seed=4)
    history, kernels = _train(single, record=True)
    flips, c2i = _hand_counts(kernels)
    assert flips.max() > 0  # the tiny initial weights do flip
    np.testing.assert_allclose(history["ff_ratio"], flips.reshape(3, 2).mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(history["ff_ratio_run"][-1], flips.mean(), rtol=1e-5)
    np.testing.assert_allclose(history["c2i_ratio"], c2i[1::2], rtol=1e-5)

    with two_cpu_strategy.scope():
        mirrored = _tiny_bnn(seed=4)
    mirrored_history, _ = _train(mirrored, record=False)
    for key in ("ff_ratio", "ff_ratio_run", "ff_ratio/conv", "c2i_ratio", "saturation"):
        np.testing.assert_allclose(mirrored_history[key], history[key], rtol=1e-4, err_msg=key)


def test_saturation_equals_hand_count_single_and_mirrored(two_cpu_strategy):
    images, labels = _data()
    values = []
    for strategy in (tf.distribute.get_strategy(), two_cpu_strategy):
        with strategy.scope():
            model = _tiny_bnn(seed=2)
            model.compile(tf.keras.optimizers.legacy.SGD(0.0), "sparse_categorical_crossentropy")
        model.get_layer("conv").input_quantizer.threshold.assign([0.3, -0.2])
        saturation = BinarizerSaturation()
        history = model.fit(
            images, labels, batch_size=8, epochs=1, verbose=0, callbacks=[saturation]
        )
        values.append(history.history["saturation"][0])
        assert saturation.layer_names[0].startswith("conv/r_sign")
        assert history.history[f"saturation/{saturation.layer_names[0]}"][0] == values[-1]
    np.testing.assert_allclose(values, [_hand_saturation(model)] * 2, rtol=1e-6)


def test_sampled_tracking_counts_only_the_sampled_steps(two_cpu_strategy):
    # 4 steps of 8 images per epoch, every third step measured: batches 0 and 3 of epoch 1,
    # batch 2 of epoch 2 (training steps 0, 3 and 6).
    images, labels = _data()
    threshold = np.array([0.3, -0.2], np.float32)

    def share(*batches):
        chosen = np.concatenate([images[8 * b : 8 * b + 8] for b in batches])
        return np.mean(np.abs(chosen + threshold) > 1)

    for strategy in (tf.distribute.get_strategy(), two_cpu_strategy):
        with strategy.scope():
            model = _tiny_bnn(seed=2)
            model.compile(tf.keras.optimizers.legacy.SGD(0.0), "sparse_categorical_crossentropy")
        model.get_layer("conv").input_quantizer.threshold.assign(threshold)
        history = model.fit(
            images,
            labels,
            batch_size=8,
            epochs=2,
            shuffle=False,
            verbose=0,
            callbacks=[BinarizerSaturation(every_n_steps=3)],
        )
        np.testing.assert_allclose(history.history["saturation"], [share(0, 3), share(2)])

    # A real training: FF measured in the first step of each of 3 epochs of 2 steps.
    model = _tiny_bnn(seed=4)
    images, labels = _data()
    model.compile(
        tf.keras.optimizers.legacy.Adam(1e-2),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    kernels = [model.get_layer("conv").kernel.latent_variable.numpy()]
    record = tf.keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: kernels.append(
            model.get_layer("conv").kernel.latent_variable.numpy()
        )
    )
    history = model.fit(
        images,
        labels,
        batch_size=16,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[FFRatio(every_n_steps=2), BinarizerSaturation(every_n_steps=2), record],
    )
    flips, _ = _hand_counts(kernels)
    assert flips[::2].max() > 0
    np.testing.assert_allclose(history.history["ff_ratio"], flips[::2], rtol=1e-5)


def test_histograms_are_written(tmp_path):
    model = _tiny_bnn(seed=1)
    images, labels = _data()
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, labels, epochs=2, verbose=0, callbacks=[LatentWeightHistograms(tmp_path)])
    events = list((tmp_path / "latent_weights").glob("events.out.tfevents.*"))
    assert len(events) == 1
    tags = set()
    for record in tf.compat.v1.train.summary_iterator(str(events[0])):
        for value in record.summary.value:
            tags.add((value.tag, record.step))
    assert tags == {("latent_weights/conv", 0), ("latent_weights/conv", 1)}


def test_models_without_latent_weights_are_refused():
    inputs = tf.keras.Input((3,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="no latent weights"):
        FFRatio().set_model(model)
    with pytest.raises(ValueError, match="no RSign"):
        BinarizerSaturation().set_model(model)


@pytest.mark.parametrize("show_per_layer", [False, True])
def test_per_layer_values_reach_the_history_but_not_the_progress_bar(capsys, show_per_layer):
    model = _tiny_bnn(3)
    images, labels = _data()
    model.compile(
        tf.keras.optimizers.legacy.Adam(1e-2),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    callbacks = [
        FFRatio(show_per_layer=show_per_layer),
        C2IRatio(show_per_layer=show_per_layer),
        BinarizerSaturation(show_per_layer=show_per_layer),
    ]
    history = model.fit(
        images, labels, batch_size=16, epochs=3, shuffle=False, verbose=1, callbacks=callbacks
    )
    printed = capsys.readouterr().out
    assert "ff_ratio:" in printed and "c2i_ratio:" in printed and "saturation:" in printed
    assert ("ff_ratio/" in printed) == show_per_layer
    assert ("saturation/" in printed) == show_per_layer
    per_layer = [key for key in history.history if "/" in key]
    assert {key.split("/")[0] for key in per_layer} == {"ff_ratio", "c2i_ratio", "saturation"}
    for key in per_layer:  # one value per epoch, in the History either way
        assert len(history.history[key]) == 3, key
    # One binary layer: its per-layer value is the overall one.
    (ff_conv,) = [key for key in per_layer if key.startswith("ff_ratio/")]
    np.testing.assert_allclose(history.history[ff_conv], history.history["ff_ratio"], rtol=1e-6)
