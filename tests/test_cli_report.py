"""`adambnn report` on half-finished runs and on folders that hold no run (issue 19)."""

import json
import os

from adambnn_tf.cli import main
from adambnn_tf.report import read_run, write_report


def _error_line(capsys, command: str = "report") -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"adambnn {command}: error: "), lines[0]
    return lines[0]


def _half_finished_run(run_dir) -> None:
    """Stage 1 interrupted after two committed epochs: state.json, no history file yet."""
    (run_dir / "stage1").mkdir(parents=True)
    state = {
        "stage": 1,
        "completed_epochs": 2,
        "done": False,
        "last_checkpoint": "epoch_0002",
        "best_checkpoint": "best_0002",
        "best_value": 0.75,
        "best_epoch": 1,
        "steps_per_epoch": 10,
        "history": {"loss": [1.5, 1.0], "accuracy": [0.5, 0.7], "val_accuracy": [0.6, 0.75]},
    }
    (run_dir / "stage1" / "state.json").write_text(json.dumps(state))
    (run_dir / "run.json").write_text(json.dumps({"model": {"name": "reactnet_a"}}))


def test_a_half_finished_run_reports_the_committed_epochs_of_state_json(tmp_path, capsys):
    _half_finished_run(tmp_path)
    run = read_run(tmp_path)
    assert run.stages[0].epochs == 2
    assert run.stages[0].history["val_accuracy"] == [0.6, 0.75]
    assert main(["report", str(tmp_path)]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    summary = text.split("## Summary")[1]
    assert "| stage1 | 2 | 0.7 | 0.75 | 0.75 | 1 |" in summary
    assert "*No training history recorded.*" not in text
    assert "state.json" in text.split("## Missing from the run directory")[1]


def test_a_folder_without_a_run_is_refused_and_nothing_is_written(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a run")
    assert main(["report", str(tmp_path)]) == 2
    line = _error_line(capsys)
    assert "holds no training run" in line and "run.json" in line
    assert os.listdir(tmp_path) == ["notes.txt"]
    assert main(["report", str(tmp_path / "absent")]) == 2
    assert "absent" in _error_line(capsys)


def test_an_output_path_that_is_a_file_is_refused_before_writing(tmp_path, capsys):
    run_dir = tmp_path / "run"
    _half_finished_run(run_dir)
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    assert main(["report", str(run_dir), "--output-dir", str(blocker)]) == 2
    assert "a_file is a file, not a folder" in _error_line(capsys)
    assert main(["report", str(run_dir), "--output-dir", str(blocker / "sub")]) == 2
    assert "a_file is a file" in _error_line(capsys)
    (run_dir / "report").write_text("a file where the report folder goes")
    assert main(["report", str(run_dir)]) == 2
    assert "is a file, not a folder" in _error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == ["a_file", "run"]
    assert blocker.read_text() == "in the way"


def test_write_report_refuses_a_folder_without_a_run(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="holds no training run"):
        write_report(tmp_path)
    assert os.listdir(tmp_path) == []
