"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def clock(run: Callable[[], object]) -> float:
    """Return the seconds ``run()`` takes, with the garbage collector off."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        run()
        return time.perf_counter() - start
    finally:
        gc.enable()


def best_alternating(repeats: int, *cases: Callable[[], float]) -> list[float]:
    """Run the timed cases in turn ``repeats`` times (so drift hits all alike); return each one's best time."""
    times: list[list[float]] = [[] for _ in cases]
    for _ in range(repeats):
        for case, case_times in zip(cases, times, strict=True):
            case_times.append(case())
    return [min(case_times) for case_times in times]
