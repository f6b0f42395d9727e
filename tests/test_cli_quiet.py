"""The `adambnn` command: help without TensorFlow, quiet failures, one error rule."""

import os
import subprocess
import sys
import time

import pytest

from adambnn_tf.cli import main

ADAMBNN = os.path.join(os.path.dirname(sys.executable), "adambnn")
needs_console_script = pytest.mark.skipif(
    not os.path.exists(ADAMBNN), reason="the adambnn console script is not installed"
)


def _command(*arguments: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [ADAMBNN, *arguments], capture_output=True, text=True, timeout=300, env=environment
    )


@needs_console_script
@pytest.mark.parametrize("arguments", [["--help"], ["report", "--help"], ["train", "--help"]])
def test_help_answers_without_tensorflow_in_under_a_second(arguments):
    started = time.perf_counter()
    result = _command(*arguments)
    seconds = time.perf_counter() - started
    assert result.returncode == 0 and "usage: adambnn" in result.stdout
    assert seconds < 1.0, f"{arguments} took {seconds:.2f} s"


@needs_console_script
def test_a_failing_command_prints_one_error_line_and_no_native_logs(tmp_path):
    result = _command("evaluate", str(tmp_path / "nonexistent.h5"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("adambnn evaluate: error: ") and "nonexistent.h5" in lines[0]


@needs_console_script
def test_verbose_shows_what_quiet_holds_back(tmp_path):
    quiet = _command("evaluate", str(tmp_path / "nonexistent.h5"))
    verbose = _command("--verbose", "evaluate", str(tmp_path / "nonexistent.h5"))
    assert verbose.returncode == 2
    assert len(verbose.stderr.splitlines()) > len(quiet.stderr.splitlines())


def test_unexpected_failures_exit_1_without_traceback_unless_debug(monkeypatch, capsys):
    from adambnn_tf.cli import recipes

    def broken(args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(recipes, "run", broken)
    assert main(["recipes"]) == 1
    error = capsys.readouterr().err
    assert error == (
        "adambnn recipes: error: RuntimeError: disk on fire "
        "(run `adambnn --debug ...` for the traceback)\n"
    )
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(["--debug", "recipes"])
