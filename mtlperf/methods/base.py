"""The contract every weighting method keeps.

A method turns the vector of T task losses into gradients on the network:
``w = method.backward(losses, shared_parameters)`` fills ``.grad`` of every
parameter the losses depend on (shared and task-specific) and returns the
detached weights it applied, or ``None`` when it has none (PCGrad).
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch


class NonFiniteLossError(FloatingPointError):
    """A task loss was NaN or infinite; carries the task index and the step."""

    def __init__(self, task: int, step: int, value: float):
        self.task, self.step, self.value = task, step, value
        super().__init__(f"task {task} has a non-finite loss ({value}) at step {step}")


class WeightingMethod:
    """Base class: stores hyperparameters, counts steps, checks the losses.

    Subclasses set ``name``, ``defaults`` (hyperparameter -> default value) and
    ``needs`` (what one step costs, for ``mtlperf methods``), and implement
    :meth:`_backward`.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    needs: ClassVar[str] = "the task losses"

    def __init__(self, n_tasks: int, **hyperparameters: Any):
        if int(n_tasks) < 1:
            raise ValueError(f"{self.name}: n_tasks must be a positive integer, got {n_tasks!r}")
        unknown = sorted(set(hyperparameters) - set(self.defaults))
        if unknown:
            valid = ", ".join(sorted(self.defaults)) or "none"
            raise ValueError(
                f"{self.name}: unknown hyperparameter(s) {', '.join(unknown)}; valid: {valid}"
            )
        self.n_tasks = int(n_tasks)
        self.hparams = {**self.defaults, **hyperparameters}
        self.step = 0

    def backward(
        self,
        losses: torch.Tensor,
        shared_parameters: Sequence[torch.Tensor],
        **model_parts: Any,
    ) -> torch.Tensor | None:
        """Fill ``.grad`` with this method's update; return the weights applied.

        ``model_parts`` are optional pieces of the network some methods use:
        ``last_shared`` (parameters of the last shared layer, GradNorm), ``last_shared_io``
        and ``shared_linear_io`` (the trunk's Linear layers in the graph, fast paths) and
        ``heads`` (T x d tensor whose row t is task t's head, RMTL).
        """
        if losses.dim() != 1 or losses.numel() != self.n_tasks:
            raise ValueError(
                f"{self.name}: expected a vector of {self.n_tasks} task losses, got shape {tuple(losses.shape)}"
            )
        finite = torch.isfinite(losses.detach())
        if not bool(finite.all()):
            task = int((~finite).nonzero()[0])
            raise NonFiniteLossError(task, self.step, float(losses.detach()[task]))
        weights = self._backward(losses, list(shared_parameters), **model_parts)
        self.step += 1
        return weights

    def _backward(self, losses, shared_parameters, **model_parts):  # pragma: no cover
        raise NotImplementedError

    def parameters(self) -> list[torch.Tensor]:
        """Learnable state of the method itself (optimised beside the network)."""
        return []

    def start_epoch(self) -> None:
        """Called by the trainer before the first batch of every epoch."""

    def spec(self) -> str:
        """The ``NAME:KEY=VALUE,...`` spelling that recreates this method."""
        changed = {k: v for k, v in self.hparams.items() if v != self.defaults.get(k)}
        return format_spec(self.name, changed)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_tasks={self.n_tasks}, {self.hparams})"


def weighted_backward(losses: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Backward of ``sum_t w_t L_t`` with constant weights; returns the detached weights."""
    weights = weights.detach()
    (weights.to(losses.dtype) * losses).sum().backward()
    return weights


def format_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ";".join(format_value(v) for v in value)
    return str(value)


def format_spec(name: str, hyperparameters: dict[str, Any]) -> str:
    if not hyperparameters:
        return name
    return name + ":" + ",".join(f"{k}={format_value(v)}" for k, v in hyperparameters.items())
