"""The networks of the three papers: a shared trunk, then all task heads as one batched layer.

The first trunk layer reads a :class:`~mtlperf.sparse.SparseBits` batch as an embedding bag
(ECFP inputs are ~2% ones); every model is a :class:`MultiTaskNet` built by :func:`build_model`.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..sparse import SparseBits

MODEL_KINDS = ("lbtw", "pyramidal", "mtregression")
INITS = ("torch", "lbtw-code")


class SparseInputLinear(nn.Linear):
    """``y = x W^T + b`` for a dense ``x`` [B, in] or a :class:`SparseBits` batch; same numbers.

    For bits, ``y_b = sum of the columns of W at the set bits of row b + b``: an embedding bag
    over the table ``W^T`` [in, out]. ``weight`` keeps ``nn.Linear``'s shape [out, in] (state
    dicts stay conventional) but is stored column-major, so that ``W^T`` is contiguous: at
    in=2048, out=2000, B=1024, 50 bits a row the bag is about 10x faster than the dense
    product (forward+backward); a row-major ``W^T`` would have to be copied first (2-3x slower).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        self.weight = nn.Parameter(self.weight.detach().t().contiguous().t())

    def forward(self, x: torch.Tensor | SparseBits) -> torch.Tensor:
        if not isinstance(x, SparseBits):
            return super().forward(x)
        if x.n_bits != self.in_features:
            raise ValueError(f"input has {x.n_bits} bits but the layer expects {self.in_features}")
        table = self.weight.t()
        if not table.is_contiguous():  # layout lost (weight reassigned): still right, only slower
            table = table.contiguous()
        out = F.embedding_bag(x.indices, table, x.offsets, mode="sum")
        return out if self.bias is None else out + self.bias


class LinearIO(NamedTuple):
    """One trunk Linear layer in the last forward's graph: ``output = input Wᵀ + b``."""

    input: torch.Tensor | SparseBits
    output: torch.Tensor
    weight: nn.Parameter
    bias: nn.Parameter | None


class TaskHeads(nn.Module):
    """T linear heads as one batched layer: ``y[b, t] = W_t z_b + c_t``.

    ``weight`` [T, out, d], ``bias`` [T, out]; one matrix product serves every head. The output
    is [B, T, out], or [B, T] when out == 1. Initialised with the draws T separate
    ``nn.Linear(d, out)`` would take, in the same order, so one seed gives the same heads.
    """

    def __init__(self, n_tasks: int, in_features: int, out_features: int = 1):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_tasks, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(n_tasks, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[2])
        for weight, bias in zip(self.weight, self.bias):
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))  # nn.Linear's default
            nn.init.uniform_(bias, -bound, bound)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n_tasks, n_out, d = self.weight.shape
        y = F.linear(z, self.weight.reshape(n_tasks * n_out, d), self.bias.reshape(-1))
        y = y.unflatten(-1, (n_tasks, n_out))
        return y.squeeze(-1) if n_out == 1 else y

    def extra_repr(self) -> str:
        n_tasks, n_out, d = self.weight.shape
        return f"n_tasks={n_tasks}, in_features={d}, out_features={n_out}"


class MultiTaskNet(nn.Module):
    """A shared ``trunk`` (``nn.Sequential``) and batched ``heads``; ``forward(x)`` gives the logits.

    Every forward keeps ``shared_linear_io``, a :class:`LinearIO` per ``nn.Linear`` of the trunk
    (the output before its activation, in the autograd graph), and ``last_shared_io = (input,
    output)`` of the last one: the fast paths of the per-task-gradient methods start from them.
    """

    def __init__(self, trunk: nn.Sequential, heads: TaskHeads):
        super().__init__()
        linear = [i for i, layer in enumerate(trunk) if isinstance(layer, nn.Linear)]
        if not linear:
            raise ValueError("the trunk needs at least one nn.Linear layer")
        self.trunk, self.heads = trunk, heads
        self._last_linear = linear[-1]
        self.last_shared_io: tuple[torch.Tensor, torch.Tensor] | None = None
        self.shared_linear_io: list[LinearIO] | None = None

    @property
    def n_tasks(self) -> int:
        return int(self.heads.weight.shape[0])

    def forward(self, x: torch.Tensor | SparseBits) -> torch.Tensor:
        linear_io = []
        for layer in self.trunk:
            y = layer(x)
            if isinstance(layer, nn.Linear):
                linear_io.append(LinearIO(x, y, layer.weight, layer.bias))
            x = y
        self.shared_linear_io = linear_io
        self.last_shared_io = (linear_io[-1].input, linear_io[-1].output)
        return self.heads(x)

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def last_shared_parameters(self) -> list[nn.Parameter]:
        """Weight and bias of the last shared linear layer (GradNorm's W)."""
        layer = self.trunk[self._last_linear]
        return [p for p in (layer.weight, layer.bias) if p is not None]

    def head_matrix(self) -> torch.Tensor:
        """[T, out*d] view of the head weights: row t is task t's head (RMTL); gradients flow."""
        return self.heads.weight.flatten(1)

    def __getstate__(self) -> dict:
        # the last forward's activations belong to a graph: deepcopy and pickling leave them out
        state = dict(super().__getstate__())
        state["last_shared_io"] = state["shared_linear_io"] = None
        return state


def build_model(
    kind: str,
    n_inputs: int,
    n_tasks: int,
    *,
    hidden: Sequence[int] | None = None,
    dropout: float | None = None,
    n_outputs: int | None = None,
    init: str = "torch",
) -> MultiTaskNet:
    """The network of one paper, with one head per task (``None`` options = the paper's values).

    - ``lbtw`` (Liu, Liang & Gitter 2019): Linear(n, 2000) → Dropout 0.25 → ReLU →
      Linear(2000, 2000) → Dropout 0.25 → Sigmoid → BatchNorm1d; Linear(2000, 1) heads
      (the output sigmoid lives in the BCE-with-logits loss). BatchNorm is from the authors'
      code (eps 2e-5; their Keras-style momentum 0.9 is torch's 0.1, used here).
    - ``pyramidal`` (SLAW, PCBA): Linear(n, 2000) → ReLU → Linear(2000, 100) → ReLU;
      Linear(100, 1) heads. SLAW's code has two logits per task with cross-entropy, the same
      model family as one logit with BCE.
    - ``mtregression`` (SLAW): four Linear(·, 100) + Tanh layers; Linear(100, 100) heads.

    ``hidden`` sets the trunk widths (``lbtw`` ends in Sigmoid + BatchNorm after its last
    layer, ReLU before), ``dropout`` the rate after every trunk Linear, ``n_outputs`` the
    width of each head. ``init="lbtw-code"`` uses the LBTW authors' initialisation: Linear
    weights N(0, 0.02) clipped to ±2 and biases 1, BatchNorm scale N(1, 0.02) and shift 0.
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; valid: {', '.join(MODEL_KINDS)}")
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")
    n_inputs = _positive_int(n_inputs, "n_inputs")
    n_tasks = _positive_int(n_tasks, "n_tasks")
    default_hidden, default_dropout, default_outputs, activation = {
        "lbtw": ((2000, 2000), 0.25, 1, nn.ReLU),
        "pyramidal": ((2000, 100), 0.0, 1, nn.ReLU),
        "mtregression": ((100, 100, 100, 100), 0.0, 100, nn.Tanh),
    }[kind]
    hidden = tuple(default_hidden if hidden is None else hidden)
    if not hidden:
        raise ValueError("hidden must list at least one layer width")
    widths = [_positive_int(h, "every hidden width") for h in hidden]
    dropout = default_dropout if dropout is None else float(dropout)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    n_outputs = _positive_int(default_outputs if n_outputs is None else n_outputs, "n_outputs")

    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip([n_inputs, *widths], widths)):
        layers.append(SparseInputLinear(n_in, n_out) if i == 0 else nn.Linear(n_in, n_out))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        last = i == len(widths) - 1
        layers.append(nn.Sigmoid() if kind == "lbtw" and last else activation())
    if kind == "lbtw":
        layers.append(nn.BatchNorm1d(widths[-1], eps=2e-5))
    model = MultiTaskNet(nn.Sequential(*layers), TaskHeads(n_tasks, widths[-1], n_outputs))
    if init == "lbtw-code":
        _lbtw_code_init(model)
    return model


@torch.no_grad()
def _lbtw_code_init(model: MultiTaskNet) -> None:
    for layer in [*model.trunk, model.heads]:
        if isinstance(layer, (nn.Linear, TaskHeads)):
            layer.weight.normal_(0.0, 0.02).clamp_(-2, 2)
            layer.bias.fill_(1.0)
        elif isinstance(layer, nn.BatchNorm1d):
            layer.weight.normal_(1.0, 0.02)
            layer.bias.zero_()


def _positive_int(value, name: str) -> int:
    try:
        valid = not isinstance(value, bool) and int(value) == value and value >= 1
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
