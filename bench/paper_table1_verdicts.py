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

Claim 5 (three peaks of the latent weights after long Adam training) is judged by eye on the
histograms; its row gives the numbers to judge by.

!!! example
    ```python
    print(verdict_table(rows))  # rows: paper_table1.collect's, one per arm
    ```
"""

from __future__ import annotations

import numpy as np

__all__ = ["arm_prefix", "seed_spread", "verdict_table", "verdicts"]

_METRICS = ("test_top1", "ff_stage2_mean", "c2i_from_init", "final_saturation")


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

    def add(claim, needed, numbers_and_differences, metric):
        if not _needs(rows, *needed):
            out.append(
                {
                    "claim": claim,
                    "numbers": "-",
                    "metric": metric,
                    "spread": None,
                    "verdict": "pending",
                }
            )
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

    def negative_decay_accuracy():
        frozen = _mean(rows, "onestep_wd-1e-7", "test_top1")
        free = _mean(rows, "onestep_wd0", "test_top1")
        ff = _mean(rows, "onestep_wd-1e-7", "ff_stage2_mean")
        c2i = _mean(rows, "onestep_wd-1e-7", "c2i_from_init")
        numbers = (
            f"wd -1e-7: FF {ff:.3g}, C2I {c2i:.3f}, test {100 * frozen:.2f}; "
            f"wd 0: test {100 * free:.2f}"
        )
        return numbers, [free - frozen]

    add(
        "2. one-step, wd -1e-7: signs freeze and accuracy collapses",
        ("onestep_wd-1e-7", "onestep_wd0"),
        negative_decay_accuracy,
        "test_top1",
    )

    for decay in ("5e-6", "1e-5"):

        def lower_ff(decay=decay):
            two = _mean(rows, f"twostep_wd{decay}", "ff_stage2_mean")
            one = _mean(rows, f"onestep_wd{decay}", "ff_stage2_mean")
            return f"stage-2 FF: two-step {two:.3g}, one-step {one:.3g}", [one - two]

        add(
            f"3a. two-step ({decay} then 0): lower stage-2 FF than one-step at {decay}",
            (f"twostep_wd{decay}", f"onestep_wd{decay}"),
            lower_ff,
            "ff_stage2_mean",
        )

    def two_step_best():
        two = _mean(rows, "twostep_wd5e-6", "test_top1")
        ones = {p: _mean(rows, p, "test_top1") for p in (*one_step, "onestep_wd-1e-7")}
        ones = {p: v for p, v in ones.items() if v is not None}
        numbers = f"two-step 5e-6: {100 * two:.2f}; one-step: " + ", ".join(
            f"{p.split('_wd')[1]} {100 * v:.2f}" for p, v in ones.items()
        )
        return numbers, [two - v for v in ones.values()]

    add(
        "3b. two-step (5e-6 then 0): higher test top-1 than every one-step arm",
        ("twostep_wd5e-6", *one_step),
        two_step_best,
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
    return out


def verdict_table(rows: list[dict]) -> str:
    """The verdicts as a Markdown table (claim 5 is judged on the histograms).

    # Arguments
        rows: one row per finished arm.

    # Returns
        The table.
    """
    lines = ["| claim | numbers | seed spread | verdict |", "|---|---|---|---|"]
    for entry in verdicts(rows):
        spread = entry["spread"]
        if spread is None:
            shown = "none yet"
        elif entry["metric"] in ("test_top1", "final_saturation"):
            shown = f"{100 * spread:.2f} points"
        else:
            shown = f"{spread:.3g}"
        lines.append(f"| {entry['claim']} | {entry['numbers']} | {shown} | {entry['verdict']} |")
    return "\n".join(lines)
