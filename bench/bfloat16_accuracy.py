"""bfloat16 against float32: one epoch of each stage on 19,200 images, validated (issue 20).

The probe behind `bench/RESULTS.md`, section "bfloat16 as an opt-in": `ReActNetACompact`
stage 1 (Adam 4e-3, weight decay 5e-6 on the latent weights) for one epoch of the first
19,200 training images, then stage 2 from its weights for one more, each under the `float32`
and the `mixed_bfloat16` policy from seed 0; prints the validation top-1 (the 5,000 held-out
training images), the seconds of each epoch and the output dtype. As it ran (2026-11-30),
beside the Table-1 campaign.

!!! example
    ```bash
    TF_CPP_MIN_LOG_LEVEL=3 python bench/bfloat16_accuracy.py
    ```
"""

import time

import tensorflow as tf

import adambnn_tf  # noqa: F401  (selects tf-keras before tf.keras is first used)
from adambnn_tf import zoo
from adambnn_tf.data import load_dataset
from adambnn_tf.evaluation import dataset_arrays
from adambnn_tf.optimizers import OfficialAdam, StageAwareOptimizer


def main() -> None:
    train = load_dataset("fashion_mnist", "train", batch_size=64, validation_examples=5000)
    validation = load_dataset(
        "fashion_mnist", "validation", batch_size=256, validation_examples=5000
    )
    train_images, train_labels = dataset_arrays(train.dataset, limit=19200)
    validation_images, validation_labels = dataset_arrays(validation.dataset)
    for policy in ("float32", "mixed_bfloat16"):
        tf.keras.mixed_precision.set_global_policy(policy)
        tf.keras.utils.set_random_seed(0)
        measured, weights = [], None
        for stage in (1, 2):
            model = zoo.ReActNetACompact(stage=stage, classifier_activation=None)
            if weights is not None:
                model.set_weights(weights)  # the two-stage hand-off
            model.compile(
                optimizer=StageAwareOptimizer(
                    OfficialAdam(4e-3), weight_decay=5e-6 if stage == 1 else 0.0
                ),
                loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
            )
            started = time.time()
            model.fit(train_images, train_labels, batch_size=64, epochs=1, verbose=0, shuffle=False)
            seconds = time.time() - started
            weights = model.get_weights()
            accuracy = model.evaluate(
                validation_images, validation_labels, batch_size=256, verbose=0
            )[1]
            measured.append((stage, round(accuracy, 4), round(seconds, 1), str(model.output.dtype)))
        tf.keras.mixed_precision.set_global_policy("float32")
        print(policy, measured, flush=True)


if __name__ == "__main__":
    main()
