"""ReActNet zoo models, tested as larq-zoo tests its models, plus the recipe's stage switch,
padding modes, small-input configurations and pretrained-weights handling."""

import hashlib

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.quantizers import RealLatentWeight, ScaledWeightSign, is_latent_weight
from adambnn_tf.zoo import (
    PRETRAINED_WEIGHTS,
    ReActNet18,
    ReActNetA,
    ReActNetACompact,
    SymmetricPaddingQuantConv2D,
    decode_predictions,
    preprocess_input,
    register_pretrained_weights,
)

MODELS = [ReActNetA, ReActNet18]
# Channels of the last feature map at width_multiplier=0.25.
LAST_CHANNELS = {"reactnet_a": 256, "reactnet18": 128}
SMALL = dict(width_multiplier=0.25, small_input=True)


def _count(variables) -> int:
    return int(sum(np.prod(v.shape) for v in variables))


@pytest.mark.parametrize(
    "build,params,binary",
    [(ReActNetA, 29_343_592, 28_253_184), (ReActNet18, 11_704_424, 10_985_472)],
)
def test_official_parameter_counts_and_output(build, params, binary):
    model = build(weights=None)
    assert model.output_shape == (None, 1000)
    assert _count(model.trainable_weights) == params
    assert _count(v for v in model.trainable_weights if is_latent_weight(v)) == binary


@pytest.mark.parametrize("build,input_shape", [(ReActNetA, None), (ReActNet18, (None, None, 4))])
def test_no_top(build, input_shape):
    model = build(input_shape=input_shape, include_top=False, width_multiplier=0.25)
    assert model.output_shape == (None, None, None, LAST_CHANNELS[model.name])


@pytest.mark.parametrize(
    "build,shape,last_block",
    [(ReActNetA, (28, 28, 1), "block13_rprelu2"), (ReActNet18, (32, 32, 3), "layer4_3_rprelu")],
)
def test_small_input_configuration(build, shape, last_block):
    model = build(input_shape=shape, num_classes=10, **SMALL)
    final = shape[0] // 4  # 28 -> 7, 32 -> 8
    features = model.get_layer(last_block).output_shape
    assert features == (None, final, final, LAST_CHANNELS[model.name])
    probabilities = model(np.random.default_rng(0).random((2, *shape), "float32"))
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.numpy().sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("build", MODELS)
def test_keras_tensor_input(build):
    inputs = tf.keras.Input((32, 32, 3))
    model = build(input_tensor=inputs, num_classes=10, **SMALL)
    assert model.inputs[0] is inputs
    assert model.output_shape == (None, 10)


def test_stage_switch_binarizes_kernels_and_keeps_variables(tmp_path):
    shape = (28, 28, 1)
    options = dict(input_shape=shape, num_classes=10, classifier_activation=None, **SMALL)
    stage1 = ReActNetA(stage=1, **options)
    stage2 = ReActNetA(stage=2, **options)
    assert [(v.name, v.shape) for v in stage1.weights] == [
        (v.name, v.shape) for v in stage2.weights
    ]
    conv1 = stage1.get_layer("block3_conv3x3")
    assert isinstance(conv1.kernel.quantizer, RealLatentWeight)
    assert isinstance(stage2.get_layer("block3_conv3x3").kernel.quantizer, ScaledWeightSign)

    path = str(tmp_path / "stage1.h5")
    stage1.save_weights(path)
    from_file = ReActNetA(stage=2, weights=path, **options)
    for expected, actual in zip(stage1.get_weights(), from_file.get_weights(), strict=True):
        np.testing.assert_array_equal(actual, expected)
    stage2.set_weights(stage1.get_weights())

    # Stage 2 is stage 1 with every latent kernel replaced by mean|w| * sign(w).
    binarized = ReActNetA(stage=1, **options)
    binarized.set_weights(stage1.get_weights())
    for variable in binarized.weights:
        if is_latent_weight(variable):
            latent = variable.numpy()
            scale = np.abs(latent).mean(axis=(0, 1, 2))
            variable.assign(scale * np.where(latent >= 0, 1.0, -1.0))
    images = np.random.default_rng(0).standard_normal((2, *shape), "float32")
    expected = binarized(images, training=False).numpy()
    np.testing.assert_allclose(stage2(images, training=False), expected, rtol=1e-4, atol=1e-4)
    assert not np.allclose(stage1(images, training=False), expected, rtol=1e-2)


def test_padding_modes_build_the_same_variables_with_their_own_padding():
    lce = ReActNetA(input_shape=(32, 32, 3), padding="lce", num_classes=10, **SMALL)
    pytorch = ReActNetA(input_shape=(32, 32, 3), padding="pytorch", num_classes=10, **SMALL)
    assert [v.name for v in lce.weights] == [v.name for v in pytorch.weights]
    pytorch.set_weights(lce.get_weights())
    # LCE mode: same-one padding everywhere (fused into LCE's binary convolutions).
    strided = lce.get_layer("block2_conv3x3")
    assert type(strided) is lq.layers.QuantConv2D
    assert (strided.padding, strided.pad_values, strided.strides) == ("same", 1.0, (2, 2))
    # PyTorch mode: zero padding after the sign, symmetric at stride 2.
    assert isinstance(pytorch.get_layer("block2_conv3x3"), SymmetricPaddingQuantConv2D)
    assert pytorch.get_layer("block3_conv3x3").pad_values == 0.0


def test_pytorch_padding_refuses_an_odd_size_at_a_stride_2_block_by_name():
    # 28 -> 14 -> 7 at block 5: the official AvgPool2d(2) shortcut would give 3x3, the
    # convolution 4x4.
    with pytest.raises(ValueError, match=r"block5 gets 7x7 .* 32x32 instead of 28x28"):
        ReActNetACompact(input_shape=(28, 28, 1), padding="pytorch", width_multiplier=0.125)
    ReActNetACompact(input_shape=(28, 28, 1), padding="lce", width_multiplier=0.125)
    # Sizes unknown until run time cannot be checked here, and are not refused.
    ReActNetACompact(
        input_shape=(None, None, 1), include_top=False, padding="pytorch", width_multiplier=0.125
    )


def test_symmetric_padding_conv_pads_after_the_sign_on_both_sides():
    conv = SymmetricPaddingQuantConv2D(
        1,
        3,
        strides=2,
        padding="same",
        input_quantizer="ste_sign",
        use_bias=False,
        kernel_initializer="ones",
    )
    images = np.full((1, 4, 4, 1), -3.0, "float32")
    # Every window sums sign(-3) = -1 over its in-image pixels; padding contributes 0.
    expected = np.array([[-4.0, -6.0], [-6.0, -9.0]])
    np.testing.assert_array_equal(conv(images).numpy()[0, :, :, 0], expected)


@pytest.mark.parametrize("padding", ["lce", "pytorch"])
@pytest.mark.parametrize("build", MODELS)
def test_save_and_reload(tmp_path, build, padding):
    shape = (32, 32, 3) if build is ReActNet18 else (28, 28, 1)
    model = build(input_shape=shape, num_classes=10, padding=padding, **SMALL)
    path = str(tmp_path / "model.h5")
    model.save(path)
    reloaded = tf.keras.models.load_model(path)
    images = np.random.default_rng(0).standard_normal((2, *shape), "float32")
    np.testing.assert_allclose(reloaded(images), model(images), rtol=1e-6, atol=1e-6)


def test_bad_options_have_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="stage must be 1"):
        ReActNetA(stage=3, include_top=False, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="padding must be 'lce'"):
        ReActNet18(padding="valid", include_top=False, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="`classes` should be 1000"):
        ReActNetA(weights="imagenet", num_classes=10)
    with pytest.raises(ValueError, match="needs the published configuration"):
        ReActNetA(weights="imagenet", input_shape=(32, 32, 3), small_input=True, include_top=False)
    with pytest.raises(ValueError, match="No ImageNet weights are registered .*convert-checkpoint"):
        ReActNet18(weights="imagenet", include_top=False)

    small = dict(input_shape=(28, 28, 1), **SMALL)
    path = str(tmp_path / "ten.h5")
    ReActNetA(num_classes=10, **small).save_weights(path)
    with pytest.raises(ValueError, match="do not fit reactnet_a"):
        ReActNetA(num_classes=5, weights=path, **small)
    with pytest.raises(ValueError, match="has no weights for .* layers of reactnet18"):
        ReActNet18(num_classes=10, weights=path, **small)
    other = tmp_path / "weights.npz"
    other.write_bytes(b"x")
    with pytest.raises(ValueError, match="Cannot tell what kind of weights file"):
        ReActNetA(num_classes=10, weights=str(other), **small)


@pytest.fixture
def registry():
    saved = dict(PRETRAINED_WEIGHTS)
    yield PRETRAINED_WEIGHTS
    PRETRAINED_WEIGHTS.clear()
    PRETRAINED_WEIGHTS.update(saved)


def test_imagenet_weights_download_and_hash_check(tmp_path, monkeypatch, registry):
    """The "imagenet" path with a file:// origin: cached by larq-zoo's layout, hash-checked."""
    (tmp_path / "home" / ".keras").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    published = ReActNet18(include_top=False)
    source = tmp_path / "reactnet18_weights_notop.h5"
    published.save_weights(str(source))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    cached = tmp_path / "home" / ".keras" / "larq" / "models" / "reactnet18" / source.name

    register_pretrained_weights(
        "reactnet18",
        padding="lce",
        include_top=False,
        url=source.as_uri(),
        sha256="0" * 64,
        file_name=source.name,
    )
    with pytest.raises(ValueError, match="does not have the registered SHA-256"):
        ReActNet18(weights="imagenet", include_top=False)
    assert not cached.exists()

    register_pretrained_weights(
        "reactnet18",
        padding="lce",
        include_top=False,
        url=source.as_uri(),
        sha256=digest,
        file_name=source.name,
    )
    model = ReActNet18(weights="imagenet", include_top=False)
    assert cached.exists()
    for expected, actual in zip(published.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(actual, expected)
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        register_pretrained_weights(
            "reactnet18", padding="lce", include_top=False, url="x", sha256="abc", file_name="x"
        )


def test_larq_zoo_helpers_are_reexported():
    image = np.random.default_rng(0).integers(0, 255, (256, 256, 3)).astype("float32")
    assert preprocess_input(image).shape == (224, 224, 3)
    assert callable(decode_predictions)


def test_compact_reactnet_a_plan_parameters_and_stages():
    from adambnn_tf.zoo import ReActNetACompact
    from adambnn_tf.zoo.reactnet_a_compact import COMPACT_DOWNSAMPLING_BLOCKS, COMPACT_WIDTHS

    stage1 = ReActNetACompact(stage=1, classifier_activation=None)
    stage2 = ReActNetACompact(stage=2, classifier_activation=None)
    # Each block: a CxC 3x3 binary conv, then a C->C' 1x1 binary conv (C' = its width).
    binary = sum(
        9 * c_in * c_in + c_in * c_out
        for c_in, c_out in zip(COMPACT_WIDTHS, COMPACT_WIDTHS[1:], strict=False)
    )
    assert _count(v for v in stage2.trainable_weights if is_latent_weight(v)) == binary
    assert _count(v for v in stage1.trainable_weights if is_latent_weight(v)) == binary
    sizes = [28]
    for index in range(1, len(COMPACT_WIDTHS)):
        sizes.append((sizes[-1] + 1) // 2 if index in COMPACT_DOWNSAMPLING_BLOCKS else sizes[-1])
        output = stage2.get_layer(f"block{index}_rprelu2").output_shape
        assert output == (None, sizes[-1], sizes[-1], COMPACT_WIDTHS[index])
    assert sizes[-1] == 4
    assert [v.name for v in stage1.weights] == [v.name for v in stage2.weights]
    kernels = {
        type(layer.kernel_quantizer)
        for layer in stage2.layers
        if hasattr(layer, "kernel_quantizer")
    }
    assert kernels == {ScaledWeightSign}
    half = ReActNetACompact(width_multiplier=0.5, input_shape=(32, 32, 3), num_classes=7)
    assert half.get_layer("block6_rprelu2").output_shape == (None, 4, 4, 128)
    assert half.output_shape == (None, 7)
    with pytest.raises(ValueError, match="no ImageNet weights"):
        ReActNetACompact(weights="imagenet")


def test_resnet_teacher_is_real_valued_and_checks_its_width():
    from adambnn_tf.zoo import ResNetTeacher

    teacher = ResNetTeacher(width=8, num_classes=5, classifier_activation=None)
    assert teacher.output_shape == (None, 5)
    assert not any(is_latent_weight(v) for v in teacher.weights)
    assert teacher.get_layer("block3_relu2").output_shape == (None, 4, 4, 32)
    with pytest.raises(ValueError, match="width must be a positive"):
        ResNetTeacher(width=0)


def _conv_kernels(model):
    """Every convolution (Larq's QuantConv2D and ours are Conv2D subclasses)."""
    return [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)]


def test_pytorch_initializer_bounds_every_conv_and_the_classifier(tmp_path):
    from adambnn_tf.initializers import PyTorchBiasUniform
    from adambnn_tf.zoo import ReActNetACompact

    tf.keras.utils.set_random_seed(0)
    model = ReActNetACompact(initializer="pytorch", width_multiplier=0.25, input_shape=(28, 28, 1))
    convs = _conv_kernels(model)
    assert len(convs) == 1 + 2 * 6  # the stem, a 3x3 and a 1x1 binary conv per block
    for layer in convs:
        kernel = layer.kernel.numpy()
        bound = 1 / np.sqrt(np.prod(kernel.shape[:3]))  # fan_in = kh * kw * in_channels
        assert np.abs(kernel).max() <= bound, layer.name
        assert np.abs(kernel).max() > 0.5 * bound, layer.name
        assert isinstance(layer.kernel_initializer, tf.keras.initializers.VarianceScaling)
    logits = model.get_layer("logits")
    bound = 1 / np.sqrt(logits.kernel.shape[0])
    assert np.abs(logits.kernel.numpy()).max() <= bound
    bias = logits.bias.numpy()
    assert np.count_nonzero(bias) == bias.size and np.abs(bias).max() <= bound
    assert logits.bias_initializer.get_config() == {"fan_in": 64, "seed": None}

    path = str(tmp_path / "pytorch_init.h5")
    model.save(path)
    reloaded = tf.keras.models.load_model(path)
    assert isinstance(reloaded.get_layer("logits").bias_initializer, PyTorchBiasUniform)
    images = np.random.default_rng(0).standard_normal((2, 28, 28, 1), "float32")
    np.testing.assert_allclose(reloaded(images), model(images), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("build", [ReActNet18, "ResNetTeacher"])
def test_pytorch_initializer_reaches_every_conv_of_the_other_models(build):
    from adambnn_tf import zoo

    if isinstance(build, str):
        model = getattr(zoo, build)(width=4, initializer="pytorch")
    else:
        model = build(input_shape=(28, 28, 1), num_classes=10, initializer="pytorch", **SMALL)
    for layer in _conv_kernels(model):
        assert layer.kernel_initializer.get_config()["scale"] == pytest.approx(1 / 3), layer.name
    assert type(model.get_layer("logits").bias_initializer).__name__ == "PyTorchBiasUniform"


def test_keras_initializer_is_the_default_and_unchanged():
    from adambnn_tf.zoo import ReActNetACompact

    def build(**options):
        tf.keras.backend.clear_session()
        tf.keras.utils.set_random_seed(0)
        return ReActNetACompact(width_multiplier=0.25, input_shape=(28, 28, 1), **options)

    default, keras = build(), build(initializer="keras")
    assert default.to_json() == keras.to_json()
    for a, b in zip(default.get_weights(), keras.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for layer in _conv_kernels(keras):
        assert isinstance(layer.kernel_initializer, tf.keras.initializers.GlorotUniform)
    assert not keras.get_layer("logits").bias.numpy().any()


def test_bad_initializer_names_the_choices():
    from adambnn_tf.zoo import ReActNetACompact, ResNetTeacher

    message = "initializer must be one of 'keras', 'pytorch'.*'torch'"
    for build in (ReActNetA, ReActNet18, ReActNetACompact):
        with pytest.raises(ValueError, match=message):
            build(initializer="torch", include_top=False, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match=message):
        ResNetTeacher(initializer="torch")


# The float twin (binary=False): one model of each kind, and PyTorch padding for the
# symmetric-padding twin of the stride-2 convolutions.
TWIN_CASES = [
    ("ReActNetA", dict(input_shape=(28, 28, 1), small_input=True), "lce"),
    ("ReActNetACompact", dict(input_shape=(28, 28, 1)), "lce"),
    ("ReActNet18", dict(input_shape=(32, 32, 3), small_input=True), "pytorch"),
]


def _bnn_and_twin(name: str, options: dict, padding: str):
    from adambnn_tf import zoo

    build = getattr(zoo, name)
    common = dict(
        num_classes=10, width_multiplier=0.25, padding=padding, classifier_activation=None
    )
    bnn = build(stage=2, kernel_constraint="weight_clip", **common, **options)
    twin = build(binary=False, **common, **options)
    return bnn, twin


def _layers(model) -> list:
    return [layer for layer in model.layers if not isinstance(layer, tf.keras.layers.InputLayer)]


@pytest.mark.parametrize("name,options,padding", TWIN_CASES)
def test_float_twin_has_the_bnns_structure_without_quantizers(name, options, padding):
    from adambnn_tf.zoo._blocks import ShiftedInputConv2D

    bnn, twin = _bnn_and_twin(name, options, padding)
    assert twin.count_params() == bnn.count_params()
    assert [(v.name, v.shape) for v in twin.weights] == [(v.name, v.shape) for v in bnn.weights]
    replaced = 0
    for binary_layer, real_layer in zip(_layers(bnn), _layers(twin), strict=True):
        assert real_layer.name == binary_layer.name
        assert getattr(real_layer, "input_quantizer", None) is None, real_layer.name
        assert getattr(real_layer, "kernel_constraint", None) is None, real_layer.name
        if getattr(binary_layer, "input_quantizer", None) is not None:
            assert isinstance(real_layer, ShiftedInputConv2D | SymmetricPaddingQuantConv2D)
            assert real_layer.pad_values == binary_layer.pad_values
            # Its kernel is marked as the BNN's latent weight (an identity of precision 32).
            assert isinstance(real_layer.kernel_quantizer, RealLatentWeight), real_layer.name
            replaced += 1
        else:
            assert getattr(real_layer, "kernel_quantizer", None) is None, real_layer.name
            assert type(real_layer) is type(binary_layer), real_layer.name
    latent = [v.name for v in bnn.weights if is_latent_weight(v)]
    assert replaced == len(latent) > 0
    assert [v.name for v in twin.weights if is_latent_weight(v)] == latent  # decay, FF, C2I
    assert lq.models.ModelProfile(twin).weight_count(bitwidth=1) == 0
    assert lq.models.ModelProfile(bnn).weight_count(bitwidth=1) > 0

    twin.set_weights(bnn.get_weights())
    images = np.random.default_rng(0).standard_normal((2, *bnn.input_shape[1:]), "float32")
    assert not np.allclose(twin(images, training=False), bnn(images, training=False), atol=1e-2)


def test_float_twin_convolution_is_the_shifted_real_convolution():
    from adambnn_tf.zoo._blocks import ShiftedInputConv2D, SymmetricPaddingShiftedInputConv2D

    rng = np.random.default_rng(0)
    images = rng.standard_normal((1, 5, 5, 2)).astype("float32")
    shift = rng.standard_normal(2).astype("float32")
    kernel = rng.standard_normal((3, 3, 2, 4)).astype("float32")
    for layer, paddings, strides in [
        (ShiftedInputConv2D(4, 3, padding="same", pad_values=1.0, use_bias=False), 1.0, 1),
        (
            SymmetricPaddingShiftedInputConv2D(
                4, 3, strides=2, padding="same", pad_values=0.0, use_bias=False
            ),
            0.0,
            2,
        ),
    ]:
        layer(images)
        layer.set_weights([kernel, shift])
        padded = np.pad(images + shift, [(0, 0), (1, 1), (1, 1), (0, 0)], constant_values=paddings)
        expected = tf.nn.conv2d(padded, kernel, strides, "VALID").numpy()
        np.testing.assert_allclose(layer(images).numpy(), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="takes no quantizer"):
        ShiftedInputConv2D(4, 3, input_quantizer="rsign")
    with pytest.raises(ValueError, match="takes no quantizer"):
        ShiftedInputConv2D(4, 3, kernel_quantizer="scaled_weight_sign")


def test_float_twin_ignores_the_stage_and_round_trips_through_h5(tmp_path):
    from adambnn_tf.zoo import ReActNetACompact

    options = dict(input_shape=(28, 28, 1), width_multiplier=0.25)
    stage1 = ReActNetACompact(binary=False, stage=1, **options)
    stage2 = ReActNetACompact(binary=False, stage=2, kernel_constraint="weight_clip", **options)
    stage2.set_weights(stage1.get_weights())
    images = np.random.default_rng(0).standard_normal((2, 28, 28, 1), "float32")
    np.testing.assert_array_equal(stage1(images), stage2(images))

    path = str(tmp_path / "twin.h5")
    stage1.save(path)
    reloaded = tf.keras.models.load_model(path)
    assert [v.name for v in reloaded.weights] == [v.name for v in stage1.weights]
    np.testing.assert_allclose(reloaded(images), stage1(images), rtol=1e-6, atol=1e-6)
    with pytest.raises(TypeError, match="'binary'"):  # zookeeper checks the field's type
        ReActNetACompact(binary="false", **options)
