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
import contextlib
import importlib
import importlib.util
import json
import os
from collections.abc import Callable, Iterator

from adambnn_tf.cli._paths import check_output_folder
from adambnn_tf.cli.errors import EXIT_FAILURE, CommandError

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
        "DIRECTORY/PROJECT_NAME/results.json. An interrupted search resumes. Exit status 1 when "
        "no trial completed (each raised or returned NaN).",
        allow_abbrev=False,
    )
    parser.add_argument(
        "train_fn",
        nargs="?",
        default="adambnn_tf.main_job:tuning_trial",
        help="the training function: package.module:function or file.py:function (default: "
        "adambnn_tf.main_job:tuning_trial, a quick two-stage run on offline Fashion-MNIST)",
    )
    parser.add_argument("--oracle", choices=_ORACLES, default="random", help="default: random")
    parser.add_argument("--max-trials", type=int, default=10, help="at least 1 (default: 10)")
    parser.add_argument(
        "--max-epochs",
        type=int,
        default=10,
        help="Hyperband's largest budget, at least 1 (default: 10)",
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


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuses bad counts and output folders before the search creates anything."""
    # keras-tuner reads max_trials=0 as "no limit" (a search that never ends) and fails
    # obscurely on negative counts.
    for option, value in (("--max-trials", args.max_trials), ("--max-epochs", args.max_epochs)):
        if value < 1:
            raise CommandError(f"{option} must be at least 1, got {value}")
    check_output_folder(args.directory, "--directory")
    check_output_folder(os.path.join(args.directory, args.project_name), "the project folder")


@contextlib.contextmanager
def _trial_tracebacks_shown(shown: bool) -> Iterator[None]:
    """keras-tuner prints the traceback of every failed trial unless its DEBUG flag is off;
    the command shows tracebacks only with `adambnn --debug` (each is kept in trial.json)."""
    try:
        from keras_tuner.src import config
    except ImportError:  # another keras-tuner layout: its default stays
        yield
        return
    before = config.DEBUG
    config.DEBUG = shown
    try:
        yield
    finally:
        config.DEBUG = before


def _print_trials(tuner) -> None:
    for row in tuner.results():
        print(
            f"trial {row['trial_id']} [{row['status']}] score={row['score']} "
            f"hyperparameters={json.dumps(row['hyperparameters'])} "
            f"metrics={json.dumps(row['metrics'])}"
        )


def run(args: argparse.Namespace) -> int:
    """Runs the search, prints the trials and the best configuration.

    Failures raise (`adambnn_tf.cli.main` prints them as one line): exit status 2 for a bad
    TRAIN_FN, search space, trial count or folder (checked before the search creates
    anything), 1 when no trial completed (each raised or returned NaN; the message gives
    the first one's error) or keras-tuner stopped the search after failures in a row.

    # Returns
        0 when at least one trial completed.
    """
    _check_arguments(args)
    import keras_tuner as kt

    from adambnn_tf import tuning

    build_and_fit = load_function(args.train_fn)
    space = tuning.recipe_search_space(args.stage1_weight_decays, tuple(args.learning_rate_range))
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
    trials_folder = os.path.join(args.directory, args.project_name, "trial_*", "trial.json")
    try:
        with _trial_tracebacks_shown(getattr(args, "debug", False)):
            tuner.search()
    except RuntimeError as error:  # keras-tuner gives up after consecutive failed trials
        _print_trials(tuner)
        trials = sorted(tuner.oracle.trials.values(), key=lambda trial: trial.trial_id)
        failed = [trial for trial in trials if trial.status != "COMPLETED"]
        some = f"{len(failed)} of {len(trials)}"
        counted = f"all {len(failed)}" if len(failed) == len(trials) else some
        reason = tuner.failure_reason(failed[0]) if failed else str(error).splitlines()[0]
        raise CommandError(
            f"{counted} trials failed and keras-tuner stopped the search "
            f"({str(error).splitlines()[0]}); the first: {reason}",
            f"the tracebacks are in {trials_folder}",
            EXIT_FAILURE,
        ) from error
    _print_trials(tuner)
    results = tuner.write_results()  # with "best": null when no trial completed
    try:
        best = tuner.best_configuration()
    except RuntimeError as error:  # no trial completed: no "best" to name
        print(f"Results written to {results}")
        raise CommandError(
            str(error), f"the tracebacks are in {trials_folder}", EXIT_FAILURE
        ) from error
    print(f"Best configuration (trial {best['trial_id']}, {args.objective}={best['score']}):")
    print(json.dumps(best["hyperparameters"], indent=2))
    print(f"Results written to {results}")
    return 0
