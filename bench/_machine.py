"""Shared pieces of the side-by-side benchmarks: the CPU they ran on, and framework workers.

The benchmarks run as scripts (`python bench/NAME.py`), so this folder is on `sys.path` and
they import this module as `_machine`. It imports neither TensorFlow nor PyTorch.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable

__all__ = ["compare_workers", "cpu_description", "run_worker", "serve_worker"]

_FLAG_PREFIXES = ("avx2", "avx512", "fma", "amx")


def cpu_description() -> str:
    """`lscpu`'s model name, CPU count and the vector-instruction flags that matter here.

    # Returns
        e.g. `"AMD EPYC, 2 CPUs, flags: fma avx2 avx512f ..."`.
    """
    try:
        described = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no lscpu)"
    fields = dict(line.split(":", 1) for line in described.splitlines() if ":" in line)
    flags = [flag for flag in fields.get("Flags", "").split() if flag.startswith(_FLAG_PREFIXES)]
    return (
        f"{fields.get('Model name', '?').strip()}, {fields.get('CPU(s)', '?').strip()} CPUs, "
        f"flags: {' '.join(flags)}"
    )


def run_worker(script: str, framework: str, args: argparse.Namespace) -> dict:
    """Runs `script --worker FRAMEWORK` with the same options in a fresh process.

    Each framework is timed in its own process, so that neither's threads or memory disturb the
    other's; the worker prints its result as one JSON line.

    # Arguments
        script: the benchmark script (`__file__`).
        framework: the worker to run, e.g. `"keras"` or `"pytorch"`.
        args: the parsed options, passed on (`worker` and `rounds` are the parent's own).

    # Returns
        The worker's JSON result.

    # Raises
        RuntimeError: when the worker fails or prints no result (its stderr's end is shown).
    """
    command = [
        sys.executable,
        os.path.abspath(script),
        "--worker",
        framework,
        *(
            f"--{key.replace('_', '-')}={value}"
            for key, value in vars(args).items()
            if key not in ("worker", "rounds")
        ),
    ]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    output = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    lines = [line for line in output.stdout.splitlines() if line.startswith("{")]
    if output.returncode != 0 or not lines:
        raise RuntimeError(f"{framework} worker failed:\n{output.stderr[-3000:]}")
    return json.loads(lines[-1])


def serve_worker(workers: dict[str, Callable[[argparse.Namespace], dict]], args) -> int:
    """The worker side of `run_worker`: runs `workers[args.worker]` and prints its result,
    with the process's peak resident memory, as one JSON line.

    # Arguments
        workers: framework name -> function of the parsed options returning a JSON-able dict.
        args: the parsed options (`args.worker` names the worker).

    # Returns
        0, the process's exit status.
    """
    result = workers[args.worker](args)
    # ru_maxrss is in KiB on Linux.
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))
    return 0


def compare_workers(script: str, args: argparse.Namespace, frameworks=("keras", "torch")):
    """Times the frameworks' workers in alternating rounds (`args.rounds`), one process each.

    # Arguments
        script: the benchmark script (`__file__`).
        args: the parsed options, passed on to the workers.
        frameworks: the two workers, the first one's time divided by the second's.

    # Returns
        `(summary, ratio)`: per framework the median step, median first step and peak memory
        over all rounds, and the ratio of the medians (first framework over second).
    """
    results = {framework: [] for framework in frameworks}
    for round_index in range(args.rounds):
        order = frameworks if round_index % 2 == 0 else frameworks[::-1]
        for framework in order:
            results[framework].append(run_worker(script, framework, args))
            print(f"round {round_index} {framework}: {results[framework][-1]}", flush=True)
    summary = {
        framework: {
            "median_step_s": statistics.median(t for run in runs for t in run["step_s"]),
            "first_step_s": statistics.median(run["first_step_s"] for run in runs),
            "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
        }
        for framework, runs in results.items()
    }
    first, second = frameworks
    return summary, summary[first]["median_step_s"] / summary[second]["median_step_s"]
