"""Deterministic per-epoch data order, so that a resumed run sees the same batches."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from adambnn_tf.data.seeds import epoch_seed, stage_seed

__all__ = ["training_dataset"]

TrainData = tf.data.Dataset | Callable[[int, int], tf.data.Dataset]


def _epoch_dataset(
    data: TrainData,
    stage: int,
    epoch,
    seed: int,
    shuffle_buffer: int | None,
    batch_size: int | None,
) -> tf.data.Dataset:
    if callable(data) and not isinstance(data, tf.data.Dataset):
        return data(stage, int(epoch))
    dataset = data
    if shuffle_buffer:
        shuffle_seed = epoch_seed(
            tf.constant(stage_seed(seed, stage), tf.int64), tf.cast(epoch, tf.int64)
        )
        dataset = dataset.shuffle(shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
    if batch_size:
        dataset = dataset.batch(batch_size)
    return dataset


def steps_per_epoch_of(data: TrainData, stage: int, shuffle_buffer, batch_size) -> int:
    """The number of batches of one epoch, from the dataset's cardinality.

    # Raises
        ValueError: if the cardinality is unknown or infinite.
    """
    dataset = _epoch_dataset(data, stage, 0, 0, None, batch_size)
    steps = int(dataset.cardinality().numpy())
    if steps <= 0:
        raise ValueError(
            "The number of batches per epoch of train_data is unknown or infinite "
            f"(cardinality {steps}). Pass steps_per_epoch=..., or give the dataset a known "
            "size with dataset.apply(tf.data.experimental.assert_cardinality(n))."
        )
    return steps


def training_dataset(
    data: TrainData,
    stage: int,
    first_epoch: int,
    epochs: int,
    seed: int,
    shuffle_buffer: int | None = None,
    batch_size: int | None = None,
) -> tf.data.Dataset:
    """The batches of epochs `first_epoch .. epochs-1` of a stage, in one dataset for `fit`.

    Epoch `k` of stage `s` always has the same order, whichever epoch the run started from:

    - a `tf.data.Dataset` is shuffled per epoch with seed `epoch_seed(stage_seed(seed, s), k)`
      (`adambnn_tf.data.seeds`, when `shuffle_buffer` is given) and batched (when
      `batch_size` is given);
    - a callable `(stage, epoch) -> tf.data.Dataset` gives each epoch's batches itself
      (use it for augmentation seeded per epoch, e.g. with stateless random ops).

    # Arguments
        data: a dataset, or a callable as above.
        stage: the stage (1 or 2).
        first_epoch: the first epoch to produce (the resume point).
        epochs: the number of epochs of the stage.
        seed: the run's seed.
        shuffle_buffer: the shuffle buffer size for a dataset, or `None` not to shuffle.
        batch_size: the batch size for an unbatched dataset, or `None` if already batched.

    # Returns
        A dataset of the batches of all remaining epochs, in order.
    """
    if callable(data) and not isinstance(data, tf.data.Dataset):
        datasets = [data(stage, epoch) for epoch in range(first_epoch, epochs)]
        combined = datasets[0]
        for dataset in datasets[1:]:
            combined = combined.concatenate(dataset)
        # Keras' `fit` opens a second iterator over a dataset whose cardinality equals
        # `steps_per_epoch` (one remaining epoch of a resumed run), and a dataset that
        # reshuffles on each iteration would then give that epoch another order than an
        # uninterrupted run gave it. An unknown cardinality keeps one iterator for the whole fit.
        return combined.filter(lambda *_: True)
    return (
        tf.data.Dataset.range(first_epoch, epochs)
        .flat_map(
            lambda epoch: _epoch_dataset(data, stage, epoch, seed, shuffle_buffer, batch_size)
        )
        .prefetch(tf.data.AUTOTUNE)
    )
