"""Benchmarks: seeded synthetic instances, matcher vs baselines, ratios in one run."""

import os
import platform


def machine_info() -> dict[str, object]:
    """What the results record about the machine they were measured on."""
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
    }
