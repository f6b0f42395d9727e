"""Small-scale reproduction of the AdamBNN paper's analysis (Table 1, Adam vs SGD) on Fashion-MNIST.

Every arm runs the project's main job (`adambnn_tf.main_job.run_main_job`, what `adambnn train`
runs) on the same model, seed, data subset and number of training images seen:

- one-step (binary weights from scratch, stage 2 only) for `2 * E` epochs, Adam with weight
  decay 1e-5, 5e-6, 0 and -1e-7, and SGD (momentum 0.9) with weight decay 0;
- two-step (stage 1 real latent weights with weight decay 1e-5 or 5e-6, stage 2 with 0),
  `E + E` epochs, Adam.

It prints a Markdown table in the shape of the paper's Table 1 and an Adam-vs-SGD table, saves
one latent-weight histogram per arm under `--plots-dir`, and writes everything it measured to
`RUNS_DIR/summary.json`. Run directories are resumable: running the same command again reuses
finished arms and resumes an interrupted one.

FF is the mean over all training iterations of a stage (the paper's Table-1 FF); for two-step
arms the table gives stage 2's mean and, beside it, the mean over both stages' iterations.
C2I is the fraction of latent-weight signs unchanged from the start of the stage (the main job's
`c2i_reference="stage"`): for one-step arms that is the initialisation, for two-step arms it is
the start of stage 2, i.e. the end of stage 1.

!!! example
    ```bash
    python bench/paper_analysis.py --train-examples 6000 --epochs-per-stage 1 \
        --runs-dir runs/paper_analysis --plots-dir runs/paper_analysis/plots
    ```

Plots and run directories stay out of git (`runs/` is ignored); `bench/RESULTS.md` keeps the
numbers, and `bench/figures/` the few plots its sections show.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import adambnn_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from adambnn_tf._files import atomic_path

FIRST_BINARIZER = "saturation/block1_conv3x3/rsign"


@dataclasses.dataclass(frozen=True)
class Arm:
    """One configuration of the study."""

    name: str
    scheme: str
    optimizer: str
    weight_decay: tuple[float, float]

    @property
    def label(self) -> str:
        if self.scheme == "two-step":
            return f"Two-step, Step1 {self.weight_decay[0]:g}, Step2 {self.weight_decay[1]:g}"
        return f"One-step, {self.optimizer}, wd {self.weight_decay[1]:g}"


ARMS = (
    Arm("adam_onestep_wd1e-5", "one-step", "adam", (0.0, 1e-5)),
    Arm("adam_onestep_wd5e-6", "one-step", "adam", (0.0, 5e-6)),
    Arm("adam_onestep_wd0", "one-step", "adam", (0.0, 0.0)),
    Arm("adam_onestep_wd-1e-7", "one-step", "adam", (0.0, -1e-7)),
    Arm("adam_twostep_wd1e-5", "two-step", "adam", (1e-5, 0.0)),
    Arm("adam_twostep_wd5e-6", "two-step", "adam", (5e-6, 0.0)),
    Arm("sgd_onestep_wd0", "one-step", "sgd", (0.0, 0.0)),
)
"""The arms; `adam_onestep_wd0` is both Table 1's one-step wd-0 row and the Adam side of Adam
vs SGD."""


def _config(arm: Arm, args: argparse.Namespace):
    from adambnn_tf.config import RunConfig

    epochs_per_stage = args.epochs_per_stage
    # Same images seen: one-step trains stage 2 only, for both stages' epochs.
    epochs = (
        (epochs_per_stage, epochs_per_stage)
        if arm.scheme == "two-step"
        else (epochs_per_stage, 2 * epochs_per_stage)
    )
    learning_rate = args.adam_learning_rate if arm.optimizer == "adam" else args.sgd_learning_rate
    return RunConfig().with_overrides(
        {
            "output_dir": os.path.join(args.runs_dir, arm.name),
            "model.name": args.model,
            "model.width_multiplier": args.width_multiplier,
            "data.batch_size": args.batch_size,
            "data.augment": args.augment,
            "data.train_examples": args.train_examples,
            "data.test_examples": args.test_examples,
            "stage1.epochs": epochs[0],
            "stage2.epochs": epochs[1],
            "stage1.learning_rate": learning_rate,
            "stage2.learning_rate": learning_rate,
            "stage1.weight_decay": arm.weight_decay[0],
            "stage2.weight_decay": arm.weight_decay[1],
            "training.scheme": arm.scheme,
            "training.optimizer": arm.optimizer,
            "training.seed": args.seed,
            "output.export": False,
            "output.report": True,
            "output.progress": False,
        }
    )


def _read_json(path: str) -> dict:
    with open(path) as file:
        return json.load(file)


def _stage_metrics(run_dir: str, stage: str) -> dict | None:
    history_path = os.path.join(run_dir, stage, "history.json")
    if not os.path.exists(history_path):
        return None
    history = _read_json(history_path)
    steps = 0
    ff_step_path = os.path.join(run_dir, stage, "ff_ratio_per_step.csv")
    if os.path.exists(ff_step_path):
        with open(ff_step_path) as file:
            steps = sum(1 for _ in file) - 1
    return {
        "steps": steps,
        "ff_run_mean": history["ff_ratio_run"][-1],
        "c2i": history["c2i_ratio"][-1],
        "saturation_first_epoch": history["saturation"][0],
        "saturation_last_epoch": history["saturation"][-1],
        "first_binarizer_first_epoch": history.get(FIRST_BINARIZER, [None])[0],
        "first_binarizer_last_epoch": history.get(FIRST_BINARIZER, [None])[-1],
        "train_accuracy": history["accuracy"][-1],
        "val_accuracy": history["val_accuracy"][-1],
    }


def _epoch_seconds(run_dir: str, stage: str) -> list[float]:
    """Wall seconds between consecutive epoch ends of a stage, from its TensorBoard log.

    The first epoch's time is not returned (it includes graph tracing), so the values are the
    steady-state time of one epoch (training plus the per-epoch validation).
    """
    import glob

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ends = []
    for events in sorted(glob.glob(os.path.join(run_dir, "tensorboard", stage, "train"))):
        accumulator = EventAccumulator(events)
        accumulator.Reload()
        if "epoch_loss" in accumulator.Tags().get("tensors", []):
            ends += [event.wall_time for event in accumulator.Tensors("epoch_loss")]
    return [later - earlier for earlier, later in zip(ends[:-1], ends[1:], strict=True)]


def collect(arm: Arm, run_dir: str, seconds: float | None) -> dict:
    """Reads one finished arm's run directory into a flat dict of the study's metrics."""
    stage1 = _stage_metrics(run_dir, "stage1")
    stage2 = _stage_metrics(run_dir, "stage2")
    row = {
        "arm": arm.name,
        "label": arm.label,
        "scheme": arm.scheme,
        "optimizer": arm.optimizer,
        "weight_decay": list(arm.weight_decay),
        "test_accuracy": _read_json(os.path.join(run_dir, "results.json"))["test_accuracy"],
        "stage1": stage1,
        "stage2": stage2,
        "seconds": seconds,
        "ff": stage2["ff_run_mean"],
        "c2i": stage2["c2i"],
        "steady_epoch_seconds": _epoch_seconds(run_dir, "stage2"),
    }
    if stage1 is not None:
        steps = stage1["steps"] + stage2["steps"]
        row["ff_both_stages"] = (
            stage1["ff_run_mean"] * stage1["steps"] + stage2["ff_run_mean"] * stage2["steps"]
        ) / steps
    return row


def _latent_weights(run_dir: str):
    import numpy as np

    with np.load(os.path.join(run_dir, "latent_weights_final.npz")) as arrays:
        return np.concatenate([arrays[key].ravel() for key in arrays.files])


def _save_png(figure, path: str) -> str:
    """Writes `figure` to `path` atomically and closes it (pyplot keeps open figures alive)."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path, suffix=".png") as temporary:
            figure.savefig(temporary, dpi=80)
    finally:
        plt.close(figure)
    return path


def plot_histograms(rows: list[dict], runs_dir: str, plots_dir: str) -> list[str]:
    """One latent-weight histogram per arm, plus Adam and SGD overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(plots_dir, exist_ok=True)
    written = []
    weights_by_arm = {
        row["arm"]: _latent_weights(os.path.join(runs_dir, row["arm"])) for row in rows
    }
    for row in rows:
        weights = weights_by_arm[row["arm"]]
        figure, axes = plt.subplots(figsize=(5, 3))
        axes.hist(weights, bins=151, color="tab:blue")
        axes.set_yscale("log")
        axes.set(
            title=f"{row['label']}\n{weights.size:,} latent weights, test acc "
            f"{row['test_accuracy']:.3f}",
            xlabel="latent weight",
            ylabel="count (log)",
        )
        axes.title.set_fontsize(9)
        figure.tight_layout()
        written.append(_save_png(figure, os.path.join(plots_dir, f"latent_{row['arm']}.png")))
    if "adam_onestep_wd0" in weights_by_arm and "sgd_onestep_wd0" in weights_by_arm:
        figure, axes = plt.subplots(figsize=(5, 3))
        for name, color in (("adam_onestep_wd0", "tab:blue"), ("sgd_onestep_wd0", "tab:orange")):
            axes.hist(weights_by_arm[name], bins=151, histtype="step", color=color, label=name)
        axes.set_yscale("log")
        axes.legend(fontsize=8)
        axes.set(title="Latent weights: Adam vs SGD (one-step, wd 0)", xlabel="latent weight")
        axes.title.set_fontsize(9)
        figure.tight_layout()
        written.append(_save_png(figure, os.path.join(plots_dir, "latent_adam_vs_sgd.png")))
    return written


def table1(rows: list[dict]) -> str:
    """The Markdown table in the shape of the paper's Table 1 (Adam arms)."""
    lines = [
        "| scheme | weight decay | FF ratio (stage-2 mean) | FF ratio (both stages) "
        "| C2I ratio | test top-1 |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row["optimizer"] != "adam":
            continue
        if row["scheme"] == "two-step":
            scheme, decay = (
                "Two-step",
                (f"Step1 {row['weight_decay'][0]:g}, Step2 {row['weight_decay'][1]:g}"),
            )
            both = f"{row['ff_both_stages']:.3e}"
        else:
            scheme, decay, both = "One-step", f"{row['weight_decay'][1]:g}", "="
        lines.append(
            f"| {scheme} | {decay} | {row['ff']:.3e} | {both} | {row['c2i']:.4f} "
            f"| {100 * row['test_accuracy']:.2f} |"
        )
    return "\n".join(lines)


def adam_vs_sgd(rows: list[dict], args: argparse.Namespace) -> str:
    """The Markdown Adam-vs-SGD table (one-step, weight decay 0)."""
    lines = [
        "| optimizer | LR | test top-1 | saturated, all binarizers, epoch 1 / last "
        "| saturated, first binarizer, epoch 1 / last | FF ratio | C2I ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("adam_onestep_wd0", "sgd_onestep_wd0"):
        row = next((row for row in rows if row["arm"] == name), None)
        if row is None:
            continue
        stage = row["stage2"]
        learning_rate = (
            args.adam_learning_rate if row["optimizer"] == "adam" else args.sgd_learning_rate
        )
        first = stage["first_binarizer_first_epoch"]
        last = stage["first_binarizer_last_epoch"]
        first_binarizer = "n/a" if first is None else f"{100 * first:.2f}% / {100 * last:.2f}%"
        lines.append(
            f"| {row['optimizer']} | {learning_rate:g} | {100 * row['test_accuracy']:.2f} "
            f"| {100 * stage['saturation_first_epoch']:.2f}% / "
            f"{100 * stage['saturation_last_epoch']:.2f}% | {first_binarizer} "
            f"| {row['ff']:.3e} | {row['c2i']:.4f} |"
        )
    return "\n".join(lines)


def _parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs-dir", default="runs/paper_analysis")
    parser.add_argument("--plots-dir", default="runs/paper_analysis/plots")
    parser.add_argument("--train-examples", type=int, default=6000, help="0: all")
    parser.add_argument("--test-examples", type=int, default=2000, help="0: all")
    parser.add_argument(
        "--epochs-per-stage",
        type=int,
        default=1,
        help="two-step arms train E+E epochs, one-step arms 2E (same images seen)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--model",
        default="reactnet_a_small",
        help="a main-job model name (reactnet_a_compact trains about 4x faster)",
    )
    parser.add_argument("--width-multiplier", type=float, default=0.25)
    parser.add_argument(
        "--no-augment", dest="augment", action="store_false", help="train without augmentation"
    )
    parser.add_argument("--adam-learning-rate", type=float, default=2e-3)
    parser.add_argument("--sgd-learning-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--arms", nargs="*", default=None, help=f"a subset of {[arm.name for arm in ARMS]}"
    )
    args = parser.parse_args(argv)
    known = {arm.name for arm in ARMS}
    if args.arms is not None and not set(args.arms) <= known:
        parser.error(
            f"unknown arm(s) {sorted(set(args.arms) - known)}; choose from {sorted(known)}"
        )
    return args


def main(argv=None) -> int:
    from adambnn_tf._files import write_atomically
    from adambnn_tf.main_job import run_main_job

    args = _parse_args(argv)
    os.makedirs(args.runs_dir, exist_ok=True)
    summary_path = os.path.join(args.runs_dir, "summary.json")
    previous = _read_json(summary_path)["rows"] if os.path.exists(summary_path) else []
    seconds_by_arm = {row["arm"]: row.get("seconds") for row in previous}
    arms = [arm for arm in ARMS if args.arms is None or arm.name in args.arms]
    rows = []
    for arm in arms:
        run_dir = os.path.join(args.runs_dir, arm.name)
        if not os.path.exists(os.path.join(run_dir, "results.json")):
            print(f"[paper_analysis] {arm.name}: training ...", flush=True)
            start = time.perf_counter()
            run_main_job(_config(arm, args))
            seconds_by_arm[arm.name] = time.perf_counter() - start
        row = collect(arm, run_dir, seconds_by_arm.get(arm.name))
        rows.append(row)
        print(
            f"[paper_analysis] {arm.name}: test {row['test_accuracy']:.4f} FF {row['ff']:.3e} "
            f"C2I {row['c2i']:.4f} ({row['seconds'] or 0:.0f} s)",
            flush=True,
        )
        write_atomically(summary_path, json.dumps({"args": vars(args), "rows": rows}, indent=1))
    plots = plot_histograms(rows, args.runs_dir, args.plots_dir)
    train_examples = args.train_examples or 60_000  # 0: all of Fashion-MNIST's training set
    images_per_arm = 2 * args.epochs_per_stage * (train_examples // args.batch_size)
    images_per_arm *= args.batch_size
    print(f"\nEach arm: {images_per_arm} training images seen, width {args.width_multiplier}.")
    print("\nTable 1 (Adam; FF averaged over all iterations; C2I from the stage's start):\n")
    print(table1(rows))
    print("\nAdam vs SGD (one-step, weight decay 0):\n")
    print(adam_vs_sgd(rows, args))
    print("\nSeconds per arm (wall, training + evaluation + report; steady-state stage-2 epoch):")
    for row in rows:
        epochs = ", ".join(f"{seconds:.0f}" for seconds in row["steady_epoch_seconds"])
        print(
            f"  {row['arm']}: {row['seconds'] or float('nan'):.0f} s "
            f"(epochs after the first: {epochs})"
        )
    print("\nPlots:\n" + "\n".join(f"  {path}" for path in plots))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
