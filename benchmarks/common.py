"""What every asv suite here shares: the method x task-count grid, the device and batch, skipping.

Nothing here may touch CUDA at import time: asv's forkserver imports this module once
and forks a child per benchmark, and a CUDA context does not survive a fork. The device
is therefore a parameter, checked in ``setup`` (in the child), which skips the
combinations this run does not measure by raising ``NotImplementedError``.

The grid, the device and the batch size come from :mod:`benchmarks.matrix` (environment
variables ``MTLPERF_BENCH_DEVICE``, ``_BATCH``, ``_TASKS``, ``_METHODS``). The ``setting``
parameter records the device, the batch size and the torch version together
(``cuda, batch 40000, torch 2.13.0``), so results measured under different ones are
never compared with each other.
"""

from __future__ import annotations

import torch

from mtlperf.cases import make_case
from mtlperf.scaling import DEFAULT_BATCH

from . import matrix as bench

SEED = 0
WARMUP = 2  # untimed steps in setup: allocator, autotuning, first-call overheads
RATIO_STEPS = 5  # interleaved steps per case for track_ratio_to_constant
SETTINGS = {
    f"{device}, batch {bench.batch_size(device)}, torch {torch.__version__}": (device, bench.batch_size(device))
    for device in DEFAULT_BATCH
}  # parameter value -> (device type, batch size)


class StepBenchmark:
    """Base: one Pyramidal training step of ``method`` at ``n_tasks`` tasks, built in ``setup``."""

    params = (bench.methods(), bench.tasks(), list(SETTINGS))
    param_names = ["method", "n_tasks", "setting"]
    timeout = 1800  # a per-task-gradient step at 128 tasks and batch 40,000 takes seconds
    number = 1  # one step per sample: steps are long, and each must be synchronised
    warmup_time = 0  # setup already ran WARMUP steps
    version = "1"  # keeps the history when this code is edited; bump when a step changes meaning

    def setup(self, method: str, n_tasks: int, setting: str) -> None:
        device_type, batch = SETTINGS[setting]
        if device_type != bench.device().type:
            raise NotImplementedError(f"this run benchmarks {bench.device().type}, not {device_type}")
        try:
            self.case = make_case(method, n_tasks, batch, device_type, SEED)
        except ValueError as error:  # e.g. a method this version of mtlperf does not have
            raise NotImplementedError(str(error)) from None
        for _ in range(WARMUP):
            self.case.run()
