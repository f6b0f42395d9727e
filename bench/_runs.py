"""Shared pieces of the benchmark campaigns made of main-job runs: run once, read results.

The campaigns run as scripts (`python bench/NAME.py`), so this folder is on `sys.path` and
they import this module as `_runs`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

__all__ = ["campaign_parser", "results_of", "run_once", "spread", "write_outputs"]


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
