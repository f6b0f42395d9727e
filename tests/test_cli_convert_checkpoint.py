"""`adambnn convert-checkpoint` on missing, corrupt and unsafe checkpoints and bad outputs
(issue 19): one error line that says what is wrong, exit 2, nothing written."""

import argparse
import os
import stat
import sys

import pytest

torch = pytest.importorskip(
    "torch", reason="checkpoint conversion needs the optional torch extra (CI installs it)"
)

sys.path.insert(0, os.path.dirname(__file__))

import torch_reactnet  # noqa: E402  (the PyTorch reference beside this file)

from adambnn_tf.cli import main  # noqa: E402


def _error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("adambnn convert-checkpoint: error: "), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small ReActNet-18 state dict, saved as an official training checkpoint."""
    path = tmp_path_factory.mktemp("checkpoints") / "model_best.pth.tar"
    reference = torch_reactnet.ReActNet18(num_classes=3, width_multiplier=0.125)
    torch.save({"state_dict": reference.state_dict(), "epoch": 3}, path)
    return path


def test_a_missing_checkpoint_is_named_without_advice_about_pickles(tmp_path, capsys):
    assert main(["convert-checkpoint", str(tmp_path / "absent.pth"), str(tmp_path / "o.h5")]) == 2
    line = _error_line(capsys)
    assert "absent.pth does not exist" in line
    assert "weights_only" not in line and "unsafe" not in line
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_checkpoint_is_called_unreadable(checkpoint, tmp_path, capsys, damage):
    whole = checkpoint.read_bytes()
    broken = tmp_path / "broken.pth.tar"
    broken.write_bytes(os.urandom(2048) if damage == "garbage" else whole[: len(whole) // 2])
    assert main(["convert-checkpoint", str(broken), str(tmp_path / "o.h5")]) == 2
    line = _error_line(capsys)
    assert "broken.pth.tar is not a readable PyTorch checkpoint" in line
    assert "weights_only" not in line and "--unsafe-pickle" not in line
    assert os.listdir(tmp_path) == ["broken.pth.tar"]


def test_a_checkpoint_with_python_objects_points_to_unsafe_pickle(checkpoint, tmp_path, capsys):
    state = torch.load(checkpoint, weights_only=True)
    state["args"] = argparse.Namespace(lr=1e-3)  # what the official train.py may store
    pickled = tmp_path / "with_args.pth.tar"
    torch.save(state, pickled)
    assert main(["convert-checkpoint", str(pickled), str(tmp_path / "o.h5")]) == 2
    line = _error_line(capsys)
    assert "--unsafe-pickle" in line and "weights_only=False" not in line
    out = tmp_path / "o.h5"
    assert main(["convert-checkpoint", str(pickled), str(out), "--unsafe-pickle"]) == 0
    assert out.exists()


def test_output_paths_are_checked_before_anything_is_read(checkpoint, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    assert main(["convert-checkpoint", str(checkpoint), str(blocker / "out.h5")]) == 2
    assert "a_file is a file, not a folder" in _error_line(capsys)
    (tmp_path / "folder.h5").mkdir()
    assert main(["convert-checkpoint", str(checkpoint), str(tmp_path / "folder.h5")]) == 2
    assert "is a folder" in _error_line(capsys)
    assert main(["convert-checkpoint", str(checkpoint), str(tmp_path / "out.keras")]) == 2
    assert "must be an .h5 file" in _error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["a_file", "folder.h5"]


def test_converted_files_are_readable_by_everyone(checkpoint, tmp_path, capsys):
    out = tmp_path / "sub" / "reactnet18.h5"
    assert main(["convert-checkpoint", str(checkpoint), str(out)]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o644
    assert "wrote" in capsys.readouterr().out
