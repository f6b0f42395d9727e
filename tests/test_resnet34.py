"""`adambnn_tf.zoo.ResNet34` equals torchvision's `resnet34`: logits parity with a plain-torch
reference, the converter's errors, `weights=` paths and `adambnn convert-checkpoint --arch
resnet34`."""

import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="ResNet-34 conversion needs the optional torch extra (CI installs it)"
)

sys.path.insert(0, os.path.dirname(__file__))

import torch_reactnet  # noqa: E402  (the PyTorch references beside this file)
import torch_resnet34  # noqa: E402

from adambnn_tf.cli import main as adambnn_main  # noqa: E402
from adambnn_tf.pytorch_conversion import (  # noqa: E402
    convert_checkpoint,
    convert_state_dict,
    detect_layout,
    load_state_dict_into,
    resnet34_state_dict_keys,
)
from adambnn_tf.zoo import ResNet34  # noqa: E402

# Parity tolerance, relative to the logit scale max |logit| (float32 through 36 layers).
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def reference():
    torch.manual_seed(0)
    return torch_resnet34.randomize_(torch_resnet34.ResNet34(num_classes=10)).eval()


@pytest.fixture(scope="module")
def state(reference):
    return {key: value.numpy() for key, value in reference.state_dict().items()}


def _images(size, batch=2, seed=1):
    return np.random.default_rng(seed).standard_normal((batch, 3, size, size), "float32")


def _relative_error(reference, model, images):
    """max |keras - torch| / max |torch| over the logits of two NCHW images."""
    with torch.no_grad():
        expected = reference(torch.from_numpy(images)).numpy()
    actual = model(images.transpose(0, 2, 3, 1), training=False).numpy()
    scale = float(np.abs(expected).max())
    # The logits must depend on the image well above the tolerance (random BatchNorm
    # statistics could drown it in constant offsets), or parity would prove nothing; a
    # one-pixel shift of the sampling grid changes them by about 3% of the scale.
    assert np.abs(expected[0] - expected[1]).max() > 100 * TOLERANCE * scale
    return float(np.abs(actual - expected).max()) / scale


def _model(size, **kwargs):
    return ResNet34(
        input_shape=(size, size, 3), num_classes=10, classifier_activation=None, **kwargs
    )


def test_keys_and_layers_follow_torchvision(reference):
    assert resnet34_state_dict_keys() == [
        key for key in reference.state_dict() if not key.endswith("num_batches_tracked")
    ]
    model = _model(64)
    weighted = [layer.name for layer in model.layers if layer.weights]
    assert weighted[:4] == ["conv1", "bn1", "layer1_0_conv1", "layer1_0_bn1"]
    assert "layer2_0_downsample_0" in weighted and "layer1_0_downsample_0" not in weighted
    assert weighted[-1] == "fc"
    parameters = sum(p.numel() for p in torch_resnet34.ResNet34().parameters())
    assert parameters == 21_797_672  # torchvision's published count
    assert ResNet34(weights=None).count_params() - parameters == sum(
        2 * layer.moving_mean.shape[0] for layer in model.layers if hasattr(layer, "moving_mean")
    )  # Keras also counts BatchNorm's running statistics


@pytest.mark.parametrize("size", [64, 224, 57])
def test_converted_logits_match_pytorch(reference, size):
    model = _model(size)
    load_state_dict_into(model, reference.state_dict())
    error = _relative_error(reference, model, _images(size))
    print(f"ResNet-34 {size}x{size}: max |keras - torch| / max |torch| = {error:.2e}")
    assert error <= TOLERANCE


def test_data_parallel_prefix_and_training_checkpoint(reference, state):
    model = _model(64)
    wrapped = {"epoch": 90, "state_dict": {f"module.{k}": v for k, v in state.items()}}
    plain, variant = convert_state_dict(state, model), convert_state_dict(wrapped, model)
    assert plain.keys() == variant.keys()
    for layer_name in plain:
        for expected, actual in zip(plain[layer_name], variant[layer_name], strict=True):
            np.testing.assert_array_equal(actual, expected)
    assert detect_layout(state) == "resnet34"


def test_conversion_errors_name_the_first_offending_keys(state):
    model = _model(64)
    before = [w.copy() for w in model.get_weights()]
    missing = {k: v for k, v in state.items() if k != "layer3.2.bn1.running_var"}
    with pytest.raises(ValueError, match=r"1 keys missing, first \['layer3.2.bn1.running_var'\]"):
        load_state_dict_into(model, missing)
    extra = {**state, "layer1.3.conv1.weight": np.zeros((64, 64, 3, 3), "float32")}
    with pytest.raises(ValueError, match=r"1 keys unexpected, first \['layer1.3.conv1.weight'\]"):
        load_state_dict_into(model, extra)
    reactnet = torch_reactnet.ReActNetA(num_classes=10, width_multiplier=0.25).state_dict()
    with pytest.raises(
        ValueError,
        match="first \\['conv1.weight', 'bn1.weight'.*"
        "first \\['feature.0.conv1.weight'.*It is a reactnet_a checkpoint",
    ):
        load_state_dict_into(model, reactnet)
    resnet18 = {k: v for k, v in state.items() if not k.startswith(("layer1.2.", "layer4.2."))}
    with pytest.raises(ValueError, match=r"\[2, 4, 6, 2\] blocks"):
        load_state_dict_into(model, resnet18)
    with pytest.raises(ValueError, match="'fc' weight 'kernel' has shape"):
        load_state_dict_into(ResNet34(input_shape=(64, 64, 3), num_classes=5), state)
    for expected, actual in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(actual, expected)  # nothing half-loaded


def test_pth_weights_argument_and_headless_model(reference, tmp_path):
    checkpoint = tmp_path / "resnet34.pth"
    torch.save(reference.state_dict(), checkpoint)
    images = _images(64)
    from_pth = _model(64, weights=str(checkpoint))
    assert _relative_error(reference, from_pth, images) <= TOLERANCE
    features = ResNet34(include_top=False, weights=str(checkpoint))  # fc.* left unused
    np.testing.assert_array_equal(
        features.get_layer("layer4_2_bn2").moving_variance.numpy(),
        reference.layer4[2].bn2.running_var.numpy(),
    )


def test_convert_checkpoint_command_round_trip(reference, tmp_path, capsys):
    checkpoint = tmp_path / "resnet34.pth"
    torch.save({f"module.{k}": v for k, v in reference.state_dict().items()}, checkpoint)
    output = tmp_path / "resnet34.h5"
    status = adambnn_main(
        ["convert-checkpoint", "--arch", "resnet34", str(checkpoint), str(output)]
    )
    assert status == 0, capsys.readouterr().err
    assert output.exists() and not [p for p in os.listdir(tmp_path) if p.startswith("tmp")]
    assert "resnet34" in capsys.readouterr().out
    images = _images(64)
    from_h5 = _model(64, weights=str(output))
    assert _relative_error(reference, from_h5, images) <= TOLERANCE


def test_convert_checkpoint_refuses_other_layouts_and_writes_nothing(state, tmp_path, capsys):
    reactnet = tmp_path / "reactnet18.pth.tar"
    torch.save(
        {"state_dict": torch_reactnet.ReActNet18(width_multiplier=0.125).state_dict()}, reactnet
    )
    output = tmp_path / "out.h5"
    status = adambnn_main(["convert-checkpoint", "--arch", "resnet34", str(reactnet), str(output)])
    error = capsys.readouterr().err
    assert status == 2  # input the user can correct (adambnn_tf.cli.errors)
    assert "keys missing, first ['layer1.0.conv1.weight'" in error
    assert "keys unexpected, first ['layer1.0.move0.bias'" in error
    assert "It is a reactnet18 checkpoint" in error
    broken = tmp_path / "broken.pth"
    torch.save({k: torch.from_numpy(v) for k, v in state.items() if k != "fc.bias"}, broken)
    with pytest.raises(ValueError, match=r"keys missing, first \['fc.bias'\]"):
        convert_checkpoint(broken, output, "resnet34")
    resnet = tmp_path / "resnet34.pth"
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, resnet)
    with pytest.raises(ValueError, match="is a resnet34 checkpoint, not reactnet18"):
        convert_checkpoint(resnet, output, "reactnet18")
    assert not output.exists()
    assert sorted(os.listdir(tmp_path)) == ["broken.pth", "reactnet18.pth.tar", "resnet34.pth"]
