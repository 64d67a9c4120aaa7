"""The networks: a shared trunk (sparse-aware first layer), then all task heads as one batched layer.

:func:`build_model` builds the networks of the three papers by name; every model is a
:class:`MultiTaskNet` whose ``forward_with_parts`` gives the :class:`ModelParts` the
weighting methods may use.
"""

from .build import INITS, MODEL_KINDS, STRUCTURED_KINDS, build_model, build_structured_model
from .layers import SparseInputLinear, TaskHeads
from .net import FeedForwardTrunk, MultiTaskNet
from .parts import PART_NAMES, LinearIO, ModelParts

__all__ = [
    "INITS",
    "MODEL_KINDS",
    "STRUCTURED_KINDS",
    "PART_NAMES",
    "FeedForwardTrunk",
    "LinearIO",
    "ModelParts",
    "MultiTaskNet",
    "SparseInputLinear",
    "TaskHeads",
    "build_model",
    "build_structured_model",
]
