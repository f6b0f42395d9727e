"""The analyses' figures, drawn with matplotlib's Agg backend and written atomically as PNG."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (and none on a training server)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from adambnn_tf.report.plots import save_figure  # noqa: E402

__all__ = ["plot_landscapes", "plot_toy"]

_COLORS = {"sgd": "tab:red", "adam": "tab:blue"}


def _steepness(surface) -> str:
    text = f"rise at r={surface.probe_radius:g}: {surface.rise_at_probe_radius:.3g}"
    if surface.hessian_eigenvalue is not None:
        text += f", top Hessian eig.: {surface.hessian_eigenvalue:.3g}"
    return text


def plot_landscapes(comparison, path: str | os.PathLike) -> str:
    """Contour and 3-D surface of the BNN's landscape and of its float twin's, side by side.

    # Arguments
        comparison: an `adambnn_tf.analysis.landscape.LandscapeComparison`.
        path: the PNG file to write.

    # Returns
        `path`.
    """
    figure = plt.figure(figsize=(12, 10))
    for row, surface in enumerate((comparison.bnn, comparison.twin)):
        alpha, beta = np.meshgrid(surface.coordinates, surface.coordinates)
        # A log scale: far from the weights the loss grows by orders of magnitude (the float
        # twin's most), which would flatten the region around the weights to one colour.
        log_loss = np.log10(np.maximum(surface.losses, 1e-12))
        levels = np.linspace(log_loss.min(), log_loss.max(), 21)
        contour_axes = figure.add_subplot(2, 2, 2 * row + 1)
        contours = contour_axes.contourf(alpha, beta, log_loss, levels=levels, cmap="viridis")
        contour_axes.contour(
            alpha, beta, log_loss, levels=levels, colors="k", linewidths=0.3, alpha=0.5
        )
        contour_axes.plot(0, 0, marker="+", color="white", markersize=12, mew=2)
        contour_axes.set_aspect("equal")
        contour_axes.set_xlabel("alpha (direction 1)")
        contour_axes.set_ylabel("beta (direction 2)")
        contour_axes.set_title(f"{surface.name}: loss contours\n{_steepness(surface)}", fontsize=10)
        figure.colorbar(contours, ax=contour_axes, shrink=0.8, label="log10 loss", format="%.2f")
        surface_axes = figure.add_subplot(2, 2, 2 * row + 2, projection="3d")
        surface_axes.plot_surface(alpha, beta, log_loss, cmap="viridis", linewidth=0)
        surface_axes.set_xlabel("alpha")
        surface_axes.set_ylabel("beta")
        surface_axes.set_zlabel("log10 loss")
        surface_axes.set_title(
            f"{surface.name}: loss surface (centre {surface.origin_loss:.3g})", fontsize=10
        )
    settings = comparison.settings
    figure.suptitle(
        f"Loss landscape around the trained weights ({settings.get('model', 'model')}, "
        f"{settings['examples']} training images, filter-normalised directions, "
        f"radius {settings['radius']:g})",
        fontsize=11,
    )
    figure.tight_layout()
    return save_figure(figure, path)


def _zero_gradient_directions(result) -> np.ndarray:
    """How many of the two gradient components are zero, on the toy's grid."""
    plane = np.stack(np.meshgrid(result.axis, result.axis), axis=-1)
    return np.sum(result.network.surrogate_gradient(plane) == 0, axis=-1)


def plot_toy(result, path: str | os.PathLike) -> str:
    """The toy's four panels: (a) forward surface, (b) backward (surrogate) surface, (c) both
    optimizers' trajectories on it in 3-D, (d) the same from the top.

    # Arguments
        result: an `adambnn_tf.analysis.toy.ToyResult`.
        path: the PNG file to write.

    # Returns
        `path`.
    """
    w1, w2 = np.meshgrid(result.axis, result.axis)
    figure = plt.figure(figsize=(13, 11))
    for index, (surface, title) in enumerate(
        (
            (result.forward, "(a) forward loss: sign(x + w) makes it piecewise constant"),
            (result.surrogate, "(b) backward surface: sign replaced by clip(-1, x + w, 1)"),
        )
    ):
        axes = figure.add_subplot(2, 2, index + 1, projection="3d")
        axes.plot_surface(w1, w2, surface, cmap="viridis", linewidth=0, rcount=120, ccount=120)
        axes.set_xlabel("w1")
        axes.set_ylabel("w2")
        axes.set_zlabel("loss")
        axes.set_title(title, fontsize=10)

    axes = figure.add_subplot(2, 2, 3, projection="3d")
    axes.computed_zorder = False  # the paths stay drawn over the surface
    axes.plot_surface(
        w1, w2, result.surrogate, cmap="viridis", alpha=0.35, linewidth=0, rcount=80, ccount=80
    )
    for trajectory in (result.sgd, result.adam):
        path_w = trajectory.weights
        axes.plot(
            path_w[:, 0],
            path_w[:, 1],
            trajectory.surrogate_losses + 0.03,  # drawn just above the surface
            color=_COLORS[trajectory.optimizer],
            linewidth=2.5,
            label=f"{trajectory.optimizer.upper()}: final loss {trajectory.final_forward_loss:g}",
        )
    axes.scatter(*result.sgd.weights[0], result.sgd.surrogate_losses[0], color="grey", s=60)
    axes.view_init(elev=30, azim=40)  # from the minimum's corner, up towards the start
    axes.set_xlabel("w1")
    axes.set_ylabel("w2")
    axes.set_zlabel("surrogate loss")
    axes.set_title("(c) SGD and Adam from the same start (grey)", fontsize=10)
    axes.legend(fontsize=8, loc="upper right")

    axes = figure.add_subplot(2, 2, 4)
    filled = axes.contourf(w1, w2, result.surrogate, levels=24, cmap="viridis")
    axes.contourf(
        w1,
        w2,
        _zero_gradient_directions(result).astype(float),
        levels=[0.5, 1.5, 2.5],
        colors=["white", "white"],
        alpha=0.25,
    )
    axes.contourf(
        w1,
        w2,
        _zero_gradient_directions(result).astype(float),
        levels=[1.5, 2.5],
        colors="none",
        hatches=["////"],
    )
    for trajectory in (result.sgd, result.adam):
        path_w = trajectory.weights
        axes.plot(
            path_w[:, 0],
            path_w[:, 1],
            color=_COLORS[trajectory.optimizer],
            marker=".",
            markersize=3,
            label=(
                f"{trajectory.optimizer.upper()} (lr {trajectory.learning_rate:.3g}): "
                f"{trajectory.zero_gradient_steps} steps at zero gradient, "
                f"{trajectory.zero_gradient_steps_above_minimum} above the minimum"
            ),
        )
    axes.plot(*result.sgd.weights[0], marker="o", color="grey", markersize=8)
    axes.set_aspect("equal")
    axes.set_xlabel("w1")
    axes.set_ylabel("w2")
    axes.set_title(
        "(d) top view; pale: zero gradient in one direction, hatched: in both", fontsize=10
    )
    axes.legend(fontsize=7, loc="lower right")
    figure.colorbar(filled, ax=axes, shrink=0.8, label="surrogate loss")
    figure.suptitle(
        "Two binary nodes sign(x + w_i), weighted 0.25 and 1, on inputs x = +-1.2: "
        "SGD stalls in the zero-gradient band, Adam crosses it",
        fontsize=11,
    )
    figure.tight_layout()
    return save_figure(figure, path)
