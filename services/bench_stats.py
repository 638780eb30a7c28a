"""How the ``make bench-*`` targets report a figure: median and range over N runs, with the
machine's load average beside it (a shared machine's load moves every timing).

``figure_line("fit overhead", [1.0, 1.2, 0.9], loads)`` reads
``fit overhead   median 1.00 s  range 0.90-1.20 s  (n=3; 1.00, 1.20, 0.90)  load 3.1-4.2``.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

__all__ = ["cpu_count", "figure_line", "load_average", "load_note", "machine_line"]


def load_average() -> float:
    """The 1-minute load average (0.0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def cpu_count() -> int:
    return os.cpu_count() or 1


def machine_line() -> str:
    """The machine, and its load right now (1, 5 and 15 minutes), printed above the figures."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return f"machine: {cpu_count()} cores; load average n/a"
    return f"machine: {cpu_count()} cores; load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1/5/15 min)"


def load_note(loads: Sequence[float]) -> str:
    """``load 3.1-4.2`` over the runs (1-minute averages, each read as a run ended)."""
    if not loads:
        return "load n/a"
    low, high = min(loads), max(loads)
    return f"load {low:.1f}" if round(low, 1) == round(high, 1) else f"load {low:.1f}-{high:.1f}"


def figure_line(name: str, values: Sequence[float], loads: Sequence[float], width: int = 28) -> str:
    """One figure: median, range, every value, and the load while it was measured."""
    if not values:
        return f"{name:<{width}} n/a  ({load_note(loads)})"
    each = ", ".join(f"{v:.2f}" for v in values)
    return (
        f"{name:<{width}} median {statistics.median(values):6.2f} s  "
        f"range {min(values):.2f}-{max(values):.2f} s  (n={len(values)}: {each})  {load_note(loads)}"
    )
