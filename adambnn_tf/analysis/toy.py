r"""The paper's two-node toy (AdamBNN Fig. 6): why Adam crosses a zero-gradient region that
stalls SGD.

The network has two binary nodes with learnable thresholds `w = (w1, w2)`, RSign-like:

\\[
h_i(x) = \mathrm{sign}(x + w_i), \qquad y(x) = a_1 h_1(x) + a_2 h_2(x),
\\]

a fixed weighted sum of the two nodes (`a = (0.25, 1)`: two channels whose gradients differ
in scale, as the paper's unfairly trained channels of Sec. 3.2.2), evaluated on a batch of
two inputs `x = +1.2` and `x = -1.2`. The loss is the margin loss

\\[
L(w) = \frac{1}{2}\sum_{x} \big(a_1 + a_2 - y(x)\big) = \sum_i a_i \big(1 - \overline{h_i}\big),
\\]

zero exactly when both nodes output +1 on both inputs (`w1, w2 > 1.2`).

- **Forward surface** (panel a): `L` with `sign`, piecewise constant: it takes one of the
  values the sign patterns of the four node outputs give, with steps where `x + w_i = 0`, and
  zero gradient everywhere else.
- **Backward surface** (panel b): the surrogate the backward pass differentiates, `sign`
  replaced by `clip(-1, u, 1)` (the straight-through estimator). Its gradient in `w_i` is
  non-zero only while `|x + w_i| < 1` for one of the inputs, i.e. for `0.2 < |w_i| < 2.2`:
  each example contributes only inside `[-1, 1]^2` of its node inputs, and outside it the
  gradient is zero in at least one direction. Between the windows, `|w_i| < 0.2` is a band
  where both inputs saturate and the gradient in `w_i` is exactly zero (the batch of two
  makes it a band that can be crossed; with one input the flat regions are half-planes).
- **Trajectories** (panels c, d): full-batch SGD with momentum, `v_t = 0.9 v_{t-1} + g_t`,
  `w_t = w_{t-1} - lr v_t` (the paper's form), and Adam (`beta1 = 0.9`, `beta2 = 0.999`,
  `eps = 1e-8`, bias-corrected), both from `w0 = (-1.6, -1.6)` on the surrogate's gradient.
  Adam's learning rate is 0.06; SGD's is set so that on the starting slope its steady-state
  step, `lr |g| / (1 - 0.9)`, has the length of Adam's, `0.06 sqrt(2)`: both move equally
  fast, only the direction differs. SGD follows the gradient, four times steeper in `w2`
  than in `w1`, so `w1` creeps; when it enters the zero-gradient band its momentum carries it
  about 0.2, not the 0.4 across, and it stalls there for good (one node still outputs -1 on
  one input: loss 0.25). Adam normalises each coordinate by its own gradient history, so
  `w1` moves as fast as `w2`, and its momentum carries both across the band to the global
  minimum (loss 0). A larger SGD learning rate (about 3x) also crosses: the toy shows the
  per-coordinate normalisation, not a tuned race.

Everything is NumPy and deterministic; `run_toy()` takes milliseconds.

!!! example
    ```python
    from adambnn_tf.analysis.toy import run_toy

    result = run_toy()
    print(result.sgd.final_forward_loss, result.adam.final_forward_loss)  # 0.25 0.0
    ```
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from adambnn_tf._files import write_atomically

__all__ = [
    "ToyNetwork",
    "ToyResult",
    "Trajectory",
    "adam_trajectory",
    "matched_sgd_learning_rate",
    "run_toy",
    "sgd_trajectory",
    "write_toy",
]

TOY_FIGURE = "toy.png"
TOY_JSON = "toy.json"


@dataclasses.dataclass(frozen=True)
class ToyNetwork:
    """Two binary nodes `sign(x + w_i)` summed with weights `a_i` over a batch of inputs.

    # Arguments
        inputs: the batch of inputs `x`.
        output_weights: the fixed weights `a_i` of the two nodes in the output.
    """

    inputs: tuple[float, ...] = (1.2, -1.2)
    output_weights: tuple[float, float] = (0.25, 1.0)

    def _node_inputs(self, w: np.ndarray) -> np.ndarray:
        """`u[..., i, k] = x_k + w_i` for weights of shape `(..., 2)`."""
        return np.asarray(w, dtype=np.float64)[..., :, None] + np.asarray(self.inputs)

    def _loss(self, node_outputs: np.ndarray) -> np.ndarray:
        a = np.asarray(self.output_weights)
        return np.sum(a * (1.0 - node_outputs.mean(axis=-1)), axis=-1)

    def forward_loss(self, w: np.ndarray) -> np.ndarray:
        """The loss the forward pass computes, with `sign` (+1 at 0, as Larq's).

        # Arguments
            w: thresholds, shape `(..., 2)`.

        # Returns
            The loss, shape `(...)`.
        """
        return self._loss(np.where(self._node_inputs(w) >= 0, 1.0, -1.0))

    def loss_of_node_outputs(self, node_outputs: np.ndarray) -> np.ndarray:
        """The loss for given node outputs `h[..., i, k]` (node `i`, input `k`)."""
        return self._loss(np.asarray(node_outputs, dtype=np.float64))

    def surrogate_loss(self, w: np.ndarray) -> np.ndarray:
        """The surface the backward pass optimises: `sign` replaced by `clip(-1, u, 1)`.

        # Arguments
            w: thresholds, shape `(..., 2)`.

        # Returns
            The surrogate loss, shape `(...)`.
        """
        return self._loss(np.clip(self._node_inputs(w), -1.0, 1.0))

    def surrogate_gradient(self, w: np.ndarray) -> np.ndarray:
        """The gradient a BNN's backward pass gives: the surrogate loss's, exactly.

        # Arguments
            w: thresholds, shape `(..., 2)`.

        # Returns
            `dL/dw`, shape `(..., 2)`: `-a_i * mean_k 1[|x_k + w_i| < 1]`.
        """
        active = np.abs(self._node_inputs(w)) < 1.0
        return -np.asarray(self.output_weights) * active.mean(axis=-1)

    def minimum_loss(self) -> float:
        """The forward loss's global minimum (all node outputs +1)."""
        return float(self._loss(np.ones((2, len(self.inputs)))))


@dataclasses.dataclass
class Trajectory:
    """One optimizer's path on the toy.

    # Attributes
        optimizer: `"sgd"` or `"adam"`.
        learning_rate: its learning rate.
        weights: the iterates `w_0 .. w_T`, shape `(T + 1, 2)`.
        forward_losses: the forward loss at each iterate.
        surrogate_losses: the surrogate loss at each iterate.
        zero_gradient_steps: how many of the `T` steps started where the surrogate gradient is
            exactly zero in both directions.
        zero_gradient_steps_above_minimum: of those, the steps taken while the forward loss
            was above its minimum: coasting across a flat region, or stuck in it for good.
        steps_to_minimum: the first step at which the forward loss reached its minimum
            (`None`: never).
    """

    optimizer: str
    learning_rate: float
    weights: np.ndarray
    forward_losses: np.ndarray
    surrogate_losses: np.ndarray
    zero_gradient_steps: int
    zero_gradient_steps_above_minimum: int
    steps_to_minimum: int | None

    @property
    def final_forward_loss(self) -> float:
        return float(self.forward_losses[-1])

    @property
    def final_surrogate_loss(self) -> float:
        return float(self.surrogate_losses[-1])

    def summary(self) -> dict:
        """The numbers of the trajectory, JSON-ready (the path included)."""
        return {
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            "steps": len(self.weights) - 1,
            "final_weights": self.weights[-1].tolist(),
            "final_forward_loss": self.final_forward_loss,
            "final_surrogate_loss": self.final_surrogate_loss,
            "zero_gradient_steps": self.zero_gradient_steps,
            "zero_gradient_steps_above_minimum": self.zero_gradient_steps_above_minimum,
            "steps_to_minimum": self.steps_to_minimum,
            "weights": self.weights.tolist(),
        }


def _trajectory(network: ToyNetwork, name: str, learning_rate: float, step, start, steps):
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    if learning_rate <= 0:
        raise ValueError(f"the learning rate must be positive, got {learning_rate}.")
    w = np.asarray(start, dtype=np.float64)
    path, zero, above = [w], 0, 0
    minimum = network.minimum_loss()
    for t in range(1, steps + 1):
        gradient = network.surrogate_gradient(w)
        if not gradient.any():
            zero += 1
            above += int(network.forward_loss(w) > minimum)
        w = step(w, gradient, t)
        path.append(w)
    weights = np.stack(path)
    forward = network.forward_loss(weights)
    at_minimum = np.flatnonzero(forward <= minimum)
    return Trajectory(
        optimizer=name,
        learning_rate=float(learning_rate),
        weights=weights,
        forward_losses=forward,
        surrogate_losses=network.surrogate_loss(weights),
        zero_gradient_steps=zero,
        zero_gradient_steps_above_minimum=above,
        steps_to_minimum=int(at_minimum[0]) if len(at_minimum) else None,
    )


def sgd_trajectory(
    network: ToyNetwork,
    start,
    *,
    learning_rate: float,
    momentum: float = 0.9,
    steps: int = 150,
) -> Trajectory:
    """SGD with momentum as the paper writes it: `v_t = momentum v_{t-1} + g_t`,
    `w_t = w_{t-1} - learning_rate v_t` (PyTorch's SGD, no dampening).

    # Arguments
        network: the toy.
        start: `w_0`.
        learning_rate: the step size.
        momentum: the momentum factor.
        steps: the number of updates.

    # Returns
        The `Trajectory`.
    """
    velocity = np.zeros(2)

    def step(w, gradient, t):
        nonlocal velocity
        velocity = momentum * velocity + gradient
        return w - learning_rate * velocity

    return _trajectory(network, "sgd", learning_rate, step, start, steps)


def adam_trajectory(
    network: ToyNetwork,
    start,
    *,
    learning_rate: float,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-8,
    steps: int = 150,
) -> Trajectory:
    r"""Adam (Kingma & Ba), bias-corrected:
    `w_t = w_{t-1} - lr m_hat / (sqrt(v_hat) + eps)`.

    # Arguments
        network: the toy.
        start: `w_0`.
        learning_rate: the step size.
        beta_1: the first moment's decay.
        beta_2: the second moment's decay.
        epsilon: added to `sqrt(v_hat)`.
        steps: the number of updates.

    # Returns
        The `Trajectory`.
    """
    first, second = np.zeros(2), np.zeros(2)

    def step(w, gradient, t):
        nonlocal first, second
        first = beta_1 * first + (1 - beta_1) * gradient
        second = beta_2 * second + (1 - beta_2) * gradient**2
        first_hat = first / (1 - beta_1**t)
        second_hat = second / (1 - beta_2**t)
        return w - learning_rate * first_hat / (np.sqrt(second_hat) + epsilon)

    return _trajectory(network, "adam", learning_rate, step, start, steps)


def matched_sgd_learning_rate(
    network: ToyNetwork, start, adam_learning_rate: float, momentum: float = 0.9
) -> float:
    """The SGD learning rate whose steady-state step on the starting gradient has the length
    of Adam's: `lr |g| / (1 - momentum) = adam_lr sqrt(n)`, `n` the coordinates that move."""
    gradient = network.surrogate_gradient(np.asarray(start, dtype=np.float64))
    moving = np.count_nonzero(gradient)
    return float(adam_learning_rate * np.sqrt(moving) * (1 - momentum) / np.linalg.norm(gradient))


@dataclasses.dataclass
class ToyResult:
    """The toy's surfaces and trajectories.

    # Attributes
        network: the toy network.
        axis: the grid of `w1` (and `w2`) values of the surfaces.
        forward: the forward loss on the grid, `forward[j, i]` at `(axis[i], axis[j])`.
        surrogate: the surrogate loss on the same grid.
        sgd: SGD's trajectory.
        adam: Adam's trajectory.
    """

    network: ToyNetwork
    axis: np.ndarray
    forward: np.ndarray
    surrogate: np.ndarray
    sgd: Trajectory
    adam: Trajectory

    def summary(self) -> dict:
        """What the toy shows, JSON-ready."""
        return {
            "network": {
                "nodes": "h_i(x) = sign(x + w_i); surrogate: clip(-1, x + w_i, 1)",
                "output": "y(x) = a1 h1(x) + a2 h2(x)",
                "loss": "mean over x of (a1 + a2 - y(x))",
                "inputs": list(self.network.inputs),
                "output_weights": list(self.network.output_weights),
                "minimum_loss": self.network.minimum_loss(),
            },
            "start": self.sgd.weights[0].tolist(),
            "forward_loss_values": sorted({round(float(v), 12) for v in self.forward.ravel()}),
            "sgd": self.sgd.summary(),
            "adam": self.adam.summary(),
        }


def run_toy(
    *,
    start: tuple[float, float] = (-1.6, -1.6),
    adam_learning_rate: float = 0.06,
    sgd_learning_rate: float | None = None,
    steps: int = 150,
    grid: int = 241,
    extent: float = 3.0,
    network: ToyNetwork | None = None,
) -> ToyResult:
    """Computes the toy's surfaces and both optimizers' trajectories.

    # Arguments
        start: the common starting point `w_0`.
        adam_learning_rate: Adam's learning rate.
        sgd_learning_rate: SGD's; by default matched to Adam's (equal steady-state step
            length on the starting slope, see the module docstring).
        steps: the updates each optimizer makes.
        grid: points per axis of the surfaces.
        extent: the surfaces cover `[-extent, extent]^2`.
        network: the toy network (default: the one documented above).

    # Returns
        A `ToyResult`.

    # Raises
        ValueError: for fewer than 1 step, a grid below 2 points, a non-positive extent or
            learning rate, or a start where the surrogate gradient is zero.
    """
    network = network or ToyNetwork()
    if grid < 2:
        raise ValueError(f"grid must be at least 2 points per axis, got {grid}.")
    if extent <= 0:
        raise ValueError(f"extent must be positive, got {extent}.")
    if not network.surrogate_gradient(np.asarray(start, dtype=np.float64)).any():
        raise ValueError(f"the surrogate gradient is zero at start={start}: nothing would move.")
    if sgd_learning_rate is None:
        sgd_learning_rate = matched_sgd_learning_rate(network, start, adam_learning_rate)
    axis = np.linspace(-extent, extent, grid)
    plane = np.stack(np.meshgrid(axis, axis), axis=-1)
    return ToyResult(
        network=network,
        axis=axis,
        forward=network.forward_loss(plane),
        surrogate=network.surrogate_loss(plane),
        sgd=sgd_trajectory(network, start, learning_rate=sgd_learning_rate, steps=steps),
        adam=adam_trajectory(network, start, learning_rate=adam_learning_rate, steps=steps),
    )


def write_toy(out_dir: str | os.PathLike, result: ToyResult | None = None) -> tuple[str, str]:
    """Writes the toy's figure and numbers, `OUT_DIR/toy.png` and `OUT_DIR/toy.json`, each
    atomically.

    # Arguments
        out_dir: the folder (created if needed).
        result: the toy to write (default: `run_toy()`).

    # Returns
        The paths of the figure and the JSON file.
    """
    from adambnn_tf.analysis.figures import plot_toy

    result = result or run_toy()
    figure = plot_toy(result, os.path.join(out_dir, TOY_FIGURE))
    numbers = os.path.join(out_dir, TOY_JSON)
    write_atomically(numbers, json.dumps(result.summary(), indent=2) + "\n")
    return figure, numbers
