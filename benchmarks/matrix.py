"""The benchmark matrix shared by the asv suites here and the pytest-benchmark suite (tests/test_benchmarks.py).

The grid is fixed: asv keys its history by the parameter values, so they must be the same on every
run and machine. Environment variables only choose which part of it runs (CI's quick runs):
``MTLPERF_BENCH_METHODS`` (specs of :data:`METHODS` separated by ``;``), ``MTLPERF_BENCH_TASKS``
(counts of :data:`TASKS`, e.g. ``32,128``) and ``MTLPERF_BENCH_DEVICE`` (auto, cpu, cuda; default
auto); a name outside the grid is an error. The batch is the device's
:data:`mtlperf.scaling.DEFAULT_BATCH`; ``MTLPERF_BENCH_BATCH`` changes it for pytest-benchmark only,
and asv refuses to run with it set (its history would mix two batch sizes under one name).
"""

from __future__ import annotations

import os

import torch

from mtlperf.device import resolve_device
from mtlperf.scaling import DEFAULT_BATCH

METHODS = (
    "constant",
    "lbtw",
    "slaw",
    "dwa",
    "uncertainty",
    "gradnorm",
    "pcgrad",
    "rmtl",
    "gradnorm:implementation=loop",
    "pcgrad:implementation=loop",
    "constant-dense-input",
)

TASKS = (32, 64, 96, 128)  # SLAW's PCBA subsets


def methods() -> list[str]:
    """The methods this run measures: all of :data:`METHODS`, or those ``MTLPERF_BENCH_METHODS`` names."""
    return _selected("MTLPERF_BENCH_METHODS", METHODS, ";", str)


def tasks() -> list[int]:
    """The task counts this run measures: all of :data:`TASKS`, or those ``MTLPERF_BENCH_TASKS`` names."""
    return _selected("MTLPERF_BENCH_TASKS", TASKS, ",", int)


def _selected(variable: str, grid: tuple, separator: str, kind) -> list:
    text = os.environ.get(variable)
    if text is None:
        return list(grid)
    try:
        chosen = [kind(v.strip()) for v in text.split(separator) if v.strip()]
    except ValueError:
        chosen = None
    unknown = [v for v in chosen or [] if v not in grid]
    if not chosen or unknown:
        valid = separator.join(map(str, grid))
        raise ValueError(f"{variable}={text!r}: {unknown or 'nothing'} not in the benchmark grid; valid: {valid}")
    return chosen


def device() -> torch.device:
    """Touches CUDA (``torch.cuda.is_available``): call it in a benchmark's setup, never at import."""
    return resolve_device(os.environ.get("MTLPERF_BENCH_DEVICE", "auto"))


def built_devices() -> list[str]:
    """The device types this torch build can run, read without touching CUDA (safe at import)."""
    return ["cpu", "cuda"] if torch.version.cuda or torch.version.hip else ["cpu"]


def batch_size(device_type: str) -> int:
    """The rows per step: the device's default, or ``MTLPERF_BENCH_BATCH`` (pytest-benchmark only)."""
    text = os.environ.get("MTLPERF_BENCH_BATCH")
    if text is None:
        return DEFAULT_BATCH.get(device_type, DEFAULT_BATCH["cuda"])
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"MTLPERF_BENCH_BATCH must be a positive integer, got {text!r}")
    return int(text)
