"""The report's figures, drawn with matplotlib's Agg backend and written atomically as PNG."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (and none on a training server)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from adambnn_tf._files import atomic_path  # noqa: E402
from adambnn_tf.report.layout import StageData  # noqa: E402

__all__ = [
    "plot_curves_per_stage",
    "plot_ff_per_step",
    "plot_ff_per_step_of_runs",
    "plot_latent_histogram",
    "plot_bars",
    "save_figure",
]


def save_figure(figure: plt.Figure, path: str | os.PathLike) -> str:
    """Writes a figure as PNG atomically and closes it (the project's plots all go through here).

    # Arguments
        figure: the matplotlib figure.
        path: the PNG file.

    # Returns
        `path` as a string.
    """
    path = os.fspath(path)
    try:
        with atomic_path(path, suffix=".png") as temporary:
            figure.savefig(temporary, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(figure)  # pyplot keeps every open figure alive until closed
    return path


def _mark_stage_boundaries(axes: plt.Axes, stages: Sequence[StageData]) -> None:
    start = 0
    for stage in stages[:-1]:
        start += stage.epochs
        axes.axvline(start + 0.5, color="grey", linestyle=":", linewidth=1)


def plot_curves_per_stage(
    stages: Sequence[StageData],
    keys: Sequence[str],
    path: str,
    *,
    title: str,
    ylabel: str,
    log_scale: bool = False,
) -> str | None:
    """Plots history metrics per epoch, the stages one after another.

    # Arguments
        stages: the stages, in order.
        keys: the history keys to draw (absent ones are skipped).
        path: the PNG file to write.
        title: the figure title.
        ylabel: the y-axis label.
        log_scale: use a logarithmic y axis.

    # Returns
        `path`, or `None` when no stage has any of the keys.
    """
    figure, axes = plt.subplots(figsize=(7, 4))
    drawn = False
    offset = 0
    for stage in stages:
        for key in keys:
            values = stage.history.get(key)
            if values:
                epochs = np.arange(offset + 1, offset + len(values) + 1)
                axes.plot(epochs, values, marker="o", markersize=3, label=f"{stage.name} {key}")
                drawn = True
        offset += stage.epochs
    if not drawn:
        plt.close(figure)
        return None
    _mark_stage_boundaries(axes, stages)
    if log_scale:
        axes.set_yscale("log")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set(title=title, xlabel="epoch (stages in sequence)", ylabel=ylabel)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return save_figure(figure, path)


def _draw_ff_per_step(
    axes: plt.Axes,
    stages: Sequence[StageData],
    label: str | None,
    smooth: int,
    color: tuple[float, ...] | str | None = None,
) -> bool:
    """Draws the stages' per-iteration FF-ratios in sequence; returns whether any was drawn.

    Without a `label` each stage is its own legend entry; with one (a run among several) the
    run is one entry in one `color`, its earlier stages dashed and its last stage solid.
    """
    drawable = [s for s in stages if s.ff_per_step is not None and len(s.ff_per_step)]
    offset = 0
    for index, stage in enumerate(drawable):
        steps = offset + stage.ff_steps + 1
        values = stage.ff_per_step
        if smooth > 1 and len(values) >= smooth:
            values = np.convolve(values, np.ones(smooth) / smooth, mode="same")
        # Zero flips cannot be drawn on a log axis; they are left as gaps.
        positive = np.where(values > 0, values, np.nan)
        last = index == len(drawable) - 1
        if label is None:
            axes.plot(steps, positive, linewidth=0.8, label=stage.name)
        else:
            axes.plot(
                steps,
                positive,
                linewidth=0.9,
                color=color,
                linestyle="-" if last else "--",
                label=label if last else None,
            )
        offset = int(steps[-1])
    return bool(drawable)


def _finish_ff_axes(
    figure: plt.Figure, axes: plt.Axes, path: str, title: str, *, legend_outside: bool = False
) -> str:
    axes.set_yscale("log")
    axes.set(title=title, xlabel="iteration", ylabel="FF-ratio (log)")
    axes.grid(alpha=0.3, which="both")
    if legend_outside:  # many runs: a legend inside would hide the curves
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        axes.legend(fontsize="small")
    return save_figure(figure, path)


def _distinct_colors(count: int) -> list[tuple[float, ...]]:
    """`count` colours, as far apart as matplotlib's palettes allow: tab10's, then tab20's
    lighter shades (the default cycle repeats after 10, so two runs would share a colour)."""
    tab20 = plt.get_cmap("tab20").colors
    palette = list(tab20[0::2]) + list(tab20[1::2])
    return [palette[index % len(palette)] for index in range(count)]


def plot_ff_per_step(stages: Sequence[StageData], path: str) -> str | None:
    """Plots the FF-ratio of every recorded iteration on a log scale, the stages in sequence.

    Iterations are placed by their recorded step, so a run that measured every n-th step
    keeps its true iteration axis.

    # Returns
        `path`, or `None` when no stage has per-iteration values.
    """
    figure, axes = plt.subplots(figsize=(7, 4))
    if not _draw_ff_per_step(axes, stages, None, smooth=1):
        plt.close(figure)
        return None
    return _finish_ff_axes(figure, axes, path, "FF-ratio per iteration")


def plot_ff_per_step_of_runs(
    runs: Mapping[str, Sequence[StageData]], path: str, *, smooth: int = 1
) -> str | None:
    """Plots the per-iteration FF-ratio of several runs on one log-scale figure.

    Each run is one colour and one legend entry (beside the axes); a run's earlier stages are
    dashed, its last stage solid.

    !!! example
        ```python
        runs = {name: read_run(folder).stages for name, folder in arms.items()}
        plot_ff_per_step_of_runs(runs, "ff_per_iteration.png", smooth=20)
        ```

    # Arguments
        runs: a label -> the run's stages, in order.
        path: the PNG file to write.
        smooth: the width of a running mean over recorded iterations (1: none).

    # Returns
        `path`, or `None` when no run has per-iteration values.
    """
    figure, axes = plt.subplots(figsize=(9, 5))
    colors = _distinct_colors(len(runs))
    drawn = [
        _draw_ff_per_step(axes, stages, label, smooth, color)
        for (label, stages), color in zip(runs.items(), colors, strict=True)
    ]
    if not any(drawn):
        plt.close(figure)
        return None
    title = "FF-ratio per iteration" + (f" (running mean of {smooth})" if smooth > 1 else "")
    if any(len(stages) > 1 for stages in runs.values()):
        title += "; earlier stages dashed"
    return _finish_ff_axes(figure, axes, path, title, legend_outside=True)


def plot_latent_histogram(weights: np.ndarray, path: str, *, bins: int = 201) -> str:
    """Plots the histogram of the final latent weights (paper Fig. 6: three peaks).

    # Arguments
        weights: all latent weights, flattened.
        path: the PNG file to write.
        bins: the number of bins.

    # Returns
        `path`.
    """
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.hist(weights, bins=bins, color="tab:blue")
    axes.set_yscale("log")
    axes.set(
        title=f"Final latent weights ({weights.size:,} values)",
        xlabel="latent weight",
        ylabel="count (log)",
    )
    axes.grid(alpha=0.3)
    return save_figure(figure, path)


def plot_bars(
    values: dict[str, float], path: str, *, title: str, xlabel: str, log_scale: bool = False
) -> str | None:
    """A horizontal bar chart of named values (per-layer shares, operator counts).

    # Returns
        `path`, or `None` when `values` is empty.
    """
    if not values:
        return None
    names = list(values)
    figure, axes = plt.subplots(figsize=(7, max(2.0, 0.3 * len(names) + 1)))
    axes.barh(range(len(names)), [values[name] for name in names], color="tab:orange")
    axes.set_yticks(range(len(names)), names, fontsize="small")
    axes.invert_yaxis()
    if log_scale:
        axes.set_xscale("log")
    axes.set(title=title, xlabel=xlabel)
    axes.grid(alpha=0.3, axis="x")
    return save_figure(figure, path)
