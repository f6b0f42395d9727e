"""The verdict on each claim of the paper's Table 1 and Adam-vs-SGD analysis (issue 17).

Reads the rows `paper_table1.collect` writes (one per finished arm) and judges each claim by a
fixed rule, so that the verdicts do not move with the reader's hopes:

- A difference counts only when it is larger than the **seed spread** of its metric: the
  largest range (max - min) of that metric over the arms run with more than one seed. Before
  any arm has two seeds there is no spread, and no difference can count: the verdict is then
  at best "inconclusive".
- `reproduced`: every comparison of the claim goes the paper's way by more than the spread;
  `not reproduced`: at least one goes the other way by more than the spread; `inconclusive`:
  otherwise; `pending`: an arm the claim needs has not finished.

Two claims are judged by fixed thresholds instead, because they are about a state, not a
difference between arms:

- Claim 2a, frozen signs: `reproduced` when the negative decay's FF-ratio is below a tenth of
  the undecayed arm's and its C2I-ratio is at least 0.9 (the paper: FF 1.07e-7 against
  2.86e-4, C2I 0.974); otherwise `not reproduced`.
- Claim 6a, on the float twin SGD is "as good as or better than" Adam (issue 21): a claim that
  one side is not worse, so there is no "inconclusive": `reproduced` when SGD's mean test top-1
  is at least Adam's minus the spread, `not reproduced` when it is lower by more.
- Claim 5, three peaks: `reproduced` when the final latent weights of every Adam, wd-0 seed
  have exactly three peaks (`histogram_peaks`): two of opposite sign whose magnitudes differ by
  less than 10%, and one within 10% of that magnitude of 0; otherwise `not reproduced`.

!!! example
    ```python
    print(verdict_table(rows))  # rows: paper_table1.collect's, one per arm
    ```
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "arm_prefix",
    "histogram_peaks",
    "seed_spread",
    "three_peaks",
    "verdict_table",
    "verdicts",
]

_METRICS = ("test_top1", "ff_stage2_mean", "c2i_from_init", "final_saturation")
FROZEN_FF_FRACTION = 0.1
FROZEN_C2I = 0.9
PEAK_BINS = 201


def histogram_peaks(
    values: np.ndarray,
    bins: int = PEAK_BINS,
    min_share: float = 1e-4,
    min_prominence: float = float(np.log10(3.0)),
) -> list[dict]:
    """The peaks of a histogram of `values`, counted on a log scale.

    A bin is a peak when no neighbour is higher, it holds at least `min_share` of the values,
    and its prominence (its log10 count above the higher of the lowest points on either side
    before a higher bin or the edge) is at least `min_prominence` (default: 3 times its
    valleys). The log scale is why: the side peaks of latent weights hold a small share of
    them, a thousand times below the central peak, yet stand out of their neighbourhood.
    The range is 1.1 times the largest magnitude, so a peak at the extremes has a valley on
    both sides.

    # Arguments
        values: the values, any shape.
        bins: the number of bins.
        min_share: the smallest share of the values a peak's bin holds.
        min_prominence: the smallest prominence, in decades.

    # Returns
        One dict per peak, left to right: `position` (the bin's centre), `count`,
        `prominence` and `bin_width`.

    !!! example
        ```python
        weights = np.concatenate([np.random.normal(0, 0.2, 100_000), np.full(300, 1.0)])
        [p["position"] for p in histogram_peaks(weights)]  # about [0.0, 1.0]
        ```
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    limit = 1.1 * float(np.max(np.abs(values)))
    counts, edges = np.histogram(values, bins, range=(-limit, limit))
    height = np.log10(counts + 1.0)
    peaks = []
    for i in range(bins):
        if counts[i] < min_share * values.size:
            continue
        if (i > 0 and height[i - 1] > height[i]) or (i + 1 < bins and height[i + 1] >= height[i]):
            continue
        left = i
        while left > 0 and height[left - 1] <= height[i]:
            left -= 1
        right = i
        while right + 1 < bins and height[right + 1] <= height[i]:
            right += 1
        valleys = [height[left:i].min() if left < i else height[i]]
        valleys.append(height[i + 1 : right + 1].min() if right > i else height[i])
        prominence = float(height[i] - max(valleys))
        if prominence >= min_prominence:
            peaks.append(
                {
                    "position": float((edges[i] + edges[i + 1]) / 2),
                    "count": int(counts[i]),
                    "prominence": prominence,
                    "bin_width": float(edges[1] - edges[0]),
                }
            )
    return peaks


def three_peaks(peaks: list[dict]) -> bool:
    """Claim 5's shape: exactly three peaks, two of opposite sign whose magnitudes differ by
    less than 10%, and one between them within 10% of their magnitude of 0."""
    if len(peaks) != 3:
        return False
    low, middle, high = (p["position"] for p in peaks)
    side = max(abs(low), high)
    symmetric = low < 0 < high and abs(abs(low) - high) < 0.1 * side
    return symmetric and abs(middle) < 0.1 * side


def arm_prefix(row: dict) -> str:
    """The arm's name without its seed (`onestep_wd0_s1` -> `onestep_wd0`)."""
    return row["arm"].rsplit("_s", 1)[0]


def _value(row: dict, metric: str) -> float | None:
    if metric == "final_saturation":
        values = row.get("saturation_first_binary_layer") or []
        return values[-1] if values else None
    return row.get(metric)


def seed_spread(rows: list[dict], metric: str) -> float | None:
    """The largest range of `metric` over the arms with more than one finished seed.

    # Arguments
        rows: one row per finished arm.
        metric: a row key, or `"final_saturation"`.

    # Returns
        The spread, or `None` when no arm has two seeds yet.
    """
    by_arm: dict[str, list[float]] = {}
    for row in rows:
        value = _value(row, metric)
        if value is not None:
            by_arm.setdefault(arm_prefix(row), []).append(value)
    ranges = [max(v) - min(v) for v in by_arm.values() if len(v) > 1]
    return max(ranges) if ranges else None


def _mean(rows: list[dict], prefix: str, metric: str) -> float | None:
    values = [_value(r, metric) for r in rows if arm_prefix(r) == prefix]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _judge(differences: list[float], spread: float | None) -> str:
    """Each difference is positive when it goes the paper's way."""
    if spread is not None and any(d < -spread for d in differences):
        return "not reproduced"
    if spread is not None and all(d > spread for d in differences):
        return "reproduced"
    return "inconclusive"


def _needs(rows: list[dict], *prefixes: str) -> bool:
    finished = {arm_prefix(r) for r in rows}
    return all(p in finished for p in prefixes)


def verdicts(rows: list[dict]) -> list[dict]:
    """One verdict per claim: its text, the numbers, the spread used and the verdict.

    # Arguments
        rows: one row per finished arm (`paper_table1.collect`).

    # Returns
        Dicts with `claim`, `numbers`, `metric` (the one judged), `spread` and `verdict`.
    """
    spread = {metric: seed_spread(rows, metric) for metric in _METRICS}
    out = []

    def pending(claim):
        out.append(
            {"claim": claim, "numbers": "-", "metric": "", "spread": None, "verdict": "pending"}
        )

    def add(claim, needed, numbers_and_differences, metric):
        if not _needs(rows, *needed):
            pending(claim)
            return
        numbers, differences = numbers_and_differences()
        out.append(
            {
                "claim": claim,
                "numbers": numbers,
                "metric": metric,
                "spread": spread[metric],
                "verdict": _judge(differences, spread[metric]),
            }
        )

    one_step = ("onestep_wd1e-5", "onestep_wd5e-6", "onestep_wd0")

    def ff_order():
        ff = [_mean(rows, p, "ff_stage2_mean") for p in one_step]
        numbers = "FF at wd 1e-5, 5e-6, 0: " + ", ".join(f"{v:.3g}" for v in ff)
        return numbers, [ff[0] - ff[1], ff[1] - ff[2]]

    def c2i_order():
        c2i = [_mean(rows, p, "c2i_from_init") for p in one_step]
        numbers = "C2I at wd 1e-5, 5e-6, 0: " + ", ".join(f"{v:.3f}" for v in c2i)
        return numbers, [c2i[1] - c2i[0], c2i[2] - c2i[1]]

    add("1a. one-step: larger decay, more flip-flops (FF)", one_step, ff_order, "ff_stage2_mean")
    add("1b. one-step: larger decay, lower C2I", one_step, c2i_order, "c2i_from_init")

    negative = ("onestep_wd-1e-7", "onestep_wd0")
    if _needs(rows, *negative):
        ff, free_ff = (_mean(rows, p, "ff_stage2_mean") for p in negative)
        c2i = _mean(rows, "onestep_wd-1e-7", "c2i_from_init")
        frozen = ff < FROZEN_FF_FRACTION * free_ff and c2i >= FROZEN_C2I
        out.append(
            {
                "claim": "2a. one-step, wd -1e-7: the signs freeze (FF ~ 0, C2I ~ 1)",
                "numbers": f"wd -1e-7: FF {ff:.3g}, C2I {c2i:.3f}; wd 0: FF {free_ff:.3g}",
                "metric": "threshold",
                "spread": None,
                "verdict": "reproduced" if frozen else "not reproduced",
            }
        )
    else:
        pending("2a. one-step, wd -1e-7: the signs freeze (FF ~ 0, C2I ~ 1)")

    def negative_decay_accuracy():
        frozen, free = (_mean(rows, p, "test_top1") for p in negative)
        return f"test top-1: wd -1e-7 {100 * frozen:.2f}, wd 0 {100 * free:.2f}", [free - frozen]

    add(
        "2b. one-step, wd -1e-7: accuracy collapses",
        negative,
        negative_decay_accuracy,
        "test_top1",
    )

    def lower_stage2_ff(two_step: str, one_step_arm: str, shown: str):
        def numbers_and_differences():
            two = _mean(rows, two_step, "ff_stage2_mean")
            one = _mean(rows, one_step_arm, "ff_stage2_mean")
            return f"stage-2 FF: {shown} {two:.3g}, one-step {one:.3g}", [one - two]

        return numbers_and_differences

    for decay in ("5e-6", "1e-5"):
        add(
            f"3a. two-step ({decay} then 0): lower stage-2 FF than one-step at {decay}",
            (f"twostep_wd{decay}", f"onestep_wd{decay}"),
            lower_stage2_ff(f"twostep_wd{decay}", f"onestep_wd{decay}", "two-step"),
            "ff_stage2_mean",
        )

    def above_every_one_step(two_step: str, shown: str, one_step_shown: str):
        def numbers_and_differences():
            two = _mean(rows, two_step, "test_top1")
            ones = {p: _mean(rows, p, "test_top1") for p in (*one_step, "onestep_wd-1e-7")}
            ones = {p: v for p, v in ones.items() if v is not None}
            numbers = f"{shown}: {100 * two:.2f}; {one_step_shown}: " + ", ".join(
                f"{p.split('_wd')[1]} {100 * v:.2f}" for p, v in ones.items()
            )
            return numbers, [two - v for v in ones.values()]

        return numbers_and_differences

    add(
        "3b. two-step (5e-6 then 0): higher test top-1 than every one-step arm",
        ("twostep_wd5e-6", *one_step),
        above_every_one_step("twostep_wd5e-6", "two-step 5e-6", "one-step"),
        "test_top1",
    )

    paper_budget = "twostep_wd5e-6_paper_budget"

    add(
        "3a. two-step (5e-6 then 0) at the paper's budget (10 + 10 epochs): lower stage-2 FF "
        "than one-step at 5e-6",
        (paper_budget, "onestep_wd5e-6"),
        lower_stage2_ff(paper_budget, "onestep_wd5e-6", "two-step 10 + 10"),
        "ff_stage2_mean",
    )
    add(
        "3b. two-step (5e-6 then 0) at the paper's budget (10 + 10 epochs): higher test top-1 "
        "than every one-step arm",
        (paper_budget, *one_step),
        above_every_one_step(paper_budget, "two-step 10 + 10", "one-step (10 epochs)"),
        "test_top1",
    )

    def adam_wins():
        adam = _mean(rows, "onestep_wd0", "test_top1")
        sgd = _mean(rows, "sgd_onestep_wd0", "test_top1")
        return f"test top-1: Adam {100 * adam:.2f}, SGD {100 * sgd:.2f}", [adam - sgd]

    def sgd_saturates():
        adam = _mean(rows, "onestep_wd0", "final_saturation")
        sgd = _mean(rows, "sgd_onestep_wd0", "final_saturation")
        numbers = f"saturated at the end: Adam {100 * adam:.1f}%, SGD {100 * sgd:.1f}%"
        return numbers, [sgd - adam]

    add("4a. Adam beats SGD", ("onestep_wd0", "sgd_onestep_wd0"), adam_wins, "test_top1")
    add(
        "4b. SGD leaves more inputs of the first binary layer saturated",
        ("onestep_wd0", "sgd_onestep_wd0"),
        sgd_saturates,
        "final_saturation",
    )
    adam_runs = [r for r in rows if arm_prefix(r) == "onestep_wd0" and r.get("latent_peaks")]
    if adam_runs:
        shapes = [three_peaks(r["latent_peaks"]) for r in adam_runs]
        positions = "; ".join(
            f"seed {r['seed']}: "
            + ", ".join(f"{p['position']:+.3f} ({p['count']})" for p in r["latent_peaks"])
            for r in adam_runs
        )
        out.append(
            {
                "claim": "5. after Adam training the latent weights have three peaks (0, +-a)",
                "numbers": f"peaks at (count): {positions}",
                "metric": "threshold",
                "spread": None,
                "verdict": "reproduced" if all(shapes) else "not reproduced",
            }
        )
    else:
        pending("5. after Adam training the latent weights have three peaks (0, +-a)")
    twin = ("twin_adam_wd0", "twin_sgd_wd0")
    if _needs(rows, *twin):
        adam, sgd = (_mean(rows, p, "test_top1") for p in twin)
        within = spread["test_top1"] if spread["test_top1"] is not None else 0.0
        out.append(
            {
                "claim": "6a. float twin: SGD as good as or better than Adam",
                "numbers": f"twin test top-1: Adam {100 * adam:.2f}, SGD {100 * sgd:.2f}",
                "metric": "test_top1",
                "spread": spread["test_top1"],
                "verdict": "reproduced" if sgd - adam >= -within else "not reproduced",
            }
        )
    else:
        pending("6a. float twin: SGD as good as or better than Adam")

    def larger_lead_on_the_bnn():
        bnn = _mean(rows, "onestep_wd0", "test_top1") - _mean(rows, "sgd_onestep_wd0", "test_top1")
        real = _mean(rows, twin[0], "test_top1") - _mean(rows, twin[1], "test_top1")
        numbers = f"Adam - SGD, test top-1: BNN {100 * bnn:+.2f}, float twin {100 * real:+.2f}"
        return numbers, [bnn - real]

    add(
        "6b. Adam's lead over SGD is larger on the BNN than on its float twin",
        ("onestep_wd0", "sgd_onestep_wd0", *twin),
        larger_lead_on_the_bnn,
        "test_top1",
    )
    return out


def verdict_table(rows: list[dict]) -> str:
    """The verdicts as a Markdown table.

    # Arguments
        rows: one row per finished arm.

    # Returns
        The table.
    """
    lines = ["| claim | numbers | seed spread | verdict |", "|---|---|---|---|"]
    for entry in verdicts(rows):
        spread = entry["spread"]
        if entry["verdict"] == "pending":
            shown = "-"
        elif entry["metric"] == "threshold":
            shown = "fixed threshold"
        elif spread is None:
            shown = "none yet"
        elif entry["metric"] in ("test_top1", "final_saturation"):
            shown = f"{100 * spread:.2f} points"
        else:
            shown = f"{spread:.3g}"
        lines.append(f"| {entry['claim']} | {entry['numbers']} | {shown} | {entry['verdict']} |")
    return "\n".join(lines)
