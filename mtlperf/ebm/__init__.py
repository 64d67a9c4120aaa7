"""SGNN-EBM's energy-based model: the energy of a label vector, NCE training, Gibbs-sampling inference.

The factors come from :class:`mtlperf.models.sgnn.SGNNEnergy`; everything here works on them
([B, T, 2] node and [B, M, 4] edge log-probabilities, undirected edge pairs [M, 2]) batched over
molecules, tasks and edges.
"""

from .energy import conditional_logits, exact_marginals, log_potential
from .gibbs import colour_classes, gibbs_marginals
from .nce import nce_loss

__all__ = ["colour_classes", "conditional_logits", "exact_marginals", "gibbs_marginals", "log_potential", "nce_loss"]
