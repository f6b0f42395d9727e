"""The paper's Table 1, Adam vs SGD and Fig. 3 on Fashion-MNIST, at a budget where decay acts.

Issue 17. Every arm is a run of the project's main job (`adambnn_tf.main_job.run_main_job`,
what `adambnn train` runs) from the `fashion-mnist` recipe (ReActNet-A Compact, batch 64, no
augmentation), with plain cross-entropy (no label smoothing, as the paper), a fixed
class-stratified validation split of 5,000 training images (`data.validation_examples`: every
choice is made on it, the test split is read once per arm, at its end), the C2I-ratio from the
network's initialisation (`tracking.c2i_reference="training"`, the paper's quantity; for
two-step arms, stage 1's initialisation), and FF and saturation measured on every 10th step.

Budget: 10 epochs of the 55,000 remaining training images = 8,590 iterations per arm. One-step
arms train stage 2 (binary weights from scratch) for 10 epochs; two-step arms 5 + 5 (equal
total iterations), and the paper's own setting, each stage as long as the one-step run (10 +
10), for the recipe's decay.

Phases, all resumable (an arm whose `results.json` exists is done; an interrupted arm resumes
from its last epoch; run the same command again):

1. `sweep`: the learning rates of Adam and of SGD (momentum 0.9), chosen on the validation
   split: one-step, weight decay 0, `SWEEP_EPOCHS` epoch(s) per candidate; for the BNN, then
   for its float twin (`model.binary=False`, issue 21).
2. `arms`: Table 1's arms, the decades above it, the extra seeds, SGD, and Adam against SGD on
   the float twin, in `ARMS` order.
3. `table`: reads every finished arm, writes `OUT_DIR/summary.json`, `OUT_DIR/table1.md` (with
   the Adam-against-SGD table of both networks) and the figures (the project's report plots).

Besides the main job's logs, each epoch records per arm: the mean |latent weight|, the share
of latent weights below 1e-3 in magnitude, and the size of the decay term next to the gradient
in the coupled update (median over binary layers of mean|wd * w| / mean|g|, on a fixed
validation batch).

!!! example
    ```bash
    python bench/paper_table1.py --runs-dir runs/table1 --out-dir bench/paper_table1
    python bench/paper_table1.py --phase table --runs-dir runs/table1 --out-dir bench/paper_table1
    ```
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time

import numpy as np
import tensorflow as tf
from _machine import cpu_description  # beside this script
from _runs import VALIDATION_EXAMPLES, campaign_parser  # beside this script
from paper_table1_verdicts import arm_prefix, histogram_peaks, verdict_table  # beside this script

import adambnn_tf  # noqa: F401  (selects tf-keras before TensorFlow is imported)
from adambnn_tf._files import write_atomically
from adambnn_tf.config import RunConfig, recipe
from adambnn_tf.quantizers import is_latent_weight

EPOCHS = 10
SWEEP_EPOCHS = 1
SWEEP_RATES = {"adam": (1e-3, 2e-3, 4e-3, 8e-3), "sgd": (0.003, 0.01, 0.03, 0.1, 0.3)}
"""Each grid was widened once, where its first best (Adam 4e-3, SGD 0.03) lay on its edge."""
TWIN_EXTRA_RATES = {"adam": (5e-4,)}
"""The float twin's grids are the BNN's, widened the same way: its Adam's first best (1e-3)
lay on the lower edge."""
SMALL_WEIGHT = 1e-3
CLIP_EDGE = 0.99
"""Latent weights at least this large sit at the edge of the binarizer's gradient (|w| <= 1)."""


def _decay(value: float) -> str:
    """A weight decay as the paper writes it: 0, 5e-6, -1e-7, 1e-4."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


@dataclasses.dataclass(frozen=True)
class Arm:
    """One run of the study."""

    name: str
    scheme: str
    optimizer: str
    weight_decay: tuple[float, float]
    seed: int = 0
    epochs: tuple[int, int] | None = None  # default: EPOCHS split by scheme
    binary: bool = True  # False: the float twin (`model.binary=False`), issue 21

    @property
    def rate_key(self) -> str:
        """The key of its learning rate in `chosen_learning_rates`."""
        return self.optimizer if self.binary else f"twin_{self.optimizer}"

    def stage_epochs(self) -> tuple[int, int]:
        if self.epochs is not None:
            return self.epochs
        return (EPOCHS // 2, EPOCHS // 2) if self.scheme == "two-step" else (1, EPOCHS)

    @property
    def label(self) -> str:
        wd1, wd2 = self.weight_decay
        if self.scheme == "two-step":
            e1, e2 = self.stage_epochs()
            return f"Two-step, Step1 {_decay(wd1)}, Step2 {_decay(wd2)} ({e1} + {e2} epochs)"
        if not self.binary:
            return f"Float twin, {self.optimizer}, wd {_decay(wd2)}"
        return f"One-step {self.optimizer}, wd {_decay(wd2)}"


def _one(name, wd, optimizer="adam", seed=0, binary=True):
    return Arm(f"{name}_s{seed}", "one-step", optimizer, (0.0, wd), seed, binary=binary)


def _two(name, wd, seed=0, epochs=None):
    return Arm(f"{name}_s{seed}", "two-step", "adam", (wd, 0.0), seed, epochs)


ARMS = (
    _one("onestep_wd5e-6", 5e-6),
    _two("twostep_wd5e-6", 5e-6),
    _one("onestep_wd0", 0.0),
    _one("sgd_onestep_wd0", 0.0, optimizer="sgd"),
    _one("onestep_wd1e-5", 1e-5),
    _two("twostep_wd1e-5", 1e-5),
    _one("onestep_wd-1e-7", -1e-7),
    # The second seeds before the decades: every verdict waits on the seed spread.
    _one("onestep_wd5e-6", 5e-6, seed=1),
    _two("twostep_wd5e-6", 5e-6, seed=1),
    _one("onestep_wd0", 0.0, seed=1),
    _one("onestep_wd1e-4", 1e-4),
    _one("onestep_wd1e-3", 1e-3),
    _two("twostep_wd1e-4", 1e-4),
    _two("twostep_wd5e-6_paper_budget", 5e-6, epochs=(EPOCHS, EPOCHS)),
    # Issue 21: Adam against SGD on the float twin, at the same budget, each with the rate
    # chosen on validation for the twin, and a second seed of each side of the contrast.
    _one("twin_adam_wd0", 0.0, binary=False),
    _one("twin_sgd_wd0", 0.0, optimizer="sgd", binary=False),
    _one("sgd_onestep_wd0", 0.0, optimizer="sgd", seed=1),
    _one("twin_adam_wd0", 0.0, seed=1, binary=False),
    _one("twin_sgd_wd0", 0.0, optimizer="sgd", seed=1, binary=False),
)
"""The arms, most telling first (the campaign spans sessions)."""


def base_config() -> RunConfig:
    """What every arm shares."""
    return recipe("fashion-mnist").with_overrides(
        {
            "data.validation_examples": VALIDATION_EXAMPLES,
            "data.train_examples": 0,
            "training.label_smoothing": 0.0,
            "tracking.c2i_reference": "training",
            "tracking.track_every": 10,
            "tracking.validate_every": 1,
            "output.export": False,
            "output.report": True,
            "output.progress": False,
        }
    )


def arm_config(arm: Arm, output_dir: str, learning_rates: dict[str, float]) -> RunConfig:
    e1, e2 = arm.stage_epochs()
    rate = learning_rates[arm.rate_key]
    return base_config().with_overrides(
        {
            "output_dir": output_dir,
            "stage1.epochs": e1,
            "stage2.epochs": e2,
            "stage1.learning_rate": rate,
            "stage2.learning_rate": rate,
            "stage1.weight_decay": arm.weight_decay[0],
            "stage2.weight_decay": arm.weight_decay[1],
            "training.scheme": arm.scheme,
            "training.optimizer": arm.optimizer,
            "training.seed": arm.seed,
            "model.binary": arm.binary,
        }
    )


class LatentWeightStatistics(tf.keras.callbacks.Callback):
    """Logs, after each epoch, mean |w| and the share of small latent weights, and the decay
    term's size next to the gradient (median over binary layers of mean|wd w| / mean|g|)."""

    def __init__(self, batch):
        super().__init__()
        self.images, self.labels = batch

    def on_epoch_end(self, epoch, logs=None):
        latent = [v for v in self.model.trainable_variables if is_latent_weight(v)]
        values = np.concatenate([v.numpy().ravel() for v in latent])
        logs["latent_abs_mean"] = float(np.mean(np.abs(values)))
        logs["latent_small_share"] = float(np.mean(np.abs(values) < SMALL_WEIGHT))
        decay = float(getattr(self.model.optimizer, "weight_decay", 0.0))
        loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        with tf.GradientTape() as tape:
            loss = loss_fn(self.labels, self.model(self.images, training=False))
        gradients = tape.gradient(loss, latent)
        ratios = [
            abs(decay)
            * float(tf.reduce_mean(tf.abs(v)))
            / max(float(tf.reduce_mean(tf.abs(g))), 1e-30)
            for v, g in zip(latent, gradients, strict=True)
            if g is not None
        ]
        logs["decay_to_gradient"] = float(np.median(ratios)) if ratios else 0.0


def _first_validation_batch() -> tuple[np.ndarray, np.ndarray]:
    from adambnn_tf.data import load_dataset

    loaded = load_dataset(
        "fashion_mnist",
        "validation",
        batch_size=256,
        validation_examples=VALIDATION_EXAMPLES,
    )
    images, labels = next(iter(loaded.dataset))
    return images.numpy(), labels.numpy()


def run_arm(config: RunConfig) -> None:
    """Runs (or resumes) one arm, unless its results exist."""
    from adambnn_tf.main_job import run_main_job

    if os.path.exists(os.path.join(config.output_dir, "results.json")):
        return
    batch = _first_validation_batch()
    started = time.time()
    run_main_job(config, extra_callbacks=lambda stage: [LatentWeightStatistics(batch)])
    print(f"{config.output_dir}: {(time.time() - started) / 60:.1f} min", flush=True)


def _read_json(path: str) -> dict:
    with open(path) as file:
        return json.load(file)


def _sweep_arms():
    """The sweep's runs: each optimizer's rates, for the BNN and for its float twin."""
    for binary in (True, False):
        for optimizer, rates in SWEEP_RATES.items():
            extra = () if binary else TWIN_EXTRA_RATES.get(optimizer, ())
            for rate in (*extra, *rates):
                arm = Arm(
                    "sweep",
                    "one-step",
                    optimizer,
                    (0.0, 0.0),
                    epochs=(1, SWEEP_EPOCHS),
                    binary=binary,
                )
                yield arm, rate, f"{arm.rate_key}_lr{rate:g}"


def chosen_learning_rates(runs_dir: str) -> dict[str, float]:
    """The rate with the best final validation top-1 in the sweep, per optimizer and network
    (keys `adam`, `sgd`, `twin_adam`, `twin_sgd`); a grid not finished yet has no key."""
    scores: dict[str, dict[float, float | None]] = {}
    for arm, rate, name in _sweep_arms():
        path = os.path.join(runs_dir, "sweep", name, "results.json")
        score = _read_json(path)["validation_accuracy"] if os.path.exists(path) else None
        scores.setdefault(arm.rate_key, {})[rate] = score
    return {
        key: max(grid, key=grid.get)
        for key, grid in scores.items()
        if all(score is not None for score in grid.values())
    }


def sweep(runs_dir: str) -> None:
    for arm, rate, name in _sweep_arms():
        output_dir = os.path.join(runs_dir, "sweep", name)
        run_arm(arm_config(arm, output_dir, {arm.rate_key: rate}))


def _ff_steps(run_dir: str, stage: str) -> np.ndarray:
    path = os.path.join(run_dir, stage, "ff_ratio_per_step.csv")
    if not os.path.exists(path):
        return np.zeros(0)
    with open(path) as file:
        return np.array([float(row["ff_ratio"]) for row in csv.DictReader(file)])


def _iterations(run_dir: str) -> int:
    total = 0
    for stage in ("stage1", "stage2"):
        path = os.path.join(run_dir, stage, "state.json")
        if os.path.exists(path):
            state = _read_json(path)
            total += state["completed_epochs"] * state["steps_per_epoch"]
    return total


def _first_binarizer_key(history: dict) -> str | None:
    keys = sorted(key for key in history if key.startswith("saturation/"))
    preferred = [key for key in keys if "block1" in key]
    return (preferred or keys or [None])[0]


def _c2i_of_stage2_from_its_start(run_dir: str, config: RunConfig) -> float:
    """Two-step: the share of final latent signs equal to those stage 2 started from."""
    from adambnn_tf.main_job import build_zoo_model
    from adambnn_tf.training.stage_store import StageStore

    store = StageStore(os.path.join(run_dir, "stage1"), 1)
    state = store.load_state()
    model = build_zoo_model(config.model, 1, (28, 28, 1), 10)
    tf.train.Checkpoint(weights=list(model.weights)).read(
        store.checkpoint_prefix(state.last_checkpoint)
    ).expect_partial()
    start = {v.name.split(":")[0]: v.numpy() for v in model.weights if is_latent_weight(v)}
    with np.load(os.path.join(run_dir, "latent_weights_final.npz")) as final:
        same = [np.sign(final[name]) == np.sign(start[name]) for name in final.files]
    return float(np.mean(np.concatenate([s.ravel() for s in same])))


def _final_latent_weights(run_dir: str) -> np.ndarray:
    with np.load(os.path.join(run_dir, "latent_weights_final.npz")) as final:
        return np.concatenate([final[name].ravel() for name in final.files])


def collect(arm: Arm, run_dir: str) -> dict:
    """One arm's row: accuracies, FF, C2I both ways, saturation, latent-weight statistics."""
    config = RunConfig.load(os.path.join(run_dir, "run.json"))
    results = _read_json(os.path.join(run_dir, "results.json"))
    stage2 = _read_json(os.path.join(run_dir, "stage2", "history.json"))
    stage1 = None
    if arm.scheme == "two-step":
        stage1 = _read_json(os.path.join(run_dir, "stage1", "history.json"))
    ff2 = _ff_steps(run_dir, "stage2")
    ff_all = np.concatenate([_ff_steps(run_dir, "stage1"), ff2])
    saturation_key = _first_binarizer_key(stage2)
    final_weights = _final_latent_weights(run_dir)
    return {
        "arm": arm.name,
        "label": arm.label,
        "scheme": arm.scheme,
        "optimizer": arm.optimizer,
        "weight_decay": list(arm.weight_decay),
        "seed": arm.seed,
        "learning_rate": config.stage2.learning_rate,
        "iterations": _iterations(run_dir),
        "test_top1": results["test_accuracy"],
        "validation_top1": results["validation_accuracy"],
        "ff_stage2_mean": float(ff2.mean()) if ff2.size else None,
        "ff_all_mean": float(ff_all.mean()) if ff_all.size else None,
        "c2i_from_init": stage2["c2i_ratio"][-1],
        # Per stage, each from the stage's start (one-step: one stage, from the init).
        "c2i_from_stage_start": (
            [stage1["c2i_ratio"][-1], _c2i_of_stage2_from_its_start(run_dir, config)]
            if stage1
            else [stage2["c2i_ratio"][-1]]
        ),
        "saturation_first_binary_layer": stage2.get(saturation_key) if saturation_key else None,
        "saturation_key": saturation_key,
        "latent_abs_mean": [*(stage1 or {}).get("latent_abs_mean", []), *stage2["latent_abs_mean"]],
        "latent_small_share": stage2["latent_small_share"][-1],
        "latent_peaks": histogram_peaks(final_weights),
        # The weight binarizer's gradient vanishes beyond |w| = 1 (the clipped STE).
        "latent_share_at_clip": float(np.mean(np.abs(final_weights) >= CLIP_EDGE)),
        # The decayed stage's: stage 1 of a two-step arm, stage 2 of a one-step arm.
        "decay_to_gradient": (stage1 or stage2)["decay_to_gradient"],
        "training_minutes": results["training_minutes"]["total"],
    }


def _fmt(value, digits=4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _peak_positions(peaks: list[dict]) -> str:
    return ", ".join(f"{peak['position']:+.2f}" for peak in peaks)


def table(rows: list[dict]) -> str:
    lines = [
        "| arm | seed | lr | FF stage 2 (mean) | FF all | C2I from init "
        "| C2I from each stage's start (stage 1 / stage 2) "
        "| val top-1 | test top-1 | mean abs w (end) | share abs w < 1e-3 "
        f"| share abs w >= {CLIP_EDGE:g} | peaks of the final latent weights "
        "| decay/grad (end of the decayed stage) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['label']} | {row['seed']} | {row['learning_rate']:g} "
            f"| {_fmt(row['ff_stage2_mean'], 3)} | {_fmt(row['ff_all_mean'], 3)} "
            f"| {_fmt(row['c2i_from_init'])} "
            f"| {' / '.join(_fmt(value) for value in row['c2i_from_stage_start'])} "
            f"| {100 * row['validation_top1']:.2f} | {100 * row['test_top1']:.2f} "
            f"| {_fmt(row['latent_abs_mean'][-1], 3)} | {_fmt(row['latent_small_share'], 3)} "
            f"| {_fmt(row['latent_share_at_clip'], 3)} "
            f"| {_peak_positions(row['latent_peaks'])} "
            f"| {_fmt(row['decay_to_gradient'][-1], 3)} |"
        )
    return "\n".join(lines)


def saturation_table(rows: list[dict]) -> str:
    lines = ["| arm | seed | saturated share per epoch, first binary layer |", "|---|---|---|"]
    for row in rows:
        values = row["saturation_first_binary_layer"] or []
        shown = ", ".join(f"{100 * value:.1f}%" for value in values)
        lines.append(f"| {row['label']} | {row['seed']} | {shown} |")
    return "\n".join(lines)


def _adam_sgd_side(rows: list[dict], prefix: str) -> list[dict]:
    return [row for row in rows if arm_prefix(row) == prefix]


def adam_sgd_table(rows: list[dict]) -> str:
    """Adam against SGD (one-step, no weight decay, each at its rate chosen on validation) on
    the BNN and on its float twin: each side's top-1 per seed and mean, and Adam minus SGD."""
    lines = [
        "| network | Adam: test top-1 per seed (mean) | SGD: test top-1 per seed (mean) "
        "| Adam - SGD, test (validation) |",
        "|---|---|---|---|",
    ]
    for network, adam, sgd in (
        ("BNN", "onestep_wd0", "sgd_onestep_wd0"),
        ("float twin", "twin_adam_wd0", "twin_sgd_wd0"),
    ):
        sides = [_adam_sgd_side(rows, adam), _adam_sgd_side(rows, sgd)]
        cells, means = [], []
        for side in sides:
            tests = [100 * row["test_top1"] for row in side]
            vals = [100 * row["validation_top1"] for row in side]
            means.append((np.mean(tests), np.mean(vals)) if side else None)
            shown = ", ".join(f"{t:.2f}" for t in tests)
            cells.append(f"{shown} ({np.mean(tests):.2f})" if side else "-")
        difference = "-"
        if all(means):
            (adam_test, adam_val), (sgd_test, sgd_val) = means
            difference = f"{adam_test - sgd_test:+.2f} ({adam_val - sgd_val:+.2f})"
        lines.append(f"| {network} | {cells[0]} | {cells[1]} | {difference} |")
    return "\n".join(lines)


def write_table(runs_dir: str, out_dir: str) -> list[dict]:
    from adambnn_tf.report.layout import read_run
    from adambnn_tf.report.plots import plot_ff_per_step_of_runs, plot_latent_histogram

    os.makedirs(out_dir, exist_ok=True)
    rows, stages_of = [], {}
    for arm in ARMS:
        run_dir = os.path.join(runs_dir, arm.name)
        if not os.path.exists(os.path.join(run_dir, "results.json")):
            continue
        rows.append(collect(arm, run_dir))
        if arm.seed == 0:  # one curve per arm: the seeds' curves would hide each other
            stages_of[arm.name] = read_run(run_dir).stages
        if arm.name in ("onestep_wd0_s0", "sgd_onestep_wd0_s0"):
            plot_latent_histogram(
                _final_latent_weights(run_dir),
                os.path.join(out_dir, f"latent_{arm.optimizer}.png"),
            )
    if stages_of:
        plot_ff_per_step_of_runs(
            stages_of, os.path.join(out_dir, "ff_per_iteration.png"), smooth=20
        )
    summary = {"cpu": cpu_description(), "date": time.strftime("%Y-%m-%d"), "rows": rows}
    write_atomically(os.path.join(out_dir, "summary.json"), json.dumps(summary, indent=1))
    markdown = (
        f"{table(rows)}\n\n{saturation_table(rows)}\n\n{adam_sgd_table(rows)}\n\n"
        f"{verdict_table(rows)}\n"
    )
    write_atomically(os.path.join(out_dir, "table1.md"), markdown)
    print(markdown)
    return rows


def main(argv=None) -> int:
    parser = campaign_parser(__doc__, ("sweep", "arms"), "table1", "paper_table1")
    parser.add_argument("--only", nargs="*", help="run only these arms (names of ARMS)")
    args = parser.parse_args(argv)
    print(f"CPU: {cpu_description()}", flush=True)
    if args.phase in ("all", "sweep"):
        sweep(args.runs_dir)
    if args.phase in ("all", "arms"):
        rates = chosen_learning_rates(args.runs_dir)
        print(f"learning rates chosen on validation: {rates}", flush=True)
        for arm in ARMS:
            if not args.only or arm.name in args.only:
                if arm.rate_key not in rates:
                    raise RuntimeError(
                        f"the {arm.rate_key} sweep is not finished; run --phase sweep first."
                    )
                run_arm(arm_config(arm, os.path.join(args.runs_dir, arm.name), rates))
                write_table(args.runs_dir, args.out_dir)
    if args.phase == "table":
        write_table(args.runs_dir, args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
