"""Step time relative to ``constant``'s, 32 -> 128 tasks: the number ``mtlperf gate`` compares.

Kept apart from :mod:`benchmarks.bench_step` so that ``asv run --bench bench_step`` times only the
suites with samples, which ``asv compare`` tests for significance.
"""

from __future__ import annotations

from mtlperf import scaling

from . import matrix as bench
from .common import SEED, StepBenchmark, skip_unless_measured


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

    class RatioCUDA(RatioCPU):
        device_type = "cuda"
