"""Shared pieces of the benchmark campaigns made of main-job runs: run once, read results.

The campaigns run as scripts (`python bench/NAME.py`), so this folder is on `sys.path` and
they import this module as `_runs`.
"""

from __future__ import annotations

import json
import os
import statistics

__all__ = ["results_of", "run_once", "spread"]


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
