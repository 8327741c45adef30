"""What a run happened on: the CPU and the installed versions, for the report and the benchmarks.

Timings mean little without the machine behind them, so both write it next to their figures.
"""
from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path


def package_version(module: str) -> str:
    """The version of whichever installed distribution provides `module` (TensorFlow may be tensorflow-cpu)."""
    for distribution in importlib.metadata.packages_distributions().get(module, [module]):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what Python's platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
