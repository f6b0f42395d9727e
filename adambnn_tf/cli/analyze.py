"""`adambnn analyze landscape|toy`: the paper's visual analyses (`adambnn_tf.analysis`).

!!! example
    ```bash
    adambnn analyze landscape runs/quickstart    # runs/quickstart/analysis/landscape.{png,json}
    adambnn analyze landscape runs/quickstart --grid 21 --examples 1000   # finer, ~12x longer
    adambnn analyze landscape runs/quickstart --twin-run runs/quickstart_twin  # trained twin
    adambnn analyze toy figures                  # figures/toy.{png,json}
    ```
"""

from __future__ import annotations

import argparse

from adambnn_tf.cli.errors import CommandError

__all__ = ["add_parser", "run_landscape", "run_toy"]

# adambnn_tf.analysis' defaults, written out so that `--help` imports no TensorFlow.
GRID, RADIUS, EXAMPLES, PROBE_RADIUS, HESSIAN_ITERATIONS, BATCH_SIZE = 11, 1.0, 256, 0.25, 8, 256
TOY_STEPS = 150


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `analyze` subcommand to `subparsers` and returns its parser (the protocol
    of `adambnn_tf.cli`)."""
    parser = subparsers.add_parser(
        "analyze",
        help="the paper's visual analyses: loss landscapes of a run, the two-node toy",
        description="The AdamBNN paper's visual analyses as tools: the loss landscape of a "
        "trained BNN next to its float twin's (landscape), and the two-node toy network that "
        "shows SGD stalling in a zero-gradient region that Adam crosses (toy).",
        allow_abbrev=False,
    )
    analyses = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)

    landscape = analyses.add_parser(
        "landscape",
        help="loss landscape of a finished run's BNN and of its float twin",
        description="Draw the loss of a finished `adambnn train` run's final model around its "
        "weights along two random filter-normalised directions (Li et al. 2018; biases and "
        "BatchNorm not perturbed), on the first training images, for the BNN (latent weights "
        "perturbed, binarized forward pass) and for its float twin (the same network without "
        "binarizers, at the BNN's latent weights, BatchNorm statistics re-estimated), and "
        "measure the steepness: the mean loss rise at --probe-radius and the largest Hessian "
        "eigenvalue (power iteration; the BNN's is of its surrogate gradient). Writes "
        "RUN_DIR/analysis/landscape.png (contours and 3-D surfaces) and landscape.json; "
        "`adambnn report RUN_DIR` then shows them. The defaults take a few minutes for the "
        "quick-start model on 2 CPU cores; the time grows with grid^2 x examples: "
        "--grid 21 --examples 1000 gives a finer picture in about 12x the time.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    landscape.add_argument("run_dir", help="the run directory of `adambnn train`")
    landscape.add_argument(
        "--grid", type=int, default=GRID, help="points per axis (odd, at least 3)"
    )
    landscape.add_argument(
        "--radius",
        type=float,
        default=RADIUS,
        help="the plane spans [-R, R]^2; 1 moves every filter by up to its own norm",
    )
    landscape.add_argument(
        "--examples", type=int, default=EXAMPLES, help="training images the loss is taken on"
    )
    landscape.add_argument(
        "--probe-radius",
        type=float,
        default=PROBE_RADIUS,
        help="radius of the circle the mean loss rise (steepness) is measured on",
    )
    landscape.add_argument(
        "--hessian-iterations",
        type=int,
        default=HESSIAN_ITERATIONS,
        help="power-iteration steps for the largest Hessian eigenvalue (0: skip)",
    )
    landscape.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    landscape.add_argument("--seed", type=int, default=0, help="seed of the directions")
    landscape.add_argument(
        "--twin-run",
        metavar="TWIN_DIR",
        help="a float twin trained on its own (`adambnn train --float-twin` with the BNN run's "
        "settings): its landscape around its own weights replaces the twin at the BNN's "
        "weights, the paper's comparison of two trained networks",
    )
    landscape.set_defaults(run=run_landscape)

    toy = analyses.add_parser(
        "toy",
        help="the paper's two-node toy: forward and backward surfaces, SGD vs Adam",
        description="The two binary nodes sign(x + w_i) of the paper's Fig. 6 "
        "(adambnn_tf.analysis.toy): (a) the forward loss surface, piecewise constant; (b) the "
        "surface the backward pass optimises, sign replaced by clip(-1, x, 1); (c, d) SGD "
        "with momentum and Adam from the same start, SGD stalling in a zero-gradient band "
        "that Adam crosses. Deterministic, a second on a CPU. Writes OUT_DIR/toy.png and "
        "OUT_DIR/toy.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    toy.add_argument("out_dir", help="the folder to write toy.png and toy.json into")
    toy.add_argument("--steps", type=int, default=TOY_STEPS, help="updates per optimizer")
    toy.set_defaults(run=run_toy)
    return parser


def run_landscape(args: argparse.Namespace) -> int:
    """Draws and writes a run's landscape, and prints its steepness numbers.

    Failures raise (`adambnn_tf.cli.main` prints them as one line) with exit status 2 for a
    bad option, a run directory without `run.json` or `final_model.h5`, a final model
    without binary layers or output paths taken; nothing is written then.

    # Returns
        0.
    """
    from adambnn_tf.analysis.landscape import check_landscape_options

    check_landscape_options(  # before the model and the data are loaded
        grid=args.grid,
        radius=args.radius,
        probe_radius=args.probe_radius,
        hessian_iterations=args.hessian_iterations,
        batch_size=args.batch_size,
        examples=args.examples,
    )
    from adambnn_tf.analysis.run_landscape import landscape_of_run

    try:
        result = landscape_of_run(
            args.run_dir,
            grid=args.grid,
            radius=args.radius,
            examples=args.examples,
            probe_radius=args.probe_radius,
            hessian_iterations=args.hessian_iterations,
            batch_size=args.batch_size,
            seed=args.seed,
            twin_run=args.twin_run,
            progress=lambda line: print(line, flush=True),
        )
    except (FileExistsError, IsADirectoryError) as error:
        raise CommandError(str(error), "move it away or give another run directory") from error
    for surface in (result.comparison.bnn, result.comparison.twin):
        eigenvalue = (
            "skipped" if surface.hessian_eigenvalue is None else f"{surface.hessian_eigenvalue:.4g}"
        )
        print(
            f"{surface.name:>10}: loss {surface.origin_loss:.4g} at the weights "
            f"(accuracy {surface.origin_accuracy:.4f}), mean rise "
            f"{surface.rise_at_probe_radius:.4g} at radius {surface.probe_radius:g}, "
            f"top Hessian eigenvalue {eigenvalue}, {surface.seconds:.0f} s"
        )
    print(f"Landscape written to {result.figure} and {result.numbers}")
    return 0


def run_toy(args: argparse.Namespace) -> int:
    """Runs the two-node toy, writes its figure and numbers, and prints the outcome.

    # Returns
        0.
    """
    from adambnn_tf.cli._paths import check_output_folder

    if args.steps < 1:
        raise CommandError(f"--steps must be at least 1, got {args.steps}")
    check_output_folder(args.out_dir, "OUT_DIR")
    from adambnn_tf.analysis import toy

    result = toy.run_toy(steps=args.steps)
    figure, numbers = toy.write_toy(args.out_dir, result)
    for trajectory in (result.sgd, result.adam):
        print(
            f"{trajectory.optimizer.upper():>4} (lr {trajectory.learning_rate:.4g}): final loss "
            f"{trajectory.final_forward_loss:g} (surrogate {trajectory.final_surrogate_loss:g}), "
            f"{trajectory.zero_gradient_steps} of {args.steps} steps at zero gradient "
            f"({trajectory.zero_gradient_steps_above_minimum} above the minimum), minimum "
            + (
                f"reached at step {trajectory.steps_to_minimum}"
                if trajectory.steps_to_minimum is not None
                else "never reached"
            )
        )
    print(f"Toy written to {figure} and {numbers}")
    return 0
