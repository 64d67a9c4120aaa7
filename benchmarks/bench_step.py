"""Step time, peak memory and cost relative to ``constant`` of every method, 32 -> 128 tasks (SLAW Figure 2)."""

from __future__ import annotations

from mtlperf import scaling
from mtlperf.device import synchronize

from . import matrix as bench
from .common import SEED, StepBenchmark, skip_unless_measured


class StepCPU(StepBenchmark):
    device_type = "cpu"

    def time_step(self, method, n_tasks):
        self.case.run()
        synchronize(self.case.device)  # asv reads its clock when this returns

    def peakmem_step(self, method, n_tasks):
        # asv reports the peak RSS of the whole process (torch alone is ~300 MB): compare it only with itself
        self.case.run()


class RatioCPU:
    """Step time over ``constant``'s, measured as ``mtlperf scaling`` does (asv: larger is worse).

    A ``track_`` result carries no samples for asv's statistics, so the one number must already be
    robust: the median over :data:`mtlperf.scaling.REPEATS` builds of each build's median ratio of
    :data:`~mtlperf.scaling.STEPS` interleaved rounds, in one process.
    """

    params = StepBenchmark.params
    param_names = StepBenchmark.param_names
    device_type = "cpu"
    timeout = StepBenchmark.timeout
    processes = 1  # the repeats are inside
    version = "2"

    def setup(self, method, n_tasks):
        skip_unless_measured(self.device_type, method, n_tasks)

    def track_ratio_to_constant(self, method, n_tasks):
        device = bench.device()
        batch = bench.batch_size(device.type)
        measured = scaling.measure(
            [method], n_tasks, batch, scaling.STEPS, scaling.WARMUP, scaling.REPEATS, device, SEED, False, {}
        )
        return round(next(measured)["ratio_to_constant"], 3)

    track_ratio_to_constant.unit = "ratio"


if "cuda" in bench.built_devices():

    class StepCUDA(StepCPU):
        device_type = "cuda"

    class RatioCUDA(RatioCPU):
        device_type = "cuda"
