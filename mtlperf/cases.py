"""The timed cases: SLAW's PCBA training step for one method, or one comparison row, at one task count.

A case is SLAW's PCBA step (Crawshaw & Kosecka, section on scaling): the Pyramidal network
2048 -> 2000 -> 100 with one head per task, per-task losses on PCBA-shaped fingerprints with
missing labels, then the :class:`~mtlperf.step.TrainingStep` with gradient-norm clip 0.5 and Adam
(lr 3e-4, eps 1e-5) — the step training runs. The batches are made once per case and placed on
the device before timing, so a timed step starts from a batch already there (SLAW's code also
counted fetching the batch).

A case's name is a method spec (``pcgrad:implementation=loop``) or one of the
:data:`COMPARISONS`, rows that time something other than a registered method on the same network:
among them ``sgnn`` and ``sgnn-ebm``, the SGNN-EBM paper's structured models (their sizes) with the
Pyramidal trunk as molecule encoder, over a random task graph of :data:`EDGES_PER_TASK` edges a
task, so that the edge count grows with the task count as in a real task graph.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch

from .data.pcba import pcba_task_names
from .device import device_name, resolve_device, synchronize
from .losses import task_losses
from .methods import create_method, parse_spec
from .models.parts import ModelParts
from .step import TrainingStep, Weighting
from .validation import integer_at_least, is_integer, is_real

N_INPUTS = 2048  # ECFP bits, SLAW's PCBA setting
MAX_TASKS = len(pcba_task_names())  # 128: the synthetic data are PCBA-shaped
N_BATCHES = 2  # distinct batches a case cycles through
LR, ADAM_EPS, CLIP = 3e-4, 1e-5, 0.5
EDGES_PER_TASK = 3571 / 382  # the paper's ChEMBL-STRING dense_10 task graph: 3,571 edges over 382 tasks


@dataclass
class StepCase:
    """One training step built once: ``run()`` takes one step on the next of its batches."""

    name: str
    n_tasks: int
    batch_size: int
    device: torch.device
    implementation: str | None
    step: TrainingStep
    batches: list[tuple[Any, ...]]  # the step's arguments: (inputs, labels), and the noise logits for sgnn-ebm
    dense_input: bool = False
    slowdown: float = 1.0  # > 1: a planted regression (gate calibration): each step waits (slowdown - 1) x its time
    _next: int = field(default=0, repr=False)

    @property
    def model(self) -> torch.nn.Module:
        return self.step.model

    def run(self) -> torch.Tensor:
        """One training step; returns its detached task losses."""
        arguments = self.batches[self._next]
        self._next = (self._next + 1) % len(self.batches)
        if self.slowdown == 1.0:
            return self.step(*arguments).losses
        start = time.perf_counter()
        losses = self.step(*arguments).losses
        synchronize(self.device)
        time.sleep((self.slowdown - 1.0) * (time.perf_counter() - start))
        return losses

    def info(self) -> dict[str, Any]:
        """What a result must carry to be read later: the case and the machine it ran on."""
        return {
            "method": self.name,
            "implementation": self.implementation,
            "n_tasks": self.n_tasks,
            "batch_size": self.batch_size,
            "dense_input": self.dense_input,
            "device": self.device.type,
            "device_name": device_name(self.device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        }


@dataclass(frozen=True)
class Comparison:
    """A comparison row: what it times, the weighting it uses, and what it needs installed."""

    description: str
    weighting: Callable[[int], tuple[Weighting, str]]  # n_tasks -> (weighting, implementation label)
    dense_input: bool = False
    needs_torchjd: bool = False
    structured: str | None = None  # "sgnn" or "sgnn-ebm": that model over a random task graph


class TorchJDPCGrad:
    """torchjd's PCGrad (``mtl_backward`` + ``aggregation.PCGrad``) on the trunk's output features.

    torchjd's defaults are kept (its per-task backward is vmapped; torch has no batching rule for
    the embedding bag's backward and falls back to a slower loop, with a warning). The graph is
    retained because the T losses come out of one vectorised loss and share their graph.
    """

    def __init__(self) -> None:
        from torchjd import aggregation

        self.aggregator = aggregation.PCGrad()

    def backward(self, losses: torch.Tensor, parts: ModelParts) -> None:
        from torchjd import autojac

        if hasattr(autojac, "jac_to_grad"):  # torchjd >= 0.9: Jacobians first, aggregation separate
            autojac.mtl_backward(list(losses), parts.features, retain_graph=True)
            autojac.jac_to_grad(list(parts.shared), self.aggregator)
        else:
            autojac.mtl_backward(list(losses), parts.features, self.aggregator, retain_graph=True)


COMPARISONS: dict[str, Comparison] = {
    "torchjd-pcgrad": Comparison(
        "torchjd's PCGrad on the same network", lambda n_tasks: (TorchJDPCGrad(), "torchjd"), needs_torchjd=True
    ),
    "constant-dense-input": Comparison(
        "constant with the first layer fed dense 0/1 floats instead of SparseBits",
        lambda n_tasks: (create_method("constant", n_tasks), "dense-input"),
        dense_input=True,
    ),
    "sgnn": Comparison(
        "SGNN (paper sizes) on the Pyramidal trunk over a random task graph, constant weighting",
        lambda n_tasks: (create_method("constant", n_tasks), "sgnn"),
        structured="sgnn",
    ),
    "sgnn-ebm": Comparison(
        "SGNN-EBM's NCE step (paper sizes) on the Pyramidal trunk over a random task graph",
        lambda n_tasks: (None, "sgnn-ebm"),
        structured="sgnn-ebm",
    ),
}


def torchjd_available() -> bool:
    return importlib.util.find_spec("torchjd") is not None


def check_case(name: str, n_tasks: int, batch_size: int) -> None:
    """A one-line ValueError for anything :func:`make_case` would reject, without building anything big."""
    if not is_integer(n_tasks) or not 1 <= n_tasks <= MAX_TASKS:
        raise ValueError(f"n_tasks must be an integer from 1 to {MAX_TASKS} (the PCBA tasks), got {n_tasks!r}")
    integer_at_least(batch_size, 1, "batch_size")
    comparison = COMPARISONS.get(name)
    if comparison is None:
        _method(name, n_tasks)
    elif comparison.needs_torchjd and not torchjd_available():
        raise ValueError(f"{name} needs torchjd, which is not installed (pip install torchjd)")


def make_case(
    name: str,
    n_tasks: int,
    batch_size: int,
    device: str | torch.device = "auto",
    seed: int = 0,
    dense_input: bool = False,
    slowdown: float = 1.0,
) -> StepCase:
    """Build the network, the weighting, the optimiser and the fixed batches of one case.

    ``name``: a method spec or a :data:`COMPARISONS` key; ``dense_input=True`` feeds the first layer
    dense 0/1 floats instead of :class:`SparseBits`. The same seed on the same device gives the
    same numbers. ``slowdown`` > 1 plants a regression of that factor (to calibrate a gate).
    """
    check_case(name, n_tasks, batch_size)
    if not (is_real(slowdown) and slowdown >= 1.0):
        raise ValueError(f"slowdown must be a factor >= 1, got {slowdown!r}")
    device = resolve_device(device) if isinstance(device, str) else device
    from .models import build_model  # heavy imports only once a case is built

    comparison = COMPARISONS.get(name)
    dense_input = dense_input or (comparison is not None and comparison.dense_input)
    torch.manual_seed(seed)
    model = build_model("pyramidal", N_INPUTS, n_tasks).to(device)
    batches = [(x.to(device), y.to(device)) for x, y in _synthetic_batches(n_tasks, batch_size, seed)]
    if dense_input:
        batches = [(x.to_dense(), y) for x, y in batches]
    if comparison is None:
        weighting = _method(name, n_tasks)
        implementation = weighting.hparams.get("implementation")
    else:
        weighting, implementation = comparison.weighting(n_tasks)
    if comparison is not None and comparison.structured is not None:
        model = _structured_model(comparison.structured, model.trunk, n_tasks, seed).to(device)
    own_parameters = weighting.parameters() if hasattr(weighting, "parameters") else []
    optimizer = torch.optim.Adam([*model.parameters(), *own_parameters], lr=LR, eps=ADAM_EPS)
    if comparison is not None and comparison.structured == "sgnn-ebm":
        from .ebm.step import EnergyStep

        noise = torch.Generator().manual_seed(seed)
        batches = [(x, y, torch.randn(y.shape, generator=noise).to(device)) for x, y in batches]
        step = EnergyStep(model, optimizer, clip=CLIP, sampler=torch.Generator(device=device).manual_seed(seed))
    else:
        step = TrainingStep(model, weighting, optimizer, task_losses, CLIP)
    return StepCase(name, n_tasks, batch_size, device, implementation, step, batches, dense_input, float(slowdown))


def _structured_model(kind: str, trunk: torch.nn.Module, n_tasks: int, seed: int) -> torch.nn.Module:
    from .models.sgnn import SGNN, SGNNEnergy

    trunk.out_features = trunk.last_linear().out_features
    return (SGNN if kind == "sgnn" else SGNNEnergy)(trunk, n_tasks, random_task_pairs(n_tasks, EDGES_PER_TASK, seed))


def random_task_pairs(n_tasks: int, edges_per_task: float, seed: int) -> torch.Tensor:
    """``round(edges_per_task * n_tasks)`` distinct task pairs (i < j), uniformly at random (all, if fewer exist)."""
    everything = torch.triu_indices(n_tasks, n_tasks, offset=1).T
    count = min(round(edges_per_task * n_tasks), len(everything))
    chosen = torch.randperm(len(everything), generator=torch.Generator().manual_seed(seed))[:count]
    return everything[chosen.sort().values]


def _method(spec: str, n_tasks: int):
    name, hyperparameters = parse_spec(spec)
    return create_method(name, n_tasks, **hyperparameters)


@lru_cache(maxsize=4)
def _synthetic_batches(n_tasks: int, batch_size: int, seed: int) -> tuple[tuple[Any, torch.Tensor], ...]:
    """``N_BATCHES`` PCBA-shaped batches (SparseBits, float labels with NaN), on the CPU, made once per shape."""
    from .data.synthetic import synthetic_pcba

    data = synthetic_pcba(n_molecules=N_BATCHES * batch_size, n_tasks=n_tasks, n_bits=N_INPUTS, seed=seed)
    labels = torch.as_tensor(data.labels, dtype=torch.float32)
    rows = torch.arange(N_BATCHES * batch_size).reshape(N_BATCHES, batch_size)
    return tuple((data.inputs.batch(r.numpy()), labels[r]) for r in rows)
