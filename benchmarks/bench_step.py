"""Step time and peak memory of every method, 32 -> 128 tasks (SLAW Figure 2), sampled for asv's statistics."""

from __future__ import annotations

from mtlperf.device import synchronize

from . import matrix as bench
from .common import StepBenchmark


class StepCPU(StepBenchmark):
    device_type = "cpu"

    def time_step(self, method, n_tasks):
        self.case.run()
        synchronize(self.case.device)  # asv reads its clock when this returns

    def peakmem_step(self, method, n_tasks):
        # asv reports the peak RSS of the whole process (torch alone is ~300 MB): compare it only with itself
        self.case.run()


if "cuda" in bench.built_devices():

    class StepCUDA(StepCPU):
        device_type = "cuda"
