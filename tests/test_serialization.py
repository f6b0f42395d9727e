"""Models with the plugin's quantizers and layers save, reload and profile like Larq's own."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.layers import LearnableBias, RPReLU
from adambnn_tf.quantizers import RSign, ScaledWeightSign


def _tiny_bnn(input_quantizer, kernel_quantizer) -> tf.keras.Model:
    inputs = tf.keras.Input((8, 8, 4))
    x = LearnableBias()(inputs)
    x = lq.layers.QuantConv2D(
        8,
        3,
        padding="same",
        input_quantizer=input_quantizer,
        kernel_quantizer=kernel_quantizer,
        kernel_constraint="weight_clip",
        use_bias=False,
    )(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = RPReLU()(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3)(x))


def _randomize(model: tf.keras.Model) -> None:
    """Gives every weight a distinct non-default value, so a lost weight shows."""
    rng = np.random.default_rng(4)
    for weight in model.weights:
        values = rng.uniform(0.1, 0.9, size=weight.shape).astype("float32")
        weight.assign(values)


QUANTIZER_SPELLINGS = {
    "aliases": ("rsign", "scaled_weight_sign"),
    "class names": ("RSign", "ScaledWeightSign"),
    "instances": (RSign(surrogate="ste", clip_value=1.5), ScaledWeightSign(clip_value=1.2)),
}


@pytest.mark.parametrize("spelling", QUANTIZER_SPELLINGS)
@pytest.mark.parametrize("file_name", ["model.h5", "saved_model"])
def test_save_and_reload(tmp_path, spelling, file_name):
    input_quantizer, kernel_quantizer = QUANTIZER_SPELLINGS[spelling]
    model = _tiny_bnn(input_quantizer, kernel_quantizer)
    _randomize(model)
    inputs = np.random.default_rng(5).normal(size=(2, 8, 8, 4)).astype("float32")

    model.save(tmp_path / file_name)
    restored = tf.keras.models.load_model(tmp_path / file_name)

    conv = restored.layers[2]
    assert isinstance(conv.input_quantizer, RSign)
    assert isinstance(conv.kernel_quantizer, ScaledWeightSign)
    assert (
        conv.input_quantizer.get_config()["surrogate"] == model.layers[2].input_quantizer.surrogate
    )
    assert [w.name for w in restored.weights] == [w.name for w in model.weights]
    for original, loaded in zip(model.weights, restored.weights, strict=True):
        np.testing.assert_array_equal(original.numpy(), loaded.numpy())
    np.testing.assert_allclose(restored(inputs).numpy(), model(inputs).numpy(), rtol=1e-6)


def test_larq_summary_counts_our_binarized_conv_as_one_bit():
    model = _tiny_bnn("rsign", "scaled_weight_sign")
    profile = lq.models.ModelProfile(model)
    conv_profile = profile.layer_profiles[2]
    assert conv_profile.weight_count(bitwidth=1) == 3 * 3 * 4 * 8
    assert conv_profile.input_precision == 1
    assert conv_profile.op_count("mac", 1) == 8 * 8 * 3 * 3 * 4 * 8
    assert profile.weight_count(bitwidth=1) == 3 * 3 * 4 * 8
    lq.models.summary(model)  # prints without error, as users call it
