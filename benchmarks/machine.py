"""What the benchmarks ran on, for ``benchmarks/RESULTS.md``."""

from __future__ import annotations

import os
import platform
import subprocess


def cpu_model() -> str:
    """The CPU's model name (``lscpu``), or what ``platform`` knows."""
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next(
        (line.split(":", 1)[1].strip() for line in cpu.splitlines() if "Model name" in line),
        platform.processor() or "?",
    )


def machine() -> str:
    """CPU model and count, memory and Python version."""
    with open("/proc/meminfo") as f:
        mem_gb = int(f.readline().split()[1]) / 1024**2
    return (
        f"{cpu_model()}, {len(os.sched_getaffinity(0))} CPUs, {mem_gb:.0f} GB, "
        f"Python {platform.python_version()}"
    )
