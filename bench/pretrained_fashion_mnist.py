"""The Fashion-MNIST BNN to ship, chosen on a validation split, over seeds, with its float twin.

Issue 18. Every run is a main-job run (`adambnn_tf.main_job.run_main_job`, what `adambnn
train` runs) from the `fashion-mnist` recipe with a fixed class-stratified validation split of
5,000 training images (`data.validation_examples`): training validates on it, the test split is
read once per run, at its end, and no choice below looks at the test split.

Phases, all resumable (a run whose `results.json` exists is done; an interrupted one resumes
from its last epoch; run the same command again):

1. `choose`: each recipe of `CANDIDATES` with seed 0; the best validation top-1 is chosen.
2. `seeds`: the chosen recipe with `SEEDS`, the BNN and its float twin (`model.binary=False`:
   the same architecture, binarizers replaced by their real-valued identity, the same recipe
   and budget).
3. `table`: reads every finished run and writes `OUT_DIR/runs.md` and `OUT_DIR/summary.json`:
   per run the validation and test top-1 and the training minutes, each seed's BNN beside its
   twin, per model the mean and spread over seeds, the BNN's gap to its twin, and the seed to
   ship (best validation).

Then ship the chosen seed: `python bench/ship_pretrained.py RUNS_DIR/<run> --name
fashion_mnist --command "..."` (the run's command, which `summary.json` records: the
`adambnn train` options that give its `run.json`).

!!! example
    ```bash
    python bench/pretrained_fashion_mnist.py --runs-dir runs/pretrained --out-dir bench/pretrained
    python bench/pretrained_fashion_mnist.py --phase table --runs-dir runs/pretrained
    ```
"""

from __future__ import annotations

import os

from _machine import cpu_description  # beside this script
from _runs import (  # beside this script
    campaign_parser,
    fashion_mnist_run,
    results_of,
    run_once,
    spread,
    train_command,
    write_outputs,
)

import adambnn_tf  # noqa: F401  (selects tf-keras before TensorFlow is imported)

SEEDS = (0, 1, 2)
# 22 epochs: at about 1.85 minutes per epoch with validation (the Table-1 campaign's 10-epoch
# arms took 17.2-18.5 training minutes on a quiet machine), a run stays near 41 of the issue's
# 45 minutes, with room for a noisy neighbour.
_LONG = {"stage1.epochs": 12, "stage2.epochs": 10}
_AT_8E3 = {"stage1.learning_rate": 8e-3, "stage2.learning_rate": 8e-3}
CANDIDATES: dict[str, dict] = {
    # Two-step at 8e-3 (the rate the Table-1 campaign chose on this split), 12 + 10 epochs: at
    # 10 + 10 its paper-budget arm reached the campaign's best validation top-1 (93.60%, without
    # label smoothing), and its stage 1 alone 93.54%: stage 1 decides, so it gets the two epochs.
    "12+10": {**_LONG, **_AT_8E3},
    # The same at half the rate: the rate was chosen by 1-epoch runs, which favour large rates.
    "12+10_lr4e-3": {**_LONG, "stage1.learning_rate": 4e-3, "stage2.learning_rate": 4e-3},
    # One-step (binary weights from scratch, no decay) for the same 22 epochs: at 10 epochs
    # one-step ended 0.3 to 0.5 points above two-step 5 + 5 on validation in the campaign.
    "onestep_22": {
        "training.scheme": "one-step",
        "stage2.epochs": 22,
        "stage2.learning_rate": 8e-3,
    },
    # With the random horizontal flip (no crop, every pixel kept): the paper-budget arm ended
    # 2.7 points above validation on its training images, so it overfits at this length (crop
    # and flip cost 1.15 points in the 93% study's shorter 9 + 5 run, where the BNN underfit).
    "12+10_flip": {**_LONG, **_AT_8E3, "data.augment": True, "data.random_crop": False},
}
"""Overrides of the `fashion-mnist` recipe, in the order they run."""


def candidate_config(overrides: dict, output_dir: str, seed: int, binary: bool = True):
    """One run: the recipe, the validation split, a candidate's overrides, seed and model."""
    return fashion_mnist_run(
        {**overrides, "training.seed": seed, "model.binary": binary}, output_dir
    )


def chosen_candidate(runs_dir: str) -> str:
    """The candidate with the best validation top-1 (seed 0); every one must be finished."""
    scores = {}
    for name in CANDIDATES:
        results = results_of(os.path.join(runs_dir, "choose", name))
        if results is None:
            raise RuntimeError(f"candidate {name} is not finished; run --phase choose first.")
        scores[name] = results["validation_accuracy"]
    return max(scores, key=scores.get)


def _seed_dir(runs_dir: str, model: str, seed: int, chosen: str) -> str:
    if (model, seed) == ("bnn", 0):  # the chosen candidate's own run: the same configuration
        return os.path.join(runs_dir, "choose", chosen)
    return os.path.join(runs_dir, "seeds", f"{model}_s{seed}")


def summarize(runs_dir: str) -> dict:
    """Every finished run's numbers and `adambnn train` command, the spread per model and the
    seed to ship (the chosen candidate's run is the BNN's seed 0)."""
    rows = []

    def add_row(run_dir: str, phase: str, run: str, seed: int) -> None:
        results = results_of(run_dir)
        if results:
            command = train_command(run_dir)
            rows.append({"phase": phase, "run": run, "seed": seed, "command": command, **results})

    for name in CANDIDATES:
        add_row(os.path.join(runs_dir, "choose", name), "choose", name, 0)
    try:
        chosen = chosen_candidate(runs_dir)
    except RuntimeError:
        chosen = None
    for model in ("bnn", "twin") if chosen else ():
        for seed in SEEDS:
            add_row(_seed_dir(runs_dir, model, seed, chosen), "seeds", model, seed)
    summary = {"cpu": cpu_description(), "chosen": chosen, "rows": rows}
    for model in ("bnn", "twin"):
        finished = [r for r in rows if r["phase"] == "seeds" and r["run"] == model]
        if finished:
            summary[model] = {
                "seeds": len(finished),
                "test": spread([r["test_accuracy"] for r in finished]),
                "validation": spread([r["validation_accuracy"] for r in finished]),
                "minutes": spread([r["training_minutes"]["total"] for r in finished]),
            }
    if "bnn" in summary and "twin" in summary:
        summary["gap_to_twin"] = summary["twin"]["test"]["mean"] - summary["bnn"]["test"]["mean"]
    bnn = [r for r in rows if r["phase"] == "seeds" and r["run"] == "bnn"]
    if len(bnn) == len(SEEDS):
        summary["ship_seed"] = max(bnn, key=lambda r: r["validation_accuracy"])["seed"]
    return summary


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def _seed_pairs(summary: dict) -> list[str]:
    """One line per seed: the BNN next to its float twin, and the twin's lead on test."""
    by_model_seed = {(r["run"], r["seed"]): r for r in summary["rows"] if r["phase"] == "seeds"}
    lines = [
        "| seed | BNN validation | BNN test | BNN minutes | twin validation | twin test "
        "| twin minutes | twin - BNN, test |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for seed in SEEDS:
        bnn, twin = by_model_seed.get(("bnn", seed)), by_model_seed.get(("twin", seed))
        if not bnn and not twin:
            continue
        cells = [str(seed)]
        for row in (bnn, twin):
            cells += [
                _percent(row and row["validation_accuracy"]),
                _percent(row and row["test_accuracy"]),
                f"{row['training_minutes']['total']:.1f}" if row else "",
            ]
        gap = twin["test_accuracy"] - bnn["test_accuracy"] if bnn and twin else None
        cells.append(_percent(gap))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _table(summary: dict) -> str:
    lines = [
        "| phase | run | seed | validation top-1 | test top-1 | training minutes |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary["rows"]:
        lines.append(
            f"| {row['phase']} | {row['run']} | {row['seed']} | "
            f"{100 * row['validation_accuracy']:.2f} | {100 * row['test_accuracy']:.2f} | "
            f"{row['training_minutes']['total']:.1f} |"
        )
    if any(row["phase"] == "seeds" for row in summary["rows"]):
        lines += ["", *_seed_pairs(summary)]
    for model in ("bnn", "twin"):
        if model in summary:
            test = summary[model]["test"]
            lines.append(
                f"\n{model}: test top-1 mean {100 * test['mean']:.2f} over "
                f"{summary[model]['seeds']} seeds (min {100 * test['min']:.2f}, max "
                f"{100 * test['max']:.2f}, stdev {100 * test['stdev']:.2f})"
            )
    if "gap_to_twin" in summary:
        lines.append(f"\ntwin - BNN, mean test top-1: {100 * summary['gap_to_twin']:.2f} points")
    if "ship_seed" in summary:
        lines.append(f"\nship: the BNN's seed {summary['ship_seed']} (best validation top-1)")
    return "\n".join(lines) + "\n"


def write_table(runs_dir: str, out_dir: str) -> dict:
    """Writes `runs.md` and `summary.json` in `out_dir`; returns the summary."""
    summary = summarize(runs_dir)
    write_outputs(out_dir, _table(summary), summary)
    return summary


def main(argv=None) -> int:
    parser = campaign_parser(__doc__, ("choose", "seeds"), "pretrained")
    args = parser.parse_args(argv)
    print(f"CPU: {cpu_description()}", flush=True)
    if args.phase in ("all", "choose"):
        for name, overrides in CANDIDATES.items():
            run_once(candidate_config(overrides, os.path.join(args.runs_dir, "choose", name), 0))
            write_table(args.runs_dir, args.out_dir)
    if args.phase in ("all", "seeds"):
        chosen = chosen_candidate(args.runs_dir)
        print(f"recipe chosen on validation: {chosen} {CANDIDATES[chosen]}", flush=True)
        for seed in SEEDS:
            for model, binary in (("bnn", True), ("twin", False)):
                output_dir = _seed_dir(args.runs_dir, model, seed, chosen)
                run_once(candidate_config(CANDIDATES[chosen], output_dir, seed, binary))
                write_table(args.runs_dir, args.out_dir)
    if args.phase == "table":
        write_table(args.runs_dir, args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
