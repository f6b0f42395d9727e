"""Issue 18: the pretrained weights shipped in the package load the larq-zoo way, offline,
and reach the accuracy their model card records.

The manifest (`zoo/weights/manifest.json`, written by `bench/ship_pretrained.py`) lists each
shipped file with its SHA-256, the configuration it fits and its card. Here each one is built
with `weights=<name>` (fetched from the package into larq-zoo's cache, hash-checked) and
evaluated on the whole test split.
"""

import hashlib
import pathlib
import shutil
import sys

import numpy as np
import pytest

from adambnn_tf.cli._pretrained import build_pretrained
from adambnn_tf.config import RunConfig
from adambnn_tf.data import load_dataset
from adambnn_tf.evaluation import dataset_arrays, predict, top1
from adambnn_tf.zoo import PRETRAINED_WEIGHTS, ReActNetACompact, registered_weights
from adambnn_tf.zoo._registry import PACKAGED_WEIGHTS_DIR, packaged_weights

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bench"))
from _runs import train_command_config  # noqa: E402  (bench: the campaigns' command parsing)

SHIPPED = packaged_weights()


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty larq-zoo cache, as on a fresh install."""
    (tmp_path / "home" / ".keras").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home" / ".keras"


def test_fashion_mnist_weights_ship_with_the_package():
    assert "fashion_mnist" in registered_weights("reactnet_a_compact")
    (entry,) = [e for e in SHIPPED if e["name"] == "fashion_mnist"]
    data = (PACKAGED_WEIGHTS_DIR / entry["file_name"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert len(data) < 8 * 2**20  # "a few MB at most"


@pytest.mark.needs_fashion_mnist
@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: f"{e['model']}-{e['name']}")
def test_shipped_weights_reach_their_recorded_accuracy(entry, keras_home):
    model = build_pretrained(entry["model"], entry["name"])
    assert (keras_home / "larq" / "models" / entry["model"] / entry["file_name"]).exists()
    data = load_dataset(entry["card"]["dataset"], "test", batch_size=256)
    images, labels = dataset_arrays(data.dataset)
    assert len(labels) == entry["card"]["test_images"] == 10000
    accuracy = top1(predict(model, images), labels)
    assert abs(accuracy - entry["card"]["test_top1_keras"]) <= 0.001
    assert model.count_params() == entry["card"]["parameters"]


def test_the_larq_zoo_call_and_the_feature_extractor(keras_home):
    model = ReActNetACompact(weights="fashion_mnist")
    features = ReActNetACompact(weights="fashion_mnist", include_top=False)
    assert features.output_shape == (None, 4, 4, 256)
    np.testing.assert_array_equal(
        features.get_layer("block6_conv1x1").get_weights()[0],
        model.get_layer("block6_conv1x1").get_weights()[0],
    )
    with pytest.raises(ValueError, match="num_classes=5 \\(the weights: 10\\)"):
        ReActNetACompact(weights="fashion_mnist", num_classes=5)
    with pytest.raises(ValueError, match="registered name for reactnet_a_compact \\('fashion"):
        ReActNetACompact(weights="fashion-mnist")


def test_a_corrupted_copy_is_refused(keras_home, tmp_path):
    (key,) = [k for k in PRETRAINED_WEIGHTS if k[:2] == ("reactnet_a_compact", "fashion_mnist")]
    shipped = PRETRAINED_WEIGHTS[key]
    damaged = tmp_path / shipped.file_name
    shutil.copyfile(PACKAGED_WEIGHTS_DIR / shipped.file_name, damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    saved = dict(PRETRAINED_WEIGHTS)
    try:
        PRETRAINED_WEIGHTS[key] = type(shipped)(
            damaged.as_uri(), shipped.sha256, shipped.file_name, shipped.configuration
        )
        with pytest.raises(
            ValueError, match=f"does not have the registered SHA-256 {shipped.sha256}"
        ):
            ReActNetACompact(weights="fashion_mnist")
    finally:
        PRETRAINED_WEIGHTS.clear()
        PRETRAINED_WEIGHTS.update(saved)
    assert not (keras_home / "larq" / "models" / "reactnet_a_compact" / shipped.file_name).exists()


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: f"{e['model']}-{e['name']}")
def test_the_readme_and_the_docstring_state_the_manifest_card(entry):
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Try a pretrained BNN", 1)[1].split("\n## ", 1)[0]
    card = entry["card"]
    top1 = f"{100 * card['test_top1_keras']:.2f}% / {100 * card['test_top1_lce']:.2f}%"
    assert f'| `"{entry["name"]}"` | {top1} |' in ReActNetACompact.__doc__
    stated = [
        f'`weights="{entry["name"]}"`',
        f"| {top1} |",
        f"| {100 * card['validation_top1']:.2f}% |",
        f"| {card['parameters']:,} / {card['binary_parameters']:,} (",
        f"| {card['keras_file_bytes'] / 1e6:.1f} MB / {card['tflite_bytes'] / 1e6:.2f} MB |",
        f"{card['training_minutes']['total']:.1f} minutes",
    ]
    for text in stated:
        assert text in section, f"README's pretrained card lacks {text!r}"
    assert " ".join(card["command"].split()) in " ".join(section.replace("\\\n", " ").split())


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: f"{e['model']}-{e['name']}")
def test_the_cards_command_gives_the_configuration_the_weights_were_trained_with(entry):
    card = entry["card"]
    stated = train_command_config(card["command"])  # raises unless `adambnn train ...`
    assert stated == RunConfig.from_json(card["run_config"])
    assert stated.model.name == entry["model"]
    assert stated.model.binary == entry["configuration"]["binary"]
