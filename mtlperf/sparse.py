"""A batch of binary fingerprints held as the indices of its set bits.

ECFP vectors are about 2% ones, so the first layer of a network reads them as
``sum of the weight columns of the set bits`` (an embedding bag) instead of a
dense matrix product; :class:`SparseBits` is the batch type that carries them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SparseBits:
    """Rows of a binary matrix [B, n_bits]: ``indices`` of the set bits, row starts in ``offsets``."""

    indices: torch.Tensor  # int64 [nnz], bit positions, row after row
    offsets: torch.Tensor  # int64 [B], where each row starts in ``indices``
    n_bits: int

    def __len__(self) -> int:
        return int(self.offsets.numel())

    @property
    def device(self) -> torch.device:
        return self.indices.device

    def to(self, device: torch.device | str) -> SparseBits:
        return SparseBits(self.indices.to(device), self.offsets.to(device), self.n_bits)

    def to_dense(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        dense = torch.zeros(len(self), self.n_bits, dtype=dtype, device=self.device)
        counts = torch.diff(self.offsets, append=self.offsets.new_tensor([self.indices.numel()]))
        rows = torch.repeat_interleave(torch.arange(len(self), device=self.device), counts)
        dense[rows, self.indices] = 1
        return dense

    @classmethod
    def from_dense(cls, dense: torch.Tensor) -> SparseBits:
        rows, cols = (dense != 0).nonzero(as_tuple=True)
        counts = torch.bincount(rows, minlength=dense.shape[0])
        offsets = torch.cumsum(counts, 0) - counts
        return cls(cols.long(), offsets.long(), int(dense.shape[1]))
