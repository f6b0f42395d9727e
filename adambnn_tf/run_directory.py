"""The run directory of the main job: claiming it, and the history and results files.

The file names are those of `adambnn_tf.report.layout`, which the report reads. A directory
is claimed by writing the run's configuration (`run.json`); a later run in the same directory
resumes it only when the settings that change what is trained are the same (paths compared
resolved, so a directory named another way or moved still resumes).

!!! example
    ```python
    claim_run_directory(config)  # raises RunDirectoryConflictError for another run
    write_history(os.path.join(config.output_dir, "stage1"), history)
    ```
"""

from __future__ import annotations

import csv
import io
import json
import os

from adambnn_tf._files import write_atomically
from adambnn_tf.config import ConfigError, RunConfig
from adambnn_tf.report.layout import HISTORY_CSV, HISTORY_JSON, RUN_CONFIG

__all__ = [
    "RESULTS_FILE",
    "RunDirectoryConflictError",
    "claim_run_directory",
    "write_history",
    "write_results",
]

RESULTS_FILE = "results.json"


class RunDirectoryConflictError(ValueError):
    """The output directory holds a run with another configuration, or foreign files."""


def _recorded_config(path: str) -> RunConfig:
    try:
        return RunConfig.load(path)
    except ConfigError as error:
        raise RunDirectoryConflictError(
            f"{path} does not hold a configuration of this version ({error}); choose another "
            "--output-dir so that nothing there is overwritten."
        ) from error


def claim_run_directory(config: RunConfig) -> None:
    """Records the configuration in a new run directory, or checks that a resumed run's is the
    same in every setting that changes what is trained.

    # Arguments
        config: the validated run configuration.

    # Raises
        RunDirectoryConflictError: when the directory holds another run, an unreadable
            `run.json`, or files of something else; nothing is changed then.
    """
    path = os.path.join(config.output_dir, RUN_CONFIG)
    if os.path.exists(path):
        recorded = _recorded_config(path).identity()
        wanted = config.identity()
        differences = {
            key: (value, wanted[key]) for key, value in recorded.items() if wanted[key] != value
        }
        if differences:
            listed = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in differences.items())
            raise RunDirectoryConflictError(
                f"{config.output_dir!r} holds another run ({listed}). Resume it with the same "
                "settings (e.g. --config its run.json), or choose a new --output-dir; nothing "
                "was changed."
            )
        return
    if os.path.isdir(config.output_dir) and os.listdir(config.output_dir):
        raise RunDirectoryConflictError(
            f"{config.output_dir!r} is not empty and holds no run of this tool ({RUN_CONFIG} is "
            "missing); choose a new --output-dir so that nothing there is overwritten."
        )
    write_atomically(path, json.dumps(config.to_json(), indent=2))


def _history_csv(history: dict[str, list[float]]) -> str:
    keys = sorted(history)
    rows = max((len(values) for values in history.values()), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch", *keys])
    for epoch in range(rows):
        writer.writerow(
            [epoch, *(history[key][epoch] if epoch < len(history[key]) else "" for key in keys)]
        )
    return buffer.getvalue()


def write_history(phase_dir: str, history: dict[str, list[float]]) -> None:
    """Writes a phase's per-epoch history as `history.json` and `history.csv`.

    # Arguments
        phase_dir: the stage's (or the teacher's) folder.
        history: metric name -> one value per epoch.
    """
    write_atomically(os.path.join(phase_dir, HISTORY_JSON), json.dumps(history, indent=1))
    write_atomically(os.path.join(phase_dir, HISTORY_CSV), _history_csv(history))


def write_results(output_dir: str, results: dict) -> None:
    """Writes the run's `results.json` (accuracies, training minutes, paths).

    # Arguments
        output_dir: the run directory.
        results: JSON values.
    """
    write_atomically(os.path.join(output_dir, RESULTS_FILE), json.dumps(results, indent=2))
