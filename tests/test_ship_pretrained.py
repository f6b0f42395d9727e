"""`bench/ship_pretrained.py` states on the card only a command that trains what the run
trained."""

import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import pytest  # noqa: E402
import ship_pretrained  # noqa: E402  (bench)

from adambnn_tf.cli.config_options import train_arguments  # noqa: E402
from adambnn_tf.config import recipe  # noqa: E402


def _run_config(tmp_path):
    """A campaign-like run: the `fashion-mnist` recipe with flips, seed 1, in a local folder."""
    overrides = {
        "output_dir": str(tmp_path / "campaign" / "bnn_s1"),
        "training.seed": 1,
        "data.augment": True,
        "data.random_crop": False,
        "data.validation_examples": 5000,
    }
    return recipe("fashion-mnist").with_overrides(overrides)


def test_the_runs_own_command_is_accepted_with_another_output_dir(tmp_path):
    config = _run_config(tmp_path)
    shown = config.with_overrides({"output_dir": "runs/pretrained/bnn_s1"})
    command = shlex.join(["adambnn", "train", *train_arguments(shown)])

    stated = ship_pretrained.checked_training_command(command, config)

    assert stated == shown  # the card records the command's directory, not the campaign's
    assert stated.identity() == config.identity()


@pytest.mark.parametrize(
    "change, named",
    [
        ("--seed 0", "training.seed=0 (the run: 1)"),
        ("--learning-rate 0.004", "stage1.learning_rate=0.004 (the run: "),
        ("--batch-size 128", "data.batch_size=128 (the run: 64)"),
    ],
)
def test_a_command_that_trains_something_else_is_refused_naming_the_setting(
    tmp_path, change, named
):
    config = _run_config(tmp_path)
    command = shlex.join(["adambnn", "train", *train_arguments(config)]) + " " + change

    with pytest.raises(ValueError, match="does not train what the run trained") as error:
        ship_pretrained.checked_training_command(command, config)
    assert named in str(error.value)


def test_a_command_other_than_adambnn_train_is_refused(tmp_path):
    with pytest.raises(ValueError, match="adambnn train"):
        ship_pretrained.checked_training_command("python train.py", _run_config(tmp_path))
