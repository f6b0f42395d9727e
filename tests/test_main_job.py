"""`adambnn train` end to end on the offline Fashion-MNIST files: train, resume, export, report."""

import json
import os

import numpy as np
import pytest

from adambnn_tf.cli import main

TINY_RUN = [
    "--epochs", "1", "1",
    "--batch-size", "32",
    "--train-examples", "64",
    "--test-examples", "32",
    "--width-multiplier", "0.125",
    "--quiet",
]  # fmt: skip


@pytest.mark.needs_fashion_mnist
def test_train_exports_reports_and_resumes(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "--output-dir", str(run_dir), *TINY_RUN]) == 0

    printed = capsys.readouterr().out
    assert f"Everything is in {run_dir}" in printed
    results = json.loads((run_dir / "results.json").read_text())
    # 1 epoch per stage of the 64 training images in 2 batches of 32.
    assert results["training_images"] == {"stage1": 64, "stage2": 64, "total": 128}
    for stage in ("stage1", "stage2"):
        history = json.loads((run_dir / stage / "history.json").read_text())
        assert len(history["loss"]) == 1 and len(history["ff_ratio"]) == 1
        # Stage 1 and 2 took 2 steps each; the per-step file holds both FF values.
        rows = (run_dir / stage / "ff_ratio_per_step.csv").read_text().splitlines()
        assert rows[0] == "step,ff_ratio" and len(rows) == 3
        ff_values = [float(row.split(",")[1]) for row in rows[1:]]
        assert history["ff_ratio"][0] == pytest.approx(np.mean(ff_values), rel=1e-5)
    export_report = json.loads((run_dir / "export" / "report.json").read_text())
    # --test-examples 32 < the default 2000 compared: all 32 are compared.
    assert export_report["test_examples_compared"] == 32
    assert export_report["test_accuracy_keras"] == results["test_accuracy"]
    # 32 test images: the LCE model may differ on at most a round-off flip or two.
    assert abs(results["tflite_accuracy"] - results["test_accuracy"]) <= 2 / 32
    assert (run_dir / "report" / "report.md").is_file()
    assert (run_dir / "latent_weights_final.npz").is_file()
    assert (run_dir / "final_model.h5").is_file()

    # The same command again resumes: both stages are done, so nothing trains again.
    state_before = (run_dir / "stage2" / "state.json").read_text()
    again = ["train", "--output-dir", str(run_dir), *TINY_RUN, "--no-export", "--no-report"]
    assert main(again) == 0
    assert main(["evaluate", str(run_dir / "final_model.h5"), "--limit", "32"]) == 0
    assert f"top-1 accuracy {results['test_accuracy']:.4f}" in capsys.readouterr().out
    assert (run_dir / "stage2" / "state.json").read_text() == state_before


@pytest.mark.needs_fashion_mnist
def test_output_dir_of_another_run_is_refused_and_kept(tmp_path, capsys):
    from adambnn_tf.config import RunConfig

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    other = RunConfig().with_overrides({"output_dir": str(run_dir), "training.seed": 3})
    (run_dir / "run.json").write_text(json.dumps(other.to_json()))
    assert main(["train", "--output-dir", str(run_dir), *TINY_RUN]) == 2
    error = capsys.readouterr().err
    assert "holds another run" in error and "choose a new --output-dir" in error
    assert "training.seed: 3 -> 0" in error
    assert os.listdir(run_dir) == ["run.json"]


def test_foreign_output_dir_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    code = main(["train", "--output-dir", str(tmp_path), "--data-dir", str(tmp_path), *TINY_RUN])
    assert code == 2
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_missing_data_files_name_the_fix_and_write_nothing(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code = main(
        ["train", "--output-dir", str(run_dir), "--data-dir", str(tmp_path / "none"), *TINY_RUN]
    )
    assert code == 2
    assert "dataset-fashion-mnist" in capsys.readouterr().err
    assert not run_dir.exists()


def test_unknown_model_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as error:
        main(["train", "--model", "resnet50"])
    assert error.value.code == 2
    assert "invalid choice: 'resnet50'" in capsys.readouterr().err


@pytest.mark.needs_fashion_mnist
def test_compact_model_with_a_trained_teacher_records_its_time_and_resumes(tmp_path):
    from adambnn_tf.config import RunConfig
    from adambnn_tf.main_job import run_main_job

    config = RunConfig().with_overrides(
        {
            "output_dir": str(tmp_path / "run"),
            "model.width_multiplier": 0.125,
            "distillation.teacher_epochs": 2,
            "distillation.teacher_width": 4,
            "data.batch_size": 32,
            "data.train_examples": 64,
            "data.test_examples": 32,
            "output.export": False,
            "output.report": False,
            "output.progress": False,
            "tracking.track_every": 2,
        }
    )
    summary = run_main_job(config)
    for stage in ("stage1", "stage2"):
        # 2 steps per stage, FF measured in every second one: step 0 only, in the file too.
        rows = (tmp_path / "run" / stage / "ff_ratio_per_step.csv").read_text().splitlines()
        assert rows[0] == "step,ff_ratio" and rows[1].startswith("0,") and len(rows) == 2
        assert summary.history[stage]["ff_ratio"][0] == pytest.approx(float(rows[1][2:]))
    teacher_history = summary.history["teacher"]
    assert len(teacher_history["loss"]) == 2 and len(teacher_history["val_accuracy"]) == 2
    assert (tmp_path / "run" / "teacher" / "model.h5").is_file()
    for phase in ("teacher", "stage1", "stage2"):
        seconds = summary.history[phase]["epoch_seconds"]
        assert summary.training_minutes[phase] == pytest.approx(sum(seconds) / 60)
        assert all(value > 0 for value in seconds)
    assert summary.training_minutes["total"] == pytest.approx(
        sum(summary.training_minutes[phase] for phase in ("teacher", "stage1", "stage2"))
    )
    recorded = json.loads((tmp_path / "run" / "results.json").read_text())
    assert recorded["training_minutes"] == pytest.approx(summary.training_minutes)

    # Again: the finished teacher is loaded, not trained again, and the stages are done.
    teacher_state = (tmp_path / "run" / "teacher" / "state.json").read_text()
    again = run_main_job(config)
    assert (tmp_path / "run" / "teacher" / "state.json").read_text() == teacher_state
    assert again.training_minutes == pytest.approx(summary.training_minutes)
    assert again.test_accuracy == summary.test_accuracy


@pytest.mark.needs_fashion_mnist
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--train-examples", "70000"], "exceeds the 60000 training images"),
        (["--teacher", "RANDOM"], "teacher"),
    ],
)
def test_inputs_are_read_before_the_run_directory_is_claimed(tmp_path, capsys, flags, message):
    run_dir = tmp_path / "run"
    if "RANDOM" in flags:
        (tmp_path / "random.h5").write_bytes(os.urandom(2048))
        flags = [str(tmp_path / "random.h5") if flag == "RANDOM" else flag for flag in flags]
    code = main(["train", "--output-dir", str(run_dir), *TINY_RUN, *flags])
    assert code in (1, 2)
    assert message in capsys.readouterr().err
    assert not run_dir.exists()  # the corrected command is not refused as "another run"


@pytest.mark.needs_fashion_mnist
def test_the_same_run_directory_named_another_way_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--output-dir", "run", *TINY_RUN, "--no-export", "--no-report"]) == 0
    state = (tmp_path / "run" / "stage2" / "state.json").read_text()
    again = ["train", "--output-dir", str(tmp_path / "run") + "/", *TINY_RUN, "--no-export"]
    assert main([*again, "--no-report"]) == 0  # absolute, trailing slash: the same run
    moved = tmp_path / "moved"
    (tmp_path / "run").rename(moved)
    assert main(["train", "--output-dir", str(moved), *TINY_RUN, "--no-export", "--no-report"]) == 0
    assert (moved / "stage2" / "state.json").read_text() == state  # nothing trained again


@pytest.mark.needs_fashion_mnist
def test_the_float_twin_trains_with_the_same_recipe(tmp_path):
    run_dir = tmp_path / "twin"
    assert main(["train", "--output-dir", str(run_dir), *TINY_RUN, "--float-twin"]) == 0
    history = json.loads((run_dir / "stage1" / "history.json").read_text())
    # The twin's kernels are the BNN's latent weights: decayed in stage 1, FF and C2I measured;
    # it has no binarizer, so no saturation.
    assert "ff_ratio" in history and "c2i_ratio" in history
    assert not any(key.startswith("saturation") for key in history)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["tflite_path"] is None and not (run_dir / "export").exists()  # nothing binary


def test_a_bfloat16_build_leaves_the_policy_following_floatx():
    import tensorflow as tf

    from adambnn_tf.config import RunConfig
    from adambnn_tf.main_job import build_zoo_model

    config = RunConfig().with_overrides({"model.precision": "mixed_bfloat16"})
    build_zoo_model(config.model, 2, (28, 28, 1), 10)
    tf.keras.backend.set_floatx("float64")
    try:  # what the float64 parity test does after any other test in its process
        assert tf.keras.layers.Dense(1).compute_dtype == "float64"
    finally:
        tf.keras.backend.set_floatx("float32")


@pytest.mark.needs_fashion_mnist
def test_a_bfloat16_run_trains_in_bfloat16_and_saves_float32(tmp_path):
    import tensorflow as tf

    from adambnn_tf.config import RunConfig
    from adambnn_tf.evaluation import load_keras_model
    from adambnn_tf.main_job import build_zoo_model, float32_copy

    config = RunConfig().with_overrides({"model.precision": "mixed_bfloat16"})
    model = build_zoo_model(config.model, 2, (28, 28, 1), 10)
    assert model.get_layer("block1_conv3x3").compute_dtype == "bfloat16"
    assert model.output.dtype == tf.float32  # the loss sees float32 logits
    assert all(v.dtype == tf.float32 for v in model.weights)
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # restored
    copy = float32_copy(config.model, model)
    assert copy.get_layer("block1_conv3x3").compute_dtype == "float32"
    for a, b in zip(model.get_weights(), copy.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    run_dir = tmp_path / "bf16"
    flags = [*TINY_RUN, "--set", "model.precision=mixed_bfloat16"]
    assert main(["train", "--output-dir", str(run_dir), *flags]) == 0
    saved = load_keras_model(run_dir / "final_model.h5")
    assert {layer.compute_dtype for layer in saved.layers if layer.weights} == {"float32"}
    results = json.loads((run_dir / "results.json").read_text())
    assert results["tflite_accuracy"] is not None  # the float32 copy exported with LCE


def test_bfloat16_with_distillation_is_refused():
    from adambnn_tf.config import ConfigError, RunConfig

    with pytest.raises(ConfigError, match="not supported with distillation"):
        RunConfig().with_overrides(
            {"model.precision": "mixed_bfloat16", "distillation.teacher_epochs": 1}
        ).validate()
