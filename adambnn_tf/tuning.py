"""Hyperparameter search for the AdamBNN recipe with keras-tuner's oracles.

keras-tuner's `Tuner` only accepts Keras 3 models (it raises `FatalTypeError` on a tf-keras
model), so `RecipeTuner` builds on its `BaseTuner`: keras-tuner proposes hyperparameters with
its oracles (random search, Bayesian optimization, Hyperband) and keeps the trial records;
a user function builds and trains the tf-keras model and hands back its metrics. Every metric
of the training history is recorded per trial, so the FF-ratio and C2I-ratio logged by
`adambnn_tf.callbacks.FFRatio` and `C2IRatio` come with each trial.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras_tuner as kt
from keras_tuner.engine import base_tuner

from adambnn_tf._files import write_atomically

__all__ = [
    "DEFAULT_OBJECTIVE",
    "ORACLES",
    "RecipeTuner",
    "make_oracle",
    "recipe_search_space",
    "trial_metrics",
]

DEFAULT_OBJECTIVE = kt.Objective("val_accuracy", direction="max")
"""Validation accuracy, maximized."""

ORACLES = ("random", "bayesian", "hyperband")
"""The oracle kinds `make_oracle` builds."""

_HISTORY_FILE = "history.json"


def recipe_search_space(
    stage1_weight_decays: Sequence[float] = (1e-5, 5e-6, 1e-6, 0.0),
    learning_rate_range: tuple[float, float] = (1e-4, 1e-2),
) -> kt.HyperParameters:
    """The recipe's search space: stage-1 weight decay and learning rate.

    # Arguments
        stage1_weight_decays: the stage-1 weight decays to choose from (the paper compares
            1e-5, 5e-6 and 0; stage 2 uses none).
        learning_rate_range: `(low, high)` of the learning rate, sampled on a log scale.

    # Returns
        `HyperParameters` with `stage1_weight_decay` (a choice) and `learning_rate` (a float);
        pass them as `make_oracle(..., hyperparameters=...)`.

    # Raises
        ValueError: for an empty choice, a weight decay that is not finite, or a range that
            is not `0 < low < high < inf`.
    """
    low, high = learning_rate_range
    if not stage1_weight_decays:
        raise ValueError("stage1_weight_decays must name at least one weight decay.")
    if not all(math.isfinite(decay) for decay in stage1_weight_decays):
        raise ValueError(
            f"stage1_weight_decays must be finite numbers, got {list(stage1_weight_decays)}."
        )
    if not (0 < low < high and math.isfinite(high)):
        raise ValueError(f"learning_rate_range must satisfy 0 < low < high, got {low}, {high}.")
    hp = kt.HyperParameters()
    hp.Choice("stage1_weight_decay", [float(decay) for decay in stage1_weight_decays])
    hp.Float("learning_rate", low, high, sampling="log")
    return hp


def make_oracle(
    kind: str = "random",
    *,
    objective: kt.Objective | str = DEFAULT_OBJECTIVE,
    max_trials: int = 10,
    max_epochs: int = 10,
    hyperparameters: kt.HyperParameters | None = None,
    seed: int | None = None,
) -> kt.Oracle:
    """Builds one of keras-tuner's oracles.

    # Arguments
        kind: `"random"`, `"bayesian"` or `"hyperband"`.
        objective: the objective (a metric name is maximized if it reads like an accuracy).
        max_trials: the number of trials (random and Bayesian).
        max_epochs: the largest epoch budget of a trial (Hyperband; the trial's
            `hp["tuner/epochs"]` is its budget).
        hyperparameters: the search space (default: `recipe_search_space()`).
        seed: the oracle's random seed.

    # Returns
        The oracle.

    # Raises
        ValueError: for an unknown kind, or `max_trials` or `max_epochs` below 1 (keras-tuner
            reads `max_trials=0` as "no limit" and searches forever).
    """
    if max_trials < 1:
        raise ValueError(f"max_trials must be at least 1, got {max_trials}.")
    if max_epochs < 1:
        raise ValueError(f"max_epochs must be at least 1, got {max_epochs}.")
    hyperparameters = hyperparameters or recipe_search_space()
    common = {"objective": objective, "hyperparameters": hyperparameters, "seed": seed}
    if kind == "random":
        return kt.oracles.RandomSearchOracle(max_trials=max_trials, **common)
    if kind == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(max_trials=max_trials, **common)
    if kind == "hyperband":
        return kt.oracles.HyperbandOracle(max_epochs=max_epochs, **common)
    raise ValueError(f"Unknown oracle {kind!r}; use one of {', '.join(ORACLES)}.")


def _as_history(result: Any) -> dict[str, list[float]] | None:
    history = getattr(result, "history", result)  # a Keras History (tf-keras or Keras 3)
    if (
        isinstance(history, Mapping)
        and history
        and all(isinstance(values, (list, tuple)) for values in history.values())
    ):
        return {str(key): [float(value) for value in values] for key, values in history.items()}
    return None


def trial_metrics(
    result: Any, objective: kt.Objective
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Turns what a training function returned into the metrics of a trial.

    # Arguments
        result: a Keras `History` (tf-keras or Keras 3), a history dict (metric -> one value
            per epoch), a dict of final metrics, or a single float (the objective's value).
        objective: the oracle's objective.

    # Returns
        `(metrics, history)`: every metric at the best epoch by the objective, as keras-tuner
        does for Keras models (or the metrics as given), and the per-epoch history (`{}` when
        `result` had none).

    # Raises
        ValueError: when the objective's metric is missing, or `result` has another type.
    """
    history = _as_history(result)
    if history is not None:
        epochs = max(len(values) for values in history.values())
        per_epoch = [
            {key: values[epoch] for key, values in history.items() if epoch < len(values)}
            for epoch in range(epochs)
        ]
        measured = [
            (epoch, objective.get_value(logs))
            for epoch, logs in enumerate(per_epoch)
            if objective.has_value(logs)
        ]
        scored = [(epoch, value) for epoch, value in measured if not math.isnan(value)]
        if measured and not scored:
            raise ValueError(
                f"every value of the objective {objective.name!r} is NaN ({len(measured)} "
                "epochs): the training diverged; lower the learning rate."
            )
        if not scored:
            raise ValueError(
                f"The training history has no value of the objective {objective.name!r}; it "
                f"holds {sorted(history)}. Add validation data or choose another objective."
            )
        best_epoch, _ = scored[0]
        for epoch, value in scored[1:]:
            if objective.better_than(value, objective.get_value(per_epoch[best_epoch])):
                best_epoch = epoch
        metrics = dict(per_epoch[best_epoch])
        metrics["best_epoch"] = float(best_epoch)
        return metrics, history
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        return {objective.name: float(result)}, {}
    if isinstance(result, Mapping):
        metrics = {str(key): float(value) for key, value in result.items()}
        if not objective.has_value(metrics):
            raise ValueError(
                f"The metrics returned ({sorted(metrics)}) lack the objective {objective.name!r}."
            )
        return metrics, {}
    raise ValueError(
        "The training function must return a Keras History, a dict of metrics or a float; "
        f"got {type(result).__name__}."
    )


class RecipeTuner(base_tuner.BaseTuner):
    """Searches hyperparameters of a tf-keras training with a keras-tuner oracle.

    `build_and_fit(hp, *args, **kwargs)` gets the trial's `HyperParameters` (read them with
    `hp["learning_rate"]`, or declare new ones with `hp.Float(...)`) and the arguments given
    to `search`; it builds, compiles and trains a model and returns its `History` (or a dict
    of metrics). Each trial records every metric of the history at the best epoch by the
    objective, and keeps the per-epoch history in its trial folder as `history.json`.

    # Arguments
        build_and_fit: the training function.
        oracle: a keras-tuner oracle (see `make_oracle`).
        directory: the folder of the search's records (default: the current folder).
        project_name: the sub-folder of this search; an existing one is resumed.
        overwrite: start afresh instead of resuming.

    !!! example
        ```python
        def build_and_fit(hp, train, validation):
            model = build_model()
            model.compile(
                adambnn_tf.optimizers.StageAwareOptimizer(
                    tf.keras.optimizers.Adam(hp["learning_rate"]),
                    weight_decay=hp["stage1_weight_decay"],
                ),
                "sparse_categorical_crossentropy",
                metrics=["accuracy"],
            )
            return model.fit(
                train, validation_data=validation, epochs=2,
                callbacks=[adambnn_tf.callbacks.FFRatio(), adambnn_tf.callbacks.C2IRatio()],
            )

        tuner = RecipeTuner(build_and_fit, make_oracle("random", max_trials=4, seed=0),
                            directory="runs", project_name="tune")
        tuner.search(train, validation)
        tuner.best_configuration()  # {"hyperparameters": {...}, "metrics": {...}, ...}
        ```
    """

    def __init__(
        self,
        build_and_fit: Callable[..., Any],
        oracle: kt.Oracle,
        *,
        directory: str | os.PathLike | None = None,
        project_name: str = "adambnn_tune",
        overwrite: bool = False,
    ):
        self.build_and_fit = build_and_fit
        super().__init__(
            oracle,
            hypermodel=None,
            directory=os.fspath(directory) if directory is not None else None,
            project_name=project_name,
            overwrite=overwrite,
        )

    def run_trial(self, trial: kt.engine.trial.Trial, *args, **kwargs) -> dict[str, float]:
        """Trains one configuration and returns its metrics (keras-tuner's hook)."""
        result = self.build_and_fit(trial.hyperparameters, *args, **kwargs)
        # Hyperparameters the function declared on the fly join the oracle's search space.
        self.oracle.update_space(trial.hyperparameters)
        metrics, history = trial_metrics(result, self.oracle.objective)
        if history:
            trial_dir = self.get_trial_dir(trial.trial_id)
            write_atomically(os.path.join(trial_dir, _HISTORY_FILE), json.dumps(history, indent=2))
        return metrics

    def save_model(self, trial_id, model, step=0):
        """Not used: `build_and_fit` saves models itself if it wants to."""

    def load_model(self, trial):
        """Not supported: trials do not keep models."""
        raise NotImplementedError(
            "RecipeTuner keeps metrics, not models; save the model in build_and_fit and "
            "retrain the best configuration."
        )

    def results(self) -> list[dict[str, Any]]:
        """Every trial, best first: id, status, hyperparameters, metrics, score.

        # Returns
            One dict per trial; the metrics are the last values keras-tuner recorded.
        """
        trials = list(self.oracle.trials.values())
        ranked = {
            trial.trial_id: rank
            for rank, trial in enumerate(self.oracle.get_best_trials(len(trials)))
        }
        rows = []
        for trial in sorted(
            trials, key=lambda t: (ranked.get(t.trial_id, len(trials)), t.trial_id)
        ):
            rows.append(
                {
                    "trial_id": trial.trial_id,
                    "status": str(trial.status),
                    "score": trial.score,
                    "hyperparameters": dict(trial.hyperparameters.values),
                    "metrics": {
                        name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics
                    },
                }
            )
        return rows

    def _completed(self) -> list[kt.engine.trial.Trial]:
        return [
            trial
            for trial in self.oracle.trials.values()
            if trial.status == kt.engine.trial.TrialStatus.COMPLETED
        ]

    def failure_reason(self, trial: kt.engine.trial.Trial) -> str:
        """Why a trial failed, in one line: the last line of its traceback, or a NaN score.

        # Arguments
            trial: a trial that did not complete.

        # Returns
            E.g. `"RuntimeError: out of memory"` or `"val_accuracy was NaN"`.
        """
        lines = [line.strip() for line in (trial.message or "").splitlines() if line.strip()]
        if lines:
            return lines[-1]
        if trial.score is not None and math.isnan(trial.score):
            return f"{self.oracle.objective.name} was NaN (the training diverged)"
        return f"it ended as {trial.status}"

    def best_configuration(self) -> dict[str, Any]:
        """The best completed trial by the oracle's objective.

        # Returns
            `{"trial_id", "score", "hyperparameters", "metrics"}` of the best trial.

        # Raises
            RuntimeError: when no trial has completed (none ran, or every trial raised or
                returned NaN); the message says how many failed and why the first did.
        """
        if not self._completed():
            trials = sorted(self.oracle.trials.values(), key=lambda trial: trial.trial_id)
            if not trials:
                raise RuntimeError("No trial has run yet; run search() first.")
            raise RuntimeError(
                f"all {len(trials)} trials failed; the first: {self.failure_reason(trials[0])}"
            )
        best = self.oracle.get_best_trials(1)  # completed trials come first
        row = next(row for row in self.results() if row["trial_id"] == best[0].trial_id)
        return {key: row[key] for key in ("trial_id", "score", "hyperparameters", "metrics")}

    def write_results(self, path: str | os.PathLike | None = None) -> str:
        """Writes `best_configuration()` and `results()` as JSON, atomically.

        # Arguments
            path: the file (default: `<directory>/<project_name>/results.json`).

        # Returns
            The path written; `"best"` is `null` when no trial completed.
        """
        path = os.fspath(path or os.path.join(self.project_dir, "results.json"))
        best = self.best_configuration() if self._completed() else None
        write_atomically(path, json.dumps({"best": best, "trials": self.results()}, indent=2))
        return path
