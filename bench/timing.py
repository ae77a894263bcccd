"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import gc
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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


# -- time and memory of one case, in a process of its own -------------------------

FORK = multiprocessing.get_context("fork")


@dataclass
class Forked:
    """What a case did in its own process: its time, what it returned, its peak RSS and how much that grew."""

    seconds: float
    result: Any
    peak_rss: int  # bytes
    rss_growth: int  # bytes


def rss(name: str) -> int:
    """Return VmRSS or VmHWM of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {name} in /proc/self/status")


def mib(size: int) -> str:
    return f"{size / 2**20:6.1f} MiB"


def in_fork(case: Callable[[], Any]) -> Forked:
    """Run ``case`` in a forked process with a database connection of its own; return its figures.

    The peak RSS is the child's ``VmHWM``, reset with ``/proc/self/clear_refs`` just
    before the case, so it is the case's own; the growth is over the RSS it started with.
    """
    from django.db import connections

    connections.close_all()  # the child opens its own connection
    receiver, sender = FORK.Pipe(duplex=False)

    def child() -> None:
        from django.db import connection

        try:
            connection.ensure_connection()
            try:
                Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            except OSError:
                pass
            before = rss("VmRSS")
            start = time.perf_counter()
            result = case()
            seconds = time.perf_counter() - start
            sender.send(Forked(seconds, result, rss("VmHWM"), rss("VmHWM") - before))
        except BaseException as error:
            sender.send(error)
            raise
        finally:
            connection.close()

    process = FORK.Process(target=child)
    process.start()
    figures = receiver.recv()
    process.join()
    if isinstance(figures, BaseException):
        raise RuntimeError(f"the measured process failed: {figures!r}") from figures
    if process.exitcode != 0:
        raise RuntimeError(f"the measured process exited with {process.exitcode}")
    return figures
