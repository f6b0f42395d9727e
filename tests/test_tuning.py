"""RecipeTuner: keras-tuner oracles driving tf-keras trainings, with every metric recorded."""

import json
import pathlib

import keras_tuner as kt
import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf import callbacks, tuning

OBJECTIVE = kt.Objective("val_loss", direction="min")  # continuous, so no ties between trials


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


@pytest.fixture
def recorded():
    return {}


@pytest.fixture
def build_and_fit(recorded):
    def train(hp, data):
        tf.keras.utils.set_random_seed(0)
        model = tf.keras.Sequential(
            [
                tf.keras.Input((8,)),
                lq.layers.QuantDense(
                    16, kernel_quantizer="scaled_weight_sign", kernel_constraint="weight_clip"
                ),
                tf.keras.layers.Dense(2),
            ]
        )
        model.compile(
            tf.keras.optimizers.Adam(hp["learning_rate"], weight_decay=hp["stage1_weight_decay"]),
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        history = model.fit(
            data,
            validation_data=data,
            epochs=3,
            verbose=0,
            callbacks=[callbacks.FFRatio(), callbacks.C2IRatio()],
        )
        recorded[hp["learning_rate"]] = (dict(hp.values), history.history)
        return history

    return train


def test_search_hands_back_the_trial_with_the_best_objective(tmp_path, build_and_fit, recorded):
    space = tuning.recipe_search_space(
        stage1_weight_decays=(1e-5, 0.0), learning_rate_range=(1e-3, 3e-1)
    )
    oracle = tuning.make_oracle(
        "random", objective=OBJECTIVE, max_trials=3, hyperparameters=space, seed=2
    )
    tuner = tuning.RecipeTuner(build_and_fit, oracle, directory=tmp_path, project_name="p")
    tuner.search(_data())
    assert len(recorded) == 3  # three distinct learning rates were trained

    # The best trial by hand: the lowest val_loss of any epoch of any trial.
    best_rate = min(recorded, key=lambda rate: min(recorded[rate][1]["val_loss"]))
    best = tuner.best_configuration()
    assert best["hyperparameters"] == recorded[best_rate][0]
    assert best["score"] == pytest.approx(min(recorded[best_rate][1]["val_loss"]))

    # Every trial records the history's metrics (FF/C2I included) at its best epoch.
    results = tuner.results()
    assert [row["trial_id"] for row in results][0] == best["trial_id"]
    for row in results:
        values, history = recorded[row["hyperparameters"]["learning_rate"]]
        assert row["hyperparameters"] == values
        epoch = int(np.argmin(history["val_loss"]))
        for name in ("ff_ratio", "c2i_ratio", "accuracy", "val_loss"):
            assert row["metrics"][name] == pytest.approx(history[name][epoch]), name
        assert row["metrics"]["best_epoch"] == epoch
        saved = json.loads(
            (tmp_path / "p" / f"trial_{row['trial_id']}" / "history.json").read_text()
        )
        assert saved["c2i_ratio"] == pytest.approx(history["c2i_ratio"])

    written = json.loads(pathlib.Path(tuner.write_results()).read_text())
    assert written["best"]["hyperparameters"] == best["hyperparameters"]
    assert len(written["trials"]) == 3

    # The same project resumes: no trial is run again.
    recorded.clear()
    again = tuning.RecipeTuner(
        build_and_fit,
        tuning.make_oracle(
            "random", objective=OBJECTIVE, max_trials=3, hyperparameters=space, seed=2
        ),
        directory=tmp_path,
        project_name="p",
    )
    again.search(_data())
    assert recorded == {} and again.best_configuration()["trial_id"] == best["trial_id"]


def test_bayesian_and_hyperband_oracles_drive_the_tuner(tmp_path, build_and_fit, recorded):
    for kind in ("bayesian", "hyperband"):
        recorded.clear()
        oracle = tuning.make_oracle(kind, objective=OBJECTIVE, max_trials=2, max_epochs=2, seed=0)
        tuner = tuning.RecipeTuner(build_and_fit, oracle, directory=tmp_path, project_name=kind)
        tuner.search(_data())
        assert recorded and "ff_ratio" in tuner.best_configuration()["metrics"]
        assert len(tuner.results()) == len(recorded)


def test_trial_metrics_conversions():
    metrics, history = tuning.trial_metrics(0.25, OBJECTIVE)
    assert (metrics, history) == ({"val_loss": 0.25}, {})
    metrics, history = tuning.trial_metrics(
        {"val_loss": [0.5, 0.2, 0.3], "ff_ratio": [0.1, 0.01, 0.001]}, OBJECTIVE
    )
    assert metrics == {"val_loss": 0.2, "ff_ratio": 0.01, "best_epoch": 1.0}
    with pytest.raises(ValueError, match="lack the objective 'val_loss'"):
        tuning.trial_metrics({"loss": 0.1}, OBJECTIVE)
    with pytest.raises(ValueError, match="no value of the objective 'val_loss'.*loss"):
        tuning.trial_metrics({"loss": [0.3, 0.2]}, OBJECTIVE)
    with pytest.raises(ValueError, match="Unknown oracle 'grid'"):
        tuning.make_oracle("grid")


def test_tune_command(tmp_path, capsys):
    from adambnn_tf.cli import main
    from adambnn_tf.cli.tune import load_function

    script = tmp_path / "experiment.py"
    script.write_text(
        "def build_and_fit(hp):\n"
        "    rate, decay = hp['learning_rate'], hp['stage1_weight_decay']\n"
        "    return {'val_accuracy': 1 - abs(rate - 0.003) - decay, 'ff_ratio': rate / 10}\n"
    )
    argv = ["tune", f"{script}:build_and_fit", "--max-trials", "4", "--seed", "1"]
    argv += ["--directory", str(tmp_path), "--stage1-weight-decays", "1e-5", "0"]
    assert main(argv) == 0
    output = capsys.readouterr().out
    results = json.loads((tmp_path / "adambnn_tune" / "results.json").read_text())
    trials = results["trials"]
    assert len(trials) == 4
    best = max(trials, key=lambda row: row["metrics"]["val_accuracy"])
    assert results["best"]["hyperparameters"] == best["hyperparameters"]
    assert best["metrics"]["ff_ratio"] == pytest.approx(
        best["hyperparameters"]["learning_rate"] / 10
    )
    assert json.dumps(best["hyperparameters"], indent=2) in output

    with pytest.raises(ValueError, match="has no function 'nope'"):
        load_function(f"{script}:nope")
    assert main(["tune", "no_such_module_xyz:fn", "--directory", str(tmp_path)]) == 2
    assert "Cannot import no_such_module_xyz" in capsys.readouterr().err
