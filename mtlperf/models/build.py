"""The networks of the three papers, by name: :func:`build_model`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..validation import positive_int
from .gin import GINEncoder
from .layers import SparseInputLinear, TaskHeads
from .net import FeedForwardTrunk, MultiTaskNet
from .sgnn import SGNN, SGNNEnergy

MODEL_KINDS = ("lbtw", "pyramidal", "mtregression", "gin")
STRUCTURED_KINDS = ("sgnn", "sgnn-ebm")  # over a task relation graph: build_structured_model
INITS = ("torch", "lbtw-code")


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
    - ``gin`` (SGNN-EBM): :class:`~mtlperf.models.gin.GINEncoder` over molecular graphs, 5 layers
      of 300, dropout 0.2, mean pooling; Linear(300, 1) heads. ``hidden`` gives one width per GIN
      layer (all equal); ``n_inputs`` is not used (the atom and bond vocabularies are fixed).

    ``hidden`` sets the trunk widths (``lbtw`` ends in Sigmoid + BatchNorm after its last
    layer, ReLU before), ``dropout`` the rate after every trunk Linear, ``n_outputs`` the
    width of each head. ``init="lbtw-code"`` uses the LBTW authors' initialisation: Linear
    weights N(0, 0.02) clipped to ±2 and biases 1, BatchNorm scale N(1, 0.02) and shift 0.
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; valid: {', '.join(MODEL_KINDS)}")
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")
    n_tasks = positive_int(n_tasks, "n_tasks")
    if kind == "gin":
        return _gin(n_tasks, hidden, dropout, n_outputs, init)
    n_inputs = positive_int(n_inputs, "n_inputs")
    default_hidden, default_dropout, default_outputs, activation = {
        "lbtw": ((2000, 2000), 0.25, 1, nn.ReLU),
        "pyramidal": ((2000, 100), 0.0, 1, nn.ReLU),
        "mtregression": ((100, 100, 100, 100), 0.0, 100, nn.Tanh),
    }[kind]
    hidden = tuple(default_hidden if hidden is None else hidden)
    if not hidden:
        raise ValueError("hidden must list at least one layer width")
    widths = [positive_int(h, "every hidden width") for h in hidden]
    dropout = default_dropout if dropout is None else float(dropout)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    n_outputs = positive_int(default_outputs if n_outputs is None else n_outputs, "n_outputs")

    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip([n_inputs, *widths], widths)):
        layers.append(SparseInputLinear(n_in, n_out) if i == 0 else nn.Linear(n_in, n_out))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        last = i == len(widths) - 1
        layers.append(nn.Sigmoid() if kind == "lbtw" and last else activation())
    if kind == "lbtw":
        layers.append(nn.BatchNorm1d(widths[-1], eps=2e-5))
    model = MultiTaskNet(FeedForwardTrunk(*layers), TaskHeads(n_tasks, widths[-1], n_outputs))
    if init == "lbtw-code":
        _lbtw_code_init(model)
    return model


def _gin(n_tasks: int, hidden, dropout, n_outputs, init: str) -> MultiTaskNet:
    if init != "torch":
        raise ValueError(f"init {init!r} is the LBTW network's; the gin model takes init 'torch' (the authors')")
    widths = tuple(hidden) if hidden is not None else (300,) * 5
    if not widths or len(set(widths)) != 1:
        raise ValueError(f"gin: hidden must be one width per GIN layer, all equal (e.g. 300,300,300), got {widths}")
    emb_dim = positive_int(widths[0], "every hidden width")
    encoder = GINEncoder(n_layers=len(widths), emb_dim=emb_dim, dropout=0.2 if dropout is None else float(dropout))
    heads = TaskHeads(n_tasks, encoder.out_features, positive_int(1 if n_outputs is None else n_outputs, "n_outputs"))
    return MultiTaskNet(encoder, heads)


def build_structured_model(kind: str, graph, config) -> nn.Module:
    """SGNN or SGNN-EBM's factor network (:mod:`mtlperf.models.sgnn`) over ``graph`` (a TaskGraph).

    The GIN encoder takes ``config.hidden`` (one equal width per layer) and ``config.dropout`` as
    ``gin`` does; ``task_dim``, ``state_dim``, ``state_hidden``, ``sgnn_layers`` and ``gcn_layers``
    come from ``config``.
    """
    if kind not in STRUCTURED_KINDS:
        raise ValueError(f"unknown structured model {kind!r}; valid: {', '.join(STRUCTURED_KINDS)}")
    encoder = _gin(1, config.hidden, config.dropout, 1, "torch").trunk
    pairs = torch.as_tensor(graph.pairs()[0], dtype=torch.long).reshape(-1, 2)
    model = SGNN if kind == "sgnn" else SGNNEnergy
    return model(
        encoder,
        graph.n_tasks,
        pairs,
        task_dim=config.task_dim,
        dim=config.state_dim,
        hidden=config.state_hidden,
        n_layers=config.sgnn_layers,
        gcn_layers=config.gcn_layers,
    )


@torch.no_grad()
def _lbtw_code_init(model: MultiTaskNet) -> None:
    for layer in [*model.trunk, model.heads]:
        if isinstance(layer, (nn.Linear, TaskHeads)):
            layer.weight.normal_(0.0, 0.02).clamp_(-2, 2)
            layer.bias.fill_(1.0)
        elif isinstance(layer, nn.BatchNorm1d):
            layer.weight.normal_(1.0, 0.02)
            layer.bias.zero_()
