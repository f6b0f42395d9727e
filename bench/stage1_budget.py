"""Stage 1 alone on Fashion-MNIST: test accuracy per epoch for a width, budget and learning rate.

Stage 1 of the recipe (binary activations, real latent weights) bounds what stage 2 reaches in
short runs, so this quick proxy compares settings for the 45-minute target: `ReActNetACompact`
at stage 1, Adam with a per-step linear decay to 0 over the run, all 60,000 training images (no
augmentation unless asked), evaluated on all 10,000 test images after every epoch. It prints one
line per epoch, `(train accuracy, test accuracy, seconds since start)`, then a JSON summary.

Run two at a time on 2 cores and compare them at equal seconds, not only at equal epochs.

Usage:
    python bench/stage1_budget.py NAME WIDTH EPOCHS LEARNING_RATE BATCH_SIZE \
        [LABEL_SMOOTHING [AUGMENT]]

Example:
    python bench/stage1_budget.py base 1.0 3 2e-3 128
"""

import json
import sys
import time

import adambnn_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)


def main(argv: list[str]) -> None:
    import tensorflow as tf

    from adambnn_tf.data.datasets import load_dataset
    from adambnn_tf.losses import SmoothedSparseCategoricalCrossentropy
    from adambnn_tf.schedules import StepwiseLinearDecay
    from adambnn_tf.zoo import ReActNetACompact

    name, width, epochs, learning_rate, batch_size = argv[:5]
    width, epochs = float(width), int(epochs)
    learning_rate, batch_size = float(learning_rate), int(batch_size)
    label_smoothing = float(argv[5]) if len(argv) > 5 else 0.0
    augment = len(argv) > 6 and argv[6] == "1"

    tf.keras.utils.set_random_seed(1)
    model = ReActNetACompact(
        input_shape=(28, 28, 1), stage=1, width_multiplier=width, classifier_activation=None
    )
    train_examples = load_dataset("fashion_mnist", "train", batch_size=batch_size).num_examples
    steps = train_examples // batch_size
    schedule = StepwiseLinearDecay(learning_rate, steps * epochs)
    loss = SmoothedSparseCategoricalCrossentropy(label_smoothing)
    model.compile(tf.keras.optimizers.Adam(schedule), loss, metrics=["accuracy"])

    test = load_dataset("fashion_mnist", "test", batch_size=256).dataset
    history = []
    start = time.time()
    for epoch in range(epochs):
        train = load_dataset(
            "fashion_mnist",
            "train",
            batch_size=batch_size,
            shuffle=True,
            repeat=False,
            drop_remainder=True,
            seed=3,
            initial_epoch=epoch,
            augment=augment,
        ).dataset
        fitted = model.fit(train, epochs=1, verbose=0)
        _, test_accuracy = model.evaluate(test, verbose=0)
        history.append(
            (
                round(fitted.history["accuracy"][0], 4),
                round(test_accuracy, 4),
                round(time.time() - start),
            )
        )
        print(name, history[-1], flush=True)
    summary = {
        "name": name,
        "width": width,
        "epochs": epochs,
        "lr": learning_rate,
        "bs": batch_size,
        "ls": label_smoothing,
        "aug": augment,
        "hist": history,
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
