"""Per-task gradients: all the autograd plumbing of the gradient-based methods.

Every quantity comes in two implementations:

- ``"loop"``: one full backward pass per task, like ``loss_t.backward()`` in the
  authors' code (every leaf of the graph gets its gradient), the reference cost;
- ``"batched"``: vmapped vector-Jacobian products
  (``torch.autograd.grad(..., is_grads_batched=True)``) over chunks of tasks,
  Gramians instead of T² products of long vectors, and the kernel trick for the
  gradient norms of a Linear layer.

Rows of a Jacobian are ``g_t = flatten(d L_t / d params)``, parameters in the
order given. ``chunk_size`` is the number of tasks differentiated at once by the
batched implementation (0 = all); it bounds the memory to about
``2 * chunk_size * n_parameters`` numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from ..models.parts import LinearIO
from ..validation import is_integer, require
from .linear_layers import cotangents_are_smaller, covers, linear_layer_gradient_norms, linear_layers_gramian

IMPLEMENTATIONS = ("batched", "loop")


def check_implementation(method: str, implementation: str) -> str:
    require(implementation in IMPLEMENTATIONS, method, "implementation", implementation, " or ".join(IMPLEMENTATIONS))
    return implementation


def check_chunk_size(method: str, chunk_size: int) -> int:
    ok = is_integer(chunk_size) and chunk_size >= 0
    require(ok, method, "chunk_size", chunk_size, "an integer >= 0 (0 = all tasks at once)")
    return chunk_size


def graph_leaves(losses: torch.Tensor) -> list[torch.Tensor]:
    """The leaf tensors ``losses`` was computed from (what ``losses.backward()`` fills)."""
    leaves, seen, stack = [], set(), [losses.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "variable"):  # an AccumulateGrad node
            leaves.append(node.variable)
        stack.extend(child for child, _ in node.next_functions)
    return leaves


def task_jacobian(
    losses: torch.Tensor, params: Sequence[torch.Tensor], *, implementation: str = "batched", chunk_size: int = 0
) -> torch.Tensor:
    """The Jacobian [T, P] whose row t is the gradient of ``losses[t]`` w.r.t. ``params``."""
    chunks = _jacobian_chunks(losses, params, implementation, chunk_size)
    return torch.cat([torch.cat(blocks, dim=1) for blocks in chunks])


def task_gramian(
    losses: torch.Tensor,
    params: Sequence[torch.Tensor],
    *,
    implementation: str = "batched",
    chunk_size: int = 0,
    linear_layers: Sequence[LinearIO] | None = None,
) -> torch.Tensor:
    """``G = J Jᵀ`` [T, T], ``G[s, t] = g_s · g_t``, without holding more than two chunks of J.

    ``linear_layers`` (``ModelParts.linear_layers``): when ``params`` are exactly their
    weights and biases and their output cotangents are smaller than J, the batched G comes
    from the layers' inputs and cotangents (:mod:`.linear_layers`).
    """
    if implementation == "loop":
        jacobian = task_jacobian(losses, params, implementation="loop")
        return jacobian @ jacobian.T
    if linear_layers and covers(linear_layers, params) and cotangents_are_smaller(linear_layers, params):
        return linear_layers_gramian(losses, linear_layers, chunk_size=chunk_size)
    n_tasks = losses.numel()
    gramian = losses.new_zeros(n_tasks, n_tasks)
    chunks = _task_chunks(n_tasks, chunk_size)
    for a, tasks_a in enumerate(chunks):
        rows_a = _batched_rows(losses, params, tasks_a)
        gramian[tasks_a, tasks_a] = _products(rows_a, rows_a)
        for tasks_b in chunks[a + 1 :]:  # recomputed rather than stored: memory stays at two chunks
            block = _products(rows_a, _batched_rows(losses, params, tasks_b))
            gramian[tasks_a, tasks_b] = block
            gramian[tasks_b, tasks_a] = block.T
    return gramian


def task_gradient_dots(
    losses: torch.Tensor,
    params: Sequence[torch.Tensor],
    reference: int,
    *,
    implementation: str = "batched",
    chunk_size: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(g_t · g_reference, ‖g_t‖²)`` for every task t: one row and the diagonal of the Gramian."""
    if implementation == "loop":
        jacobian = task_jacobian(losses, params, implementation="loop")
        return jacobian @ jacobian[reference], jacobian.pow(2).sum(1)
    reference_row = _batched_rows(losses, params, slice(reference, reference + 1))
    dots, squares = [], []
    for rows in _jacobian_chunks(losses, params, "batched", chunk_size):
        dots.append(_products(rows, reference_row)[:, 0])
        squares.append(_squared_norms(rows))
    return torch.cat(dots), torch.cat(squares)


def task_gradient_norms(
    losses: torch.Tensor,
    params: Sequence[torch.Tensor],
    *,
    implementation: str = "batched",
    chunk_size: int = 0,
    layer: LinearIO | None = None,
) -> torch.Tensor:
    """``‖g_t‖`` [T] for every task.

    ``layer``: the Linear layer whose weight (and bias) are ``params``; the batched
    implementation then needs the cotangents of its output only
    (:func:`.linear_layers.linear_layer_gradient_norms`).
    """
    if implementation == "batched" and layer is not None:
        return linear_layer_gradient_norms(losses, layer, params, chunk_size=chunk_size)
    squares = [_squared_norms(rows) for rows in _jacobian_chunks(losses, params, implementation, chunk_size)]
    return torch.cat(squares).sqrt()


def head_gradients(losses: torch.Tensor, heads: torch.Tensor, *, implementation: str = "batched") -> torch.Tensor:
    """[T, d]: row t is the gradient of ``losses[t]`` w.r.t. ``heads[t]`` (task t's own head), flattened.

    ``heads`` is the head weight parameter, [T, ...]. Head t feeds only task t, so row t of
    ``d(Σ_s L_s)/d heads`` is ``dL_t/d head_t``: one backward pass gives every row (batched).
    """
    target = heads
    n_tasks = losses.numel()
    if implementation == "batched":
        (grad,) = torch.autograd.grad(losses.sum(), target, retain_graph=True, allow_unused=True)
        return _or_zeros(grad, target).reshape(n_tasks, -1)
    rows = []
    for t, grads in enumerate(_loop_gradients(losses, [target])):
        rows.append(grads[0].reshape(n_tasks, -1)[t])
    return torch.stack(rows)


def backward_split(
    losses: torch.Tensor,
    shared_parameters: Sequence[torch.Tensor],
    *,
    coefficients: torch.Tensor | None = None,
    shared_gradient: torch.Tensor | None = None,
) -> None:
    """Accumulate the shared update into ``.grad`` and ``d(Σ_t L_t)/dθ`` into every other leaf.

    The shared parameters get ``Σ_t a_t g_t`` (``coefficients`` a) or the given
    flat ``shared_gradient``; every other parameter of the graph (the task heads)
    gets the plain gradient of the sum of the task losses.
    """
    shared = list(shared_parameters)
    shared_ids = {id(p) for p in shared}
    others = [leaf for leaf in graph_leaves(losses) if id(leaf) not in shared_ids]
    if others:
        torch.autograd.backward(losses.sum(), inputs=others, retain_graph=coefficients is not None)
    if coefficients is not None:
        torch.autograd.backward(losses, coefficients.to(losses.dtype), inputs=shared)
        return
    offset = 0
    for param in shared:
        piece = shared_gradient[offset : offset + param.numel()].view_as(param)
        offset += param.numel()
        if param.grad is None:
            param.grad = piece.clone()
        else:
            param.grad.add_(piece)


def _jacobian_chunks(
    losses: torch.Tensor, params: Sequence[torch.Tensor], implementation: str, chunk_size: int
) -> Iterator[list[torch.Tensor]]:
    """Rows of the Jacobian, a chunk of tasks at a time, as one block [tasks, numel] per parameter."""
    if implementation == "loop":
        for grads in _loop_gradients(losses, params):
            yield [g.reshape(1, -1) for g in grads]
        return
    for tasks in _task_chunks(losses.numel(), chunk_size):
        yield _batched_rows(losses, params, tasks)


def _batched_rows(losses: torch.Tensor, params: Sequence[torch.Tensor], tasks: slice) -> list[torch.Tensor]:
    cotangents = _cotangents(losses, tasks)
    grads = torch.autograd.grad(
        losses, list(params), cotangents, retain_graph=True, allow_unused=True, is_grads_batched=True
    )
    n_rows = cotangents.shape[0]
    return [(g if g is not None else p.new_zeros(n_rows, *p.shape)).reshape(n_rows, -1) for g, p in zip(grads, params)]


def _products(rows_a: list[torch.Tensor], rows_b: list[torch.Tensor]) -> torch.Tensor:
    """``A Bᵀ`` for two chunks of Jacobian rows held as per-parameter blocks (no concatenated copy)."""
    return sum(a @ b.T for a, b in zip(rows_a, rows_b))


def _squared_norms(rows: list[torch.Tensor]) -> torch.Tensor:
    return sum(block.pow(2).sum(1) for block in rows)


def _loop_gradients(losses: torch.Tensor, params: Sequence[torch.Tensor]) -> Iterator[list[torch.Tensor]]:
    """One full backward pass per task (every leaf, as ``loss_t.backward()``); yields the grads of ``params``."""
    wanted = list(params)
    wanted_ids = {id(p) for p in wanted}
    inputs = wanted + [leaf for leaf in graph_leaves(losses) if id(leaf) not in wanted_ids]
    for t in range(losses.numel()):
        grads = torch.autograd.grad(losses[t], inputs, retain_graph=True, allow_unused=True)
        yield [_or_zeros(g, p) for g, p in zip(grads[: len(wanted)], wanted)]


def _cotangents(losses: torch.Tensor, tasks: slice) -> torch.Tensor:
    n_tasks = losses.numel()
    return torch.eye(n_tasks, dtype=losses.dtype, device=losses.device)[tasks]


def _task_chunks(n_tasks: int, chunk_size: int) -> list[slice]:
    size = chunk_size or n_tasks
    return [slice(start, min(start + size, n_tasks)) for start in range(0, n_tasks, size)]


def _or_zeros(grad: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return grad if grad is not None else torch.zeros_like(like)
