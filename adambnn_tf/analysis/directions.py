r"""Filter-normalised random directions (Li et al., 2018), the axes of a loss landscape.

A direction `d` has one tensor per weight tensor `w`. For a kernel, each *filter* of `d` (one
output channel: the last axis of a Keras convolution or dense kernel) is rescaled to the norm
of the same filter of `w`,

\\[
d_{i,j} \leftarrow \frac{d_{i,j}}{\lVert d_{i,j} \rVert} \, \lVert w_{i,j} \rVert ,
\\]

so that a step along `d` changes every filter by the same fraction of its size; plain random
directions would be dominated by the layers with the largest weights, and scale-invariant
layers (a kernel before BatchNorm, a binarized kernel `mean|w| * sign(w)`) would look flat or
sharp only because of their weight norms. A filter whose weights are all zero gets a zero
direction.

!!! example
    ```python
    first, second = random_directions([w.numpy() for w in kernels], seed=0)
    ```

# References
    - [Visualizing the Loss Landscape of Neural Nets](https://arxiv.org/abs/1712.09913)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["filter_normalize", "random_directions"]


def filter_normalize(direction: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rescales each filter (last axis) of `direction` to the norm of the filter of `weights`.

    # Arguments
        direction: a random direction for `weights`, the same shape, rank 2 or more.
        weights: the weights, output channels on the last axis.

    # Returns
        The normalised direction (a new array).

    # Raises
        ValueError: for different shapes or a rank below 2 (1-D tensors have no filters).
    """
    direction = np.asarray(direction, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if direction.shape != weights.shape:
        raise ValueError(
            f"the direction's shape {direction.shape} differs from the weights' {weights.shape}."
        )
    if weights.ndim < 2:
        raise ValueError(
            f"filter normalisation needs a kernel (rank 2 or more), got shape {weights.shape}."
        )
    axes = tuple(range(weights.ndim - 1))
    direction_norms = np.sqrt(np.sum(direction**2, axis=axes))
    weight_norms = np.sqrt(np.sum(weights**2, axis=axes))
    scale = np.divide(
        weight_norms, direction_norms, out=np.zeros_like(weight_norms), where=direction_norms > 0
    )
    return direction * scale


def random_directions(
    weights: Sequence[np.ndarray], *, seed: int = 0, count: int = 2
) -> list[list[np.ndarray]]:
    """Draws `count` independent Gaussian directions and filter-normalises each.

    # Arguments
        weights: the kernels a landscape perturbs (rank 2 or more each).
        seed: the random seed; the same seed gives the same directions.
        count: how many directions.

    # Returns
        `count` directions, each a list with one array per weight tensor (float32).
    """
    rng = np.random.default_rng(seed)
    return [
        [filter_normalize(rng.standard_normal(np.shape(w)), w).astype(np.float32) for w in weights]
        for _ in range(count)
    ]
