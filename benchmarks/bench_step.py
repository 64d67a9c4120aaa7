"""Step time, peak memory and cost relative to ``constant`` of every method, 32 -> 128 tasks (SLAW Figure 2)."""

from __future__ import annotations

import statistics

from mtlperf import timing  # a module, not its functions: asv would take time_* names for benchmarks
from mtlperf.cases import make_case
from mtlperf.device import synchronize

from . import matrix as bench
from .common import RATIO_STEPS, SEED, StepBenchmark


class StepCPU(StepBenchmark):
    device_type = "cpu"

    def time_step(self, method, n_tasks):
        self.case.run()
        synchronize(self.case.device)  # asv reads its clock when this returns

    def peakmem_step(self, method, n_tasks):
        # asv reports the peak RSS of the whole process (torch alone is ~300 MB): compare it only with itself
        self.case.run()

    def track_ratio_to_constant(self, method, n_tasks):
        """Median step time over that of ``constant``, timed interleaved in this process (asv: larger is worse)."""
        constant = make_case("constant", n_tasks, self.case.batch_size, self.case.device, SEED)
        times = timing.time_interleaved({"constant": constant, "method": self.case}, RATIO_STEPS, warmup=1)
        return statistics.median(times["method"]) / statistics.median(times["constant"])

    track_ratio_to_constant.unit = "ratio"


if "cuda" in bench.built_devices():

    class StepCUDA(StepCPU):
        device_type = "cuda"
