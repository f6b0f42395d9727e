"""`bench/paper_table1_verdicts.py`: each claim's verdict follows its rule, against the seed
spread (issue 17)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import numpy as np  # noqa: E402
from paper_table1_verdicts import histogram_peaks, seed_spread, verdicts  # noqa: E402  (bench)


def _row(arm, test, ff=1e-3, c2i=0.5, saturation=0.3):
    return {
        "arm": arm,
        "test_top1": test,
        "ff_stage2_mean": ff,
        "c2i_from_init": c2i,
        "saturation_first_binary_layer": [0.1, saturation],
    }


def _verdict(rows, claim_start):
    (entry,) = [v for v in verdicts(rows) if v["claim"].startswith(claim_start)]
    return entry["verdict"]


def test_the_seed_spread_is_the_largest_range_over_seeded_arms():
    rows = [
        _row("onestep_wd0_s0", 0.920),
        _row("onestep_wd0_s1", 0.925),
        _row("sgd_onestep_wd0_s0", 0.900),
        _row("sgd_onestep_wd0_s1", 0.902),
        _row("onestep_wd5e-6_s0", 0.990),  # one seed: no range
    ]
    assert abs(seed_spread(rows, "test_top1") - 0.005) < 1e-12
    assert seed_spread(rows[2:3], "test_top1") is None


def test_a_difference_counts_only_beyond_the_spread():
    adam = [_row("onestep_wd0_s0", 0.920), _row("onestep_wd0_s1", 0.925)]
    # Without SGD the claim is pending; with one SGD seed 2 points lower it is reproduced.
    assert _verdict(adam, "4a.") == "pending"
    assert _verdict([*adam, _row("sgd_onestep_wd0_s0", 0.902)], "4a.") == "reproduced"
    # 0.3 points lower is within the 0.5-point spread: inconclusive.
    assert _verdict([*adam, _row("sgd_onestep_wd0_s0", 0.9195)], "4a.") == "inconclusive"
    # SGD 1 point better: not reproduced.
    assert _verdict([*adam, _row("sgd_onestep_wd0_s0", 0.9325)], "4a.") == "not reproduced"
    # One seed everywhere: no spread, so at best inconclusive.
    lone = [_row("onestep_wd0_s0", 0.92), _row("sgd_onestep_wd0_s0", 0.80)]
    assert _verdict(lone, "4a.") == "inconclusive"


def test_the_decay_order_needs_every_step_of_it():
    seeds = [_row("onestep_wd0_s0", 0.92, ff=1e-4), _row("onestep_wd0_s1", 0.92, ff=2e-4)]
    ordered = [
        *seeds,
        _row("onestep_wd5e-6_s0", 0.92, ff=1e-3),
        _row("onestep_wd1e-5_s0", 0.92, ff=2e-3),
    ]
    assert _verdict(ordered, "1a.") == "reproduced"  # gaps 8.5e-4 and 1e-3 > spread 1e-4
    ordered[-1] = _row("onestep_wd1e-5_s0", 0.92, ff=5e-4)  # 1e-5 flips less than 5e-6
    assert _verdict(ordered, "1a.") == "not reproduced"


def test_the_negative_decay_freezes_the_signs_only_below_both_thresholds():
    free = _row("onestep_wd0_s0", 0.92, ff=1.2e-3, c2i=0.55)
    frozen = _row("onestep_wd-1e-7_s0", 0.40, ff=1e-5, c2i=0.97)
    assert _verdict([free], "2a.") == "pending"
    assert _verdict([free, frozen], "2a.") == "reproduced"
    # FF a tenth of wd 0's or more: the signs still move.
    assert _verdict([free, {**frozen, "ff_stage2_mean": 1.2e-4}], "2a.") == "not reproduced"
    # Few flips but far from the initial signs: not frozen either.
    assert _verdict([free, {**frozen, "c2i_from_init": 0.85}], "2a.") == "not reproduced"


def _weights(side_value=None, side_count=0, seed=0):
    rng = np.random.default_rng(seed)
    values = [rng.normal(0.0, 0.2, 200_000)]
    if side_value is not None:
        values += [np.full(side_count, side_value), np.full(side_count, -side_value)]
    return np.concatenate(values)


def test_histogram_peaks_finds_small_side_peaks_on_the_log_scale():
    peaks = histogram_peaks(_weights(1.0, 300))
    assert len(peaks) == 3
    width = peaks[0]["bin_width"]
    assert abs(peaks[0]["position"] + 1.0) <= width and abs(peaks[2]["position"] - 1.0) <= width
    assert abs(peaks[1]["position"]) < 0.05  # the bell's flat top, sigma 0.2
    assert peaks[0]["count"] >= 300
    # A bell alone has one peak: its noisy tails do not count.
    (bell,) = histogram_peaks(_weights())
    assert abs(bell["position"]) < 0.05
    # Spikes holding less than min_share of the values are not peaks.
    assert len(histogram_peaks(_weights(1.0, 10))) == 1


def test_three_peaks_needs_every_adam_seed_to_show_them():
    def row(seed, weights):
        return {
            **_row(f"onestep_wd0_s{seed}", 0.92),
            "seed": seed,
            "latent_peaks": histogram_peaks(weights),
        }

    assert _verdict([_row("onestep_wd0_s0", 0.92)], "5.") == "pending"
    assert _verdict([row(0, _weights(1.0, 300))], "5.") == "reproduced"
    two_seeds = [row(0, _weights(1.0, 300)), row(1, _weights(seed=1))]
    assert _verdict(two_seeds, "5.") == "not reproduced"


def test_the_paper_budget_arm_is_judged_against_every_one_step_arm():
    rows = [
        _row("onestep_wd0_s0", 0.920, ff=1.2e-3),
        _row("onestep_wd0_s1", 0.922, ff=1.2e-3),
        _row("onestep_wd5e-6_s0", 0.925, ff=1.5e-3),
        _row("onestep_wd1e-5_s0", 0.927, ff=1.7e-3),
    ]
    claim = "3b. two-step (5e-6 then 0) at the paper's budget"
    assert _verdict(rows, claim) == "pending"
    # 0.5 points above the best one-step arm (1e-5), beyond the 0.2-point spread.
    better = [*rows, _row("twostep_wd5e-6_paper_budget_s0", 0.932, ff=1.0e-3)]
    assert _verdict(better, claim) == "reproduced"
    assert _verdict(better, "3a. two-step (5e-6 then 0) at the paper's budget") == "reproduced"
    # Above wd 0 and 5e-6 but 0.5 points below 1e-5: not reproduced.
    worse = [*rows, _row("twostep_wd5e-6_paper_budget_s0", 0.922)]
    assert _verdict(worse, claim) == "not reproduced"


def test_sgd_as_good_as_adam_on_the_twin_allows_the_spread_and_no_more():
    rows = [_row("onestep_wd0_s0", 0.920), _row("onestep_wd0_s1", 0.925)]  # spread 0.5 points
    twin = [_row("twin_adam_wd0_s0", 0.940)]
    assert _verdict([*rows, *twin], "6a.") == "pending"
    # SGD 0.4 points below Adam: within the spread, as good as.
    assert _verdict([*rows, *twin, _row("twin_sgd_wd0_s0", 0.936)], "6a.") == "reproduced"
    assert _verdict([*rows, *twin, _row("twin_sgd_wd0_s0", 0.945)], "6a.") == "reproduced"
    # 0.6 points below: worse beyond the spread.
    assert _verdict([*rows, *twin, _row("twin_sgd_wd0_s0", 0.934)], "6a.") == "not reproduced"


def test_the_contrast_compares_adams_lead_on_both_networks():
    rows = [
        _row("onestep_wd0_s0", 0.920),
        _row("onestep_wd0_s1", 0.925),  # spread 0.5 points; Adam's mean 92.25
        _row("sgd_onestep_wd0_s0", 0.900),  # BNN: Adam leads by 2.25 points
        _row("twin_adam_wd0_s0", 0.940),
    ]
    claim = "6b."
    assert _verdict(rows, claim) == "pending"
    # Twin: Adam leads by 0.5 points, 1.75 less than on the BNN.
    assert _verdict([*rows, _row("twin_sgd_wd0_s0", 0.935)], claim) == "reproduced"
    # Twin: Adam leads by 3 points, more than on the BNN by 0.75.
    assert _verdict([*rows, _row("twin_sgd_wd0_s0", 0.910)], claim) == "not reproduced"
    # Twin: Adam leads by 2 points, 0.25 less: within the spread.
    assert _verdict([*rows, _row("twin_sgd_wd0_s0", 0.920)], claim) == "inconclusive"
