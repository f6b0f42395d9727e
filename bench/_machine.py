"""Shared pieces of the side-by-side benchmarks: the CPU they ran on, and framework workers.

The benchmarks run as scripts (`python bench/NAME.py`), so this folder is on `sys.path` and
they import this module as `_machine`. It imports neither TensorFlow nor PyTorch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

__all__ = ["cpu_description", "run_worker"]

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
