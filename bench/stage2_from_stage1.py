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
    python bench/stage2_from_stage1.py runs/fashion_mnist_best runs/s2_kd 2e-3 3 \
        --stage2-teacher stage1
"""

import argparse
import json
import os
import shutil
import time

from adambnn_tf import main_job
from adambnn_tf._files import write_atomically
from adambnn_tf.config import RunConfig
from adambnn_tf.report.layout import RUN_CONFIG


def stage2_config(source: str, output_dir: str, args: argparse.Namespace) -> RunConfig:
    """The source run's configuration with the new stage-2 settings, no export or report."""
    recorded = RunConfig.load(os.path.join(source, RUN_CONFIG))
    return recorded.with_overrides(
        {
            "output_dir": output_dir,
            "stage2.epochs": args.stage2_epochs,
            # Stage 1 keeps the rate it was trained with.
            "stage2.learning_rate": args.learning_rate,
            "distillation.stage2_teacher": args.stage2_teacher,
            "output.export": False,
            "output.report": False,
            "output.progress": False,
        }
    )


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
        os.path.join(args.output_dir, RUN_CONFIG), json.dumps(config.to_json(), indent=2)
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
