"""`adambnn tune TRAIN_FN`: search the recipe's hyperparameters with keras-tuner's oracles.

TRAIN_FN names a Python function `build_and_fit(hp) -> History | dict of metrics` as
`package.module:function` or `path/to/file.py:function`; it reads `hp["learning_rate"]` and
`hp["stage1_weight_decay"]` (and may declare more with `hp.Float(...)`), trains, and returns
the history (FF/C2I included when it uses `adambnn_tf.callbacks.FFRatio`/`C2IRatio`).

!!! example
    ```bash
    adambnn tune my_experiment.py:build_and_fit --oracle bayesian --max-trials 8 \\
        --stage1-weight-decays 1e-5 5e-6 0 --learning-rate-range 1e-4 1e-2 --directory runs
    ```
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable

__all__ = ["add_parser", "load_function", "run"]

# adambnn_tf.tuning.ORACLES, spelled out so that `--help` does not import keras-tuner.
_ORACLES = ("random", "bayesian", "hyperband")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the `tune` subcommand to `subparsers` and returns its parser (the protocol
    of `adambnn_tf.cli`)."""
    parser = subparsers.add_parser(
        "tune",
        help="search learning rate and stage-1 weight decay with keras-tuner",
        description="Run a keras-tuner search over the recipe's hyperparameters. Each trial "
        "calls TRAIN_FN(hp); every metric of its history (FF-ratio and C2I-ratio included) is "
        "recorded per trial. Prints the trials and the best configuration, and writes them to "
        "DIRECTORY/PROJECT_NAME/results.json. An interrupted search resumes.",
    )
    parser.add_argument(
        "train_fn",
        nargs="?",
        default="adambnn_tf.main_job:tuning_trial",
        help="the training function: package.module:function or file.py:function (default: "
        "adambnn_tf.main_job:tuning_trial, a quick two-stage run on offline Fashion-MNIST)",
    )
    parser.add_argument("--oracle", choices=_ORACLES, default="random", help="default: random")
    parser.add_argument("--max-trials", type=int, default=10, help="default: 10")
    parser.add_argument(
        "--max-epochs", type=int, default=10, help="Hyperband's largest budget (default: 10)"
    )
    parser.add_argument(
        "--objective", default="val_accuracy", help="metric to optimize (default: val_accuracy)"
    )
    parser.add_argument("--direction", choices=("max", "min"), default="max", help="default: max")
    parser.add_argument(
        "--stage1-weight-decays",
        type=float,
        nargs="+",
        default=[1e-5, 5e-6, 1e-6, 0.0],
        metavar="DECAY",
        help="stage-1 weight decays to choose from (default: 1e-5 5e-6 1e-6 0)",
    )
    parser.add_argument(
        "--learning-rate-range",
        type=float,
        nargs=2,
        default=[1e-4, 1e-2],
        metavar=("LOW", "HIGH"),
        help="learning-rate range, sampled on a log scale (default: 1e-4 1e-2)",
    )
    parser.add_argument("--directory", default=".", help="folder of the search (default: .)")
    parser.add_argument("--project-name", default="adambnn_tune", help="default: adambnn_tune")
    parser.add_argument("--seed", type=int, default=None, help="the oracle's seed")
    parser.add_argument("--overwrite", action="store_true", help="start afresh, do not resume")
    parser.set_defaults(run=run)
    return parser


def load_function(spec: str) -> Callable:
    """Imports `package.module:function` or `path/to/file.py:function`.

    # Arguments
        spec: the function's location.

    # Returns
        The function.

    # Raises
        ValueError: when `spec` is malformed, the file or module is missing, or the name is
            not a callable in it.
    """
    location, separator, name = spec.rpartition(":")
    if not separator or not location or not name:
        raise ValueError(f"{spec!r} must look like package.module:function or file.py:function.")
    if location.endswith(".py"):
        if not os.path.isfile(location):
            raise ValueError(f"{location} does not exist.")
        module_spec = importlib.util.spec_from_file_location("adambnn_tune_user_module", location)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as error:
            raise ValueError(f"Cannot import {location}: {error}") from error
    function = getattr(module, name, None)
    if not callable(function):
        raise ValueError(f"{location} has no function {name!r}.")
    return function


def run(args: argparse.Namespace) -> int:
    """Runs the search, prints the trials and the best configuration.

    # Returns
        0, or 1 for a bad TRAIN_FN or search space.
    """
    import keras_tuner as kt

    from adambnn_tf import tuning

    try:
        build_and_fit = load_function(args.train_fn)
        space = tuning.recipe_search_space(
            args.stage1_weight_decays, tuple(args.learning_rate_range)
        )
    except ValueError as error:
        print(f"adambnn tune: {error}", file=sys.stderr)
        return 1
    oracle = tuning.make_oracle(
        args.oracle,
        objective=kt.Objective(args.objective, direction=args.direction),
        max_trials=args.max_trials,
        max_epochs=args.max_epochs,
        hyperparameters=space,
        seed=args.seed,
    )
    tuner = tuning.RecipeTuner(
        build_and_fit,
        oracle,
        directory=args.directory,
        project_name=args.project_name,
        overwrite=args.overwrite,
    )
    try:
        tuner.search()
        best = tuner.best_configuration()
    except RuntimeError as error:  # keras-tuner gives up after consecutive failed trials
        print(f"adambnn tune: the search failed: {error}", file=sys.stderr)
        return 1
    for row in tuner.results():
        print(
            f"trial {row['trial_id']} [{row['status']}] score={row['score']} "
            f"hyperparameters={json.dumps(row['hyperparameters'])} "
            f"metrics={json.dumps(row['metrics'])}"
        )
    print(f"Best configuration (trial {best['trial_id']}, {args.objective}={best['score']}):")
    print(json.dumps(best["hyperparameters"], indent=2))
    print(f"Results written to {tuner.write_results()}")
    return 0
