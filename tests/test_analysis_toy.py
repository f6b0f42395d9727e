"""The two-node toy (adambnn_tf.analysis.toy): its surfaces, both optimizers' update formulas,
the outcome it claims, and `adambnn analyze toy`."""

import argparse
import itertools
import json

import numpy as np
import pytest

from adambnn_tf.analysis.toy import (
    ToyNetwork,
    adam_trajectory,
    matched_sgd_learning_rate,
    run_toy,
    sgd_trajectory,
)
from adambnn_tf.cli import analyze

NETWORK = ToyNetwork()
START = np.array([-1.6, -1.6])


def test_the_forward_surface_takes_only_the_values_of_the_sign_patterns():
    result = run_toy(grid=121)
    # Every pattern of the four node outputs (2 nodes x 2 inputs) in {-1, +1}.
    patterns = [
        NETWORK.loss_of_node_outputs(np.reshape(signs, (2, 2)))
        for signs in itertools.product((-1.0, 1.0), repeat=4)
    ]
    assert set(np.round(result.forward.ravel(), 12)) <= set(np.round(patterns, 12))
    # Piecewise constant: it only changes where some x + w_i crosses 0.
    w = np.array([0.3, -0.7])
    for step in (1e-3, 0.1):
        assert NETWORK.forward_loss(w + step) == NETWORK.forward_loss(w)
    assert NETWORK.forward_loss(np.array([1.19, 0.0])) != NETWORK.forward_loss(
        np.array([1.21, 0.0])
    )


def test_the_backward_surface_is_clipped_and_its_gradient_zero_outside_the_windows():
    rng = np.random.default_rng(0)
    points = rng.uniform(-3, 3, (200, 2))
    for w in points:
        gradient = NETWORK.surrogate_gradient(w)
        node_inputs = w[:, None] + np.asarray(NETWORK.inputs)
        for i in range(2):
            if np.all(np.abs(node_inputs[i]) > 1):  # every input saturates node i
                assert gradient[i] == 0
        # Away from the window edges the surface is linear: finite differences are exact.
        if np.all(np.abs(np.abs(node_inputs) - 1) > 1e-3):
            for i in range(2):
                step = np.eye(2)[i] * 1e-4
                difference = (
                    NETWORK.surrogate_loss(w + step) - NETWORK.surrogate_loss(w - step)
                ) / 2e-4
                assert difference == pytest.approx(gradient[i], abs=1e-9)
    # The band around w_i = 0 and the outer regions: zero gradient in both directions.
    for w in ([0.1, -0.1], [2.5, 0.0], [-2.5, 2.9]):
        assert not NETWORK.surrogate_gradient(np.array(w)).any()
    assert NETWORK.surrogate_loss(np.array([0.1, -0.1])) == NETWORK.surrogate_loss(np.zeros(2))


def test_the_first_steps_are_the_update_formulas():
    gradient = NETWORK.surrogate_gradient(START)
    sgd = sgd_trajectory(NETWORK, START, learning_rate=0.05, steps=2)
    np.testing.assert_allclose(sgd.weights[1], START - 0.05 * gradient)
    second = NETWORK.surrogate_gradient(sgd.weights[1])
    np.testing.assert_allclose(sgd.weights[2], sgd.weights[1] - 0.05 * (0.9 * gradient + second))

    adam = adam_trajectory(NETWORK, START, learning_rate=0.06, steps=1)
    # Bias-corrected moments of one step are g and g^2: a step of lr * g / (|g| + eps).
    np.testing.assert_allclose(adam.weights[1], START - 0.06 * gradient / (np.abs(gradient) + 1e-8))


def test_sgd_stalls_in_the_zero_gradient_band_and_adam_crosses_it():
    result = run_toy()
    sgd, adam = result.sgd, result.adam
    assert sgd.learning_rate == pytest.approx(matched_sgd_learning_rate(NETWORK, START, 0.06))
    assert abs(sgd.weights[-1][0]) < 0.2  # w1 inside the band |w1| < 0.2
    assert sgd.final_forward_loss == 0.25 and sgd.steps_to_minimum is None
    assert sgd.zero_gradient_steps == sgd.zero_gradient_steps_above_minimum > 50
    # At zero gradient only its momentum moves it, by 0.9^k of its last step: the point it
    # converges to is still inside the band, so it stalls for good.
    limit = sgd.weights[-1] + (sgd.weights[-1] - sgd.weights[-2]) * 0.9 / (1 - 0.9)
    assert abs(limit[0]) < 0.2
    assert adam.final_forward_loss == 0.0 and adam.steps_to_minimum is not None
    assert 0 < adam.zero_gradient_steps_above_minimum < 20  # the steps crossing the band
    again = run_toy()
    np.testing.assert_array_equal(again.adam.weights, adam.weights)
    np.testing.assert_array_equal(again.sgd.weights, sgd.weights)


def test_analyze_toy_writes_the_figure_and_the_numbers(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="adambnn", allow_abbrev=False)
    analyze.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["analyze", "toy", str(tmp_path / "out")])
    assert args.run(args) == 0
    assert (tmp_path / "out" / "toy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tmp_path / "out" / "toy.json").read_text())
    assert summary["sgd"]["final_forward_loss"] == 0.25
    assert summary["adam"]["final_forward_loss"] == 0.0
    assert "SGD" in capsys.readouterr().out

    (tmp_path / "file").write_text("x")
    for arguments, message in (
        (["toy", str(tmp_path / "file")], "is a file"),
        (["toy", str(tmp_path / "new"), "--steps", "0"], "--steps must be at least 1"),
    ):
        args = parser.parse_args(["analyze", *arguments])
        with pytest.raises(Exception, match=message):
            args.run(args)
    assert not (tmp_path / "new").exists()
