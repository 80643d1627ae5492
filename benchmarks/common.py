"""What the benchmark runner and the floor measurements share: number formatting, CPU
pinning and the CPU's name. Imports nothing from usersock or the scenarios."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any


def fmt(x: float | None) -> str:
    """*x* with about three significant figures, thousands separated; ``—`` for None."""
    if x is None:
        return "—"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def plural(n: int, word: str) -> str:
    """``1 round``, ``5 rounds``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def pin(cpu: int | None, no_pin: bool) -> int | None:
    """Pin this thread (and the threads it starts later) to *cpu*, by default the highest
    CPU allowed. Returns the CPU, or None when *no_pin* or the OS cannot pin."""
    if no_pin or not hasattr(os, "sched_setaffinity"):
        return None
    chosen = cpu if cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {chosen})
    return chosen


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine() -> dict[str, Any]:
    """Python version and implementation, platform, CPU model and count."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
    }
