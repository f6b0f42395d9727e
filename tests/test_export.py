"""LCE export: binary-convolution accounting, parity verdicts, rewrites, files and the CLI."""

import json
import os

import larq as lq
import larq_compute_engine as lce
import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.cli import main
from adambnn_tf.data.fashion_mnist import FASHION_MNIST_DIR_ENV, FashionMnistNotFoundError
from adambnn_tf.data.idx import read_idx
from adambnn_tf.export import (
    ExportError,
    export,
    find_binary_layers,
    load_images,
    op_counts,
)
from adambnn_tf.export.parity import (
    CONVERSION_ERROR,
    EXACT,
    ROUND_OFF,
    ProbeComparison,
    _classify,
    check_parity,
)
from adambnn_tf.export.sample_images import fashion_mnist_available
from adambnn_tf.export.symmetric_padding import accelerate_symmetric_padding
from adambnn_tf.layers import RPReLU
from adambnn_tf.zoo import SymmetricPaddingQuantConv2D

BINARY = dict(input_quantizer="rsign", kernel_quantizer="scaled_weight_sign", use_bias=False)
FAST = dict(parity_random_samples=2, parity_image_count=2, compare_float_size=False)


def _randomize(model: tf.keras.Model, seed: int = 0) -> tf.keras.Model:
    """Random non-kernel weights, so thresholds, BN and RPReLU are not identities."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if "kernel" in weight.name:
            weight.assign(rng.normal(size=weight.shape))
        elif "variance" in weight.name:
            weight.assign(rng.uniform(0.5, 2.0, size=weight.shape))
        else:
            weight.assign(rng.normal(scale=0.3, size=weight.shape))
    return model


def _stem(shape=(12, 12, 3), channels=32):
    inputs = tf.keras.Input(shape)
    x = tf.keras.layers.Conv2D(channels, 3, padding="same", use_bias=False, name="stem")(inputs)
    return inputs, tf.keras.layers.BatchNormalization(name="stem_bn")(x)


def _head(inputs, x, classes=5):
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(classes, name="logits")(x))


def _mixed_model() -> tf.keras.Model:
    """Three accelerable binary convs and three binary layers LCE cannot accelerate."""
    inputs, x = _stem()
    a = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, name="same_one", **BINARY)(x)
    a = tf.keras.layers.BatchNormalization(name="bn_a")(a)
    x = RPReLU(name="rprelu_a")(tf.keras.layers.Add()([x, a]))
    b = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=0.0, name="same_zero", **BINARY)(x)
    c = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=0.5, name="half_pad", **BINARY)(x)
    d = lq.layers.QuantDepthwiseConv2D(
        3,
        padding="same",
        input_quantizer="ste_sign",
        depthwise_quantizer="ste_sign",
        use_bias=False,
        name="binary_depthwise",
    )(x)
    e = lq.layers.QuantConv2D(
        32, 1, input_quantizer="rsign", kernel_quantizer=None, use_bias=False, name="real_kernel"
    )(x)
    # Binarized by an earlier layer, with nothing in between: LCE matches the graph.
    f = tf.keras.layers.Activation(lq.quantizers.SteSign(), name="sign")(x)
    f = lq.layers.QuantConv2D(
        32, 1, kernel_quantizer="ste_sign", use_bias=False, name="pre_binarized"
    )(f)
    x = tf.keras.layers.Add()([b, c, d, e, f])
    return _randomize(_head(inputs, x))


@pytest.fixture(scope="module")
def mixed_export():
    tf.keras.backend.clear_session()
    model = _mixed_model()
    return model, export(
        model, None, parity_random_samples=2, parity_image_count=4, compare_float_size=False
    )


def test_accounting_finds_each_binary_layer_and_says_why_it_is_not_accelerated(mixed_export):
    model, report = mixed_export
    status = {s.layer: s for s in report.layers}
    assert set(status) == {
        *("same_one", "same_zero", "half_pad", "binary_depthwise", "real_kernel"),
        "pre_binarized",
    }
    binary_convs = ["same_one", "same_zero", "half_pad", "pre_binarized"]
    assert [s.layer for s in report.binary_convs] == binary_convs
    assert all(status[name].accelerated for name in ("same_one", "same_zero", "pre_binarized"))
    assert report.n_lce_bconv == 3
    assert "pad_values=0.5" in status["half_pad"].reasons[0]
    assert "CONV_2D" in status["half_pad"].runs_as
    assert "depthwise" in status["binary_depthwise"].reasons[0]
    assert "DEPTHWISE_CONV_2D" in status["binary_depthwise"].runs_as
    assert "kernel not binary" in " ".join(status["real_kernel"].reasons)
    assert not report.all_accelerated and report.unmatched_bconvs == 0
    summary = report.summary()
    assert "4 in Keras, 3 accelerated, 3 LceBconv2d" in summary
    assert "NOT accelerated: half_pad" in summary
    assert "same_zero (conv2d): LceBconv2d" in report.summary(verbose=True)


@pytest.mark.needs_fashion_mnist
def test_export_parity_is_exact_on_random_and_real_images(mixed_export):
    model, report = mixed_export
    parity = report.parity
    assert parity.verdict == EXACT and parity.passed
    assert [c.inputs for c in parity.comparisons] == ["random", "real images (fashion-mnist)"]
    assert all(c.within_tolerance and c.top1_agreement == 1.0 for c in parity.comparisons)
    assert parity.comparisons[1].samples == 4


def test_same_zero_padding_is_an_obstacle_on_xcore_only():
    tf.keras.backend.clear_session()
    model = _mixed_model()
    arm = {layer.name: layer for layer in find_binary_layers(model, "arm")}
    xcore = {layer.name: layer for layer in find_binary_layers(model, "xcore")}
    assert arm["same_zero"].obstacles == () and arm["same_one"].obstacles == ()
    assert "only supported on target='arm'" in xcore["same_zero"].obstacles[0]
    assert xcore["same_one"].obstacles == ()
    with pytest.raises(ValueError, match="Unknown LCE target"):
        find_binary_layers(model, "x86")


def test_accounting_matches_layers_with_identical_kernels_and_strict_export_writes(tmp_path):
    # All-positive kernels bitpack to identical filters: matching must still count both.
    inputs, x = _stem(channels=32)
    for name in ("first", "second"):
        y = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, name=name, **BINARY)(x)
        x = tf.keras.layers.Add()([x, tf.keras.layers.BatchNormalization()(y)])
    model = _randomize(_head(inputs, x))
    for name in ("first", "second"):
        kernel = model.get_layer(name).kernel
        kernel.assign(np.abs(kernel.numpy()) + 0.1)
    output = tmp_path / "model.tflite"
    report = export(model, str(output), strict=True, **FAST)
    assert [s.accelerated for s in report.layers] == [True, True]
    assert output.read_bytes()[4:8] == b"TFL3" and output.stat().st_size == report.size_bytes
    assert report.output_path == str(output)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]


def test_strict_export_refuses_non_accelerated_layers_and_writes_nothing(tmp_path):
    tf.keras.backend.clear_session()
    output = tmp_path / "refused.tflite"
    with pytest.raises(ExportError, match="3 binary layer") as refused:
        export(_mixed_model(), str(output), strict=True, parity=False, compare_float_size=False)
    assert refused.value.report.n_lce_bconv == 3
    assert not output.exists()


def test_stage1_models_are_refused_with_the_reason():
    inputs, x = _stem()
    x = lq.layers.QuantConv2D(
        32, 3, input_quantizer="rsign", kernel_quantizer="real_latent_weight", name="latent"
    )(x)
    model = _head(inputs, x)
    with pytest.raises(ValueError, match="stage-1 model.*latent.*not binary"):
        export(model, None)


def test_int8_io_without_int8_quantization_is_refused_instead_of_silently_float():
    inputs, x = _stem()
    y = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, name="b1", **BINARY)(x)
    with pytest.raises(ValueError, match="int8 input was requested.*no int8 quantization"):
        export(_head(inputs, y), None, inference_input_type="int8", parity=False)


def test_float_reference_is_larger_than_the_binary_export():
    inputs, x = _stem(channels=64)
    y = lq.layers.QuantConv2D(64, 3, padding="same", pad_values=1.0, name="b1", **BINARY)(x)
    model = _head(inputs, y)
    report = export(model, None, parity=False)
    # 64*64*9 binary weights: 1 bit each against 32 bits in the float export.
    assert report.float_size_bytes > report.size_bytes + 64 * 64 * 9 * 3
    assert "float TFLite export of the same architecture" in report.summary()


def test_parity_reports_a_conversion_error_for_a_flatbuffer_that_computes_something_else():
    tf.keras.backend.clear_session()
    model = _mixed_model()
    flatbuffer = lce.convert_keras_model(model)
    # The Keras model changes after conversion: the rprelu feeding every binarizer shifts.
    rprelu = model.get_layer("rprelu_a")
    rprelu.set_weights([w + 0.5 for w in rprelu.get_weights()])
    parity = check_parity(model, flatbuffer, random_samples=2)
    assert parity.verdict == CONVERSION_ERROR and not parity.passed
    # The diagnosis converts the (changed) model afresh, which agrees with Keras everywhere.
    assert "not a conversion of this model" in parity.explanation
    assert [p.layer for p in parity.probes] == ["same_one", "same_zero"]  # shared inputs once
    assert all(p.within_tolerance and p.sign_flips == 0 for p in parity.probes)


def _probe(layer, within=True, flips=0, round_off=0):
    return ProbeComparison(layer, 0.0 if within else 1.0, 1.0, within, flips, round_off)


def test_classification_tells_round_off_flips_from_conversion_errors():
    round_off = [_probe("a"), _probe("b", flips=2, round_off=2), _probe("c", False, 40, 1)]
    assert _classify(round_off)[0] == ROUND_OFF
    assert "'b'" in _classify(round_off)[1]
    big_flip = [_probe("a"), _probe("b", flips=2, round_off=1), _probe("c", False, 40, 1)]
    assert _classify(big_flip)[0] == CONVERSION_ERROR
    mismatch_first = [_probe("a", within=False), _probe("b", flips=2, round_off=2)]
    assert _classify(mismatch_first)[0] == CONVERSION_ERROR
    no_flip = [_probe("a"), _probe("b")]
    assert "after the last binarizer" in _classify(no_flip)[1]
    assert _classify([_probe("a"), _probe("b", within=False)])[0] == CONVERSION_ERROR


def _symmetric_model(shape=(16, 16, 3)):
    """A PyTorch-padded stem and binary convolutions, as zoo models with padding='pytorch'."""
    inputs = tf.keras.Input(shape)
    x = tf.keras.layers.ZeroPadding2D(1, name="stem_pad")(inputs)
    x = tf.keras.layers.Conv2D(32, 3, strides=2, use_bias=False, name="stem")(x)
    x = RPReLU()(x)
    x = SymmetricPaddingQuantConv2D(
        32, 3, strides=2, padding="same", pad_values=0.0, name="sym_s2", **BINARY
    )(x)
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    x = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=0.0, name="s1", **BINARY)(x)
    return _randomize(tf.keras.Model(inputs, x))


def test_symmetric_padding_rewrite_is_exact_and_accelerated():
    model = _symmetric_model()
    images = np.random.default_rng(1).normal(size=(3, 16, 16, 3)).astype("float32")
    rewritten = accelerate_symmetric_padding(model)
    np.testing.assert_array_equal(rewritten(images).numpy(), model(images).numpy())
    report = export(model, None, **FAST)
    assert report.rewritten_layers == ["stem_pad", "stem", "sym_s2"]
    assert report.all_accelerated and report.n_lce_bconv == 2
    assert report.op_counts["STRIDED_SLICE"] == 2 and report.op_counts["PAD"] == 2
    assert report.parity.verdict == EXACT


def test_unrewritten_symmetric_stride2_padding_is_caught_as_a_conversion_error():
    # LCE 0.16 folds the explicit (1, 1) pads of the stem and of sym_s2 into 'same' (0, 1)
    # CONV_2Ds: wrong numbers, which the parity check must catch.
    report = export(_symmetric_model(), None, rewrite_symmetric_padding=False, **FAST)
    status = {s.layer: s for s in report.layers}
    assert not status["sym_s2"].accelerated and status["s1"].accelerated
    assert "differs from TF 'same' padding [[0, 1], [0, 1]]" in status["sym_s2"].reasons[0]
    assert report.parity.verdict == CONVERSION_ERROR


@pytest.mark.needs_fashion_mnist
def test_load_images_fits_fashion_mnist_and_arrays_to_the_input(tmp_path):
    images = load_images("fashion-mnist", (None, 20, 24, 3), count=3)
    assert images.shape == (3, 20, 24, 3) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0 and images.std() > 0.1
    np.testing.assert_array_equal(images[..., 0], images[..., 2])  # gray tiled to RGB
    array = np.random.default_rng(0).integers(0, 256, size=(5, 8, 8, 1), dtype=np.uint8)
    np.savez(tmp_path / "images.npz", images=array)
    loaded = load_images(str(tmp_path / "images.npz"), (None, 8, 8, 1), count=4)
    np.testing.assert_allclose(loaded, array[:4] / 127.5 - 1.0, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="Parity images not found"):
        load_images(str(tmp_path / "missing"), (None, 8, 8, 1))


def test_load_images_finds_fashion_mnist_as_training_does(tmp_path, monkeypatch):
    from multiworker_training import write_idx_files  # beside this file: random IDX files

    write_idx_files(str(tmp_path))
    written = read_idx(tmp_path / "t10k-images-idx3-ubyte")[:3] / 127.5 - 1.0
    shape = (None, 28, 28, 1)
    # The variable comes before Debian's folder, so the copy's random images are read.
    monkeypatch.setenv(FASHION_MNIST_DIR_ENV, str(tmp_path))
    from_variable = load_images("fashion-mnist", shape, count=3)
    np.testing.assert_allclose(from_variable[..., 0], written, atol=1e-6)
    monkeypatch.delenv(FASHION_MNIST_DIR_ENV)
    from_argument = load_images(None, shape, count=3, data_dir=tmp_path)
    np.testing.assert_allclose(from_argument[..., 0], written, atol=1e-6)
    assert fashion_mnist_available(tmp_path)
    assert not fashion_mnist_available(tmp_path / "elsewhere")  # a data_dir is the only one
    with pytest.raises(FashionMnistNotFoundError, match="elsewhere"):
        load_images("fashion-mnist", shape, data_dir=tmp_path / "elsewhere")
    # An IDX3 file given directly goes through the same reader, which checks what it holds.
    from_file = load_images(str(tmp_path / "t10k-images-idx3-ubyte"), shape, count=3)
    np.testing.assert_allclose(from_file[..., 0], written, atol=1e-6)
    (tmp_path / "labels-idx3-ubyte").write_bytes((tmp_path / "t10k-labels-idx1-ubyte").read_bytes())
    with pytest.raises(ValueError, match="not an IDX3 unsigned-byte image file"):
        load_images(str(tmp_path / "labels-idx3-ubyte"), shape)


def test_cli_exports_a_saved_model_and_writes_a_json_report(tmp_path, capsys):
    inputs, x = _stem()
    y = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, name="b1", **BINARY)(x)
    _head(inputs, y).save(tmp_path / "model.h5")
    output, report_path = tmp_path / "out.tflite", tmp_path / "report.json"
    argv = [str(tmp_path / "model.h5"), str(output), "--strict", "--no-float-size"]
    argv += ["--parity-random", "2", "--parity-count", "2", "--report-json", str(report_path)]
    # A --data-dir without the Fashion-MNIST files: random inputs only, even when Debian's
    # folder has them.
    argv += ["--data-dir", str(tmp_path)]
    assert main(["export", *argv]) == 0
    assert op_counts(output.read_bytes())["LceBconv2d"] == 1
    written = json.loads(report_path.read_text())
    assert written["binary_convs"] == written["accelerated_binary_convs"] == 1
    assert written["parity"]["verdict"] == EXACT
    assert [c["inputs"] for c in written["parity"]["comparisons"]] == ["random"]
    assert "1 in Keras, 1 accelerated" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "nothing.h5"), str(output)]) == 2
    assert "No saved model" in capsys.readouterr().err


def _official_convolutions(model, statuses) -> int:
    """The zoo merges each pair of duplicated 1x1 convs (C->C twice) into one C->2C layer."""
    count = 0
    for status in statuses:
        layer = model.get_layer(status.layer)
        count += 2 if layer.filters == 2 * layer.input_shape[-1] else 1
    return count


@pytest.mark.slow  # ReActNet-A at 224x224
@pytest.mark.parametrize("padding", ["lce", "pytorch"])
def test_reactnet_a_224_exports_all_31_binary_convolutions_and_passes_parity(padding):
    from adambnn_tf.zoo import ReActNetA

    model = ReActNetA(input_shape=(224, 224, 3), padding=padding, classifier_activation=None)
    report = export(model, None, strict=True, parity_random_samples=2, parity_image_count=4)
    assert len(report.binary_convs) == 26 == report.n_lce_bconv
    assert _official_convolutions(model, report.binary_convs) == 31
    assert report.all_accelerated and report.parity.passed
    if padding == "pytorch":
        assert len(report.rewritten_layers) == 2 + 4  # stem pad + conv, 4 stride-2 3x3 convs
