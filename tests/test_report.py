"""write_report on synthetic run directories: plots, values, and graceful degradation."""

import csv
import json
import pathlib
import re

import numpy as np
import pytest

from adambnn_tf.report import read_run, write_report
from adambnn_tf.report.layout import StageData

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _write_history(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "history.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def full_run(tmp_path):
    run = tmp_path / "run"
    _write_history(
        run / "stage1",
        [
            {
                "epoch": 0,
                "accuracy": 0.61,
                "loss": 1.2,
                "val_accuracy": 0.7,
                "val_loss": 0.9,
                "ff_ratio": 0.0125,
                "c2i_ratio": 0.93,
                "saturation": 0.21,
            },
            {
                "epoch": 1,
                "accuracy": 0.78,
                "loss": 0.6,
                "val_accuracy": 0.8125,
                "val_loss": 0.55,
                "ff_ratio": 0.0042,
                "c2i_ratio": 0.88,
                "saturation": 0.19,
            },
        ],
    )
    (run / "stage2").mkdir()
    (run / "stage2" / "history.json").write_text(
        json.dumps(
            {
                "accuracy": [0.85, 0.8911],
                "loss": [0.4, 0.31],
                "val_accuracy": [0.86, 0.9017],
                "val_loss": [0.38, 0.29],
                "ff_ratio": [0.0009, 0.0003],
                "c2i_ratio": [0.97, 0.9612],
            }
        )
    )
    for stage, count in (("stage1", 50), ("stage2", 40)):
        steps = np.arange(count)
        ff = np.where(steps % 10 == 0, 0.0, 0.05 * np.exp(-steps / 20))  # zeros must not break log
        with open(run / stage / "ff_ratio_per_step.csv", "w") as stream:
            stream.write(
                "step,ff_ratio\n" + "".join(f"{s},{v}\n" for s, v in zip(steps, ff, strict=True))
            )
    rng = np.random.default_rng(0)
    peaks = np.concatenate(
        [
            np.zeros(300),
            np.full(200, 1.0),
            np.full(200, -1.0),
            rng.choice([-1, 1], 300) * rng.uniform(0.2, 0.8, 300),
        ]
    )
    np.savez(
        run / "latent_weights_final.npz", conv_1=peaks[:600].reshape(20, 30), conv_2=peaks[600:]
    )
    (run / "saturated_activations.json").write_text(
        json.dumps({"quant_conv2d": 0.3125, "quant_conv2d_1": 0.0625})
    )
    (run / "export").mkdir()
    (run / "export" / "report.json").write_text(
        json.dumps(
            {
                "target": "arm",
                "size_bytes": 123456,
                "lce_bconv2d": 7,
                "op_counts": {"LceBconv2d": 7, "LceQuantize": 7, "CONV_2D": 1},
                "parity": {"verdict": "bit-exact", "passed": True},
            }
        )
    )
    run_config = {"model": "ReActNetA", "seed": 3, "epochs": [10, 5], "learning_rate": [2e-3, 3e-3]}
    (run / "run.json").write_text(json.dumps(run_config))
    return run


def _images(report_text):
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report_text)


def test_full_run_directory(full_run):
    path = write_report(full_run)
    assert path == str(full_run / "report" / "report.md")
    text = pathlib.Path(path).read_text()
    referenced = _images(text)
    expected = {
        "accuracy.png",
        "loss.png",
        "ff_ratio_per_step.png",
        "c2i_ratio_per_epoch.png",
        "latent_weights.png",
        "saturated_per_layer.png",
        "saturated_per_epoch.png",
        "export_op_counts.png",
    }
    assert set(referenced) == expected
    for name in referenced:
        content = (full_run / "report" / name).read_bytes()
        assert content.startswith(PNG_SIGNATURE) and len(content) > 2000
    # Values from the files show up in the report.
    for value in (
        "0.8125",
        "0.9017",
        "0.9612",
        "0.0042",
        "0.3125",
        "0.0625",
        "123,456",
        "bit-exact",
        "ReActNetA",
        "LceBconv2d",
    ):
        assert value in text, value
    # Hand counts: mean saturation (0.3125 + 0.0625) / 2; 300 of 1000 latent weights at 0,
    # 400 at +-max, the other 300 in between.
    assert "Mean over 2 binarizers: 0.1875." in text
    assert "| share near 0: abs(w) < 1% of max | 0.3 |" in text
    assert "| share near +-max: abs(w) > 99% of max | 0.4 |" in text
    # The per-iteration FF table: 50 and 40 iterations, mean of stage 1's values.
    steps = np.arange(50)
    stage1_mean = np.mean(np.where(steps % 10 == 0, 0.0, 0.05 * np.exp(-steps / 20)))
    assert f"| stage1 | 50 | every step | {stage1_mean:.4g} |" in text
    assert "Nothing: every part was found." in text
    # Per-stage settings are listed in one row each.
    assert "| epochs | 10, 5 |" in text and "| learning_rate | 0.002, 0.003 |" in text


def test_empty_run_directory_degrades_gracefully(tmp_path):
    (tmp_path / "stage1").mkdir()  # a run that has not finished an epoch yet
    text = pathlib.Path(write_report(tmp_path)).read_text()
    assert _images(text) == []
    for what in (
        "history.csv",
        "ff_ratio_per_step.csv",
        "latent_weights_final.npz",
        "saturated_activations.json",
        "report.json",
        "run.json",
    ):
        assert what in text.split("## Missing from the run directory")[1], what
    assert "*No training history recorded.*" in text and "*No export summary recorded.*" in text


def test_partial_and_corrupt_parts_are_reported(full_run):
    (full_run / "latent_weights_final.npz").write_bytes(b"not a zip")
    (full_run / "export" / "report.json").write_text("{broken")
    (full_run / "stage2" / "ff_ratio_per_step.csv").unlink()
    run = read_run(full_run)
    assert run.latent_weights == {} and run.export is None
    assert run.stages[1].ff_per_step is None and run.stages[0].ff_per_step.shape == (50,)
    text = pathlib.Path(write_report(full_run, full_run / "elsewhere")).read_text()
    missing = text.split("## Missing from the run directory")[1]
    assert "latent_weights_final.npz: unreadable" in missing
    assert "report.json: unreadable" in missing
    assert "stage2/ff_ratio_per_step.csv: no per-iteration FF-ratio" in missing
    assert "ff_ratio_per_step.png" in _images(text)  # stage 1's iterations are still drawn
    assert (full_run / "elsewhere" / "accuracy.png").read_bytes().startswith(PNG_SIGNATURE)


def test_missing_run_directory_is_an_error(tmp_path):
    with pytest.raises(NotADirectoryError, match="not a run directory"):
        write_report(tmp_path / "nope")


def test_one_stage_run_takes_per_layer_saturation_from_the_history(tmp_path):
    _write_history(
        tmp_path,
        [
            {
                "epoch": 0,
                "loss": 1.0,
                "saturation": 0.5,
                "saturation/a": 0.25,
                "saturation/b": 0.75,
            },
            {
                "epoch": 1,
                "loss": 0.5,
                "saturation": 0.4,
                "saturation/a": 0.125,
                "saturation/b": 0.5,
            },
        ],
    )
    run = read_run(tmp_path)
    assert [stage.name for stage in run.stages] == ["training"]
    text = pathlib.Path(write_report(tmp_path)).read_text()
    assert "Mean over 2 binarizers: 0.3125." in text  # (0.125 + 0.5) / 2, the last epoch
    assert {"loss.png", "saturated_per_layer.png", "saturated_per_epoch.png"} <= set(_images(text))


def test_report_command(full_run, tmp_path, capsys):
    from adambnn_tf.cli import main

    assert main(["report", str(full_run), "--output-dir", str(tmp_path / "out")]) == 0
    assert f"Report written to {tmp_path / 'out' / 'report.md'}" in capsys.readouterr().out
    assert (tmp_path / "out" / "loss.png").read_bytes().startswith(PNG_SIGNATURE)
    assert main(["report", str(tmp_path / "absent")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def _tiny_bnn():
    import larq as lq
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential(
        [
            tf.keras.Input((8,)),
            lq.layers.QuantDense(
                16, kernel_quantizer="scaled_weight_sign", kernel_constraint="weight_clip"
            ),
            tf.keras.layers.Dense(3),
        ]
    )
    model.compile(
        tf.keras.optimizers.Adam(0.05),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices((x, rng.integers(0, 3, 64))).batch(16)
    return model, data


def test_a_recorded_training_makes_a_complete_report(tmp_path):
    import tensorflow as tf

    from adambnn_tf import callbacks
    from adambnn_tf.report import StepMetricCSV, save_latent_weights

    model, data = _tiny_bnn()
    stage = tmp_path / "stage1"
    stage.mkdir()
    ff_csv = stage / "ff_ratio_per_step.csv"
    history = model.fit(
        data,
        validation_data=data,
        epochs=3,
        verbose=0,
        callbacks=[
            callbacks.FFRatio(log_step_value=True),
            callbacks.C2IRatio(),
            StepMetricCSV(ff_csv, key="ff_ratio_step"),
            tf.keras.callbacks.CSVLogger(str(stage / "history.csv")),
        ],
    )
    steps = read_run(tmp_path).stages[0].ff_per_step
    assert steps.shape == (12,)  # 3 epochs of 4 steps
    # The per-step values average to FFRatio's per-epoch means.
    np.testing.assert_allclose(steps.reshape(3, 4).mean(axis=1), history.history["ff_ratio"])

    save_latent_weights(model, tmp_path / "latent_weights_final.npz")
    run = read_run(tmp_path)
    (latent,) = run.latent_weights.values()
    np.testing.assert_array_equal(latent, model.layers[0].kernel.latent_variable.numpy())

    text = pathlib.Path(write_report(tmp_path)).read_text()
    assert {"ff_ratio_per_step.png", "c2i_ratio_per_epoch.png", "latent_weights.png"} <= set(
        _images(text)
    )
    assert f"{history.history['c2i_ratio'][-1]:.4g}" in text

    # A resumed fit from epoch 2 keeps the first 2 epochs' rows and replaces the third.
    previous = steps.copy()
    model.fit(
        data,
        epochs=3,
        initial_epoch=2,
        verbose=0,
        callbacks=[
            callbacks.FFRatio(log_step_value=True),
            StepMetricCSV(ff_csv, key="ff_ratio_step"),
        ],
    )
    resumed = read_run(tmp_path).stages[0].ff_per_step
    assert resumed.shape == (12,)
    np.testing.assert_array_equal(resumed[:8], previous[:8])


def test_teacher_and_training_time_are_summarised(tmp_path):
    stage_rows = [{"epoch": 0, "accuracy": 0.5, "loss": 1.0, "epoch_seconds": 90.0}]
    _write_history(tmp_path / "stage1", stage_rows)
    _write_history(tmp_path / "stage2", [{**stage_rows[0], "epoch_seconds": 150.0}])
    _write_history(
        tmp_path / "teacher",
        [
            {"epoch": 0, "accuracy": 0.8, "loss": 0.5, "val_accuracy": 0.85, "epoch_seconds": 30},
            {"epoch": 1, "accuracy": 0.9, "loss": 0.3, "val_accuracy": 0.9, "epoch_seconds": 30},
        ],
    )
    text = pathlib.Path(write_report(tmp_path)).read_text()
    summary = text.split("## Summary")[1].split("##")[0]
    rows = [line for line in summary.splitlines() if line.startswith("| ")][1:]
    assert [row.split(" | ")[0] for row in rows] == ["| teacher", "| stage1", "| stage2"]
    assert rows[0].endswith("| 1 |")  # 60 s of teacher
    assert rows[2].endswith("| 2.5 |")
    assert "Training time, validation included: 5.0 minutes." in summary


def test_epochs_without_validation_are_gaps_not_values(tmp_path):
    # `validate_every > 1` leaves NaN in the val_ histories (written "nan" to history.csv).
    _write_history(
        tmp_path / "stage1",
        [
            {"epoch": 0, "accuracy": 0.5, "loss": 1.0, "val_accuracy": "nan", "val_loss": "nan"},
            {"epoch": 1, "accuracy": 0.6, "loss": 0.9, "val_accuracy": 0.875, "val_loss": 0.7},
            {"epoch": 2, "accuracy": 0.7, "loss": 0.8, "val_accuracy": "nan", "val_loss": "nan"},
            {"epoch": 3, "accuracy": 0.8, "loss": 0.7, "val_accuracy": 0.8125, "val_loss": 0.6},
            {"epoch": 4, "accuracy": 0.8, "loss": 0.7, "val_accuracy": "nan", "val_loss": "nan"},
        ],
    )
    text = pathlib.Path(write_report(tmp_path)).read_text()
    summary = text.split("## Summary")[1].split("##")[0]
    row = next(line for line in summary.splitlines() if line.startswith("| stage1"))
    # final val accuracy: the last validated epoch (even when the last epoch has none); best:
    # the best validated one.
    assert "| 0.8 | 0.8125 | 0.875 | 0.7 |" in row
    assert "accuracy.png" in _images(text)
    assert (tmp_path / "report" / "accuracy.png").read_bytes().startswith(PNG_SIGNATURE)


def test_sampled_ff_is_drawn_at_its_recorded_iterations(tmp_path, monkeypatch):
    # `--track-every 10`: ff_ratio_per_step.csv holds steps 0, 10, ..., 90 of each stage.
    for stage in ("stage1", "stage2"):
        _write_history(tmp_path / stage, [{"epoch": 0, "accuracy": 0.5, "loss": 1.0}])
        rows = "".join(f"{step},{0.01 / (step + 1)}\n" for step in range(0, 100, 10))
        (tmp_path / stage / "ff_ratio_per_step.csv").write_text("step,ff_ratio\n" + rows)
    run = read_run(tmp_path)
    np.testing.assert_array_equal(run.stages[0].ff_steps, np.arange(0, 100, 10))

    from adambnn_tf.report import plots

    drawn = []
    original_plot = plots.plt.Axes.plot

    def record_plot(axes, x, y, *args, **kwargs):
        drawn.append(np.asarray(x))
        return original_plot(axes, x, y, *args, **kwargs)

    monkeypatch.setattr(plots.plt.Axes, "plot", record_plot)
    assert plots.plot_ff_per_step(run.stages, str(tmp_path / "ff.png"))
    # Stage 1 at iterations 1, 11, ..., 91; stage 2 continues after stage 1's last one.
    np.testing.assert_array_equal(drawn[0], np.arange(1, 101, 10))
    np.testing.assert_array_equal(drawn[1], 91 + np.arange(1, 101, 10))
    monkeypatch.undo()
    text = pathlib.Path(write_report(tmp_path)).read_text()
    assert "| stage1 | 10 | every 10 steps |" in text


def test_a_diverged_run_gets_its_report_with_the_finite_weights(full_run):
    # Too large a learning rate: NaN latent weights and losses (the sweep's SGD at 0.3).
    weights = np.concatenate([np.full(3, np.nan), [0.5, -0.25, np.inf, 0.125]])
    np.savez(full_run / "latent_weights_final.npz", conv_1=weights)
    history = json.loads((full_run / "stage2" / "history.json").read_text())
    history["loss"] = [float("nan"), float("nan")]
    (full_run / "stage2" / "history.json").write_text(json.dumps(history))
    text = pathlib.Path(write_report(full_run)).read_text()
    latent = text.split("## Latent weights at the end")[1].split("\n## ")[0]
    assert "4 of 7 latent weights are not finite" in latent
    # The statistics are those of 0.5, -0.25 and 0.125.
    assert "| values | 3 |" in latent
    assert "| max abs(w) | 0.5 |" in latent
    assert "latent_weights.png" in _images(latent)
    # Nothing finite: the note, no table and no histogram.
    np.savez(full_run / "latent_weights_final.npz", conv_1=np.full(4, np.nan))
    text = pathlib.Path(write_report(full_run)).read_text()
    latent = text.split("## Latent weights at the end")[1].split("\n## ")[0]
    assert "4 of 4 latent weights are not finite" in latent
    assert "| values |" not in latent and not _images(latent)


def test_runs_side_by_side_get_a_colour_each_and_one_legend_entry(tmp_path, monkeypatch):
    from adambnn_tf.report import plots

    def stage(name, length):
        return StageData(name, {}, np.full(length, 1e-3))

    # Twelve runs (more than matplotlib's default cycle of 10); the first has two stages.
    runs = {"two-step": [stage("stage1", 5), stage("stage2", 5)]}
    runs.update({f"run{i}": [stage("stage2", 10)] for i in range(11)})
    drawn = []
    original_plot = plots.plt.Axes.plot

    def record_plot(axes, x, y, *args, **kwargs):
        drawn.append(kwargs)
        return original_plot(axes, x, y, *args, **kwargs)

    monkeypatch.setattr(plots.plt.Axes, "plot", record_plot)
    assert plots.plot_ff_per_step_of_runs(runs, str(tmp_path / "ff.png"))
    first, second, *others = drawn
    # One run, one colour: stage 1 dashed without a legend entry, stage 2 solid and named.
    assert first["color"] == second["color"]
    assert (first["linestyle"], first["label"]) == ("--", None)
    assert (second["linestyle"], second["label"]) == ("-", "two-step")
    colors = [second["color"], *(kwargs["color"] for kwargs in others)]
    assert len(set(colors)) == 12
    assert [kwargs["label"] for kwargs in others] == [f"run{i}" for i in range(11)]


def test_ff_sampling_is_named_from_the_recorded_steps():
    from adambnn_tf.report.writer import _sampling

    assert _sampling(np.arange(0, 50, 10)) == "every 10 steps"
    assert _sampling(np.arange(7)) == "every step"
    assert _sampling(np.array([0, 10, 15])) == "irregular steps"
    # A stage of one epoch shorter than the period records its step 0 only.
    assert _sampling(np.array([0])) == "step 0 only"
