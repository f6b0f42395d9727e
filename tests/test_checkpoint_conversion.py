"""Official PyTorch checkpoints -> Keras: logits parity with a PyTorch reference, key variants,
errors, and the `adambnn convert-checkpoint` command."""

import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="checkpoint conversion needs the optional torch extra (CI installs it)"
)

sys.path.insert(0, os.path.dirname(__file__))

import torch_reactnet  # noqa: E402  (the PyTorch reference beside this file)

from adambnn_tf.cli import main as adambnn_main  # noqa: E402
from adambnn_tf.pytorch_conversion import (  # noqa: E402
    convert_checkpoint,
    convert_state_dict,
    load_pytorch_state_dict,
    load_state_dict_into,
)
from adambnn_tf.zoo import ReActNet18, ReActNetA  # noqa: E402

KERAS_MODELS = {"a": ReActNetA, "18": ReActNet18}
TORCH_MODELS = {"a": torch_reactnet.ReActNetA, "18": torch_reactnet.ReActNet18}


def _pair(kind, *, size, channels, width, small, stage=2, num_classes=10, padding="pytorch"):
    torch.manual_seed(0)
    reference = TORCH_MODELS[kind](
        num_classes=num_classes,
        stage=stage,
        width_multiplier=width,
        small_input=small,
        in_channels=channels,
    )
    reference = torch_reactnet.randomize_(reference).eval()
    model = KERAS_MODELS[kind](
        input_shape=(size, size, channels),
        num_classes=num_classes,
        stage=stage,
        width_multiplier=width,
        small_input=small,
        padding=padding,
        classifier_activation=None,
    )
    return reference, model


def _images(batch, channels, size, seed=1):
    return np.random.default_rng(seed).standard_normal((batch, channels, size, size), "float32")


def _max_relative_difference(reference, model, images):
    """max |keras - torch| / max |torch| over the logits of a batch (NCHW images)."""
    with torch.no_grad():
        expected = reference(torch.from_numpy(images)).numpy()
    actual = model(images.transpose(0, 2, 3, 1), training=False).numpy()
    return float(np.abs(actual - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize(
    "kind,size,channels,width,small,stage",
    [
        ("a", 28, 1, 0.25, True, 2),
        ("a", 32, 3, 0.25, True, 2),
        ("a", 28, 1, 0.25, True, 1),
        ("a", 224, 3, 0.125, False, 2),
        ("18", 32, 3, 0.25, True, 2),
        ("18", 224, 3, 0.125, False, 2),
    ],
)
def test_converted_logits_match_pytorch(kind, size, channels, width, small, stage):
    reference, model = _pair(
        kind, size=size, channels=channels, width=width, small=small, stage=stage
    )
    load_state_dict_into(model, reference.state_dict())
    assert _max_relative_difference(reference, model, _images(2, channels, size)) < 1e-4


@pytest.mark.slow  # full-width 224x224 parity takes ~30 s
@pytest.mark.parametrize("kind", ["a", "18"])
def test_full_width_224_logits_match_pytorch(kind):
    reference, model = _pair(kind, size=224, channels=3, width=1.0, small=False, num_classes=1000)
    load_state_dict_into(model, reference.state_dict())
    assert _max_relative_difference(reference, model, _images(1, 3, 224)) < 1e-4


def test_lce_padding_is_not_pytorch_exact_at_stride_2():
    """The reason for padding='pytorch': Keras 'same' pads (0, 1) at stride 2."""
    reference, model = _pair("a", size=224, channels=3, width=0.125, small=False, padding="lce")
    load_state_dict_into(model, reference.state_dict())
    assert _max_relative_difference(reference, model, _images(2, 3, 224)) > 1e-2


def test_plus_minus_one_weights_load_with_unit_scale():
    """Re-uploaded official files store binary kernels as exact +-1 (scale absorbed in BN)."""
    reference, model = _pair("a", size=32, channels=3, width=0.25, small=True)
    with torch.no_grad():
        for name, parameter in reference.named_parameters():
            if "binary_" in name:
                parameter.copy_(torch.sign(parameter))
    load_state_dict_into(model, reference.state_dict())
    assert _max_relative_difference(reference, model, _images(2, 3, 32)) < 1e-4


def _official_variants(state_dict):
    """The key variants of the released files: `module.` prefix, training-checkpoint wrapper,
    and ReActNet's `weights` [O*I*k*k, 1] kernels."""
    variant = {}
    for key, value in state_dict.items():
        if ".binary_" in key and key.endswith(".weight"):
            key, value = key[: -len("weight")] + "weights", value.reshape(-1, 1)
        variant[f"module.{key}"] = value
    return {"epoch": 3, "state_dict": variant, "best_top1_acc": 0.5}


def test_key_variants_convert_to_the_same_weights():
    reference, model = _pair("a", size=28, channels=1, width=0.25, small=True)
    plain = convert_state_dict(reference.state_dict(), model)
    variant = convert_state_dict(_official_variants(reference.state_dict()), model)
    assert plain.keys() == variant.keys()
    for layer_name in plain:
        for expected, actual in zip(plain[layer_name], variant[layer_name], strict=True):
            np.testing.assert_array_equal(actual, expected)
    # The duplicated 1x1 path: down1 then down2 on the output-channel axis.
    down2 = reference.state_dict()["feature.1.binary_pw_down2.weight"].numpy()
    kernel = dict(zip(["kernel", "bias"], plain["block1_conv1x1"], strict=True))["kernel"]
    np.testing.assert_array_equal(kernel[..., down2.shape[0] :], down2.transpose(2, 3, 1, 0))


def test_conversion_errors_name_the_problem():
    reference, model = _pair("a", size=28, channels=1, width=0.25, small=True)
    state = {k: v.numpy() for k, v in reference.state_dict().items()}
    with pytest.raises(ValueError, match="Unknown checkpoint key layout"):
        convert_state_dict({"encoder.weight": np.zeros(3)}, model)
    other = ReActNet18(
        input_shape=(28, 28, 1), num_classes=10, width_multiplier=0.25, small_input=True
    )
    with pytest.raises(ValueError, match="reactnet_a checkpoint but the model is reactnet18"):
        convert_state_dict(state, other)
    missing = dict(state)
    del missing["feature.3.move12.bias"]
    with pytest.raises(ValueError, match="no entry 'feature.3.move12.bias'"):
        convert_state_dict(missing, model)
    extra = {**state, "feature.14.move11.bias": np.zeros((1, 8, 1, 1))}
    with pytest.raises(ValueError, match="no place for"):
        convert_state_dict(extra, model)
    five_classes = ReActNetA(
        input_shape=(28, 28, 1), num_classes=5, width_multiplier=0.25, small_input=True
    )
    before = [w.copy() for w in five_classes.get_weights()]
    with pytest.raises(ValueError, match="'logits' weight 'kernel' has shape"):
        load_state_dict_into(five_classes, state)
    for expected, actual in zip(before, five_classes.get_weights(), strict=True):
        np.testing.assert_array_equal(actual, expected)  # nothing half-loaded


def test_convert_checkpoint_command_and_pth_weights_argument(tmp_path):
    reference, _ = _pair("a", size=28, channels=1, width=0.25, small=True)
    checkpoint = tmp_path / "model_best.pth.tar"
    torch.save(_official_variants(reference.state_dict()), checkpoint)
    output = tmp_path / "reactnet_a.h5"

    assert adambnn_main(["convert-checkpoint", str(checkpoint), str(output)]) == 0
    assert output.exists() and not [p for p in os.listdir(tmp_path) if p.startswith("tmp")]
    images = _images(2, 1, 28)
    options = dict(
        input_shape=(28, 28, 1),
        num_classes=10,
        width_multiplier=0.25,
        small_input=True,
        padding="pytorch",
        classifier_activation=None,
    )
    from_h5 = ReActNetA(weights=str(output), **options)
    assert _max_relative_difference(reference, from_h5, images) < 1e-4
    from_pth = ReActNetA(weights=str(checkpoint), **options)
    assert _max_relative_difference(reference, from_pth, images) < 1e-4


def test_convert_checkpoint_infers_widths_and_rejects_the_wrong_model(tmp_path, capsys):
    reference = torch_reactnet.ReActNet18(num_classes=7, width_multiplier=0.125)
    checkpoint = tmp_path / "resnet.pth.tar"
    torch.save({"state_dict": reference.state_dict()}, checkpoint)
    model = convert_checkpoint(checkpoint, tmp_path / "r18.h5", "reactnet18")
    assert model.name == "reactnet18" and model.output_shape == (None, 7)
    assert model.get_layer("stem_conv").kernel.shape == (7, 7, 3, 8)

    status = adambnn_main(
        ["convert-checkpoint", str(checkpoint), str(tmp_path / "x.h5"), "--model", "reactnet_a"]
    )
    assert status == 2  # input the user can correct
    assert "is a reactnet18 checkpoint, not reactnet_a" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def test_load_pytorch_state_dict_reads_files(tmp_path):
    reference = torch_reactnet.ReActNet18(num_classes=3, width_multiplier=0.125)
    path = tmp_path / "plain.pth"
    torch.save({f"module.{k}": v for k, v in reference.state_dict().items()}, path)
    state = load_pytorch_state_dict(path)
    assert "conv1.weight" in state and not any(k.endswith("num_batches_tracked") for k in state)
    np.testing.assert_array_equal(state["fc.bias"], reference.fc.bias.detach().numpy())
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a readable PyTorch checkpoint"):
        load_pytorch_state_dict(tmp_path / "broken.pth")
