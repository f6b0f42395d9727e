"""Throughput of `load_dataset("fashion_mnist", "train")`: batched vs per-image augmentation.

Measures, side by side in one process, one epoch (60,000 images, batch 128) of:
- raw: `from_tensor_slices(arrays).batch(128)`, no shuffle or preprocessing (the floor);
- load_dataset without augmentation (exact shuffle, standardization);
- load_dataset with augmentation (batched random crop + flip, stateless);
- per-image: the same shuffle + standardization + crop + flip mapped image by image (the
  first implementation, kept here as the comparison).

Run: python bench/data_pipeline.py [--repeats 2]
"""
# ruff: noqa: I001  (adambnn_tf must be imported before TensorFlow)

import argparse
import time

import adambnn_tf  # noqa: F401
import tensorflow as tf

from adambnn_tf.data import load_dataset, load_fashion_mnist_arrays

BATCH = 128


def _epoch_seconds(dataset: tf.data.Dataset, steps: int) -> float:
    start = time.perf_counter()
    for _ in dataset.take(steps):
        pass
    return time.perf_counter() - start


def _per_image(images, labels) -> tf.data.Dataset:
    def prepare(position, example):
        image, label = example
        image = (tf.cast(image, tf.float32) / 255.0 - 0.2860) / 0.3530
        seed = tf.stack([tf.constant(0, tf.int64), position])
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
        padded = tf.pad(image, [[2, 2], [2, 2], [0, 0]])
        image = tf.image.stateless_random_crop(padded, size=(28, 28, 1), seed=crop_seed)
        return tf.image.stateless_random_flip_left_right(image, seed=flip_seed), label

    return (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .shuffle(len(labels), seed=0, reshuffle_each_iteration=False)
        .enumerate()
        .map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(BATCH, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="epochs per variant; best is kept")
    args = parser.parse_args()
    images, labels = load_fashion_mnist_arrays("train")
    images = images[..., None]
    steps = len(labels) // BATCH
    variants = {
        "raw arrays, no preprocessing": tf.data.Dataset.from_tensor_slices((images, labels))
        .batch(BATCH, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE),
        "load_dataset, augment=False": load_dataset(
            "fashion_mnist", "train", batch_size=BATCH
        ).dataset,
        "load_dataset, augment=True": load_dataset(
            "fashion_mnist", "train", batch_size=BATCH, augment=True
        ).dataset,
        "per-image map, augment": _per_image(images, labels),
    }
    best = {}
    for _ in range(args.repeats):  # interleaved, so that machine load hits every variant
        for name, dataset in variants.items():
            seconds = _epoch_seconds(dataset, steps)
            best[name] = min(best.get(name, seconds), seconds)
    floor = best["raw arrays, no preprocessing"]
    print(f"| variant | seconds per epoch ({steps * BATCH} images) | images/s | x raw |")
    print("|---|---|---|---|")
    for name, seconds in best.items():
        print(
            f"| {name} | {seconds:.2f} | {steps * BATCH / seconds:,.0f} | {seconds / floor:.1f} |"
        )


if __name__ == "__main__":
    main()
