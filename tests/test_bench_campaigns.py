"""The campaigns of issues 18 and 20 (`bench/pretrained_fashion_mnist.py`,
`bench/time_to_accuracy.py`): every candidate is a valid run, and the choices, seeds and times
they report follow from the finished runs' files."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import _runs  # noqa: E402  (bench)
import pretrained_fashion_mnist as pretrained  # noqa: E402  (bench)
import pytest  # noqa: E402
import time_to_accuracy  # noqa: E402  (bench)

from adambnn_tf.config import RunConfig  # noqa: E402


def _write_json(path, payload):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as file:
        json.dump(payload, file)


def _finished_run(run_dir, validation, test=0.9, minutes=(30.0, 10.0), images=(600_000, 400_000)):
    """A run's `results.json`: top-1s, training minutes and images (total, stage 2)."""
    _write_json(
        os.path.join(run_dir, "results.json"),
        {
            "validation_accuracy": validation,
            "test_accuracy": test,
            "training_minutes": {"total": minutes[0], "stage2": minutes[1]},
            "training_images": {"total": images[0], "stage2": images[1]},
        },
    )


@pytest.mark.parametrize("campaign", [pretrained, time_to_accuracy], ids=lambda m: m.__name__)
def test_every_candidate_is_a_valid_run_on_the_validation_split(campaign, tmp_path):
    seed = (0,) if campaign is pretrained else ()  # the pretrained campaign's runs take a seed
    for name, overrides in campaign.CANDIDATES.items():
        config = campaign.candidate_config(overrides, str(tmp_path / name), *seed)
        assert config.data.validation_examples == _runs.VALIDATION_EXAMPLES, name
        assert config.output_dir == str(tmp_path / name)
        for key, value in overrides.items():
            section, field = key.split(".")
            assert getattr(getattr(config, section), field) == value, (name, key)


def test_the_float_twin_differs_from_the_bnn_in_the_binary_flag_alone(tmp_path):
    overrides = next(iter(pretrained.CANDIDATES.values()))
    bnn = pretrained.candidate_config(overrides, str(tmp_path), seed=1, binary=True)
    twin = pretrained.candidate_config(overrides, str(tmp_path), seed=1, binary=False)
    assert (bnn.model.binary, twin.model.binary) == (True, False)
    assert bnn.with_overrides({"model.binary": False}) == twin


def _pretrained_run(run_dir, overrides, validation, test, seed=0, binary=True):
    """A finished run of the pretrained campaign: its `run.json` and `results.json`."""
    config = pretrained.candidate_config(overrides, run_dir, seed, binary)
    _write_json(os.path.join(run_dir, "run.json"), config.to_json())
    _finished_run(run_dir, validation, test)


def test_the_pretrained_campaign_chooses_by_validation_and_ships_the_best_validation_seed(
    tmp_path,
):
    names = list(pretrained.CANDIDATES)
    validations = {name: 0.90 + 0.01 * index for index, name in enumerate(names)}
    validations[names[0]] = 0.99  # the best on validation, though not on test
    for name, validation in validations.items():
        overrides = pretrained.CANDIDATES[name]
        _pretrained_run(str(tmp_path / "choose" / name), overrides, validation, test=0.80)
    assert pretrained.chosen_candidate(str(tmp_path)) == names[0]

    chosen = pretrained.CANDIDATES[names[0]]
    bnn = {1: (0.92, 0.931), 2: (0.95, 0.925)}  # seed: (validation, test); seed 0 is the choice
    twin = {0: (0.93, 0.935), 1: (0.93, 0.941), 2: (0.93, 0.938)}
    for seed, (validation, test) in bnn.items():
        _pretrained_run(str(tmp_path / "seeds" / f"bnn_s{seed}"), chosen, validation, test, seed)
    for seed, (validation, test) in twin.items():
        run_dir = str(tmp_path / "seeds" / f"twin_s{seed}")
        _pretrained_run(run_dir, chosen, validation, test, seed, binary=False)

    summary = pretrained.summarize(str(tmp_path))
    assert summary["chosen"] == names[0]
    assert summary["bnn"]["seeds"] == 3
    assert summary["bnn"]["test"]["mean"] == pytest.approx((0.80 + 0.931 + 0.925) / 3)
    assert summary["gap_to_twin"] == pytest.approx(
        (0.935 + 0.941 + 0.938) / 3 - (0.80 + 0.931 + 0.925) / 3
    )
    assert summary["ship_seed"] == 0  # validation 0.99, the chosen candidate's own run
    # The table sets each seed's BNN beside its twin, with the twin's lead on test.
    table = pretrained._table(summary)
    assert "| 0 | 99.00 | 80.00 | 30.0 | 93.00 | 93.50 | 30.0 | 13.50 |" in table
    assert "| 1 | 92.00 | 93.10 | 30.0 | 93.00 | 94.10 | 30.0 | 1.00 |" in table
    assert f"mean test top-1: {100 * summary['gap_to_twin']:.2f} points" in table
    assert "ship: the BNN's seed 0" in table
    # Each row's command gives that run's configuration back.
    for row in summary["rows"]:
        parsed = _runs.train_command_config(row["command"])
        run_dir = parsed.output_dir
        assert parsed == RunConfig.load(os.path.join(run_dir, "run.json")), row["run"]
    twin_row = next(row for row in summary["rows"] if row["run"] == "twin")
    assert "--float-twin" in twin_row["command"]


def test_the_pretrained_campaign_refuses_to_choose_before_every_candidate_finished(tmp_path):
    _finished_run(str(tmp_path / "choose" / next(iter(pretrained.CANDIDATES))), 0.93)
    with pytest.raises(RuntimeError, match="not finished"):
        pretrained.chosen_candidate(str(tmp_path))


def _time_run(run_dir, curve, epoch_seconds, before=(12.0, 300_000), stage2_images=200_000):
    """A two-step run: stage 1 took `before` (minutes, images); stage 2's validation curve."""
    minutes = before[0] + sum(epoch_seconds) / 60
    _finished_run(
        run_dir,
        curve[-1],
        minutes=(minutes, sum(epoch_seconds) / 60),
        images=(before[1] + stage2_images, stage2_images),
    )
    _write_json(
        os.path.join(run_dir, "stage2", "history.json"),
        {"loss": [1.0] * len(curve), "val_accuracy": curve, "epoch_seconds": epoch_seconds},
    )


def test_time_to_target_counts_stage_1_and_stage_2_up_to_the_first_epoch_at_the_target(
    tmp_path,
):
    run_dir = str(tmp_path / "run")
    _time_run(run_dir, [0.90, 0.931, 0.925, 0.935], [60.0, 90.0, 120.0, 60.0])
    timing = time_to_accuracy.time_to_target(run_dir, target=0.93)
    assert timing["epoch"] == 2
    assert timing["images"] == 300_000 + 2 * 50_000
    assert timing["minutes"] == pytest.approx(12.0 + (60.0 + 90.0) / 60)

    never = time_to_accuracy.time_to_target(run_dir, target=0.94)
    assert (never["epoch"], never["images"], never["minutes"]) == (None, None, None)


def test_time_to_accuracy_chooses_the_fewest_minutes_and_none_when_nobody_reached_it(tmp_path):
    names = list(time_to_accuracy.CANDIDATES)
    for index, name in enumerate(names):
        # Every candidate reaches 93% at its second stage-2 epoch; the last one sooner.
        seconds = 30.0 if index == len(names) - 1 else 120.0
        _time_run(str(tmp_path / "choose" / name), [0.92, 0.935], [seconds, seconds])
    assert time_to_accuracy.chosen_candidate(str(tmp_path)) == names[-1]

    for name in names:
        _time_run(str(tmp_path / "slow" / "choose" / name), [0.91, 0.92], [60.0, 60.0])
    assert time_to_accuracy.chosen_candidate(str(tmp_path / "slow")) is None
