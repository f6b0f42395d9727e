"""Stage 2 again from a finished run's stage 1, with another learning rate or length.

Copies `SOURCE_RUN/stage1` (a finished `adambnn train` run of `reactnet_a_compact` at width 1
with `--epochs 7 ...` and `--no-augment`) into a new run directory, records the new
configuration there, and lets `run_main_job` resume it: stage 1 is reloaded as it is, and only
stage 2 trains, with `LEARNING_RATE` and `STAGE2_EPOCHS`. It prints stage 2's test accuracy per
epoch. Several of these side by side isolate stage 2's settings from stage 1's noise.

Usage:
    python bench/stage2_from_stage1.py SOURCE_RUN OUTPUT_DIR LEARNING_RATE STAGE2_EPOCHS

Example:
    python bench/stage2_from_stage1.py runs/fashion_mnist_best /tmp/s2_5e4 5e-4 3
"""

import json
import os
import shutil
import sys
import time

from adambnn_tf import main_job
from adambnn_tf._files import write_atomically

STAGE1_EPOCHS = 7


def main(argv: list[str]) -> None:
    source, output_dir = argv[0], argv[1]
    learning_rate, stage2_epochs = float(argv[2]), int(argv[3])
    shutil.rmtree(output_dir, ignore_errors=True)
    os.makedirs(output_dir)
    shutil.copytree(os.path.join(source, "stage1"), os.path.join(output_dir, "stage1"))
    config = main_job.MainJobConfig(
        output_dir=output_dir,
        model="reactnet_a_compact",
        width_multiplier=1.0,
        epochs=(STAGE1_EPOCHS, stage2_epochs),
        learning_rate=learning_rate,
        augment=False,
        export=False,
        report=False,
        verbose=0,
        weight_decay=(5e-6, 0.0),
    )
    write_atomically(
        os.path.join(output_dir, main_job.RUN_CONFIG_FILE), json.dumps(config.to_json())
    )
    start = time.time()
    summary = main_job.run_main_job(config)
    stage2 = summary.history["stage2"]
    result = {
        "lr": learning_rate,
        "e2": stage2_epochs,
        "test": summary.test_accuracy,
        "val": [round(value, 4) for value in stage2["val_accuracy"]],
        "acc": [round(value, 4) for value in stage2["accuracy"]],
        "min": (time.time() - start) / 60,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
