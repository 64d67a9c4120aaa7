"""What every asv suite here shares: the method x task-count grid, the device and batch, skipping.

Nothing here may touch CUDA at import time: asv's forkserver imports this module once
and forks a child per benchmark, and a CUDA context does not survive a fork. Each suite class
measures one device type (its name says which: ``StepCPU``, ``StepCUDA``, the latter defined only
when torch is built with CUDA), so a device's results have their own history; ``setup`` (in the
child) skips what this run does not measure by raising ``NotImplementedError``: another device,
or a method or task count the ``MTLPERF_BENCH_*`` variables leave out (:mod:`benchmarks.matrix`).
"""

from __future__ import annotations

import os

from mtlperf.cases import make_case

from . import matrix as bench

SEED = 0
WARMUP = 2  # untimed steps in setup: allocator, autotuning, first-call overheads


def skip_unless_measured(device_type: str, method: str, n_tasks: int) -> None:
    """Raise NotImplementedError (asv: skipped) for another device or an unselected point."""
    if "MTLPERF_BENCH_BATCH" in os.environ:
        raise RuntimeError("unset MTLPERF_BENCH_BATCH: asv measures each device at its fixed default batch")
    if device_type != bench.device().type:
        raise NotImplementedError(f"this run benchmarks {bench.device().type}, not {device_type}")
    skip_unless_selected(method, n_tasks)


def skip_unless_selected(method: str, n_tasks: int) -> None:
    """Raise NotImplementedError (asv: skipped) for a point the selection variables leave out."""
    if method not in bench.methods() or n_tasks not in bench.tasks():
        raise NotImplementedError(f"{method} at {n_tasks} tasks is not selected in this run")


class StepBenchmark:
    """Base: one Pyramidal training step of ``method`` at ``n_tasks`` tasks, built in ``setup``.

    A built case can run 20-45% off another build of the same case for its whole life, so the
    samples come from ``processes`` builds (asv's default, 2, made identical code differ by 2.5x in
    an A/A run); asv's statistics then see the spread between builds.
    """

    params = (list(bench.METHODS), list(bench.TASKS))
    param_names = ["method", "n_tasks"]
    device_type = "cpu"
    timeout = 1800  # a per-task-gradient step at 128 tasks and batch 40,000 takes seconds
    number = 1  # one step per sample: steps are long, and each must be synchronised
    warmup_time = 0  # setup already ran WARMUP steps
    processes = 5  # builds, each in its own process
    version = "1"  # keeps the history when this code is edited; bump when a step changes meaning

    def setup(self, method: str, n_tasks: int) -> None:
        skip_unless_measured(self.device_type, method, n_tasks)
        try:
            self.case = make_case(method, n_tasks, bench.batch_size(self.device_type), self.device_type, SEED)
        except ValueError as error:  # e.g. a method this version of mtlperf does not have
            raise NotImplementedError(str(error)) from None
        for _ in range(WARMUP):
            self.case.run()
