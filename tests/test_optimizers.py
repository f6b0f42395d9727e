"""StageAwareOptimizer: one step equals PyTorch's Adam/AdamW with the official param groups."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.layers import RPReLU
from adambnn_tf.optimizers import (
    OfficialAdam,
    StageAwareOptimizer,
    official_adam,
    official_decay_filter,
)
from adambnn_tf.quantizers import is_latent_weight

LR = 1e-2
WD = 0.05  # large, so that a missing or doubled decay term shows clearly


def _tiny_model(stage: int, seed: int = 0) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((5, 5, 2))
    x = tf.keras.layers.Conv2D(3, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = lq.layers.QuantConv2D(
        4,
        3,
        padding="same",
        input_quantizer="rsign",
        kernel_quantizer="real_latent_weight" if stage == 1 else "scaled_weight_sign",
        kernel_constraint=None if stage == 1 else "weight_clip",
        use_bias=False,
        name="binary",
    )(x)
    x = RPReLU(name="rprelu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3, name="fc")(x))


def _data(n=8):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, 5, 5, 2)).astype("float32"), rng.integers(0, 3, size=n)


def _gradients(model):
    images, labels = _data()
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, model(images, training=True))
    return tape.gradient(loss, model.trainable_variables)


def _torch_step(weights, grads, decayed, *, decoupled, weight_decay, steps=1):
    """The official update: torch Adam (coupled) or AdamW (decoupled), two param groups."""
    torch = pytest.importorskip(
        "torch", reason="the PyTorch reference needs the optional torch extra (CI installs it)"
    )
    params = [torch.nn.Parameter(torch.tensor(w, dtype=torch.float64)) for w in weights]
    group_b = [p for p, d in zip(params, decayed, strict=True) if d]
    group_a = [p for p, d in zip(params, decayed, strict=True) if not d]
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    optimizer = cls(
        [
            {"params": group_a, "weight_decay": 0.0},
            {"params": group_b, "weight_decay": weight_decay},
        ],
        lr=LR,
        betas=(0.9, 0.999),
        eps=1e-8,
    )
    for _ in range(steps):
        for p, g in zip(params, grads, strict=True):
            p.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("decay_form", ["coupled", "decoupled"])
def test_one_step_equals_pytorch_adam_with_official_groups(stage, decay_form):
    model = _tiny_model(stage)
    variables = model.trainable_variables
    optimizer = StageAwareOptimizer(
        OfficialAdam(LR),
        stage=stage,
        weight_decay=WD if stage == 1 else None,
        decay_form=decay_form,
    )
    decayed = [is_latent_weight(v) for v in variables]
    assert sum(decayed) == 1  # only the binary conv's kernel is a latent weight
    before = [tf.convert_to_tensor(getattr(v, "latent_variable", v)).numpy() for v in variables]
    grads = [g.numpy() for g in _gradients(model)]

    optimizer.apply_gradients(zip([tf.constant(g) for g in grads], variables, strict=True))

    expected = _torch_step(
        before,
        grads,
        decayed,
        decoupled=decay_form == "decoupled",
        weight_decay=WD if stage == 1 else 0.0,
    )
    for variable, want, old in zip(variables, expected, before, strict=True):
        got = tf.convert_to_tensor(getattr(variable, "latent_variable", variable)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=variable.name)
        assert not np.allclose(got, old)


def test_stage_defaults_follow_the_recipe():
    assert StageAwareOptimizer(stage=1).weight_decay == 5e-6
    assert StageAwareOptimizer(stage=2).weight_decay == 0.0
    assert StageAwareOptimizer(stage=2, weight_decay=-1e-7).weight_decay == -1e-7
    adam = official_adam()
    assert (adam.beta_1, adam.beta_2, adam.epsilon) == (0.9, 0.999, 1e-8)


def test_bad_arguments_are_explained():
    with pytest.raises(TypeError, match="legacy"):
        StageAwareOptimizer(tf.keras.optimizers.Adam())
    with pytest.raises(ValueError, match="stage"):
        StageAwareOptimizer(stage=3)
    with pytest.raises(ValueError, match="decay_form"):
        StageAwareOptimizer(decay_form="l1")


def test_official_grouping_selects_convs_and_learnable_biases():
    model = _tiny_model(stage=1)
    chosen = official_decay_filter(model)
    names = sorted(v.name for v in model.trainable_variables if chosen(v))
    assert names == [
        "binary/kernel:0",
        "binary/r_sign/bias:0",
        "rprelu/input_bias:0",
        "rprelu/output_bias:0",
        "stem/kernel:0",
    ]
    # One step with the official grouping equals torch Adam with the same two groups.
    variables = model.trainable_variables
    optimizer = StageAwareOptimizer(OfficialAdam(LR), stage=1, weight_decay=WD, decay_filter=chosen)
    before = [tf.convert_to_tensor(getattr(v, "latent_variable", v)).numpy() for v in variables]
    grads = [g.numpy() for g in _gradients(model)]
    optimizer.apply_gradients(zip([tf.constant(g) for g in grads], variables, strict=True))
    expected = _torch_step(
        before, grads, [chosen(v) for v in variables], decoupled=False, weight_decay=WD
    )
    for variable, want in zip(variables, expected, strict=True):
        got = tf.convert_to_tensor(getattr(variable, "latent_variable", variable)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=variable.name)


def _fit(model, optimizer, epochs=2):
    images, labels = _data(16)
    model.compile(optimizer, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, labels, batch_size=8, epochs=epochs, shuffle=False, verbose=0)


def test_fit_matches_pytorch_over_several_steps():
    """Inside model.fit's tf.function, four steps still equal torch Adam with L2."""
    model = _tiny_model(stage=1)
    # A model without BatchNorm/dropout: the gradients of later steps depend only on weights.
    images, labels = _data(8)
    optimizer = StageAwareOptimizer(OfficialAdam(LR), stage=1, weight_decay=WD)
    variables = model.trainable_variables
    before = [tf.convert_to_tensor(getattr(v, "latent_variable", v)).numpy() for v in variables]
    model.compile(optimizer, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, labels, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert int(optimizer.iterations.numpy()) == 1
    reference = _tiny_model(stage=1)
    reference.set_weights([w for w in before])
    grads = [g.numpy() for g in _gradients(reference)]
    expected = _torch_step(
        before, grads, [is_latent_weight(v) for v in variables], decoupled=False, weight_decay=WD
    )
    for variable, want in zip(variables, expected, strict=True):
        got = tf.convert_to_tensor(getattr(variable, "latent_variable", variable)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=variable.name)


@pytest.mark.parametrize("decay_form", ["coupled", "decoupled"])
def test_mirrored_strategy_equals_single_device(two_cpu_strategy, decay_form):
    single = _tiny_model(stage=1, seed=3)
    _fit(single, StageAwareOptimizer(OfficialAdam(LR), weight_decay=WD, decay_form=decay_form))
    with two_cpu_strategy.scope():
        mirrored = _tiny_model(stage=1, seed=3)
        optimizer = StageAwareOptimizer(OfficialAdam(LR), weight_decay=WD, decay_form=decay_form)
    _fit(mirrored, optimizer)
    for one, two in zip(single.weights, mirrored.weights, strict=True):
        np.testing.assert_allclose(one.numpy(), two.numpy(), rtol=1e-5, atol=1e-6)


def test_checkpoint_restores_moments_and_config_roundtrips(tmp_path):
    model = _tiny_model(stage=1)
    optimizer = StageAwareOptimizer(OfficialAdam(LR), stage=1, weight_decay=WD)
    _fit(model, optimizer)
    path = tf.train.Checkpoint(model=model, optimizer=optimizer).write(str(tmp_path / "ckpt"))

    config = optimizer.get_config()
    restored_optimizer = StageAwareOptimizer.from_config(config)
    assert restored_optimizer.get_config() == config
    assert isinstance(restored_optimizer.inner_optimizer, OfficialAdam)
    again = tf.keras.optimizers.deserialize(
        tf.keras.optimizers.serialize(optimizer), use_legacy_optimizer=True
    )
    assert isinstance(again, StageAwareOptimizer) and again.weight_decay == WD

    restored_model = _tiny_model(stage=1, seed=9)
    restored_model.compile(restored_optimizer, "mse")
    restored_optimizer._create_all_weights(restored_model.trainable_variables)
    tf.train.Checkpoint(model=restored_model, optimizer=restored_optimizer).read(
        path
    ).assert_consumed()
    assert int(restored_optimizer.iterations.numpy()) == int(optimizer.iterations.numpy()) == 4
    for variable, restored in zip(
        model.trainable_variables, restored_model.trainable_variables, strict=True
    ):
        for slot in ("m", "v"):
            np.testing.assert_array_equal(
                optimizer.get_slot(variable, slot).numpy(),
                restored_optimizer.get_slot(restored, slot).numpy(),
            )
    assert restored_optimizer.lr.numpy() == pytest.approx(LR)
    assert restored_optimizer.beta_1.numpy() == pytest.approx(0.9)


def test_custom_filter_needs_custom_objects():
    optimizer = StageAwareOptimizer(decay_filter=lambda v: False)
    with pytest.raises(ValueError, match="custom_objects"):
        StageAwareOptimizer.from_config(optimizer.get_config())
