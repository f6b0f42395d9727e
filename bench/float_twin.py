"""The BNN's training step against its float twin's, side by side (issue 20).

For each setting, stage 1 and stage 2 of a zoo model and its float twin (`binary=False`: the
same layers and variables, binarizers replaced by their real-valued identity) are compiled
with the recipe's optimizer (`StageAwareOptimizer(OfficialAdam)`, weight decay on the latent
weights in stage 1), traced once, then timed in alternating rounds on the same random batches.
Each round gives a median step time per variant; the script prints the per-round ratios to the
twin and their median, with the CPU (model and vector flags).

Settings (`--settings`): `compact` (ReActNet-A Compact, 28x28, batch 64), `small`
(ReActNet-A small input, 32x32x3, batch 64), `full` (ReActNet-A, 224x224x3, batch 8).

!!! example
    ```bash
    python bench/float_twin.py --settings compact small --rounds 5 --steps 20
    ```
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from _fit_timing import StepTimes  # beside this script
from _machine import cpu_description  # beside this script

import adambnn_tf  # noqa: F401  (selects tf-keras before TensorFlow is imported)

SETTINGS = {
    "compact": ("ReActNetACompact", {}, (28, 28, 1), 10, 64),
    "small": ("ReActNetA", {"small_input": True}, (32, 32, 3), 10, 64),
    "full": ("ReActNetA", {}, (224, 224, 3), 1000, 8),
}
"""Setting -> zoo model, its options, input shape, classes, batch size."""


def _variants(setting: str) -> dict:
    import tensorflow as tf

    from adambnn_tf import zoo
    from adambnn_tf.optimizers import OfficialAdam, StageAwareOptimizer

    name, options, shape, classes, _ = SETTINGS[setting]
    built = {}
    for label, stage, binary in (
        ("twin", 1, False),
        ("stage1", 1, True),
        ("stage2", 2, True),
    ):
        tf.keras.utils.set_random_seed(0)
        model = getattr(zoo, name)(
            input_shape=shape,
            num_classes=classes,
            stage=stage,
            binary=binary,
            classifier_activation=None,
            **options,
        )
        model.compile(
            StageAwareOptimizer(OfficialAdam(1e-3), stage=stage),
            tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        built[label] = model
    return built


def _batches(setting: str):
    import numpy as np
    import tensorflow as tf

    _, _, shape, classes, batch_size = SETTINGS[setting]
    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch_size * 4, *shape)).astype("float32")
    labels = rng.integers(0, classes, size=batch_size * 4)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size).repeat()


def measure(setting: str, rounds: int, steps: int) -> dict:
    """Median step time of each variant per round, and the ratios to the twin."""
    models = _variants(setting)
    data = _batches(setting)
    for model in models.values():
        model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # trace
    medians = {label: [] for label in models}
    for _ in range(rounds):
        for label, model in models.items():
            timer = StepTimes()
            model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[timer])
            medians[label].append(statistics.median(timer.seconds[1:]))
    ratios = {
        label: [t / twin for t, twin in zip(times, medians["twin"], strict=True)]
        for label, times in medians.items()
        if label != "twin"
    }
    return {
        "setting": setting,
        "batch_size": SETTINGS[setting][4],
        "median_step_ms": {k: [round(1000 * t, 1) for t in v] for k, v in medians.items()},
        "ratio_to_twin_per_round": {k: [round(r, 3) for r in v] for k, v in ratios.items()},
        "median_ratio_to_twin": {k: round(statistics.median(v), 3) for k, v in ratios.items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["compact"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    args = parser.parse_args(argv)
    print(json.dumps({"cpu": cpu_description(), "date": time.strftime("%Y-%m-%d %H:%M")}))
    for setting in args.settings:
        print(json.dumps(measure(setting, args.rounds, args.steps)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
