r"""Loss landscapes (Li et al., 2018) of a BNN and of its float twin, around the same weights.

The landscape is the loss on a fixed set of images on the plane through the trained weights
`w` spanned by two random, filter-normalised directions `d1`, `d2`
(`adambnn_tf.analysis.directions`):

\\[
f(\alpha, \beta) = L(w + \alpha d_1 + \beta d_2), \qquad \alpha, \beta \in [-r, r].
\\]

- **What is perturbed**: every kernel (trainable weight of rank 2 or more: the binary
  convolutions' latent weights, the real stem, the classifier). 1-D parameters (biases,
  BatchNorm's scale and offset, RSign thresholds, RPReLU, LearnableBias) get zero in both
  directions, Li et al.'s `ignore="biasbn"` setting; BatchNorm's moving statistics are not
  parameters and stay as they are.
- **The BNN**: its latent weights are perturbed, and the forward pass binarizes them as in
  training (`mean|w| * sign(w)` in stage 2), with binary activations: the loss the BNN
  actually has, in inference mode.
- **The float twin** (`adambnn_tf.analysis.twin`): the same network without
  binarizers, loaded with the BNN's latent weights, so both landscapes are drawn around the
  same point along the same directions (the directions are normalised by the BNN's latent
  weights). Its BatchNorm statistics are re-estimated on the same images first
  (`recalibrate_batch_norm`) and then kept fixed over the plane.
- **Steepness**: the mean loss rise on a circle of fixed radius in the plane
  (`rise_at_probe_radius`, 16 points), and the largest Hessian eigenvalue in the kernels by
  power iteration (`adambnn_tf.analysis.curvature`; for the BNN, of its surrogate gradient).

The loss is the mean sparse categorical cross-entropy (no label smoothing, no weight decay),
with the accuracy at the centre for reference.

!!! example
    ```python
    comparison = compare_landscapes(bnn, twin, images, labels, grid=11, radius=1.0)
    print(comparison.bnn.rise_at_probe_radius, comparison.twin.rise_at_probe_radius)
    ```

# References
    - [Visualizing the Loss Landscape of Neural Nets](https://arxiv.org/abs/1712.09913)
    - [How Do Adam and Training Strategies Help BNNs Optimization?
      ](https://arxiv.org/abs/2106.11309), Fig. 1
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from adambnn_tf.analysis.curvature import top_hessian_eigenvalue
from adambnn_tf.analysis.directions import random_directions
from adambnn_tf.analysis.twin import binary_layers, recalibrate_batch_norm

__all__ = [
    "LandscapeComparison",
    "LossSurface",
    "check_landscape_options",
    "compare_landscapes",
    "loss_surface",
    "outputs_logits",
    "perturbed_variables",
]

PROBE_ANGLES = 16


def check_landscape_options(
    *,
    grid: int,
    radius: float,
    probe_radius: float,
    hessian_iterations: int,
    batch_size: int,
    examples: int | None = None,
) -> None:
    """Refuses landscape settings that would fail or mislead, before any work is done.

    # Arguments
        grid: points per axis; odd and at least 3, so that the trained weights are the
            centre of the grid.
        radius: the half-width of the plane, above 0.
        probe_radius: the radius of the steepness circle, above 0.
        hessian_iterations: power-iteration steps, 0 to skip the eigenvalue.
        batch_size: at least 1.
        examples: when given, at least 1.

    # Raises
        ValueError: naming the setting and what it accepts.
    """
    if (
        isinstance(grid, bool)
        or not isinstance(grid, int | np.integer)
        or grid < 3
        or grid % 2 == 0
    ):
        raise ValueError(
            f"the grid must be an odd number of points per axis, at least 3 (the trained "
            f"weights at its centre), got {grid!r}."
        )
    for name, value in (("radius", radius), ("probe radius", probe_radius)):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"the {name} must be a positive number, got {value!r}.")
    if hessian_iterations < 0:
        raise ValueError(
            f"hessian_iterations must be 0 (skip) or more, got {hessian_iterations!r}."
        )
    if batch_size < 1:
        raise ValueError(f"the batch size must be at least 1, got {batch_size!r}.")
    if examples is not None and examples < 1:
        raise ValueError(f"the number of examples must be at least 1, got {examples!r}.")


def outputs_logits(model: tf.keras.Model) -> bool:
    """Whether `model` ends in logits rather than a softmax (larq-zoo's `"predictions"`)."""
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", None) != "softmax"


def perturbed_variables(model: tf.keras.Model) -> list[tf.Variable]:
    """The variables a landscape perturbs: the trainable kernels (rank 2 or more).

    For a Larq layer these are its latent weights (`QuantizedVariable`s, which read and
    assign the latent values).
    """
    return [v for v in model.trainable_weights if len(v.shape) >= 2]


def _loss_and_accuracy(model: tf.keras.Model, images, labels, batch_size: int):
    """A function returning the model's mean cross-entropy and accuracy on the images."""
    loss_object = tf.keras.losses.SparseCategoricalCrossentropy(
        from_logits=outputs_logits(model), reduction="sum"
    )

    images, labels = np.asarray(images), np.asarray(labels)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, *images.shape[1:]], tf.as_dtype(images.dtype)),
            tf.TensorSpec([None, *labels.shape[1:]], tf.as_dtype(labels.dtype)),
        ]
    )
    def batch(x, y):
        outputs = model(x, training=False)
        correct = tf.equal(tf.argmax(outputs, axis=-1, output_type=tf.int64), tf.cast(y, tf.int64))
        return loss_object(y, outputs), tf.reduce_sum(tf.cast(correct, tf.float32))

    batches = [
        (
            tf.constant(images[start : start + batch_size]),
            tf.constant(labels[start : start + batch_size]),
        )
        for start in range(0, len(images), batch_size)
    ]

    def evaluate() -> tuple[float, float]:
        loss, correct = 0.0, 0.0
        for x, y in batches:
            batch_loss, batch_correct = batch(x, y)
            loss += float(batch_loss)
            correct += float(batch_correct)
        return loss / len(images), correct / len(images)

    return evaluate


@dataclasses.dataclass
class LossSurface:
    """One model's loss on the landscape plane.

    # Attributes
        name: what the surface is of (`"BNN"`, `"float twin"`).
        coordinates: the grid's values of `alpha` (and of `beta`), shape `(grid,)`.
        losses: `losses[j, i]` is the loss at `alpha = coordinates[i]`,
            `beta = coordinates[j]`.
        origin_loss: the loss at the trained weights.
        origin_accuracy: the accuracy at the trained weights.
        probe_radius: the radius of the steepness circle.
        probe_losses: the losses at `PROBE_ANGLES` equally spaced points of that circle.
        hessian_eigenvalue: the largest-magnitude Hessian eigenvalue estimate in the kernels
            (`None` when skipped).
        hessian_history: its estimate at each power-iteration step.
        seconds: the wall time this surface took.
    """

    name: str
    coordinates: np.ndarray
    losses: np.ndarray
    origin_loss: float
    origin_accuracy: float
    probe_radius: float
    probe_losses: np.ndarray
    hessian_eigenvalue: float | None = None
    hessian_history: list[float] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def rise_at_probe_radius(self) -> float:
        """The mean loss rise from the centre to the probe circle: the steepness."""
        return float(np.mean(self.probe_losses) - self.origin_loss)

    def summary(self) -> dict:
        """The surface and its steepness, JSON-ready."""
        return {
            "origin_loss": self.origin_loss,
            "origin_accuracy": self.origin_accuracy,
            "probe_radius": self.probe_radius,
            "rise_at_probe_radius": self.rise_at_probe_radius,
            "probe_losses": self.probe_losses.tolist(),
            "hessian_eigenvalue": self.hessian_eigenvalue,
            "hessian_history": self.hessian_history,
            "min_loss": float(np.min(self.losses)),
            "max_loss": float(np.max(self.losses)),
            "seconds": self.seconds,
            "losses": self.losses.tolist(),
        }


def loss_surface(
    model: tf.keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    directions: Sequence[Sequence[np.ndarray]],
    *,
    coordinates: np.ndarray,
    name: str = "model",
    probe_radius: float = 0.25,
    hessian_iterations: int = 0,
    batch_size: int = 256,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> LossSurface:
    """Evaluates `model`'s loss on the plane `w + alpha d1 + beta d2`.

    The model's kernels (`perturbed_variables`) are moved to each point and restored at the
    end, also when an error interrupts it.

    # Arguments
        model: the model, at its trained weights.
        images: the images of the loss.
        labels: their integer labels.
        directions: `(d1, d2)`, one array per perturbed variable each.
        coordinates: the values of `alpha` and of `beta`.
        name: what the surface is of.
        probe_radius: the radius of the steepness circle.
        hessian_iterations: power-iteration steps for the Hessian eigenvalue (0: skip).
        batch_size: examples per forward pass.
        seed: the seed of the power iteration's starting vector.
        progress: called with a line of progress per grid row.

    # Returns
        A `LossSurface`.

    # Raises
        ValueError: when the directions do not fit the model's kernels.
    """
    started = time.perf_counter()
    variables = perturbed_variables(model)
    first, second = directions
    shapes = [tuple(v.shape) for v in variables]
    for direction in (first, second):
        if [np.shape(d) for d in direction] != shapes:
            raise ValueError(f"the directions do not fit {name}'s kernels {shapes}.")
    base = [v.numpy() for v in variables]
    evaluate = _loss_and_accuracy(model, images, labels, batch_size)

    def loss_at(alpha: float, beta: float) -> float:
        for variable, w, d1, d2 in zip(variables, base, first, second, strict=True):
            variable.assign((w + alpha * d1 + beta * d2).astype(np.float32))
        return evaluate()[0]

    coordinates = np.asarray(coordinates, dtype=np.float64)
    losses = np.zeros((len(coordinates), len(coordinates)))
    try:
        origin_loss, origin_accuracy = evaluate()
        for j, beta in enumerate(coordinates):
            for i, alpha in enumerate(coordinates):
                losses[j, i] = loss_at(alpha, beta)
            if progress is not None:
                progress(f"{name}: row {j + 1}/{len(coordinates)} of the grid")
        angles = np.linspace(0.0, 2 * np.pi, PROBE_ANGLES, endpoint=False)
        probe = np.array(
            [loss_at(probe_radius * np.cos(a), probe_radius * np.sin(a)) for a in angles]
        )
    finally:
        for variable, w in zip(variables, base, strict=True):
            variable.assign(w)
    surface = LossSurface(
        name=name,
        coordinates=coordinates,
        losses=losses,
        origin_loss=origin_loss,
        origin_accuracy=origin_accuracy,
        probe_radius=float(probe_radius),
        probe_losses=probe,
    )
    if hessian_iterations:
        if progress is not None:
            progress(f"{name}: Hessian eigenvalue, {hessian_iterations} power iterations")
        surface.hessian_eigenvalue, surface.hessian_history = top_hessian_eigenvalue(
            model,
            variables,
            images,
            labels,
            iterations=hessian_iterations,
            batch_size=batch_size,
            from_logits=outputs_logits(model),
            seed=seed,
        )
    surface.seconds = time.perf_counter() - started
    return surface


@dataclasses.dataclass
class LandscapeComparison:
    """A BNN's landscape and its float twin's, around the same weights.

    # Attributes
        bnn: the BNN's surface.
        twin: the float twin's surface.
        settings: how they were drawn (grid, radius, examples, seed, ...).
    """

    bnn: LossSurface
    twin: LossSurface
    settings: dict

    def summary(self) -> dict:
        """Settings, both surfaces and the steepness ratios, JSON-ready."""
        ratio = (
            self.bnn.rise_at_probe_radius / self.twin.rise_at_probe_radius
            if self.twin.rise_at_probe_radius
            else None
        )
        return {
            "settings": self.settings,
            "coordinates": self.bnn.coordinates.tolist(),
            "bnn": self.bnn.summary(),
            "float_twin": self.twin.summary(),
            "rise_ratio_bnn_to_twin": ratio,
        }


def _twin_description(trained: bool, recalibrated: bool) -> str:
    if trained:
        return "binary=False zoo model trained on its own, at its own weights and statistics"
    return "binary=False zoo model at the BNN's latent weights" + (
        ", BatchNorm statistics re-estimated on the same images" if recalibrated else ""
    )


def compare_landscapes(
    bnn: tf.keras.Model,
    twin: tf.keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    grid: int = 11,
    radius: float = 1.0,
    probe_radius: float = 0.25,
    hessian_iterations: int = 8,
    batch_size: int = 256,
    seed: int = 0,
    recalibrate_twin: bool = True,
    twin_trained: bool = False,
    progress: Callable[[str], None] | None = None,
) -> LandscapeComparison:
    """Draws the landscapes of a BNN and of its float twin along the same two directions.

    The twin is either the BNN's own weights in the real-valued network (the default:
    `adambnn_tf.analysis.twin.float_twin`), or a float twin trained on its own
    (`twin_trained=True`, the paper's comparison of two trained networks): each landscape is
    then drawn around its own weights, along the same two Gaussian draws filter-normalised by
    each network's own kernels, and the twin keeps its trained BatchNorm statistics.

    # Arguments
        bnn: the trained BNN.
        twin: its float twin (`binary=False`), at the BNN's latent weights or trained.
        images: the images of the loss (a fixed subset of the training data).
        labels: their integer labels.
        grid: points per axis (odd, at least 3).
        radius: the plane spans `[-radius, radius]^2` in units of the filter-normalised
            directions (1: every filter moved by up to its own norm along each axis).
        probe_radius: the radius of the steepness circle.
        hessian_iterations: power-iteration steps for the Hessian eigenvalues (0: skip).
        batch_size: examples per forward pass.
        seed: the seed of the directions and of the power iteration.
        recalibrate_twin: re-estimate the twin's BatchNorm statistics on `images` first
            (at the BNN's weights only; ignored with `twin_trained`).
        twin_trained: the twin was trained on its own (see above).
        progress: called with lines of progress.

    # Returns
        A `LandscapeComparison`.

    # Raises
        ValueError: for bad settings, a `bnn` without binary layers, a `twin` with binary
            layers, or kernels that differ between the two.
    """
    check_landscape_options(
        grid=grid,
        radius=radius,
        probe_radius=probe_radius,
        hessian_iterations=hessian_iterations,
        batch_size=batch_size,
        examples=len(images),
    )
    if not binary_layers(bnn):
        raise ValueError(
            f"{bnn.name} has no binary layers (no 1-bit Larq quantizer): the BNN side of "
            "the landscape needs a BNN, e.g. the final_model.h5 of an `adambnn train` run."
        )
    if binary_layers(twin):
        raise ValueError(
            f"the float twin {twin.name} has binary layers {binary_layers(twin)[:3]}...: "
            "build it with binary=False."
        )
    kernels = perturbed_variables(bnn)
    twin_kernels = perturbed_variables(twin)
    if [tuple(v.shape) for v in kernels] != [tuple(v.shape) for v in twin_kernels]:
        raise ValueError("the BNN's kernels and the float twin's differ in number or shape.")
    directions = random_directions([v.numpy() for v in kernels], seed=seed)
    twin_directions = directions
    if twin_trained:
        # The same draws (same seed and shapes), each filter scaled to the twin's own.
        twin_directions = random_directions([v.numpy() for v in twin_kernels], seed=seed)
    elif recalibrate_twin:
        recalibrate_batch_norm(twin, images, batch_size)
    coordinates = np.linspace(-radius, radius, grid)
    common = dict(
        coordinates=coordinates,
        probe_radius=probe_radius,
        hessian_iterations=hessian_iterations,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
    )
    settings = {
        "grid": int(grid),
        "radius": float(radius),
        "probe_radius": float(probe_radius),
        "probe_angles": PROBE_ANGLES,
        "examples": int(len(images)),
        "seed": int(seed),
        "hessian_iterations": int(hessian_iterations),
        "directions": "two Gaussian directions, filter-normalised (Li et al. 2018) by the "
        + ("kernels of each network" if twin_trained else "BNN's latent weights")
        + "; 1-D parameters (biases, BatchNorm, RSign thresholds, RPReLU, LearnableBias) "
        "not perturbed",
        "perturbed_parameters": int(sum(np.prod(v.shape) for v in kernels)),
        "loss": "mean sparse categorical cross-entropy, inference mode",
        "float_twin": _twin_description(twin_trained, recalibrate_twin),
    }
    return LandscapeComparison(
        bnn=loss_surface(bnn, images, labels, directions, name="BNN", **common),
        twin=loss_surface(twin, images, labels, twin_directions, name="float twin", **common),
        settings=settings,
    )
