"""The benchmark matrix shared by the asv suites here and the pytest-benchmark suite (tests/test_benchmarks.py).

Environment variables narrow or move it without editing code (CI's quick CPU runs):
``MTLPERF_BENCH_DEVICE`` (auto, cpu, cuda; default auto), ``MTLPERF_BENCH_BATCH`` (rows
per batch; default 256 on CPU, SLAW's 40,000 on a GPU), ``MTLPERF_BENCH_TASKS`` (e.g.
``32,128``) and ``MTLPERF_BENCH_METHODS`` (specs separated by ``;``).
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
    text = os.environ.get("MTLPERF_BENCH_METHODS")
    return list(METHODS) if text is None else [s.strip() for s in text.split(";") if s.strip()]


def tasks() -> list[int]:
    text = os.environ.get("MTLPERF_BENCH_TASKS")
    if text is None:
        return list(TASKS)
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"MTLPERF_BENCH_TASKS must be comma-separated integers, got {text!r}") from None


def device() -> torch.device:
    """Touches CUDA (``torch.cuda.is_available``): call it in a benchmark's setup, never at import."""
    return resolve_device(os.environ.get("MTLPERF_BENCH_DEVICE", "auto"))


def batch_size(device_type: str) -> int:
    text = os.environ.get("MTLPERF_BENCH_BATCH")
    if text is None:
        return DEFAULT_BATCH.get(device_type, DEFAULT_BATCH["cuda"])
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"MTLPERF_BENCH_BATCH must be a positive integer, got {text!r}")
    return int(text)
