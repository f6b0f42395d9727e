"""The loss landscape (adambnn_tf.analysis): filter normalisation, the centre of the grid, the
float twin at the BNN's weights, the Hessian eigenvalue, the run-directory command and the
report, and bad input refused before anything is written."""

import argparse
import gzip
import json
import os
import struct

import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf.analysis import directions, landscape, run_landscape
from adambnn_tf.analysis.curvature import top_hessian_eigenvalue
from adambnn_tf.analysis.run_landscape import landscape_of_run, landscape_paths
from adambnn_tf.analysis.twin import binary_layers, float_twin, recalibrate_batch_norm
from adambnn_tf.cli import analyze
from adambnn_tf.config import RunConfig
from adambnn_tf.main_job import build_zoo_model

# No Hessian here: tracing double backpropagation through a zoo BNN takes ~10 s (it has its
# own test on a small BNN).
TINY = dict(grid=3, radius=0.5, probe_radius=0.25, hessian_iterations=0, batch_size=16)


def _models(width: float = 0.125):
    config = RunConfig().with_overrides({"model.width_multiplier": width})
    bnn = build_zoo_model(config.model, 2, (28, 28, 1), 10)
    return config, bnn, float_twin(config.model, bnn)


def _data(count: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((count, 28, 28, 1)).astype("float32"), rng.integers(0, 10, count)


def _mean_loss(model, images, labels) -> float:
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return float(loss(labels, model(images, training=False)))


@pytest.mark.parametrize("shape", [(3, 3, 4, 5), (6, 7)])
def test_each_filter_of_a_direction_has_the_norm_of_its_weight_filter(shape):
    rng = np.random.default_rng(0)
    weights = rng.standard_normal(shape)
    weights[..., 1] = 0.0  # an all-zero filter gets a zero direction
    normalised = directions.filter_normalize(rng.standard_normal(shape), weights)
    axes = tuple(range(len(shape) - 1))
    np.testing.assert_allclose(
        np.linalg.norm(normalised.reshape(-1, shape[-1]), axis=0),
        np.sqrt(np.sum(weights**2, axis=axes)),
        rtol=1e-12,
    )
    assert not normalised[..., 1].any()
    with pytest.raises(ValueError, match="rank 2 or more"):
        directions.filter_normalize(np.ones(3), np.ones(3))

    first, second = directions.random_directions([weights], seed=3)
    again, _ = directions.random_directions([weights], seed=3)
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.allclose(first[0], second[0])


def test_the_twin_holds_the_bnns_latent_weights_and_recalibrated_statistics():
    _, bnn, twin = _models()
    assert binary_layers(bnn) and not binary_layers(twin)
    for source, target in zip(
        landscape.perturbed_variables(bnn), landscape.perturbed_variables(twin), strict=True
    ):
        np.testing.assert_array_equal(source.numpy(), target.numpy())
    images, _ = _data(16)
    recalibrate_batch_norm(twin, images, batch_size=8)
    # The moving statistics are the average of the two batches' statistics.
    stem = tf.keras.Model(twin.input, twin.get_layer("stem_conv").output)(images).numpy()
    batch_means = [stem[:8].mean(axis=(0, 1, 2)), stem[8:].mean(axis=(0, 1, 2))]
    moving_mean = twin.get_layer("stem_bn").moving_mean.numpy()
    np.testing.assert_allclose(moving_mean, np.mean(batch_means, axis=0), rtol=1e-4, atol=1e-6)
    assert {layer.momentum for layer in twin.layers if hasattr(layer, "moving_mean")} == {0.9}


def test_the_centre_of_the_landscape_is_the_models_loss_on_the_subset():
    _, bnn, twin = _models()
    images, labels = _data()
    before = [v.numpy() for v in bnn.weights]
    comparison = landscape.compare_landscapes(bnn, twin, images, labels, **TINY)
    centre = TINY["grid"] // 2
    for surface, model in ((comparison.bnn, bnn), (comparison.twin, twin)):
        expected = _mean_loss(model, images, labels)
        assert surface.origin_loss == pytest.approx(expected, rel=1e-5)
        assert surface.losses[centre, centre] == pytest.approx(expected, rel=1e-5)
        assert np.ptp(surface.losses) > 0  # the directions move the loss
        assert surface.hessian_eigenvalue is None
    for value, variable in zip(before, bnn.weights, strict=True):  # weights restored
        np.testing.assert_array_equal(variable.numpy(), value)
    summary = json.loads(json.dumps(comparison.summary()))
    assert summary["bnn"]["losses"][centre][centre] == pytest.approx(comparison.bnn.origin_loss)
    assert summary["settings"]["perturbed_parameters"] == sum(
        int(np.prod(v.shape)) for v in landscape.perturbed_variables(bnn)
    )


def _filter_norms(array: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.reshape(array, (-1, np.shape(array)[-1])), axis=0)


def test_a_trained_twin_is_drawn_around_its_own_weights_and_statistics(monkeypatch):
    config, bnn, _ = _models()
    tf.keras.utils.set_random_seed(7)  # another initialisation than the BNN's
    twin_model = config.with_overrides({"model.binary": False}).model
    trained_twin = build_zoo_model(twin_model, 2, (28, 28, 1), 10)
    images, labels = _data()
    statistics = [v.numpy() for v in trained_twin.non_trainable_weights]
    drawn = {}
    original = landscape.loss_surface

    def spy(model, images, labels, directions, **options):
        drawn[options["name"]] = [[d.copy() for d in direction] for direction in directions]
        return original(model, images, labels, directions, **options)

    monkeypatch.setattr(landscape, "loss_surface", spy)
    comparison = landscape.compare_landscapes(
        bnn, trained_twin, images, labels, twin_trained=True, **TINY
    )
    for value, variable in zip(statistics, trained_twin.non_trainable_weights, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)  # not re-estimated
    assert comparison.twin.origin_loss == pytest.approx(
        _mean_loss(trained_twin, images, labels), rel=1e-5
    )
    bnn_kernels = [v.numpy() for v in landscape.perturbed_variables(bnn)]
    twin_kernels = [v.numpy() for v in landscape.perturbed_variables(trained_twin)]
    for bnn_direction, twin_direction in zip(drawn["BNN"], drawn["float twin"], strict=True):
        for d_bnn, d_twin, w_bnn, w_twin in zip(
            bnn_direction, twin_direction, bnn_kernels, twin_kernels, strict=True
        ):
            # Each filter has its own network's norm; the draw underneath is the same.
            np.testing.assert_allclose(_filter_norms(d_twin), _filter_norms(w_twin), rtol=1e-5)
            np.testing.assert_allclose(
                d_twin / _filter_norms(w_twin), d_bnn / _filter_norms(w_bnn), rtol=1e-4
            )
    assert "kernels of each network" in comparison.settings["directions"]
    assert "trained on its own" in comparison.settings["float_twin"]


def test_compare_refuses_a_real_model_as_the_bnn_and_bad_grids():
    _, bnn, twin = _models()
    images, labels = _data(4)
    with pytest.raises(ValueError, match="has no binary layers"):
        landscape.compare_landscapes(twin, twin, images, labels, **TINY)
    with pytest.raises(ValueError, match="has binary layers"):
        landscape.compare_landscapes(bnn, bnn, images, labels, **TINY)
    for grid in (0, 4, 1):
        with pytest.raises(ValueError, match="odd number of points per axis"):
            landscape.compare_landscapes(bnn, twin, images, labels, **{**TINY, "grid": grid})


def test_power_iteration_finds_the_largest_hessian_eigenvalue():
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2, use_bias=False)])
    images, labels = _data(12)[0].reshape(12, -1)[:, :3], np.arange(12) % 2
    kernel = model.trainable_weights[0]
    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            value = loss(labels, model(images))
        gradient = tf.reshape(inner.gradient(value, kernel), [-1])
    hessian = tf.reshape(outer.jacobian(gradient, kernel), (6, 6)).numpy()
    eigenvalues = np.linalg.eigvalsh((hessian + hessian.T) / 2)
    largest = eigenvalues[np.argmax(np.abs(eigenvalues))]
    estimate, history = top_hessian_eigenvalue(
        model, [kernel], images, labels, iterations=60, batch_size=5
    )
    assert estimate == pytest.approx(largest, rel=1e-3)
    assert len(history) == 60


def test_the_bnns_hessian_is_taken_through_its_surrogate_gradients():
    import larq as lq

    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((6, 6, 2))
    x = lq.layers.QuantConv2D(
        4, 3, input_quantizer="rsign", kernel_quantizer="scaled_weight_sign", use_bias=False
    )(inputs)
    x = tf.keras.layers.BatchNormalization()(x)
    outputs = tf.keras.layers.Dense(3)(tf.keras.layers.Flatten()(x))
    model = tf.keras.Model(inputs, outputs)
    images = np.random.default_rng(1).standard_normal((10, 6, 6, 2)).astype("float32")
    labels = np.arange(10) % 3
    kernels = landscape.perturbed_variables(model)
    assert len(kernels) == 2  # the latent binary kernel and the dense kernel
    estimate, history = top_hessian_eigenvalue(
        model, kernels, images, labels, iterations=3, batch_size=4
    )
    assert np.isfinite(history).all() and estimate == history[-1] != 0


def _write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_run(tmp_path):
    """A finished run's files without the training: run.json, final_model.h5, and 40 random
    Fashion-MNIST-shaped training images as the run's data."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 40), ("t10k", 8)):
        _write_idx(
            data_dir / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28))
        )
        _write_idx(data_dir / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, count))
    run_dir = tmp_path / "run"
    config = RunConfig().with_overrides(
        {
            "output_dir": str(run_dir),
            "model.width_multiplier": 0.125,
            "data.data_dir": str(data_dir),
            "data.validation_examples": 0,
        }
    )
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps(config.to_json()))
    build_zoo_model(config.model, 2, (28, 28, 1), 10).save(str(run_dir / "final_model.h5"))
    return run_dir


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adambnn", allow_abbrev=False)
    analyze.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def test_landscape_of_a_run_writes_figure_and_numbers_and_the_report_shows_them(tiny_run):
    from adambnn_tf.report import write_report

    args = _parser().parse_args(
        ["analyze", "landscape", str(tiny_run), "--grid", "3", "--examples", "24"]
        + ["--hessian-iterations", "0", "--radius", "0.5", "--batch-size", "12"]
    )
    assert args.run(args) == 0
    figure, numbers = landscape_paths(tiny_run)
    with open(figure, "rb") as stream:
        assert stream.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(numbers) as stream:
        summary = json.load(stream)
    assert summary["settings"]["examples"] == 24
    assert summary["settings"]["model"] == "reactnet_a_compact"
    assert np.shape(summary["float_twin"]["losses"]) == (3, 3)
    assert summary["bnn"]["losses"][1][1] == pytest.approx(summary["bnn"]["origin_loss"])
    assert sorted(os.listdir(tiny_run / "analysis")) == ["landscape.json", "landscape.png"]

    with open(write_report(str(tiny_run))) as stream:
        report = stream.read()
    assert "## Loss landscape" in report
    assert "](../analysis/landscape.png)" in report


def test_bad_input_is_refused_and_nothing_is_written(tiny_run):
    parser = _parser()

    def refused(arguments, error, match):
        args = parser.parse_args(["analyze", "landscape", str(tiny_run), *arguments])
        with pytest.raises(error, match=match):
            args.run(args)
        assert not (tiny_run / "analysis").exists()

    refused(["--grid", "0"], ValueError, "odd number of points")
    refused(["--examples", "0"], ValueError, "number of examples")
    refused(["--radius", "-1"], ValueError, "radius must be a positive")

    real = float_twin(
        RunConfig.load(str(tiny_run / "run.json")).model,
        tf.keras.models.load_model(str(tiny_run / "final_model.h5"), compile=False),
    )
    real.save(str(tiny_run / "final_model.h5"))
    refused([], ValueError, "has no binary layers")

    os.remove(tiny_run / "final_model.h5")
    refused([], FileNotFoundError, "no final_model.h5: the run has not finished")
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        landscape_of_run(tiny_run / "missing")


def _twin_run(tiny_run, name="twin", **overrides):
    """A float twin's finished run beside `tiny_run`, with the BNN run's settings."""
    twin_dir = tiny_run.parent / name
    twin_dir.mkdir()
    config = RunConfig.load(str(tiny_run / "run.json")).with_overrides(
        {"output_dir": str(twin_dir), "model.binary": False, **overrides}
    )
    (twin_dir / "run.json").write_text(json.dumps(config.to_json()))
    build_zoo_model(config.model, 2, (28, 28, 1), 10).save(str(twin_dir / "final_model.h5"))
    return twin_dir


def test_a_trained_twin_run_replaces_the_twin_at_the_bnns_weights(tiny_run):
    twin_dir = _twin_run(tiny_run)
    args = _parser().parse_args(
        ["analyze", "landscape", str(tiny_run), "--twin-run", str(twin_dir)]
        + ["--grid", "3", "--examples", "24", "--hessian-iterations", "0", "--batch-size", "12"]
    )
    assert args.run(args) == 0
    with open(landscape_paths(tiny_run)[1]) as stream:
        summary = json.load(stream)
    assert summary["settings"]["twin_run"] == str(twin_dir)
    assert "trained on its own" in summary["settings"]["float_twin"]
    twin = tf.keras.models.load_model(str(twin_dir / "final_model.h5"), compile=False)
    images, labels = run_landscape._training_images(  # the images the landscape used
        RunConfig.load(str(tiny_run / "run.json")), 24
    )
    assert summary["float_twin"]["origin_loss"] == pytest.approx(
        _mean_loss(twin, images, labels), rel=1e-5
    )
    assert not (twin_dir / "analysis").exists()  # the twin run is only read


def test_a_twin_run_that_is_not_the_bnns_twin_is_refused_before_anything_is_written(tiny_run):
    def refused(twin_dir, match):
        with pytest.raises(ValueError, match=match):
            landscape_of_run(tiny_run, grid=3, examples=24, twin_run=twin_dir)
        assert not (tiny_run / "analysis").exists()

    refused(_twin_run(tiny_run, "binary", **{"model.binary": True}), "has binary layers")
    refused(
        _twin_run(tiny_run, "wider", **{"model.width_multiplier": 0.25}),
        r"not this BNN's float twin: model.width_multiplier: 0.25 \(BNN run: 0.125\)",
    )
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        landscape_of_run(tiny_run, grid=3, examples=24, twin_run=tiny_run.parent / "none")


def test_the_help_states_the_defaults_and_how_to_go_finer(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["analyze", "landscape", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--grid 21 --examples 1000" in text
    assert "(default: 11)" in text and "(default: 256)" in text
