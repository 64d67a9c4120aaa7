"""The contract every weighting method keeps.

A method turns the vector of T task losses into gradients on the network:
``w = method.backward(losses, parts)`` fills ``.grad`` of every parameter the
losses depend on (shared and task-specific) and returns the detached weights it
applied, or ``None`` when it has none (PCGrad). ``parts`` is the
:class:`~mtlperf.models.ModelParts` of the forward that made the losses, or just
the shared parameters (then every fast path is off; the results are the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from ..models.parts import PART_NAMES, ModelParts
from ..validation import positive_int


class NonFiniteLossError(FloatingPointError):
    """A task loss was NaN or infinite; carries the task index and the step."""

    def __init__(self, task: int, step: int, value: float):
        self.task, self.step, self.value = task, step, value
        super().__init__(f"task {task} has a non-finite loss ({value}) at step {step}")


class WeightingMethod:
    """Base class: stores hyperparameters, counts steps, checks the losses.

    Subclasses set ``name``, ``defaults`` (hyperparameter -> default value), ``needs``
    (what one step costs, for ``mtlperf methods``) and ``uses`` (the :class:`ModelParts`
    fields besides ``shared`` that :meth:`_backward` reads), and implement :meth:`_backward`.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    needs: ClassVar[str] = "the task losses"
    uses: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = sorted(set(cls.uses) - set(PART_NAMES))
        if unknown:
            raise TypeError(f"{cls.__name__}.uses names unknown model parts {unknown}; valid: {PART_NAMES}")

    def __init__(self, n_tasks: int, **hyperparameters: Any):
        positive_int(n_tasks, f"{self.name}: n_tasks")
        unknown = sorted(set(hyperparameters) - set(self.defaults))
        if unknown:
            valid = ", ".join(sorted(self.defaults)) or "none"
            raise ValueError(f"{self.name}: unknown hyperparameter(s) {', '.join(unknown)}; valid: {valid}")
        self.n_tasks = int(n_tasks)
        self.hparams = {**self.defaults, **hyperparameters}
        self.step = 0

    def backward(self, losses: torch.Tensor, parts: ModelParts | Sequence[torch.Tensor]) -> torch.Tensor | None:
        """Fill ``.grad`` with this method's update; return the weights applied (detached) or None.

        ``parts``: the :class:`ModelParts` of the forward that computed ``losses``, or the shared
        parameters alone.
        """
        if losses.dim() != 1 or losses.numel() != self.n_tasks:
            raise ValueError(
                f"{self.name}: expected a vector of {self.n_tasks} task losses, got shape {tuple(losses.shape)}"
            )
        finite = torch.isfinite(losses.detach())
        if not bool(finite.all()):
            task = int((~finite).nonzero()[0])
            raise NonFiniteLossError(task, self.step, float(losses.detach()[task]))
        weights = self._backward(losses, ModelParts.of(parts))
        self.step += 1
        return weights

    def _backward(self, losses: torch.Tensor, parts: ModelParts) -> torch.Tensor | None:  # pragma: no cover
        raise NotImplementedError

    def parameters(self) -> list[torch.Tensor]:
        """Learnable state of the method itself (optimised beside the network)."""
        return []

    @property
    def wants_training_losses(self) -> bool:
        """True when :meth:`start_epoch` needs the task losses of a full pass over the training set."""
        return False

    def start_epoch(self, training_losses: torch.Tensor | None = None) -> None:
        """Called by the trainer before the first batch of every epoch.

        ``training_losses``: the mean task losses [T] of the current network over the whole training
        set (evaluation mode, no gradient), given when :attr:`wants_training_losses` is true.
        """

    wants_losses_after_step: ClassVar[bool] = False  # True: the step calls update_after_step (FAMO)

    def update_after_step(self, losses: torch.Tensor) -> None:
        """Called by the training step after the optimiser step, with the same batch's task losses
        recomputed without gradient, when :attr:`wants_losses_after_step` is true."""

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
