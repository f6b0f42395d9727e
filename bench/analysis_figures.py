"""The paper's visual analyses for `bench/RESULTS.md`: a Fashion-MNIST run's loss landscape
next to its float twin's (AdamBNN Fig. 1), and the two-node toy (Fig. 6).

For the run directory given (a finished `adambnn train` run), it draws the landscape
(`adambnn_tf.analysis.landscape_of_run`, finer than `adambnn analyze landscape`'s defaults:
21 x 21 points on 512 training images, 10 power iterations), which writes
`RUN_DIR/analysis/landscape.{png,json}`, and copies the figure to
`bench/figures/landscape_<run name>.png`. The toy's figure goes to `bench/figures/toy.png`.
Both print the numbers RESULTS.md quotes. The landscape takes about 15-25 minutes for the
quick-start model on 2 busy CPU cores (the CLI's defaults about 3); the toy a few seconds.

!!! example
    ```bash
    python bench/analysis_figures.py runs/fashion_mnist_best     # landscape and toy
    python bench/analysis_figures.py --toy-only                   # bench/figures/toy.png only
    python bench/analysis_figures.py runs/quickstart --grid 11 --examples 256   # CLI defaults
    ```
"""

from __future__ import annotations

import argparse
import os
import shutil
import time

import adambnn_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from adambnn_tf._files import atomic_path

FIGURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures")


def _toy(figures: str) -> None:
    from adambnn_tf.analysis.figures import plot_toy
    from adambnn_tf.analysis.toy import run_toy

    result = run_toy()
    path = plot_toy(result, os.path.join(figures, "toy.png"))
    print(f"Toy: {path}")
    print(
        "| optimizer | learning rate | final loss | steps at zero gradient | of them above the "
        "minimum | minimum reached at step |"
    )
    print("|---|---|---|---|---|---|")
    for trajectory in (result.sgd, result.adam):
        reached = trajectory.steps_to_minimum
        print(
            f"| {trajectory.optimizer.upper()} | {trajectory.learning_rate:.4g} | "
            f"{trajectory.final_forward_loss:g} | {trajectory.zero_gradient_steps} of "
            f"{len(trajectory.weights) - 1} | {trajectory.zero_gradient_steps_above_minimum} | "
            f"{'never' if reached is None else reached} |"
        )


def _landscape(run_dir: str, figures: str, args: argparse.Namespace) -> None:
    from adambnn_tf.analysis import landscape_of_run

    started = time.perf_counter()
    result = landscape_of_run(
        run_dir,
        grid=args.grid,
        radius=args.radius,
        examples=args.examples,
        probe_radius=args.probe_radius,
        hessian_iterations=args.hessian_iterations,
        progress=lambda line: print(line, flush=True),
    )
    name = os.path.basename(os.path.normpath(run_dir))
    copy = os.path.join(figures, f"landscape_{name}.png")
    with atomic_path(copy, suffix=".png") as temporary:
        shutil.copyfile(result.figure, temporary)
    minutes = (time.perf_counter() - started) / 60
    settings = result.comparison.settings
    print(
        f"Landscape of {run_dir} ({settings['model']}, {settings['examples']} training images, "
        f"grid {settings['grid']}, radius {settings['radius']:g}) in {minutes:.1f} min: "
        f"{result.figure}, {result.numbers}, copied to {copy}"
    )
    print(
        f"| model | loss at the weights | accuracy | mean rise at r={args.probe_radius:g} | "
        "top Hessian eigenvalue |"
    )
    print("|---|---|---|---|---|")
    for surface in (result.comparison.bnn, result.comparison.twin):
        eigenvalue = surface.hessian_eigenvalue
        print(
            f"| {surface.name} | {surface.origin_loss:.4g} | {surface.origin_accuracy:.4f} | "
            f"{surface.rise_at_probe_radius:.4g} | "
            f"{'-' if eigenvalue is None else f'{eigenvalue:.4g}'} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("run_dir", nargs="?", help="a finished Fashion-MNIST run directory")
    parser.add_argument("--toy-only", action="store_true", help="only the toy's figure")
    parser.add_argument("--grid", type=int, default=21)
    parser.add_argument("--radius", type=float, default=1.0)
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--probe-radius", type=float, default=0.25)
    parser.add_argument("--hessian-iterations", type=int, default=10)
    parser.add_argument("--figures-dir", default=FIGURES)
    args = parser.parse_args()
    if not args.toy_only and not args.run_dir:
        parser.error("give a run directory, or --toy-only")
    if not args.toy_only:
        _landscape(args.run_dir, args.figures_dir, args)
    _toy(args.figures_dir)


if __name__ == "__main__":
    main()
