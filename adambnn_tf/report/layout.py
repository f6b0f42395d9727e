"""The run-directory layout the report reads, and a tolerant reader for it.

```
RUN_DIR/
    run.json                     optional: the run's configuration (shown as a table)
    stage1/                      one folder per stage, named stage*, in name order; a
    stage2/                      one-stage run may put the stage files in RUN_DIR itself
        history.csv              Keras CSVLogger: `epoch` plus one column per metric
                                 (accuracy, loss, val_accuracy, val_loss, ff_ratio, c2i_ratio,
                                 saturated_share, ...)
        history.json             or Keras History.history: {"loss": [...], ...}
        state.json               else the committed epochs of an unfinished stage: its
                                 "history" (`adambnn_tf.training.stage_store.StageState`)
        ff_ratio_per_step.csv    `step,ff_ratio`: the FF-ratio of every iteration
    teacher/history.csv          optional: the distillation teacher's history, when the run
                                 trained it (`adambnn train --teacher-epochs`)
    latent_weights_final.npz     latent weights of the binary layers at the end, one array per
                                 layer
    final_model.h5               the trained model (float32 weights), as `adambnn train` wrote it
    saturated_activations.json   {"layer name": share of binarizer inputs outside [-1, 1]}
                                 (default: the last epoch's saturation/<layer> columns)
    export/report.json           the LCE export summary (`ExportReport.to_dict()`)
    analysis/landscape.png       optional: the loss landscape of `adambnn analyze landscape`
    analysis/landscape.json      and its numbers (`adambnn_tf.analysis.landscape_of_run`)
```

A folder holding none of `run.json`, a `stage*` folder or a history file is not a run:
`read_run` refuses it.

Writers: Keras's `CSVLogger` for `history.csv`, `adambnn_tf.report.StepMetricCSV` with
`FFRatio(log_step_value=True)` for `ff_ratio_per_step.csv`, `save_latent_weights` for the
`.npz`, and `ExportReport.to_dict()` for `export/report.json`.

A history column `epoch_seconds` (`adambnn_tf.report.recording.EpochTimer`) gives the
training time of each stage and of the teacher.

Metric names are matched loosely, so that per-layer columns do not hide the overall ones:
the FF-ratio is the column `ff_ratio` (else the first column containing "ff_ratio"), the
C2I-ratio `c2i_ratio` (else the first containing "c2i"), the saturated share
`saturation` (else the first containing "saturat").
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os

import numpy as np

__all__ = [
    "ANALYSIS_FOLDER",
    "EXPORT_REPORT",
    "FINAL_MODEL",
    "STAGE_STATE",
    "FF_PER_STEP",
    "HISTORY_CSV",
    "HISTORY_JSON",
    "LANDSCAPE_FIGURE",
    "LANDSCAPE_JSON",
    "LATENT_WEIGHTS",
    "RUN_CONFIG",
    "SATURATED_ACTIVATIONS",
    "TEACHER_FOLDER",
    "NotARunDirectoryError",
    "RunData",
    "StageData",
    "find_metric",
    "landscape_paths",
    "read_run",
]

RUN_CONFIG = "run.json"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
FF_PER_STEP = "ff_ratio_per_step.csv"
LATENT_WEIGHTS = "latent_weights_final.npz"
FINAL_MODEL = "final_model.h5"
SATURATED_ACTIVATIONS = "saturated_activations.json"
EXPORT_REPORT = os.path.join("export", "report.json")
TEACHER_FOLDER = "teacher"
ANALYSIS_FOLDER = "analysis"
LANDSCAPE_FIGURE = "landscape.png"
LANDSCAPE_JSON = "landscape.json"
# `adambnn_tf.training.stage_store.STATE_FILE`, named here so that reading a report does not
# import TensorFlow.
STAGE_STATE = "state.json"


def landscape_paths(run_dir: str | os.PathLike) -> tuple[str, str]:
    """The loss landscape's figure and JSON file in a run directory.

    # Arguments
        run_dir: the run directory.

    # Returns
        `(RUN_DIR/analysis/landscape.png, RUN_DIR/analysis/landscape.json)`.
    """
    folder = os.path.join(os.fspath(run_dir), ANALYSIS_FOLDER)
    return os.path.join(folder, LANDSCAPE_FIGURE), os.path.join(folder, LANDSCAPE_JSON)


class NotARunDirectoryError(ValueError):
    """The folder exists but holds no training run (no `run.json`, stage folder or history)."""


@dataclasses.dataclass
class StageData:
    """What one stage left in the run directory.

    # Attributes
        name: the stage folder name (`"stage1"`, ...; `"training"` for files in RUN_DIR).
        history: metric name -> one value per epoch (empty if no history file).
        ff_per_step: the FF-ratio of each recorded iteration (`None` if no file).
        ff_steps: the (0-based) iterations of `ff_per_step`: `0, 1, 2, ...` for a run that
            measured every step, `0, 10, 20, ...` for `--track-every 10`.
    """

    name: str
    history: dict[str, list[float]]
    ff_per_step: np.ndarray | None
    ff_steps: np.ndarray | None = None

    def __post_init__(self):
        if self.ff_per_step is not None and self.ff_steps is None:
            self.ff_steps = np.arange(len(self.ff_per_step))

    @property
    def epochs(self) -> int:
        """The number of epochs in the history."""
        return max((len(values) for values in self.history.values()), default=0)


@dataclasses.dataclass
class RunData:
    """Everything the report found, and what it did not.

    # Attributes
        run_dir: the run directory.
        config: the run configuration (`{}` if absent).
        stages: the stages, in order.
        latent_weights: layer name -> final latent weights (`{}` if absent).
        saturated: layer name -> share of saturated binarizer inputs (`{}` if absent).
        export: the export summary (`None` if absent).
        teacher: the distillation teacher's history (`None` if the run trained none).
        missing: one line per part that is absent or unreadable, saying which file.
    """

    run_dir: str
    config: dict
    stages: list[StageData]
    latent_weights: dict[str, np.ndarray]
    saturated: dict[str, float]
    export: dict | None
    missing: list[str]
    teacher: StageData | None = None


def find_metric(history: dict[str, list[float]], exact: str, fragment: str) -> str | None:
    """The history key for a metric: `exact` if present, else the first containing `fragment`.

    # Arguments
        history: metric name -> values.
        exact: the preferred name, e.g. `"ff_ratio"`.
        fragment: a lowercase part of the name to fall back on, e.g. `"c2i"`.

    # Returns
        The key (training metric before `val_` ones), or `None`.
    """
    if exact in history:
        return exact
    keys = sorted(history, key=lambda key: (key.startswith("val_"), key))
    return next((key for key in keys if fragment in key.lower()), None)


def _to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _read_history(folder: str, missing: list[str]) -> dict[str, list[float]]:
    csv_path = os.path.join(folder, HISTORY_CSV)
    json_path = os.path.join(folder, HISTORY_JSON)
    try:
        if os.path.isfile(csv_path):
            with open(csv_path, newline="") as stream:
                rows = list(csv.DictReader(stream))
            columns = [key for key in (rows[0] if rows else {}) if key != "epoch"]
            return {key: [_to_float(row[key]) for row in rows] for key in columns}
        if os.path.isfile(json_path):
            with open(json_path) as stream:
                history = json.load(stream)
            return {key: [float(v) for v in values] for key, values in history.items()}
    except (OSError, ValueError, TypeError, AttributeError) as error:
        missing.append(f"{csv_path} or {json_path}: unreadable ({error})")
        return {}
    committed = _read_committed_history(os.path.join(folder, STAGE_STATE), missing)
    if committed:
        epochs = max(len(values) for values in committed.values())
        missing.append(
            f"{csv_path} (or {HISTORY_JSON}): not written yet (the stage is unfinished); "
            f"the {epochs} committed epoch(s) of {STAGE_STATE} are shown"
        )
        return committed
    missing.append(f"{csv_path} (or {HISTORY_JSON}): no training history")
    return {}


def _read_committed_history(path: str, missing: list[str]) -> dict[str, list[float]]:
    """The `history` of a stage's `state.json`: its committed epochs, while it is unfinished."""
    if not os.path.isfile(path):
        return {}
    try:
        with open(path) as stream:
            history = json.load(stream).get("history") or {}
        return {str(key): [float(v) for v in values] for key, values in history.items()}
    except (OSError, ValueError, TypeError, AttributeError) as error:
        missing.append(f"{path}: unreadable ({error})")
        return {}


def _read_ff_per_step(
    folder: str, missing: list[str]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The per-iteration FF-ratios of a stage and their iterations (`step` column)."""
    path = os.path.join(folder, FF_PER_STEP)
    if not os.path.isfile(path):
        missing.append(f"{path}: no per-iteration FF-ratio")
        return None, None
    try:
        with open(path, newline="") as stream:
            rows = list(csv.DictReader(stream))
        key = find_metric({key: [] for key in (rows[0] if rows else {})}, "ff_ratio", "ff")
        if key is None:
            raise ValueError("no ff_ratio column")
        values = np.asarray([_to_float(row[key]) for row in rows], dtype=np.float64)
        steps = None
        if rows and "step" in rows[0]:
            steps = np.asarray([int(row["step"]) for row in rows], dtype=np.int64)
        return values, steps
    except (OSError, ValueError, KeyError) as error:
        missing.append(f"{path}: unreadable ({error})")
        return None, None


def _read_json(path: str, what: str, missing: list[str]):
    if not os.path.isfile(path):
        missing.append(f"{path}: no {what}")
        return None
    try:
        with open(path) as stream:
            return json.load(stream)
    except (OSError, ValueError) as error:
        missing.append(f"{path}: unreadable ({error})")
        return None


def _read_latent_weights(path: str, missing: list[str]) -> dict[str, np.ndarray]:
    if not os.path.isfile(path):
        missing.append(f"{path}: no final latent weights")
        return {}
    try:
        with np.load(path) as archive:
            return {name: np.asarray(archive[name], dtype=np.float64) for name in archive.files}
    except (OSError, ValueError) as error:
        missing.append(f"{path}: unreadable ({error})")
        return {}


def read_run(run_dir: str | os.PathLike) -> RunData:
    """Reads whatever of the layout is present in a run directory.

    # Arguments
        run_dir: the run directory.

    # Returns
        A `RunData`; absent or unreadable parts are empty and listed in `missing`.

    # Raises
        NotADirectoryError: when `run_dir` is not a directory.
        NotARunDirectoryError: when it holds no run: no `run.json`, no `stage*` folder and no
            history file.
    """
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise NotADirectoryError(f"{run_dir} is not a run directory (no such folder).")
    missing: list[str] = []
    stage_folders = sorted(
        name
        for name in os.listdir(run_dir)
        if name.startswith("stage") and os.path.isdir(os.path.join(run_dir, name))
    )
    run_files = (RUN_CONFIG, HISTORY_CSV, HISTORY_JSON, STAGE_STATE)
    if not stage_folders and not any(
        os.path.isfile(os.path.join(run_dir, name)) for name in run_files
    ):
        raise NotARunDirectoryError(
            f"{run_dir} holds no training run: no {RUN_CONFIG}, no stage*/ folder and no "
            f"{HISTORY_CSV}; give the --output-dir of an `adambnn train` run."
        )
    named = [(name, os.path.join(run_dir, name)) for name in stage_folders] or [
        ("training", run_dir)
    ]
    stages = [
        StageData(name, _read_history(folder, missing), *_read_ff_per_step(folder, missing))
        for name, folder in named
    ]
    config = _read_json(os.path.join(run_dir, RUN_CONFIG), "run configuration", missing)
    saturated = _read_json(
        os.path.join(run_dir, SATURATED_ACTIVATIONS), "saturated-activation shares", missing
    )
    try:
        saturated = {str(k): float(v) for k, v in (saturated or {}).items()}
    except (AttributeError, TypeError, ValueError):
        missing.append(f"{SATURATED_ACTIVATIONS}: expected an object of layer name -> share")
        saturated = {}
    export = _read_json(os.path.join(run_dir, EXPORT_REPORT), "export summary", missing)
    teacher_folder = os.path.join(run_dir, TEACHER_FOLDER)
    teacher = None
    if os.path.isdir(teacher_folder):
        teacher = StageData(TEACHER_FOLDER, _read_history(teacher_folder, missing), None)
    return RunData(
        run_dir=run_dir,
        config=config if isinstance(config, dict) else {},
        stages=stages,
        latent_weights=_read_latent_weights(os.path.join(run_dir, LATENT_WEIGHTS), missing),
        saturated=saturated,
        export=export if isinstance(export, dict) else None,
        missing=missing,
        teacher=teacher,
    )
