"""Resolving `distillation.teacher`: a Keras model, ResNet-34 weights, or torchvision's cache."""

import pytest
import tensorflow as tf

from adambnn_tf.config import ConfigError, recipe
from adambnn_tf.teachers import load_teacher, resolve_teacher


def _tiny_model() -> tf.keras.Model:
    inputs = tf.keras.Input((4,))
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3)(inputs))


def test_named_resnet34_is_torchvisions_cached_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="--teacher PATH"):
        resolve_teacher("resnet34")
    with pytest.raises(ConfigError, match="distillation.teacher: .*resnet34-\\*.pth"):
        recipe("official-imagenet").validate()
    cached = tmp_path / "hub" / "checkpoints" / "resnet34-b627a593.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    source = resolve_teacher("resnet34")
    assert (source.kind, source.path) == ("resnet34_weights", str(cached))
    recipe("official-imagenet").validate()  # the official recipe is complete with the weights


def test_files_are_told_apart_by_what_they_hold(tmp_path):
    model = _tiny_model()
    model.save(tmp_path / "model.h5")
    model.save_weights(tmp_path / "weights.h5")
    (tmp_path / "resnet34.pth").write_bytes(b"weights")
    assert resolve_teacher(str(tmp_path / "model.h5")).kind == "keras_model"
    assert resolve_teacher(str(tmp_path / "weights.h5")).kind == "resnet34_weights"
    assert resolve_teacher(str(tmp_path / "resnet34.pth")).kind == "resnet34_weights"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_teacher(str(tmp_path / "missing.h5"))
    loaded = load_teacher(str(tmp_path / "model.h5"), input_shape=(4,), num_classes=3)
    x = tf.ones((2, 4))
    assert float(tf.reduce_max(tf.abs(loaded(x) - model(x)))) == 0.0
