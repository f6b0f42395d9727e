"""bfloat16 against float32: the training step of `ReActNetACompact` stage 2 (issue 20).

The probe behind `bench/RESULTS.md`, section "bfloat16 as an opt-in": the model built under
Keras' `float32` and `mixed_bfloat16` policies, 3 warm-up steps each, then 4 alternating
rounds of 10 `train_on_batch` steps at batch 64 on the same random batch; prints the median
step per round and the bfloat16 / float32 ratio per round. As it ran (2026-11-30), beside the
Table-1 campaign.

!!! example
    ```bash
    TF_CPP_MIN_LOG_LEVEL=3 python bench/bfloat16_step.py
    ```
"""

import statistics
import time

import numpy as np
import tensorflow as tf

import adambnn_tf  # noqa: F401  (selects tf-keras before tf.keras is first used)
from adambnn_tf import zoo
from adambnn_tf.optimizers import OfficialAdam, StageAwareOptimizer


def build(policy: str) -> tf.keras.Model:
    """Stage 2 of `ReActNetACompact` under a dtype policy, compiled with the recipe's Adam."""
    tf.keras.mixed_precision.set_global_policy(policy)
    tf.keras.utils.set_random_seed(0)
    model = zoo.ReActNetACompact(stage=2, classifier_activation=None)
    tf.keras.mixed_precision.set_global_policy("float32")
    model.compile(
        optimizer=StageAwareOptimizer(OfficialAdam(1e-3)),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def main() -> None:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(64, 28, 28, 1)).astype("float32")
    labels = rng.integers(0, 10, 64)
    models = {"float32": build("float32"), "mixed_bfloat16": build("mixed_bfloat16")}
    for model in models.values():
        for _ in range(3):
            model.train_on_batch(images, labels)
    medians = {name: [] for name in models}
    for round_index in range(4):
        order = list(models.items())
        for name, model in order if round_index % 2 == 0 else reversed(order):
            steps = []
            for _ in range(10):
                started = time.perf_counter()
                model.train_on_batch(images, labels)
                steps.append(time.perf_counter() - started)
            medians[name].append(statistics.median(steps))
    print({name: [round(v * 1000, 1) for v in values] for name, values in medians.items()})
    ratios = zip(medians["float32"], medians["mixed_bfloat16"], strict=True)
    print("ratio bf16/f32 per round", [round(b / a, 3) for a, b in ratios])


if __name__ == "__main__":
    main()
