"""A fixed, class-stratified validation split carved from a training set.

Hyperparameters are chosen on it, so that the test split is read once, at the end. The split
depends only on the labels and `HOLDOUT_SEED`: every run of every recipe holds out the same
images, whatever its own seed.

!!! example
    ```python
    held_out = stratified_holdout(labels, 5000)  # boolean mask, 500 images per class
    train_labels, validation_labels = labels[~held_out], labels[held_out]
    ```
"""

from __future__ import annotations

import numpy as np

__all__ = ["HOLDOUT_SEED", "stratified_holdout"]

HOLDOUT_SEED = 2021
"""The seed of the held-out choice (fixed: the split is part of the dataset, not of a run)."""


def stratified_holdout(labels: np.ndarray, count: int, seed: int = HOLDOUT_SEED) -> np.ndarray:
    """Chooses `count` examples with the classes in the proportions of the whole set.

    Each class gets its share of `count` rounded down, and the examples left over go to the
    classes with the largest remainders (ties: the smaller label), so the total is exact.

    # Arguments
        labels: `(N,)` integer labels.
        count: how many examples to hold out, `0 < count < N`.
        seed: the seed of the choice within each class.

    # Returns
        A boolean mask of shape `(N,)`, true for the held-out examples.

    # Raises
        ValueError: for a count outside `(0, N)`.
    """
    labels = np.asarray(labels)
    if not 0 < count < len(labels):
        raise ValueError(
            f"A validation split of {count} examples cannot be carved from {len(labels)}; give "
            f"a number between 1 and {len(labels) - 1}."
        )
    classes, sizes = np.unique(labels, return_counts=True)
    exact = sizes * count / len(labels)
    shares = np.floor(exact).astype(int)
    by_remainder = np.lexsort((classes, -(exact - shares)))
    shares[by_remainder[: count - shares.sum()]] += 1
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for label, share in zip(classes, shares, strict=True):
        members = np.flatnonzero(labels == label)
        mask[rng.choice(members, size=share, replace=False)] = True
    return mask
