"""Clocks for training steps: synchronised timing, interleaved rounds, peak memory.

Everything here takes a case (:class:`mtlperf.cases.Case`: ``run()`` one step, ``device``);
the asv suites, the pytest-benchmark suite and ``mtlperf scaling`` all time cases through it, so
they can never disagree. The clock is read only after the device has finished
(:func:`mtlperf.device.timed_clock`); SLAW's code did not synchronise the GPU.
"""

from __future__ import annotations

import ctypes
import math
import statistics
from collections.abc import Callable
from typing import Any, Protocol

import torch

from .device import synchronize, timed_clock
from .validation import integer_at_least


class Case(Protocol):
    device: torch.device

    def run(self) -> Any: ...


def time_step(case: Case, steps: int, warmup: int) -> dict[str, Any]:
    """Run ``warmup`` untimed steps, then time ``steps`` steps one by one on a synchronised clock.

    Returns seconds per step: ``{"median", "min", "max", "times": [...]}``.
    """
    return summarize(time_interleaved({"case": case}, steps, warmup)["case"])


def time_interleaved(
    cases: dict[str, Case],
    steps: int,
    warmup: int,
    on_round: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Warm every case up, then time ``steps`` rounds of one step of each case in turn (``on_round`` after each).

    Interleaving lets drift of the machine (other jobs, clock speed, heat) hit every
    case alike, so ratios between cases stay stable when absolute times do not. Each
    round starts one case later than the one before: a step that follows a memory-hungry
    one pays for pages the allocator gave back, and rotating spreads that cost over all
    cases instead of charging it to the first one every round (the median then drops it).
    """
    integer_at_least(steps, 1, "steps")
    integer_at_least(warmup, 0, "warmup")
    for case in cases.values():
        for _ in range(warmup):
            case.run()
    names = list(cases)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(steps):
        start = round_ % len(names)
        for name in names[start:] + names[:start]:
            times[name].append(timed_step(cases[name]))
        if on_round is not None:
            on_round()
    return times


def ratio_standard_error(times: list[float], reference: list[float]) -> float:
    """Relative standard error of the median per-round ratio ``times[k] / reference[k]`` (0 for one round)."""
    ratios = [t / r for t, r in zip(times, reference, strict=True)]
    median = statistics.median(ratios)
    mad = statistics.median(abs(r - median) for r in ratios)
    return 1.2533 * 1.4826 * mad / math.sqrt(len(ratios)) / median


def repeat_standard_error(ratios: list[float]) -> float:
    """Relative standard error of the median of independent repeats' ratios (their log-spread, 1.2533 / sqrt(n))."""
    logs = [math.log(r) for r in ratios]
    return 1.2533 * statistics.stdev(logs) / math.sqrt(len(logs))


def summarize(times: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "times": list(times)}


def timed_step(case: Case) -> float:
    """Seconds for one step, the device synchronised before both clock reads."""
    start = timed_clock(case.device)
    case.run()
    return timed_clock(case.device) - start


def peak_memory_bytes(case: Case) -> int | None:
    """Bytes one step needs beyond what the process holds before it (one extra, untimed step).

    CUDA: ``torch.cuda.max_memory_allocated`` during the step minus ``memory_allocated`` before it
    (tensors only, not the allocator's cache). CPU (Linux): growth of the peak resident set size
    during the step (``VmHWM``, reset through ``/proc/self/clear_refs``) over the resident size
    before it, after ``malloc_trim`` has returned freed memory to the system, so the step's
    buffers cannot hide in memory the allocator kept from earlier steps. ``None`` elsewhere.
    """
    if case.device.type == "cuda":
        synchronize(case.device)
        torch.cuda.reset_peak_memory_stats(case.device)
        before = torch.cuda.memory_allocated(case.device)
        case.run()
        synchronize(case.device)
        return int(torch.cuda.max_memory_allocated(case.device) - before)
    if case.device.type != "cpu":
        return None
    _malloc_trim()
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # reset the peak RSS to the current RSS
    except OSError:  # not Linux, or not allowed: no honest number to give
        return None
    before = _proc_status_bytes("VmRSS")
    case.run()
    return max(0, _proc_status_bytes("VmHWM") - before)


def _proc_status_bytes(key: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise ValueError(f"/proc/self/status has no {key} line")


def _malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass
