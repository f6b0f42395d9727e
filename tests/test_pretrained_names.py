"""Issue 18: named pretrained weights (`weights="fashion_mnist"`) through the registry.

A registered file is fetched into larq-zoo's cache and checked against its SHA-256, the
model's configuration is checked against the one the file was trained for, and the CLI's
`--weights` builds the model in that configuration. The entry registered here is a small
model's file in a temporary folder, as a file shipped in the package would be.
"""

import hashlib

import numpy as np
import pytest

from adambnn_tf.cli import main
from adambnn_tf.zoo import (
    PRETRAINED_WEIGHTS,
    ReActNetACompact,
    _pretrained,
    register_pretrained_weights,
)

NAME = "test_weights"
CONFIGURATION = {
    "input_shape": [28, 28, 1],
    "num_classes": 10,
    "width_multiplier": 0.25,
    "binary": True,
}


@pytest.fixture
def published(tmp_path, monkeypatch):
    """A registered weights file of `ReActNetACompact` at width 0.25, and a cache in HOME."""
    saved = dict(PRETRAINED_WEIGHTS)
    (tmp_path / "home" / ".keras").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    model = ReActNetACompact(width_multiplier=0.25)
    source = tmp_path / "package" / "reactnet_a_compact_test.h5"
    source.parent.mkdir()
    model.save_weights(str(source))
    register_pretrained_weights(
        "reactnet_a_compact",
        name=NAME,
        padding="lce",
        include_top=True,
        url=source.as_uri(),
        sha256=hashlib.sha256(source.read_bytes()).hexdigest(),
        file_name=source.name,
        configuration=CONFIGURATION,
    )
    cached = tmp_path / "home" / ".keras" / "larq" / "models" / "reactnet_a_compact" / source.name
    yield model, source, cached
    PRETRAINED_WEIGHTS.clear()
    PRETRAINED_WEIGHTS.update(saved)


def test_a_registered_name_loads_its_file_through_the_cache(published):
    model, _, cached = published
    loaded = ReActNetACompact(weights=NAME, width_multiplier=0.25)
    assert cached.exists()
    for expected, actual in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(actual, expected)
    images = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0)
    )


def test_without_the_classifier_it_is_a_feature_extractor_at_any_size(published):
    model, _, _ = published
    features = ReActNetACompact(
        weights=NAME, width_multiplier=0.25, include_top=False, input_shape=(32, 32, 1)
    )
    assert features.output_shape == (None, 4, 4, 64)
    kernel = features.get_layer("block6_conv1x1").get_weights()[0]
    np.testing.assert_array_equal(kernel, model.get_layer("block6_conv1x1").get_weights()[0])


@pytest.mark.parametrize(
    "options, named",
    [
        ({"num_classes": 5}, "num_classes=5 (the weights: 10)"),
        ({"width_multiplier": 0.5}, "width_multiplier=0.5 (the weights: 0.25)"),
        ({"input_shape": (32, 32, 1)}, "input_shape=(32, 32, 1) (the weights: (28, 28, 1))"),
        ({"binary": False}, "binary=False (the weights: True)"),
        ({"include_top": False, "input_shape": (28, 28, 3)}, "input channels=3 (the weights: 1)"),
    ],
)
def test_another_configuration_is_refused_by_name(published, options, named):
    arguments = {"width_multiplier": 0.25, **options}
    with pytest.raises(ValueError) as error:
        ReActNetACompact(weights=NAME, **arguments)
    assert named in str(error.value)
    assert "were trained for input_shape=(28, 28, 1), num_classes=10" in str(error.value)
    assert not published[2].exists()  # refused before anything was fetched


def test_an_unknown_name_lists_the_registered_ones(published):
    with pytest.raises(ValueError, match="registered name for reactnet_a_compact") as error:
        ReActNetACompact(weights="fashion_mnst", width_multiplier=0.25)
    assert f"'{NAME}'" in str(error.value)


def test_a_damaged_copy_is_refused_and_a_damaged_cache_is_refetched(published):
    model, source, cached = published
    ReActNetACompact(weights=NAME, width_multiplier=0.25)
    cached.write_bytes(cached.read_bytes()[:-100])  # a cached copy cut short
    reloaded = ReActNetACompact(weights=NAME, width_multiplier=0.25)
    np.testing.assert_array_equal(reloaded.get_weights()[0], model.get_weights()[0])

    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the shipped file itself damaged
    source.write_bytes(bytes(data))
    cached.unlink()
    with pytest.raises(ValueError, match="does not have the registered SHA-256"):
        ReActNetACompact(weights=NAME, width_multiplier=0.25)
    assert not cached.exists()


def test_a_packaged_url_says_to_reinstall(published, monkeypatch, tmp_path):
    _, source, _ = published
    monkeypatch.setattr(_pretrained, "PACKAGED_WEIGHTS_DIR", source.parent)
    source.write_bytes(b"damaged")
    with pytest.raises(ValueError, match="The package's copy is damaged: reinstall adambnn-tf"):
        ReActNetACompact(weights=NAME, width_multiplier=0.25)


def test_cli_weights_option_builds_the_registered_configuration(published, capsys):
    assert main(["evaluate", "--weights", "no_such_weights", "--limit", "4"]) == 2
    error = capsys.readouterr().err
    assert "no pretrained weights named 'no_such_weights'" in error and NAME in error
    assert main(["evaluate", "model.h5", "--weights", NAME]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["evaluate"]) == 2
    assert "--weights NAME" in capsys.readouterr().err
    assert main(["evaluate", "model.h5", "--model", "reactnet_a_compact"]) == 2
    assert "names the zoo model of --weights" in capsys.readouterr().err

    from adambnn_tf.cli._pretrained import build_pretrained

    model = build_pretrained("reactnet_a_compact", NAME)
    assert model.input_shape == (None, 28, 28, 1)
    np.testing.assert_array_equal(model.get_weights()[0], published[0].get_weights()[0])


@pytest.mark.needs_fashion_mnist
def test_cli_evaluates_and_exports_registered_weights(published, capsys, tmp_path):
    model, _, _ = published
    assert main(["evaluate", "--weights", NAME, "--limit", "64"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"reactnet_a_compact with weights='{NAME}': top-1 accuracy")
    assert "on 64 test images" in line
    output = tmp_path / "model.tflite"
    assert main(["export", "--weights", NAME, str(output), "--no-float-size"]) == 0
    assert "PASSED" in capsys.readouterr().out
    assert output.stat().st_size > 0


def test_a_run_starts_from_registered_weights(published):
    from adambnn_tf.config import RunConfig
    from adambnn_tf.main_job import build_zoo_model

    config = RunConfig().with_overrides({"model.weights": NAME, "model.width_multiplier": 0.25})
    stage1 = build_zoo_model(config.model, 1, (28, 28, 1), 10)
    for expected, actual in zip(published[0].get_weights(), stage1.get_weights(), strict=True):
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.needs_fashion_mnist
def test_a_run_with_weights_for_another_model_writes_nothing(published, tmp_path):
    from adambnn_tf.config import RunConfig
    from adambnn_tf.main_job import run_main_job

    output = tmp_path / "run"
    config = RunConfig().with_overrides(
        {"model.weights": NAME, "output_dir": str(output), "data.train_examples": 256}
    )  # width 1, the weights' 0.25
    with pytest.raises(ValueError, match="width_multiplier=1.0 \\(the weights: 0.25\\)"):
        run_main_job(config)
    assert not output.exists()
