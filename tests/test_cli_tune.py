"""`adambnn tune` on bad trial counts, failing trials and a file as --directory (issue 19)."""

import math
import os

import keras_tuner as kt
import pytest

from adambnn_tf import tuning
from adambnn_tf.cli import main


def _error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("adambnn tune: error: "), lines[0]
    return lines[0]


def _script(tmp_path, body: str) -> str:
    path = tmp_path / "experiment.py"
    path.write_text("import math\n\n\ndef build_and_fit(hp):\n" + body)
    return f"{path}:build_and_fit"


@pytest.mark.parametrize("trials", ["0", "-1"])
def test_fewer_than_one_trial_is_refused_before_anything_runs(tmp_path, capsys, trials):
    # Before the fix, 0 trials searched forever: the interrupt ends such a search (exit 130).
    train_fn = _script(tmp_path, "    raise KeyboardInterrupt\n")
    search = tmp_path / "search"
    assert main(["tune", train_fn, "--max-trials", trials, "--directory", str(search)]) == 2
    assert "--max-trials must be at least 1" in _error_line(capsys)
    assert not search.exists()


def test_hyperband_needs_an_epoch_budget_of_at_least_one(tmp_path, capsys):
    train_fn = _script(tmp_path, "    raise KeyboardInterrupt\n")
    argv = ["tune", train_fn, "--oracle", "hyperband", "--max-epochs", "0"]
    assert main([*argv, "--directory", str(tmp_path / "search")]) == 2
    assert "--max-epochs must be at least 1" in _error_line(capsys)


@pytest.mark.parametrize("trials", ["2", "4"])  # 4: keras-tuner stops after 3 failures in a row
def test_a_search_whose_trials_all_raise_fails_with_the_first_error(tmp_path, capsys, trials):
    train_fn = _script(tmp_path, "    raise RuntimeError('out of memory in trial')\n")
    argv = ["tune", train_fn, "--max-trials", trials, "--directory", str(tmp_path), "--seed", "0"]
    assert main(argv) == 1
    line = _error_line(capsys)
    assert "trials failed" in line and "RuntimeError: out of memory in trial" in line
    assert "Best configuration" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "returned", ["{'val_accuracy': [math.nan, math.nan]}", "math.nan", "{'val_accuracy': math.nan}"]
)
def test_a_search_whose_trials_all_diverge_fails_and_says_nan(tmp_path, capsys, returned):
    train_fn = _script(tmp_path, f"    return {returned}\n")
    argv = ["tune", train_fn, "--max-trials", "2", "--directory", str(tmp_path), "--seed", "0"]
    assert main(argv) == 1
    line = _error_line(capsys)
    assert "all 2 trials failed" in line and "NaN" in line
    assert "has no value of the objective" not in line


def test_a_nan_history_is_not_called_missing():
    objective = kt.Objective("val_accuracy", "max")
    with pytest.raises(ValueError, match="every value of the objective 'val_accuracy' is NaN"):
        tuning.trial_metrics({"val_accuracy": [math.nan, math.nan], "loss": [1.0, 2.0]}, objective)
    with pytest.raises(ValueError, match="has no value of the objective 'val_accuracy'"):
        tuning.trial_metrics({"loss": [1.0, 2.0]}, objective)


def test_one_completed_trial_is_the_best_even_when_others_fail(tmp_path, capsys):
    # The first trial raises and the second completes, whatever values the search draws.
    counter = tmp_path / "trials_started"
    body = (
        f"    counter = {str(counter)!r}\n"
        "    started = len(open(counter).read()) if __import__('os').path.exists(counter) else 0\n"
        "    open(counter, 'a').write('x')\n"
        "    if started == 0:\n"
        "        raise RuntimeError('diverged')\n"
        "    return {'val_accuracy': 0.5}\n"
    )
    argv = ["tune", _script(tmp_path, body), "--max-trials", "2", "--seed", "0"]
    argv += ["--directory", str(tmp_path)]
    assert main(argv) == 0
    assert "val_accuracy=0.5" in capsys.readouterr().out


def test_a_file_as_directory_is_refused(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    train_fn = _script(tmp_path, "    return 0.5\n")
    assert main(["tune", train_fn, "--directory", str(blocker)]) == 2
    assert "a_file is a file, not a folder" in _error_line(capsys)
    assert blocker.read_text() == "in the way"
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "adambnn_tune").write_text("a file where the project goes")
    assert main(["tune", train_fn, "--directory", str(tmp_path / "search")]) == 2
    assert "adambnn_tune is a file, not a folder" in _error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["a_file", "experiment.py", "search"]
