"""The task Gramian ``G = J Jᵀ`` of a stack of Linear layers, from their inputs and output cotangents.

For a Linear layer ``Z = H Wᵀ + b`` and ``δ_t = dL_t/dZ`` [B, out], task t's gradients are
``dL_t/dW = δ_tᵀ H`` and ``dL_t/db = Σ_b δ_t[b]``. When every shared parameter belongs to
such a layer, ``G`` is the sum over the layers of ``S Sᵀ`` (``S[t] = Σ_b δ_t[b]``) and
``A Aᵀ`` (``A[t] = vec(δ_tᵀ H)``), with A built a block of input features at a time. The
Jacobian J is never held whole, and the only vmapped backward runs through the dense layers
above the first one: torch has no batching rule for the embedding bag's backward, and its
per-task fallback dominated PCGrad's step. A :class:`~mtlperf.sparse.SparseBits` input gives
``δ_tᵀ H`` as an embedding bag of the rows of ``δ_t`` over the molecules that set each bit.

A layer's ``A Aᵀ`` costs about ``T²·in·out`` multiply-adds. When the batch is small the kernel
trick is cheaper: ``(A Aᵀ)[s, t] = Σ_{b,b'} K[b, b'] δ_s[b]·δ_t[b']`` with ``K = H Hᵀ`` [B, B],
about ``T·B·out·(B + T)``; each layer takes whichever costs less.

A task's gradient norm on one layer is the square root of that layer's diagonal of ``G``,
computed by the same functions (:func:`linear_layer_gradient_norms`, GradNorm's fast path).

Holding the cotangents costs ``T·B·Σ out`` numbers against ``T·P`` for J, so
:func:`cotangents_are_smaller` decides when this path pays (batch smaller than the inputs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..models.parts import LinearIO
from ..sparse import SparseBits

BLOCK_NUMBERS = 1 << 26  # numbers in one block of A (256 MiB in float32)


def covers(layers: Sequence[LinearIO], params: Sequence[torch.Tensor]) -> bool:
    """Whether the layers' weights and biases are exactly ``params``."""
    layer_ids = [id(p) for io in layers for p in (io.weight, io.bias) if p is not None]
    return len(layer_ids) == len(set(layer_ids)) and set(layer_ids) == {id(p) for p in params}


def cotangents_are_smaller(layers: Sequence[LinearIO], params: Sequence[torch.Tensor]) -> bool:
    """Whether one task's cotangents of the layer outputs are fewer numbers than its gradient."""
    return sum(io.output.numel() for io in layers) < sum(p.numel() for p in params)


def linear_layers_gramian(losses: torch.Tensor, layers: Sequence[LinearIO], *, chunk_size: int = 0) -> torch.Tensor:
    """``G[s, t] = g_s · g_t`` [T, T] over the weights and biases of ``layers``.

    ``layers``: the Linear layers of one forward (``input`` a [B, in] tensor or SparseBits,
    ``output`` [B, out] in the graph of ``losses``, ``weight``, ``bias`` or None).
    ``chunk_size``: tasks per vmapped backward, which bounds its temporaries (0 = as many as
    fit in ``BLOCK_NUMBERS`` numbers of cotangents).
    """
    n_tasks = losses.numel()
    deltas = output_cotangents(losses, [io.output for io in layers], chunk_size)
    gramian = losses.new_zeros(n_tasks, n_tasks)
    for io, delta in zip(layers, deltas):
        if io.bias is not None:
            sums = delta.sum(1)
            gramian += sums @ sums.T
        if _kernel_is_cheaper(io.input, delta):
            gramian += _kernel_weight_products(io.input, delta, diagonal=False)
        else:
            for block in _weight_gradient_blocks(io.input, delta):
                gramian += block @ block.T
    return gramian


def linear_layer_gradient_norms(
    losses: torch.Tensor, layer: LinearIO, params: Sequence[torch.Tensor], *, chunk_size: int = 0
) -> torch.Tensor:
    """``‖g_t‖`` [T] on one Linear layer ``Z = H Wᵀ + b``: the square root of the diagonal of its Gramian.

    The weight counts when ``params`` holds ``layer.weight``, the bias when it holds ``layer.bias``.
    """
    ids = {id(p) for p in params}
    (delta,) = output_cotangents(losses, [layer.output], chunk_size)
    squares = delta.new_zeros(delta.shape[0])
    if layer.bias is not None and id(layer.bias) in ids:
        squares += delta.sum(1).pow(2).sum(1)
    if id(layer.weight) in ids:
        if _kernel_is_cheaper(layer.input, delta, diagonal=True):
            squares += _kernel_weight_products(layer.input, delta, diagonal=True)
        else:
            hidden = _dense_input(layer.input, delta.dtype)
            squares += (delta.transpose(1, 2) @ hidden).pow(2).sum((1, 2))
    return squares.sqrt()


def output_cotangents(losses: torch.Tensor, outputs: list[torch.Tensor], chunk_size: int) -> list[torch.Tensor]:
    """``δ`` [T, B, out] for each output: ``δ[t] = dL_t/d output``, ``chunk_size`` tasks per backward."""
    n_tasks = losses.numel()
    size = chunk_size or max(1, BLOCK_NUMBERS // sum(out.numel() for out in outputs))
    eye = torch.eye(n_tasks, dtype=losses.dtype, device=losses.device)
    if size >= n_tasks:
        return list(torch.autograd.grad(losses, outputs, eye, retain_graph=True, is_grads_batched=True))
    deltas = [out.new_empty(n_tasks, *out.shape) for out in outputs]
    for start in range(0, n_tasks, size):
        chunk = torch.autograd.grad(
            losses, outputs, eye[start : start + size], retain_graph=True, is_grads_batched=True
        )
        for delta, part in zip(deltas, chunk):
            delta[start : start + size] = part
    return deltas


def _kernel_is_cheaper(layer_input: torch.Tensor | SparseBits, delta: torch.Tensor, *, diagonal: bool = False) -> bool:
    """Whether the kernel trick takes fewer multiply-adds than building A (and fits in a block).

    ``diagonal``: only ``‖A[t]‖²`` is wanted (gradient norms), not all of ``A Aᵀ``.
    """
    n_tasks, batch, n_out = delta.shape
    n_in = _n_inputs(layer_input)
    if diagonal:  # B²·in + T·B²·out against T·B·in·out: about B < in when T is large
        return batch < n_in
    build = layer_input.indices.numel() if isinstance(layer_input, SparseBits) else batch * n_in
    pairs = 1 if diagonal else n_tasks
    blocks = n_tasks * n_out * (pairs * n_in + build)
    kernel = batch * batch * n_in + n_tasks * batch * n_out * (batch + pairs)
    return kernel < blocks and batch * batch <= BLOCK_NUMBERS


def _kernel_weight_products(layer_input: torch.Tensor | SparseBits, delta: torch.Tensor, *, diagonal: bool):
    """``A Aᵀ`` [T, T] (or its diagonal [T]) as ``Σ_{b,b'} K[b, b'] δ_s[b]·δ_t[b']``, ``K = H Hᵀ``, tasks in blocks."""
    n_tasks, batch, n_out = delta.shape
    hidden = _dense_input(layer_input, delta.dtype)
    kernel = hidden @ hidden.T
    flat = delta.flatten(1)
    out = delta.new_empty(n_tasks) if diagonal else delta.new_empty(n_tasks, n_tasks)
    size = max(1, BLOCK_NUMBERS // delta[0].numel())
    for first in range(0, n_tasks, size):
        block = slice(first, first + size)
        if diagonal:
            stacked = delta[block].permute(1, 0, 2).reshape(batch, -1)  # [B, size·out]
            out[block] = ((kernel @ stacked) * stacked).reshape(batch, -1, n_out).sum((0, 2))
        else:
            mixed = torch.matmul(kernel, delta[block])  # [size, B, out]
            out[:, block] = flat @ mixed.flatten(1).T
    return out


def _weight_gradient_blocks(layer_input: torch.Tensor | SparseBits, delta: torch.Tensor):
    """Yield ``A[:, block]`` [T, |I|·out]: the weight gradients of every task on a block I of inputs."""
    n_tasks, _, n_out = delta.shape
    n_in = _n_inputs(layer_input)
    width = max(1, BLOCK_NUMBERS // (n_tasks * n_out))
    if isinstance(layer_input, SparseBits):
        molecules, starts = _molecules_per_bit(layer_input)
        ends = torch.cat([starts[1:], starts.new_tensor([molecules.numel()])])
        buffer = delta.new_empty(n_tasks, min(width, n_in), n_out)  # reused: fresh pages cost more than the sums
        for first in range(0, n_in, width):
            last = min(first + width, n_in)
            lo, hi = int(starts[first]), int(ends[last - 1])
            bags, bag_starts = molecules[lo:hi], starts[first:last] - lo
            # one task at a time: a [B, out] table stays in cache, a [B, T·out] one does not
            block = buffer[:, : last - first]
            for task, task_delta in enumerate(delta):
                block[task] = F.embedding_bag(bags, task_delta, bag_starts, mode="sum")
            yield block.flatten(1)
        return
    hidden = layer_input.detach().reshape(-1, n_in)
    for first in range(0, n_in, width):
        yield torch.matmul(hidden[:, first : first + width].T, delta).flatten(1)


def _dense_input(layer_input: torch.Tensor | SparseBits, dtype: torch.dtype) -> torch.Tensor:
    """H [B, in] as a dense tensor outside the graph."""
    if isinstance(layer_input, SparseBits):
        return layer_input.to_dense(dtype)
    return layer_input.detach().reshape(-1, _n_inputs(layer_input))


def _n_inputs(layer_input: torch.Tensor | SparseBits) -> int:
    return layer_input.n_bits if isinstance(layer_input, SparseBits) else layer_input.shape[-1]


def _molecules_per_bit(bits: SparseBits) -> tuple[torch.Tensor, torch.Tensor]:
    """The transposed bits: row numbers grouped by bit, and where each bit's group starts."""
    counts = torch.diff(bits.offsets, append=bits.offsets.new_tensor([bits.indices.numel()]))
    rows = torch.repeat_interleave(torch.arange(len(bits), device=bits.device), counts)
    order = torch.argsort(bits.indices, stable=True)
    per_bit = torch.bincount(bits.indices, minlength=bits.n_bits)
    return rows[order], torch.cumsum(per_bit, 0) - per_bit
