"""The floating-point work of one training step and the machine's dense-GEMM rate: how far a step is from the limit.

``torch.utils.flop_counter.FlopCounterMode`` counts the matrix products (mm, addmm, bmm, ...,
2 operations per multiply-add) of everything the step dispatches, vmapped backwards included.
It has no formula for the embedding bag, which is the first layer on fingerprint bits, its
weight gradient and the per-task weight gradients of the Gramian engine; those are counted here
from their shapes, one addition per selected row element (``indices × width``). Elementwise work
(activations, losses, the optimiser: a few operations per parameter or output) is not counted,
so the totals are lower bounds, dominated by the products they count.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch.utils.flop_counter import FlopCounterMode

from .device import device_name, timed_clock

GEMM_SIZE = 2048  # square float32 products: 17.2 GFLOP each
GEMM_REPEATS = 5

aten = torch.ops.aten


class Case(Protocol):
    device: torch.device

    def run(self) -> Any: ...


def _bag_forward(weight_shape, indices_shape, *args, out_shape=None, **kwargs) -> int:
    return _numel(indices_shape) * weight_shape[-1]


def _bag_backward(grad_shape, indices_shape, *args, out_shape=None, **kwargs) -> int:
    return _numel(indices_shape) * grad_shape[-1]


def _numel(shape) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


ANALYTIC = {
    aten._embedding_bag: _bag_forward,
    aten._embedding_bag_forward_only: _bag_forward,
    aten._embedding_bag_backward: _bag_backward,
    aten._embedding_bag_dense_backward: _bag_backward,
}


def step_flops(case: Case) -> dict[str, int]:
    """Operations of one (extra, untimed) step of ``case``: ``{"total", "counted", "analytic"}``.

    ``counted``: the products torch's counter has formulas for; ``analytic``: the embedding bags.
    """
    counter = FlopCounterMode(display=False, custom_mapping=ANALYTIC)
    with counter:
        case.run()
    per_op = counter.get_flop_counts().get("Global", {})
    analytic = sum(count for op, count in per_op.items() if _packet(op) in ANALYTIC)
    total = counter.get_total_flops()
    return {"total": int(total), "counted": int(total - analytic), "analytic": int(analytic)}


def _packet(op) -> Any:
    return getattr(op, "overloadpacket", op)


def gemm_rate(device: torch.device, size: int = GEMM_SIZE, repeats: int = GEMM_REPEATS) -> dict[str, Any]:
    """The best rate (operations per second) of a square float32 product on ``device`` with the current threads."""
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=generator).to(device) for _ in range(2))
    a @ b  # warm-up: allocator, kernel selection, clocks
    best = float("inf")
    for _ in range(repeats):
        start = timed_clock(device)
        a @ b
        best = min(best, timed_clock(device) - start)
    return {
        "flops_per_s": 2 * size**3 / best,
        "size": size,
        "dtype": "float32",
        "threads": torch.get_num_threads(),
        "device": device.type,
        "device_name": device_name(device),
    }
