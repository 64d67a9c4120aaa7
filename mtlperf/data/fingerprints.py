"""Morgan/ECFP fingerprints of SMILES, stored as CSR bit indices and cached on disk.

Defaults follow SLAW (Crawshaw & Kosecka, PCBA experiments): "featurized as a 2048-length
binary vector using RDKit to compute ECFP features (radius 4)". LBTW (Liu et al. 2019) used
1024 bits: ``n_bits=1024``.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..sparse import SparseBits
from .cache import atomic_save_npz, cache_dir, strings_digest

DEFAULT_N_BITS = 2048
DEFAULT_RADIUS = 4  # the SLAW radius
FINGERPRINT_SETTINGS = ("n_bits", "radius")  # a molecule set's featurisation: loader options and meta keys
_CACHE_FORMAT = 1
_PARALLEL_FROM = 20_000  # below this, starting worker processes costs more than it saves
_CHUNK = 5_000


@dataclass(frozen=True)
class PackedFingerprints:
    """Binary fingerprints [N, n_bits] as CSR: row i's set bits are ``indices[indptr[i]:indptr[i+1]]``.

    ``indices`` is int16 when ``n_bits <= 32768`` (else int32), so PCBA's 440K molecules
    take about 60 MB instead of 3.6 GB as a dense float matrix.
    """

    indptr: np.ndarray  # int64 [N + 1]
    indices: np.ndarray  # int16 or int32 [nnz]
    n_bits: int

    def __post_init__(self) -> None:
        if self.indptr.ndim != 1 or self.indptr.size < 1 or self.indptr[0] != 0:
            raise ValueError("PackedFingerprints: indptr must be 1-D and start at 0")
        if int(self.indptr[-1]) != self.indices.size:
            raise ValueError(
                f"PackedFingerprints: indptr ends at {int(self.indptr[-1])} but there are {self.indices.size} indices"
            )

    def __len__(self) -> int:
        return self.indptr.size - 1

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self), self.n_bits)

    def bits_per_row(self) -> np.ndarray:
        return np.diff(self.indptr)

    def _gather(self, rows: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices of the rows' set bits concatenated, row start offsets)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise ValueError(f"row index out of range for {len(self)} fingerprints")
        rows = rows % max(len(self), 1)
        starts, counts = self.indptr[rows], self.indptr[rows + 1] - self.indptr[rows]
        offsets = np.cumsum(counts) - counts
        positions = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(starts - offsets, counts)
        return self.indices[positions], offsets

    def take(self, rows: Sequence[int] | np.ndarray) -> PackedFingerprints:
        """The fingerprints of ``rows``, in that order, as a new PackedFingerprints."""
        indices, offsets = self._gather(rows)
        return PackedFingerprints(np.append(offsets, indices.size).astype(np.int64), indices, self.n_bits)

    def batch(self, rows: Sequence[int] | np.ndarray, device: torch.device | str | None = None) -> SparseBits:
        """The model input for ``rows``: a :class:`SparseBits` (on ``device`` if given)."""
        indices, offsets = self._gather(rows)
        bits = SparseBits(torch.from_numpy(indices.astype(np.int64)), torch.from_numpy(offsets), self.n_bits)
        return bits if device is None else bits.to(device)

    def dense(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 [len(rows), n_bits] of 0/1 for ``rows`` (a batch, not the whole set)."""
        indices, offsets = self._gather(rows)
        out = np.zeros((offsets.size, self.n_bits), dtype=np.float32)
        counts = np.diff(np.append(offsets, indices.size))
        out[np.repeat(np.arange(offsets.size), counts), indices.astype(np.int64)] = 1.0
        return out


def index_dtype(n_bits: int) -> type:
    return np.int16 if n_bits <= np.iinfo(np.int16).max + 1 else np.int32


def _check_settings(n_bits: int, radius: int) -> None:
    if not isinstance(n_bits, (int, np.integer)) or n_bits < 1:
        raise ValueError(f"n_bits must be a positive integer, got {n_bits!r}")
    if not isinstance(radius, (int, np.integer)) or radius < 0:
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}")


def _featurise_chunk(args: tuple[list[str], int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(set bits per SMILES, their positions concatenated, validity mask); an invalid SMILES has no bits."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdFingerprintGenerator

    smiles, n_bits, radius = args
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    bits, valid = [], np.zeros(len(smiles), dtype=bool)
    with rdBase.BlockLogs():  # RDKit would print one warning per unparsable molecule
        for i, text in enumerate(smiles):
            mol = Chem.MolFromSmiles(text) if text else None
            valid[i] = mol is not None and mol.GetNumAtoms() > 0
            bits.append(generator.GetFingerprint(mol).GetOnBits() if valid[i] else ())
    counts = np.fromiter(map(len, bits), dtype=np.int64, count=len(bits))
    indices = np.fromiter(itertools.chain.from_iterable(bits), dtype=index_dtype(n_bits), count=int(counts.sum()))
    return counts, indices, valid


def featurise_smiles(
    smiles: Sequence[str], n_bits: int = DEFAULT_N_BITS, radius: int = DEFAULT_RADIUS, workers: int | None = None
) -> tuple[PackedFingerprints, np.ndarray]:
    """Morgan fingerprints (RDKit ``GetMorganGenerator``) of every SMILES.

    Returns the fingerprints of the VALID SMILES only, in order, and a bool mask over
    ``smiles`` marking which were valid. From 20,000 molecules on, ``workers`` forked
    processes (default: all cores; Linux only, elsewhere serial) share the work.
    """
    _check_settings(n_bits, radius)
    smiles = [str(s) for s in smiles]
    workers = workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    chunks = [(smiles[i : i + _CHUNK], int(n_bits), int(radius)) for i in range(0, len(smiles), _CHUNK)]
    if workers > 1 and len(smiles) >= _PARALLEL_FROM and sys.platform.startswith("linux"):
        # fork, not spawn: spawn re-runs the caller's main module (breaks stdin scripts and
        # unguarded scripts); the children only run RDKit, so the parent's threads or CUDA are untouched.
        with multiprocessing.get_context("fork").Pool(min(workers, len(chunks))) as pool:
            parts = pool.map(_featurise_chunk, chunks)
    else:
        parts = [_featurise_chunk(chunk) for chunk in chunks]
    if not parts:
        parts = [(np.zeros(0, np.int64), np.zeros(0, index_dtype(n_bits)), np.zeros(0, bool))]
    counts, indices, valid = (np.concatenate(arrays) for arrays in zip(*parts))
    indptr = np.concatenate([[0], np.cumsum(counts[valid])]).astype(np.int64)
    return PackedFingerprints(indptr, indices, int(n_bits)), valid


def fingerprint_cache_path(smiles: Sequence[str], n_bits: int, radius: int, directory: Path) -> Path:
    """The cache file for these SMILES (in order), settings and RDKit version."""
    from rdkit import __version__ as rdkit_version

    key = strings_digest([f"ecfp-v{_CACHE_FORMAT}-{n_bits}-{radius}-rdkit{rdkit_version}", *smiles])[:24]
    return directory / "fingerprints" / f"ecfp{n_bits}-r{radius}-{key}.npz"


def cached_fingerprints(
    smiles: Sequence[str],
    n_bits: int = DEFAULT_N_BITS,
    radius: int = DEFAULT_RADIUS,
    cache: bool = True,
    directory: str | os.PathLike | None = None,
    workers: int | None = None,
) -> tuple[PackedFingerprints, np.ndarray]:
    """:func:`featurise_smiles`, read from / written to an npz in the cache dir when ``cache``.

    The key is a hash of the SMILES list and the settings, so a changed file or a
    changed ``n_bits``/``radius`` never reuses stale features.
    """
    _check_settings(n_bits, radius)
    smiles = [str(s) for s in smiles]
    path = fingerprint_cache_path(smiles, n_bits, radius, cache_dir(directory)) if cache else None
    if path is not None and path.exists():
        with np.load(path) as stored:
            return PackedFingerprints(stored["indptr"], stored["indices"], int(stored["n_bits"])), stored["valid"]
    fingerprints, valid = featurise_smiles(smiles, n_bits, radius, workers=workers)
    if path is not None:
        atomic_save_npz(
            path, indptr=fingerprints.indptr, indices=fingerprints.indices, n_bits=np.int64(n_bits), valid=valid
        )
    return fingerprints, valid
