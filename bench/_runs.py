"""Shared pieces of the benchmark campaigns made of main-job runs: run once, read results.

The campaigns run as scripts (`python bench/NAME.py`), so this folder is on `sys.path` and
they import this module as `_runs`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics

__all__ = [
    "VALIDATION_EXAMPLES",
    "campaign_parser",
    "fashion_mnist_run",
    "results_of",
    "run_once",
    "spread",
    "train_command",
    "train_command_config",
    "write_outputs",
]

VALIDATION_EXAMPLES = 5000
"""The fixed, class-stratified validation split carved from the Fashion-MNIST training images on
which every campaign chooses (`data.validation_examples`)."""


def fashion_mnist_run(overrides: dict, output_dir: str):
    """A quiet run of the `fashion-mnist` recipe that validates on `VALIDATION_EXAMPLES`.

    # Arguments
        overrides: changes of the recipe (dotted keys), e.g. a candidate's and its seed.
        output_dir: the run directory.

    # Returns
        The `adambnn_tf.config.RunConfig`.
    """
    from adambnn_tf.config import recipe

    return recipe("fashion-mnist").with_overrides(
        {
            "data.validation_examples": VALIDATION_EXAMPLES,
            "output.progress": False,
            **overrides,
            "output_dir": output_dir,
        }
    )


def train_command(run_dir: str) -> str:
    """The `adambnn train` command that gives a run's recorded configuration (`run.json`).

    # Arguments
        run_dir: the run directory.

    # Returns
        The command, quoted for a POSIX shell.
    """
    from adambnn_tf.cli.config_options import train_arguments
    from adambnn_tf.config import RunConfig

    config = RunConfig.load(os.path.join(run_dir, "run.json"))
    return shlex.join(["adambnn", "train", *train_arguments(config)])


def train_command_config(command: str):
    """The configuration an `adambnn train` command gives: `train_command`'s inverse.

    # Arguments
        command: the command, as a POSIX shell would split it.

    # Returns
        The `adambnn_tf.config.RunConfig` that `adambnn train` would run.

    # Raises
        ValueError: when the command is not `adambnn train ...`.
    """
    from adambnn_tf.cli import build_parser
    from adambnn_tf.cli.config_options import config_from_options

    words = shlex.split(command)
    if words[:2] != ["adambnn", "train"]:
        raise ValueError(f"Not an `adambnn train ...` command: {command!r}.")
    return config_from_options(build_parser().parse_args(words[1:]))


def results_of(run_dir: str) -> dict | None:
    """A finished run's `results.json`, or `None` while it is not finished.

    # Arguments
        run_dir: the run directory.

    # Returns
        The results, or `None`.
    """
    path = os.path.join(run_dir, "results.json")
    if not os.path.exists(path):
        return None
    with open(path) as file:
        return json.load(file)


def run_once(config) -> dict:
    """Runs (or resumes) a main-job run unless it is finished, and returns its results.

    # Arguments
        config: the run's `adambnn_tf.config.RunConfig`.

    # Returns
        Its `results.json`.
    """
    from adambnn_tf.main_job import run_main_job

    if results_of(config.output_dir) is None:
        run_main_job(config)
    return results_of(config.output_dir)


def spread(values: list[float]) -> dict:
    """Mean, minimum, maximum and sample standard deviation (0 for one value).

    # Arguments
        values: one value per seed.

    # Returns
        The four numbers by name.
    """
    return {
        "mean": statistics.mean(values),
        "min": min(values),
        "max": max(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
    }


def campaign_parser(
    doc: str, phases: tuple[str, ...], name: str, out_name: str | None = None
) -> argparse.ArgumentParser:
    """The options every campaign takes: `--phase`, `--runs-dir` and `--out-dir`.

    # Arguments
        doc: the script's docstring (its first line describes the parser).
        phases: the phases besides `all` and `table`, in the order they run.
        name: the campaign's folder under `runs/` (and under `bench/`, unless `out_name`).
        out_name: its results' folder under `bench/`, if not `name`.

    # Returns
        The parser, to which a script may add its own options.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--phase", choices=("all", *phases, "table"), default="all")
    parser.add_argument("--runs-dir", default=os.path.join("runs", name))
    parser.add_argument("--out-dir", default=os.path.join("bench", out_name or name))
    return parser


def write_outputs(out_dir: str, markdown: str, summary: dict) -> None:
    """Writes a campaign's `runs.md` and `summary.json` (atomically) and prints the table.

    # Arguments
        out_dir: the campaign's results folder (created if needed).
        markdown: the table, ending with a newline.
        summary: what `summary.json` holds.
    """
    from adambnn_tf._files import write_atomically

    os.makedirs(out_dir, exist_ok=True)
    write_atomically(os.path.join(out_dir, "runs.md"), markdown.encode())
    text = json.dumps(summary, indent=2) + "\n"
    write_atomically(os.path.join(out_dir, "summary.json"), text.encode())
    print(markdown, end="", flush=True)
