"""The one place that times a training step: the asv suites, the pytest-benchmark suite
and ``mtlperf scaling`` all come here, so they can never disagree.

A step is SLAW's PCBA step (Crawshaw & Kosecka, section on scaling): the Pyramidal
network 2048 -> 2000 -> 100 with one head per task, per-task losses on a batch of
PCBA-shaped fingerprints with missing labels, the method's backward, gradient-norm
clip 0.5 and Adam (lr 3e-4, eps 1e-5). The batches are generated once per task
count and placed on the device before timing, so a timed step starts from a batch
already on the device (SLAW's code also counted fetching the batch, and did not
synchronise the GPU before reading the clock; here the clock is read only after the
device has finished, :func:`mtlperf.device.timed_clock`).
"""
from __future__ import annotations

import ctypes
import importlib.util
import statistics
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import torch

from .data.pcba import pcba_task_names
from .device import device_name, resolve_device, synchronize, timed_clock
from .methods import create_method, parse_spec

N_INPUTS = 2048  # ECFP bits, SLAW's PCBA setting
MAX_TASKS = len(pcba_task_names())  # 128: the synthetic data are PCBA-shaped
N_BATCHES = 2  # distinct batches the step cycles through
LR, ADAM_EPS, CLIP = 3e-4, 1e-5, 0.5
TORCHJD_SPEC = "torchjd-pcgrad"  # comparison row: torchjd's PCGrad on the same network
DENSE_INPUT_SPEC = "constant-dense-input"  # comparison row: constant with a dense first-layer input


@dataclass
class StepCase:
    """Everything one timed step needs, built once: ``run()`` does one full training step."""

    spec: str
    n_tasks: int
    batch_size: int
    device: torch.device
    implementation: str | None
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    batches: list[tuple[Any, torch.Tensor]]
    forward_backward: Callable[[Any, torch.Tensor], torch.Tensor]  # (x, labels) -> task losses, grads filled
    dense_input: bool = False
    _next: int = field(default=0, repr=False)

    def run(self) -> torch.Tensor:
        """Zero grads, forward, task losses, the method's backward, clip, Adam step; returns the detached losses."""
        x, labels = self.batches[self._next]
        self._next = (self._next + 1) % len(self.batches)
        self.optimizer.zero_grad(set_to_none=True)
        losses = self.forward_backward(x, labels)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), CLIP)
        self.optimizer.step()
        return losses.detach()

    def info(self) -> dict[str, Any]:
        """What a result must carry to be read later: the case and the machine it ran on."""
        return {
            "method": self.spec,
            "implementation": self.implementation,
            "n_tasks": self.n_tasks,
            "batch_size": self.batch_size,
            "dense_input": self.dense_input,
            "device": self.device.type,
            "device_name": device_name(self.device),
            "torch": torch.__version__,
        }


def torchjd_available() -> bool:
    return importlib.util.find_spec("torchjd") is not None


def check_case(spec: str, n_tasks: int, batch_size: int) -> None:
    """A one-line ValueError for anything :func:`make_step` would reject, without building anything big."""
    if isinstance(n_tasks, bool) or not isinstance(n_tasks, int) or not 1 <= n_tasks <= MAX_TASKS:
        raise ValueError(f"n_tasks must be an integer from 1 to {MAX_TASKS} (the PCBA tasks), got {n_tasks!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if spec == DENSE_INPUT_SPEC:
        return
    if spec == TORCHJD_SPEC:
        if not torchjd_available():
            raise ValueError(f"{TORCHJD_SPEC} needs torchjd, which is not installed (pip install torchjd)")
        return
    _build_method(spec, n_tasks)


def make_step(
    spec: str, n_tasks: int, batch_size: int, device: str | torch.device = "auto", seed: int = 0,
    dense_input: bool = False,
) -> StepCase:
    """Build the network, the method and the fixed batches for one (method, task count) case.

    ``spec`` is a method spec (``pcgrad:implementation=loop``), ``torchjd-pcgrad`` or
    ``constant-dense-input`` (``constant`` with ``dense_input=True``); ``dense_input=True`` feeds
    the first layer dense 0/1 floats instead of :class:`SparseBits`.
    The same seed on the same device gives the same numbers.
    """
    check_case(spec, n_tasks, batch_size)
    dense_input = dense_input or spec == DENSE_INPUT_SPEC
    device = resolve_device(device) if isinstance(device, str) else device
    from .models import build_model  # heavy imports only once a case is built

    torch.manual_seed(seed)
    model = build_model("pyramidal", N_INPUTS, n_tasks).to(device)
    batches = [(x.to(device), y.to(device)) for x, y in _synthetic_batches(n_tasks, batch_size, seed)]
    if dense_input:
        batches = [(x.to_dense(), y) for x, y in batches]
    if spec == TORCHJD_SPEC:
        extra, implementation, forward_backward = [], "torchjd", _torchjd_forward_backward(model)
    else:
        method = _build_method("constant" if spec == DENSE_INPUT_SPEC else spec, n_tasks)
        extra, implementation = method.parameters(), method.hparams.get("implementation")
        implementation = "dense-input" if spec == DENSE_INPUT_SPEC else implementation
        forward_backward = _method_forward_backward(model, method)
    optimizer = torch.optim.Adam([*model.parameters(), *extra], lr=LR, eps=ADAM_EPS)
    return StepCase(spec, n_tasks, batch_size, device, implementation, model, optimizer, batches,
                    forward_backward, dense_input)


def time_step(case: StepCase, steps: int, warmup: int) -> dict[str, Any]:
    """Run ``warmup`` untimed steps, then time ``steps`` steps one by one on a synchronised clock.

    Returns seconds per step: ``{"median", "min", "max", "times": [...]}``.
    """
    return summarize(time_interleaved({case.spec: case}, steps, warmup)[case.spec])


def time_interleaved(
    cases: dict[str, StepCase], steps: int, warmup: int, on_round: Callable[[], None] | None = None,
) -> dict[str, list[float]]:
    """Warm every case up, then time ``steps`` rounds of one step of each case in turn (``on_round`` after each).

    Interleaving lets drift of the machine (other jobs, clock speed, heat) hit every
    case alike, so ratios between cases stay stable when absolute times do not. Each
    round starts one case later than the one before: a step that follows a memory-hungry
    one pays for pages the allocator gave back, and rotating spreads that cost over all
    cases instead of charging it to the first one every round (the median then drops it).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
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


def summarize(times: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "times": list(times)}


def timed_step(case: StepCase) -> float:
    """Seconds for one step, the device synchronised before both clock reads."""
    start = timed_clock(case.device)
    case.run()
    return timed_clock(case.device) - start


def peak_memory_bytes(case: StepCase) -> int | None:
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


def _build_method(spec: str, n_tasks: int):
    name, hparams = parse_spec(spec)
    return create_method(name, n_tasks, **hparams)


def _method_forward_backward(model: torch.nn.Module, method) -> Callable:
    from .losses import task_losses

    def forward_backward(x, labels):
        losses = task_losses(model(x), labels)
        method.backward(
            losses,
            model.shared_parameters(),
            last_shared=model.last_shared_parameters(),
            heads=model.head_matrix(),
            last_shared_io=getattr(model, "last_shared_io", None),
            shared_linear_io=getattr(model, "shared_linear_io", None),
        )
        return losses

    return forward_backward


def _torchjd_forward_backward(model: torch.nn.Module) -> Callable:
    """torchjd's PCGrad (``mtl_backward`` with ``aggregation.PCGrad``) on the trunk's output features.

    torchjd's defaults are kept (its per-task backward is vmapped; torch has no batching rule for
    the embedding bag's backward and falls back to a slower loop, with a warning). The graph is
    retained because the T losses come out of one vectorised loss and share their graph.
    """
    from torchjd import aggregation, autojac

    from .losses import task_losses

    aggregator, shared = aggregation.PCGrad(), list(model.shared_parameters())

    def forward_backward(x, labels):
        features = model.trunk(x)
        losses = task_losses(model.heads(features), labels)
        if hasattr(autojac, "jac_to_grad"):  # torchjd >= 0.9: Jacobians first, aggregation separate
            autojac.mtl_backward(list(losses), features, retain_graph=True)
            autojac.jac_to_grad(shared, aggregator)
        else:
            autojac.mtl_backward(list(losses), features, aggregator, retain_graph=True)
        return losses

    return forward_backward


@lru_cache(maxsize=4)
def _synthetic_batches(n_tasks: int, batch_size: int, seed: int) -> tuple[tuple[Any, torch.Tensor], ...]:
    """``N_BATCHES`` PCBA-shaped batches (SparseBits, float labels with NaN), on the CPU, made once per case shape."""
    from .data.synthetic import synthetic_pcba

    data = synthetic_pcba(n_molecules=N_BATCHES * batch_size, n_tasks=n_tasks, n_bits=N_INPUTS, seed=seed)
    labels = torch.as_tensor(data.labels, dtype=torch.float32)
    rows = torch.arange(N_BATCHES * batch_size).reshape(N_BATCHES, batch_size)
    return tuple((data.inputs.batch(r.numpy()), labels[r]) for r in rows)


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
