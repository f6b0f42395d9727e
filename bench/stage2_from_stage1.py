"""Stage 2 again from a finished run's stage 1, with another learning rate, length or teacher.

Copies `SOURCE_RUN/stage1` (a finished `adambnn train` run) into a new run directory, records
the source run's configuration there with the new stage-2 settings, and lets `run_main_job`
resume it: stage 1 is reloaded as it is, and only stage 2 trains, with `LEARNING_RATE`,
`STAGE2_EPOCHS` and, optionally, `--stage2-teacher stage1` (distil the stage-1 model). It
prints stage 2's test accuracy and its training minutes. Several of these side by side, or one
after another on an otherwise idle machine, isolate stage 2's settings from stage 1's noise.

Usage:
    python bench/stage2_from_stage1.py SOURCE_RUN OUTPUT_DIR LEARNING_RATE STAGE2_EPOCHS \
        [--stage2-teacher stage1]

Example:
    python bench/stage2_from_stage1.py runs/fashion_mnist_best /tmp/s2_kd 2e-3 3 \
        --stage2-teacher stage1
"""

import argparse
import dataclasses
import json
import os
import shutil
import time

from adambnn_tf import main_job
from adambnn_tf._files import write_atomically
from adambnn_tf.schedules import per_stage_learning_rates


def stage2_config(source: str, output_dir: str, args: argparse.Namespace):
    """The source run's configuration with the new stage-2 settings, no export or report."""
    with open(os.path.join(source, main_job.RUN_CONFIG_FILE)) as file:
        recorded = json.load(file)
    fields = {field.name for field in dataclasses.fields(main_job.MainJobConfig)}
    values = {key: value for key, value in recorded.items() if key in fields}
    values.update(
        output_dir=output_dir,
        epochs=(recorded["epochs"][0], args.stage2_epochs),
        weight_decay=tuple(recorded["weight_decay"]),
        # Stage 1 keeps the rate it was trained with; the run records both.
        learning_rate=(per_stage_learning_rates(recorded["learning_rate"])[0], args.learning_rate),
        stage2_teacher=args.stage2_teacher,
        export=False,
        report=False,
        verbose=0,
    )
    return main_job.MainJobConfig(**values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source_run")
    parser.add_argument("output_dir")
    parser.add_argument("learning_rate", type=float)
    parser.add_argument("stage2_epochs", type=int)
    parser.add_argument("--stage2-teacher", default=None, choices=["stage1"])
    args = parser.parse_args()
    shutil.rmtree(args.output_dir, ignore_errors=True)
    os.makedirs(args.output_dir)
    shutil.copytree(
        os.path.join(args.source_run, "stage1"), os.path.join(args.output_dir, "stage1")
    )
    config = stage2_config(args.source_run, args.output_dir, args)
    write_atomically(
        os.path.join(args.output_dir, main_job.RUN_CONFIG_FILE), json.dumps(config.to_json())
    )
    start = time.time()
    summary = main_job.run_main_job(config)
    stage2 = summary.history["stage2"]
    result = {
        "lr": args.learning_rate,
        "e2": args.stage2_epochs,
        "stage2_teacher": args.stage2_teacher,
        "test": summary.test_accuracy,
        "val": [round(value, 4) for value in stage2["val_accuracy"]],
        "acc": [round(value, 4) for value in stage2["accuracy"]],
        "epoch_seconds": [round(value) for value in stage2.get("epoch_seconds", [])],
        "min": (time.time() - start) / 60,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
