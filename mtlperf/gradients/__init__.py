"""Per-task gradients: all the autograd plumbing of the gradient-based methods, so no method carries any.

:mod:`.jacobian` gives Jacobian rows, Gramians, gradient norms, head gradients and the split
backward, each as a loop (one backward per task, the authors' way) or batched; :mod:`.linear_layers`
builds the Gramian and gradient norms of Linear layers from their inputs and output cotangents.
"""
