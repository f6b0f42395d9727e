"""`adambnn evaluate` and `adambnn export` on bad input: one error line, exit 2, no crash.

Issue 19: a truncated `.tflite` and an inverted int8 range crashed the process (exit 139);
garbage, weights-only and Keras 3 files gave tracebacks or `GFile object at 0x...`.
"""

import gzip
import json
import os
import struct
import subprocess
import sys
import zipfile

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from adambnn_tf import evaluation
from adambnn_tf.cli import main
from adambnn_tf.export import export

ADAMBNN = os.path.join(os.path.dirname(sys.executable), "adambnn")
BINARY = dict(input_quantizer="rsign", kernel_quantizer="scaled_weight_sign", use_bias=False)


def _tiny_model(binary: bool = True) -> tf.keras.Model:
    inputs = tf.keras.Input((28, 28, 1))
    x = tf.keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(inputs)
    if binary:
        x = lq.layers.QuantConv2D(8, 3, padding="same", pad_values=1.0, name="b1", **BINARY)(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(10, name="logits")(x))


def _write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny model as .h5, its weights alone, its .tflite and 16 Fashion-MNIST-like images."""
    folder = tmp_path_factory.mktemp("models")
    model = _tiny_model()
    model.save(folder / "model.h5")
    model.save_weights(folder / "weights.h5")
    export(model, folder / "model.tflite", parity=False, compare_float_size=False)
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (16, 28, 28)))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(16) % 10)
    return folder


def _command(*arguments: str) -> subprocess.CompletedProcess:
    """The `adambnn` console script in a child process: a crash there cannot kill pytest."""
    return subprocess.run(
        [ADAMBNN, *arguments], capture_output=True, text=True, timeout=600, cwd=os.getcwd()
    )


def _error_line(capsys, command: str) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"adambnn {command}: error: "), lines[0]
    return lines[0]


@pytest.mark.skipif(not os.path.exists(ADAMBNN), reason="the adambnn console script is missing")
def test_truncated_tflite_is_refused_instead_of_crashing_the_interpreter(files, tmp_path):
    whole = (files / "model.tflite").read_bytes()
    half = tmp_path / "half.tflite"
    half.write_bytes(whole[: len(whole) // 2])
    result = _command("evaluate", str(half), "--data-dir", str(files), "--limit", "4")
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert result.stderr.strip().splitlines()[-1].startswith("adambnn evaluate: error: ")
    assert "half.tflite is not a valid .tflite model" in result.stderr


def test_check_tflite_passes_a_whole_file_and_refuses_every_cut_and_garbage(files):
    whole = (files / "model.tflite").read_bytes()
    evaluation.check_tflite(whole)
    for cut in range(0, len(whole), max(1, len(whole) // 40)):
        with pytest.raises(ValueError, match="not a valid .tflite model"):
            evaluation.check_tflite(whole[:cut], "cut.tflite")
    with pytest.raises(ValueError, match="no TFL3 identifier"):
        evaluation.check_tflite(b"garbage" * 100)
    # The same check protects the main job, which evaluates its export through predict.
    images = np.zeros((2, 28, 28, 1), np.float32)
    assert evaluation.predict(str(files / "model.tflite"), images).shape == (2, 10)


def test_evaluate_runs_and_refuses_bad_limits_and_files(files, tmp_path, capsys):
    common = ["--data-dir", str(files), "--limit", "4"]
    assert main(["evaluate", str(files / "model.tflite"), *common]) == 0
    assert "top-1 accuracy" in capsys.readouterr().out
    assert main(["evaluate", str(files / "model.h5"), *common]) == 0
    capsys.readouterr()

    assert main(["evaluate", str(files / "model.h5"), "--data-dir", str(files), "--limit", "-3"])
    assert "--limit" in _error_line(capsys, "evaluate")

    (tmp_path / "garbage.h5").write_bytes(os.urandom(4096))
    assert main(["evaluate", str(tmp_path / "garbage.h5"), *common]) == 2
    assert "garbage.h5 is not a saved Keras model" in _error_line(capsys, "evaluate")

    assert main(["evaluate", str(files / "weights.h5"), *common]) == 2
    line = _error_line(capsys, "evaluate")
    assert "holds weights only" in line and "weights=" in line and "GFile" not in line


def _keras3_archive(path) -> None:
    """A `.keras` archive as Keras 3 writes it: metadata.json names the Keras version."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps({"class_name": "Functional", "config": {}}))
        archive.writestr("model.weights.h5", b"")


def test_export_and_evaluate_refuse_keras3_archives(files, tmp_path, capsys):
    _keras3_archive(tmp_path / "model.keras")
    assert main(["evaluate", str(tmp_path / "model.keras"), "--data-dir", str(files)]) == 2
    assert "Keras 3" in _error_line(capsys, "evaluate")
    assert main(["export", str(tmp_path / "model.keras"), str(tmp_path / "out.tflite")]) == 2
    assert "Keras 3" in _error_line(capsys, "export")
    assert not (tmp_path / "out.tflite").exists()


def test_export_refuses_garbage_and_weights_only_files(files, tmp_path, capsys):
    (tmp_path / "garbage.h5").write_bytes(os.urandom(4096))
    assert main(["export", str(tmp_path / "garbage.h5"), str(tmp_path / "a.tflite")]) == 2
    assert "not a saved Keras model" in _error_line(capsys, "export")
    assert main(["export", str(files / "weights.h5"), str(tmp_path / "a.tflite")]) == 2
    assert "holds weights only" in _error_line(capsys, "export")
    assert main(["export", str(tmp_path / "absent.h5"), str(tmp_path / "a.tflite")]) == 2
    assert "absent.h5" in _error_line(capsys, "export")
    assert os.listdir(tmp_path) == ["garbage.h5"]


@pytest.mark.parametrize("bad_range", [["5", "1"], ["0", "0"], ["1", "inf"], ["nan", "1"]])
def test_export_refuses_an_int8_range_that_is_not_min_below_max(files, tmp_path, capsys, bad_range):
    out = tmp_path / "out.tflite"
    argv = ["export", str(files / "model.h5"), str(out), "--default-int8-range", *bad_range]
    assert main(argv) == 2
    assert "--default-int8-range" in _error_line(capsys, "export")
    assert not out.exists()
    with pytest.raises(ValueError, match="experimental_default_int8_range"):
        export(_tiny_model(), None, experimental_default_int8_range=tuple(map(float, bad_range)))


@pytest.mark.skipif(not os.path.exists(ADAMBNN), reason="the adambnn console script is missing")
def test_inverted_int8_range_does_not_crash_the_converter(files, tmp_path):
    out = tmp_path / "out.tflite"
    result = _command("export", str(files / "model.h5"), str(out), "--default-int8-range", "5", "1")
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "--default-int8-range" in result.stderr and not out.exists()


def test_export_refuses_output_paths_under_a_file_before_converting(files, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["export", str(files / "model.h5"), str(blocker / "out.tflite")]) == 2
    assert "a_file" in _error_line(capsys, "export")
    assert main(["export", str(files / "model.h5"), str(tmp_path)]) == 2
    assert "is a folder" in _error_line(capsys, "export")
    argv = ["export", str(files / "model.h5"), str(tmp_path / "ok.tflite")]
    assert main([*argv, "--report-json", str(blocker / "report.json")]) == 2
    assert "a_file" in _error_line(capsys, "export")
    assert sorted(os.listdir(tmp_path)) == ["a_file"]


def test_strict_export_refuses_a_model_with_nothing_binary(tmp_path, capsys):
    _tiny_model(binary=False).save(tmp_path / "real.h5")
    out = tmp_path / "real.tflite"
    assert main(["export", str(tmp_path / "real.h5"), str(out), "--strict", "--no-parity"]) == 1
    assert "no binary layer" in _error_line(capsys, "export")
    assert not out.exists()


def test_subcommands_take_no_abbreviated_options(files, tmp_path, capsys):
    # Paths under tmp_path: a parser that takes the abbreviation runs the command.
    out = str(tmp_path / "out")
    for argv in (
        ["evaluate", str(files / "model.h5"), "--lim", "3"],
        ["export", str(files / "model.h5"), out + ".tflite", "--stri"],
        ["report", str(files), "--output", out],
        ["convert-checkpoint", out + ".pth", out + ".h5", "--unsafe"],
        ["tune", "--max-trial", "1", "--directory", out],
    ):
        with pytest.raises(SystemExit) as raised:
            main(argv)
        assert raised.value.code == 2, argv
        assert "unrecognized arguments" in capsys.readouterr().err, argv


def test_export_verbose_lists_layers_without_resetting_the_global_verbose():
    from adambnn_tf.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["--verbose", "export", "m.h5", "o.tflite"]).verbose
    listed = parser.parse_args(["export", "m.h5", "o.tflite", "--verbose"])
    assert listed.list_layers and not listed.verbose


def test_a_fresh_process_loads_the_zoos_own_layers(tmp_path):
    """`load_keras_model` (every loader: evaluate, export, analyze, a teacher) in a new
    interpreter loads zoo models saved with the zoo's own layers (`adambnn_tf.conv_layers`)
    without importing the zoo, and each loaded model computes what the saved one did."""
    from adambnn_tf.zoo import ReActNetACompact

    models = {
        # The float twin: ShiftedInputConv2D.
        "float_twin": ReActNetACompact(
            input_shape=(28, 28, 1), binary=False, width_multiplier=0.125, weights=None
        ),
        # Converted official checkpoints: the symmetric-padding convolutions.
        "pytorch_padding": ReActNetACompact(
            input_shape=(32, 32, 1), padding="pytorch", width_multiplier=0.125, weights=None
        ),
    }
    rng = np.random.default_rng(0)
    images = {}
    for name, model in models.items():
        model.save(tmp_path / f"{name}.h5")
        images[name] = rng.standard_normal((2, *model.input_shape[1:])).astype("float32")
        np.save(tmp_path / f"{name}_images.npy", images[name])
    script = (
        "import sys, numpy as np\n"
        "from adambnn_tf.evaluation import load_keras_model\n"
        "for name in sys.argv[2:]:\n"
        "    model = load_keras_model(f'{sys.argv[1]}/{name}.h5')\n"
        # The layers register with the package, not the zoo: loading needs no model code.
        "    assert 'adambnn_tf.zoo' not in sys.modules, 'the zoo was imported'\n"
        "    images = np.load(f'{sys.argv[1]}/{name}_images.npy')\n"
        "    np.save(f'{sys.argv[1]}/{name}_logits.npy', model(images, training=False).numpy())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), *models],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name, model in models.items():
        np.testing.assert_allclose(
            np.load(tmp_path / f"{name}_logits.npy"),
            model(images[name], training=False).numpy(),
            rtol=1e-5,
            atol=1e-6,
        )
