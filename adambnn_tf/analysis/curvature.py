r"""The largest Hessian eigenvalue of a model's loss, by power iteration on Hessian-vector
products.

For a real-valued network the Hessian-vector product `Hv` is the derivative of `g . v`, `g`
the loss gradient (double backpropagation), and power iteration converges to the eigenvalue
of largest magnitude, the sharpness of the minimum.

For a BNN the backward pass is not the derivative of its (piecewise constant) forward loss:
`g` is the surrogate gradient (ApproxSign, the clipped straight-through estimator), and the
same product differentiates that surrogate gradient field, `A v = d(g . v)/dw`. `A` is the
transposed Jacobian of the surrogate gradient, which need not be symmetric; the value
reported is the Rayleigh quotient `v . Av` at the iteration's last unit vector, i.e. the
curvature of the surrogate along that direction, which only depends on `A`'s symmetric part.

!!! example
    ```python
    eigenvalue, history = top_hessian_eigenvalue(model, kernels, images, labels, iterations=10)
    ```
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

__all__ = ["top_hessian_eigenvalue"]


def _hessian_vector_product(model, variables, loss_object, images, labels):
    # One trace for every batch size: tracing double backpropagation through a BNN's custom
    # gradients takes seconds.
    signature = [
        tf.TensorSpec([None, *images.shape[1:]], tf.as_dtype(images.dtype)),
        tf.TensorSpec([None, *labels.shape[1:]], tf.as_dtype(labels.dtype)),
        [tf.TensorSpec(v.shape, tf.float32) for v in variables],
    ]

    @tf.function(input_signature=signature)
    def product(images, labels, vector):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                loss = loss_object(labels, model(images, training=False))
            gradients = inner.gradient(loss, variables)
            projection = tf.add_n(
                [
                    tf.reduce_sum(g * v)
                    for g, v in zip(gradients, vector, strict=True)
                    if g is not None
                ]
            )
        products = outer.gradient(projection, variables)
        return [
            tf.zeros_like(v) if p is None else tf.convert_to_tensor(p)
            for p, v in zip(products, vector, strict=True)
        ]

    return product


def top_hessian_eigenvalue(
    model: tf.keras.Model,
    variables: Sequence[tf.Variable],
    images: np.ndarray,
    labels: np.ndarray,
    *,
    iterations: int = 10,
    batch_size: int = 256,
    from_logits: bool = True,
    seed: int = 0,
) -> tuple[float, list[float]]:
    """Estimates the eigenvalue of largest magnitude of the loss Hessian in `variables`.

    The loss is the mean sparse categorical cross-entropy over `images` (inference mode:
    BatchNorm uses its moving statistics), its Hessian-vector products summed over batches.

    # Arguments
        model: the model.
        variables: the variables of the Hessian (e.g. the kernels a landscape perturbs).
        images: the images.
        labels: their integer labels.
        iterations: power-iteration steps (at least 1).
        batch_size: examples per Hessian-vector product.
        from_logits: whether the model outputs logits.
        seed: the seed of the starting vector.

    # Returns
        `(eigenvalue, history)`: the Rayleigh quotient at the last step, and at every step
        (to judge convergence).

    # Raises
        ValueError: for fewer than 1 iteration or no variables.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}.")
    if not variables:
        raise ValueError("no variables to take the Hessian in.")
    loss_object = tf.keras.losses.SparseCategoricalCrossentropy(
        from_logits=from_logits, reduction="sum"
    )
    images, labels = np.asarray(images), np.asarray(labels)
    product = _hessian_vector_product(model, list(variables), loss_object, images, labels)
    rng = np.random.default_rng(seed)
    vector = [rng.standard_normal(v.shape).astype(np.float32) for v in variables]
    history = []
    for _ in range(iterations):
        norm = np.sqrt(sum(float(np.sum(v.astype(np.float64) ** 2)) for v in vector))
        vector = [v / norm for v in vector]
        total = [np.zeros(v.shape, np.float64) for v in vector]
        tensors = [tf.constant(v) for v in vector]
        for start in range(0, len(images), batch_size):
            parts = product(
                tf.constant(images[start : start + batch_size]),
                tf.constant(labels[start : start + batch_size]),
                tensors,
            )
            total = [t + p.numpy() for t, p in zip(total, parts, strict=True)]
        total = [t / len(images) for t in total]  # the sum-reduced loss, made a mean
        history.append(float(sum(np.sum(v * t) for v, t in zip(vector, total, strict=True))))
        vector = [t.astype(np.float32) for t in total]
        if not any(np.any(v) for v in vector):
            break  # a zero product: the Hessian vanishes along every direction tried
    return history[-1], history
