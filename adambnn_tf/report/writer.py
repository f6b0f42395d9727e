"""`write_report`: a run directory in, a Markdown report with PNG plots out."""

from __future__ import annotations

import json
import math
import os

import numpy as np

from adambnn_tf._files import write_atomically
from adambnn_tf.report import plots
from adambnn_tf.report.layout import RunData, StageData, find_metric, landscape_paths, read_run

__all__ = ["write_report", "REPORT_FOLDER", "REPORT_NAME"]

REPORT_FOLDER = "report"
REPORT_NAME = "report.md"

# Saturation in the paper's sense: binarizer inputs outside [-1, 1], where the
# ApproxSign/STE gradient is zero.
_SATURATION_NOTE = "share of binarizer inputs outside [-1, 1], where their gradient is zero"


def _fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return "n/a" if math.isnan(value) else f"{float(value):.4g}"
    return str(value)


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    # A "|" inside a cell would end it early.
    lines.extend(
        "| " + " | ".join(_fmt(cell).replace("|", "\\|") for cell in row) + " |" for row in rows
    )
    return lines + [""]


def _last(values: list[float] | None) -> float:
    # The last measured value: epochs without validation hold NaN.
    finite = [v for v in values or [] if not math.isnan(v)]
    return finite[-1] if finite else math.nan


def _best(values: list[float] | None) -> float:
    finite = [v for v in values or [] if not math.isnan(v)]
    return max(finite) if finite else math.nan


def _keys(stages: list[StageData], predicate) -> list[str]:
    found: list[str] = []
    for stage in stages:
        found.extend(key for key in stage.history if predicate(key) and key not in found)
    return found


def _is_accuracy(key: str) -> bool:
    lowered = key.lower()
    return "acc" in lowered and "ff" not in lowered and "c2i" not in lowered


def _metric_keys(stages: list[StageData], exact: str, fragment: str) -> list[str]:
    keys = [find_metric(stage.history, exact, fragment) for stage in stages]
    return sorted({key for key in keys if key})


def _image(lines: list[str], path: str | None, caption: str, output_dir: str) -> None:
    if path:
        lines.extend([f"![{caption}]({os.path.relpath(path, output_dir)})", ""])


def _minutes(history: dict[str, list[float]]) -> float:
    seconds = history.get("epoch_seconds")
    return sum(seconds) / 60 if seconds else float("nan")


def _summary_section(run: RunData, lines: list[str]) -> None:
    rows = []
    phases = ([run.teacher] if run.teacher is not None else []) + run.stages
    for stage in phases:
        history = stage.history
        accuracy = find_metric(history, "accuracy", "acc")
        val_accuracy = find_metric(history, "val_accuracy", "val_acc")
        ff = find_metric(history, "ff_ratio", "ff_ratio")
        c2i = find_metric(history, "c2i_ratio", "c2i")
        rows.append(
            [
                stage.name,
                stage.epochs,
                _last(history.get(accuracy)),
                _last(history.get(val_accuracy)),
                _best(history.get(val_accuracy)),
                _last(history.get("loss")),
                _last(history.get(ff)),
                _last(history.get(c2i)),
                _minutes(history),
            ]
        )
    lines.extend(["## Summary", ""])
    lines.extend(
        _table(
            [
                "stage",
                "epochs",
                "final accuracy",
                "final val accuracy",
                "best val accuracy",
                "final loss",
                "final FF-ratio",
                "final C2I-ratio",
                "training minutes",
            ],
            rows,
        )
    )
    total = sum(_minutes(phase.history) for phase in phases)
    if not math.isnan(total):
        lines.extend([f"Training time, validation included: {total:.1f} minutes.", ""])


def _sampling(steps: np.ndarray) -> str:
    """`"every step"`, `"every n steps"` or `"step k only"`, from the recorded iterations."""
    if len(steps) == 1:
        return f"step {int(steps[0])} only"
    gaps = np.unique(np.diff(steps))
    if len(gaps) == 1 and gaps[0] > 1:
        return f"every {int(gaps[0])} steps"
    return "every step" if len(gaps) <= 1 else "irregular steps"


def _ff_section(run: RunData, lines: list[str], output_dir: str) -> None:
    lines.extend(["## FF-ratio", ""])
    lines.append(
        "The share of latent weights whose sign flipped in an iteration (paper Eq. 4-5): high "
        "values mean an unstable, flip-flopping optimization."
    )
    lines.append("")
    path = plots.plot_ff_per_step(run.stages, os.path.join(output_dir, "ff_ratio_per_step.png"))
    if path:
        rows = [
            [
                stage.name,
                len(stage.ff_per_step),
                _sampling(stage.ff_steps),
                float(np.nanmean(stage.ff_per_step)),
                float(stage.ff_per_step[-1]),
            ]
            for stage in run.stages
            if stage.ff_per_step is not None and len(stage.ff_per_step)
        ]
        lines.extend(
            _table(
                ["stage", "measured iterations", "sampling", "mean FF-ratio", "last FF-ratio"],
                rows,
            )
        )
        _image(lines, path, "FF-ratio per iteration", output_dir)
        return
    keys = _metric_keys(run.stages, "ff_ratio", "ff_ratio")
    path = plots.plot_curves_per_stage(
        run.stages,
        keys,
        os.path.join(output_dir, "ff_ratio_per_epoch.png"),
        title="FF-ratio per epoch",
        ylabel="FF-ratio (log)",
        log_scale=True,
    )
    if path:
        lines.extend(["No per-iteration FF-ratio; the per-epoch means instead.", ""])
        _image(lines, path, "FF-ratio per epoch", output_dir)
    else:
        lines.extend(["*No FF-ratio recorded.*", ""])


def _c2i_section(run: RunData, lines: list[str], output_dir: str) -> None:
    lines.extend(["## C2I-ratio", ""])
    lines.extend(
        [
            "The share of binary weights whose sign still equals its initial sign: high values "
            "mean the training stayed close to the initialization.",
            "",
        ]
    )
    keys = _metric_keys(run.stages, "c2i_ratio", "c2i")
    path = plots.plot_curves_per_stage(
        run.stages,
        keys,
        os.path.join(output_dir, "c2i_ratio_per_epoch.png"),
        title="C2I-ratio per epoch",
        ylabel="C2I-ratio",
    )
    if path:
        _image(lines, path, "C2I-ratio per epoch", output_dir)
    else:
        lines.extend(["*No C2I-ratio recorded.*", ""])


def _curves_section(run: RunData, lines: list[str], output_dir: str) -> None:
    lines.extend(["## Accuracy and loss", ""])
    accuracy = plots.plot_curves_per_stage(
        run.stages,
        _keys(run.stages, _is_accuracy),
        os.path.join(output_dir, "accuracy.png"),
        title="Accuracy per epoch",
        ylabel="accuracy",
    )
    loss = plots.plot_curves_per_stage(
        run.stages,
        _keys(run.stages, lambda key: key.endswith("loss")),
        os.path.join(output_dir, "loss.png"),
        title="Loss per epoch",
        ylabel="loss",
    )
    if not accuracy and not loss:
        lines.extend(["*No training history recorded.*", ""])
    _image(lines, accuracy, "Accuracy per epoch", output_dir)
    _image(lines, loss, "Loss per epoch", output_dir)


def _latent_section(run: RunData, lines: list[str], output_dir: str) -> None:
    lines.extend(["## Latent weights at the end", ""])
    if not run.latent_weights:
        lines.extend(["*No final latent weights recorded.*", ""])
        return
    weights = np.concatenate([w.ravel() for w in run.latent_weights.values()])
    if not weights.size:
        lines.extend(["*The latent-weight file holds no values.*", ""])
        return
    finite = np.isfinite(weights)
    if not finite.all():
        # A run that diverged (e.g. too large a learning rate) still gets its report.
        lines.extend(
            [
                f"*{int(np.sum(~finite)):,} of {weights.size:,} latent weights are not finite: "
                "the training diverged (lower the learning rate). The statistics below are of "
                "the finite ones.*",
                "",
            ]
        )
        weights = weights[finite]
        if not weights.size:
            return
    magnitude = np.abs(weights)
    largest = float(magnitude.max())
    rows = [
        ["layers", len(run.latent_weights)],
        ["values", int(weights.size)],
        ["mean abs(w)", float(magnitude.mean())],
        ["max abs(w)", largest],
        [
            "share near 0: abs(w) < 1% of max",
            float(np.mean(magnitude < 0.01 * largest)),
        ],
        [
            "share near +-max: abs(w) > 99% of max",
            float(np.mean(magnitude > 0.99 * largest)),
        ],
    ]
    lines.extend(
        [
            "The paper reports three peaks in the latent-weight distribution after training "
            "with Adam; the table counts the weights near 0 and near the largest magnitude.",
            "",
        ]
    )
    lines.extend(_table(["statistic", "value"], rows))
    path = plots.plot_latent_histogram(weights, os.path.join(output_dir, "latent_weights.png"))
    _image(lines, path, "Latent-weight histogram", output_dir)


def _last_per_layer(stages: list[StageData], keys: list[str]) -> dict[str, float]:
    """`<key>/<layer>` columns of the last stage with any, at its last epoch."""
    for stage in reversed(stages):
        shares = {
            name.split("/", 1)[1]: values[-1]
            for name, values in stage.history.items()
            if values and any(name.startswith(key + "/") for key in keys)
        }
        if shares:
            return shares
    return {}


def _saturation_section(run: RunData, lines: list[str], output_dir: str) -> None:
    lines.extend(["## Saturated activations", "", f"The {_SATURATION_NOTE}.", ""])
    keys = _metric_keys(run.stages, "saturation", "saturat")
    per_layer_shares = run.saturated or _last_per_layer(run.stages, keys)
    per_epoch = plots.plot_curves_per_stage(
        run.stages,
        keys,
        os.path.join(output_dir, "saturated_per_epoch.png"),
        title="Saturated activations per epoch",
        ylabel="share",
    )
    per_layer = plots.plot_bars(
        per_layer_shares,
        os.path.join(output_dir, "saturated_per_layer.png"),
        title="Saturated activations per layer (end of training)",
        xlabel="share",
    )
    if per_layer_shares:
        mean = float(np.mean(list(per_layer_shares.values())))
        lines.extend([f"Mean over {len(per_layer_shares)} binarizers: {_fmt(mean)}.", ""])
        lines.extend(_table(["binarizer", "share"], [[k, v] for k, v in per_layer_shares.items()]))
    if not per_epoch and not per_layer:
        lines.extend(["*No saturated-activation shares recorded.*", ""])
    _image(lines, per_layer, "Saturated activations per layer", output_dir)
    _image(lines, per_epoch, "Saturated activations per epoch", output_dir)


def _flatten(prefix: str, value, rows: list[list]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, rows)
    elif not isinstance(value, list):
        rows.append([prefix, value])
    elif value and all(v is None or isinstance(v, (str, int, float)) for v in value):
        # Per-stage settings (epochs, learning rates, weight decays) fit in one cell; lists of
        # records (the export's layers) have their own sections.
        rows.append([prefix, ", ".join(_fmt(v) for v in value)])


def _export_section(run: RunData, lines: list[str], output_dir: str) -> None:
    lines.extend(["## Export", ""])
    if run.export is None:
        lines.extend(["*No export summary recorded.*", ""])
        return
    op_counts = run.export.get("op_counts") if isinstance(run.export.get("op_counts"), dict) else {}
    rows: list[list] = []
    _flatten("", {k: v for k, v in run.export.items() if k != "op_counts"}, rows)
    lines.extend(_table(["field", "value"], rows))
    if op_counts:
        lines.extend(_table(["operator", "count"], sorted(op_counts.items())))
    path = plots.plot_bars(
        {str(k): float(v) for k, v in sorted(op_counts.items())},
        os.path.join(output_dir, "export_op_counts.png"),
        title="Operators in the exported flatbuffer",
        xlabel="count",
    )
    _image(lines, path, "Operators in the exported flatbuffer", output_dir)


def _landscape_section(run: RunData, lines: list[str], output_dir: str) -> None:
    """The loss landscape of `adambnn analyze landscape`, when the run has one (optional, so
    never listed as missing)."""
    figure, numbers = landscape_paths(run.run_dir)
    if not os.path.isfile(figure):
        return
    lines.extend(["## Loss landscape", ""])
    lines.extend(
        [
            "The loss on a fixed subset of the training images around the final weights, "
            "along two filter-normalised random directions, for the BNN and for its float "
            "twin (the same network without binarizers, at the BNN's latent weights), from "
            "`adambnn analyze landscape`.",
            "",
        ]
    )
    try:
        with open(numbers) as stream:
            summary = json.load(stream)
        rows = [
            [
                name,
                summary[key]["origin_loss"],
                summary[key]["rise_at_probe_radius"],
                summary[key]["hessian_eigenvalue"],
            ]
            for name, key in (("BNN", "bnn"), ("float twin", "float_twin"))
        ]
        radius = summary["bnn"]["probe_radius"]
    except (OSError, ValueError, KeyError, TypeError):
        rows = []
    if rows:
        lines.extend(
            _table(
                [
                    "model",
                    "loss at the weights",
                    f"mean loss rise at radius {_fmt(radius)}",
                    "top Hessian eigenvalue",
                ],
                rows,
            )
        )
    _image(lines, figure, "Loss landscape of the BNN and of its float twin", output_dir)


def write_report(run_dir: str | os.PathLike, output_dir: str | os.PathLike | None = None) -> str:
    """Writes a Markdown report with PNG plots for a run directory.

    The layout read is documented in `adambnn_tf.report.layout`. Parts that are absent or
    unreadable are skipped and listed at the end of the report, so a partial run still gets a
    report.

    # Arguments
        run_dir: the run directory.
        output_dir: where to write `report.md` and the plots (default: `run_dir/report`).

    # Returns
        The path of `report.md`.

    # Raises
        NotADirectoryError: when `run_dir` is not a directory, or `output_dir` is a file.
        NotARunDirectoryError: when `run_dir` holds no run (see `read_run`); nothing is
            written then.

    !!! example
        ```python
        from adambnn_tf.report import write_report

        print(write_report("runs/fashion_mnist"))  # runs/fashion_mnist/report/report.md
        ```
    """
    run = read_run(run_dir)
    output_dir = os.fspath(output_dir or os.path.join(run.run_dir, REPORT_FOLDER))
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise NotADirectoryError(f"The report folder {output_dir} is a file, not a folder.")
    os.makedirs(output_dir, exist_ok=True)
    lines = ["# AdamBNN run report", "", f"Run directory: `{os.path.abspath(run.run_dir)}`", ""]
    if run.config:
        rows: list[list] = []
        _flatten("", run.config, rows)
        lines.extend(["## Configuration", ""])
        lines.extend(_table(["setting", "value"], rows))
    _summary_section(run, lines)
    _curves_section(run, lines, output_dir)
    _ff_section(run, lines, output_dir)
    _c2i_section(run, lines, output_dir)
    _latent_section(run, lines, output_dir)
    _saturation_section(run, lines, output_dir)
    _export_section(run, lines, output_dir)
    _landscape_section(run, lines, output_dir)
    lines.extend(["## Missing from the run directory", ""])
    lines.extend([f"- {item}" for item in run.missing] or ["Nothing: every part was found."])
    path = os.path.join(output_dir, REPORT_NAME)
    write_atomically(path, "\n".join(lines) + "\n")
    return path
