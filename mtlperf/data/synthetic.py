"""A PCBA-shaped synthetic data set: ECFP-like fingerprints and learnable, sparse labels.

The default data for full-scale timing (437,929 molecules x 128 tasks, like PCBA-128),
built in seconds and identical for the same seed.

Fingerprints: bit ``j`` of molecule ``i`` is set with probability
``p_ij = 1 - (1 - f_j) ** s_i``, where ``f_j`` is bit j's frequency among real molecules
and ``s_i`` is chosen so that the expected bit count equals a count drawn from the real
bits-per-molecule distribution. Both are measured on embedded MUV (93,127 PubChem
screening compounds, the closest embedded set to PCBA's), 2048 bits, radius 4, and
shipped as ``embedded/ecfp_muv_r4_2048.npz`` (bit frequencies + 101 count quantiles;
mean 70 set bits per molecule). Shorter fingerprints are folded exactly as RDKit folds
(bit ``j mod n_bits``), so ``n_bits`` must divide 2048.

Labels: task t scores ``z_t = X w_t / sd(X w_t) + noise * N(0, 1)`` with ``w_t`` normal on
32 random bits (picked in proportion to ``f(1 - f)``); the molecules above the
``1 - pos_t`` quantile are positive; each label is missing with probability ``miss_t``;
``pos_t`` and ``miss_t`` are real PCBA's (``embedded/pcba_task_stats.tsv``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse

from ..validation import is_integer
from .dataset import MultiTaskDataset
from .fingerprints import PackedFingerprints, index_dtype
from .pcba import EMBEDDED, pcba_task_names, pcba_task_stats
from .subsets import check_n_tasks

ECFP_STATS = EMBEDDED / "ecfp_muv_r4_2048.npz"
PCBA_SIZE = 437_929
ACTIVE_BITS = 32
_CHUNK_ROWS = 8192


def measure_ecfp_stats(fingerprints: PackedFingerprints) -> dict[str, np.ndarray]:
    """Bit frequencies and 101 quantiles (0%, 1%, ..., 100%) of the set bits per molecule.

    The shipped file was made with
    ``save_ecfp_stats(ECFP_STATS, featurise_smiles(read_task_csv(muv).smiles)[0])``.
    """
    frequency = np.bincount(fingerprints.indices.astype(np.int64), minlength=fingerprints.n_bits) / len(fingerprints)
    quantiles = np.quantile(fingerprints.bits_per_row(), np.linspace(0.0, 1.0, 101))
    return {"bit_frequency": frequency.astype(np.float32), "bits_per_molecule_quantiles": quantiles.astype(np.float32)}


def save_ecfp_stats(path: str | Path, fingerprints: PackedFingerprints) -> None:
    np.savez_compressed(path, **measure_ecfp_stats(fingerprints))


def load_ecfp_stats(path: str | Path = ECFP_STATS) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as stats:
        return stats["bit_frequency"].astype(np.float64), stats["bits_per_molecule_quantiles"].astype(np.float64)


def synthetic_fingerprints(n_molecules: int, n_bits: int, rng: np.random.Generator) -> PackedFingerprints:
    """``n_molecules`` fingerprints with the measured bit frequencies and bits-per-molecule distribution."""
    frequency, quantiles = load_ecfp_stats()
    full_bits = frequency.size
    if not isinstance(n_bits, (int, np.integer)) or n_bits < 1 or full_bits % n_bits:
        raise ValueError(f"synthetic-pcba: n_bits must divide {full_bits} (folded from it), got {n_bits!r}")
    # Bit j is set when an Exp(1) draw is below s_i * rate_j, i.e. with probability 1 - (1 - f_j) ** s_i.
    rate = -np.log1p(-np.clip(frequency, 0.0, 1.0 - 1e-6))
    grid = np.geomspace(1e-3, 1e3, 4000)
    expected_bits = (1.0 - np.exp(-np.outer(grid, rate))).sum(axis=1)
    target_bits = np.interp(rng.random(n_molecules), np.linspace(0.0, 1.0, quantiles.size), quantiles)
    scale = np.interp(target_bits, expected_bits, grid).astype(np.float32)
    rate32 = rate.astype(np.float32)

    counts, indices = [], []
    for start in range(0, n_molecules, _CHUNK_ROWS):
        s = scale[start : start + _CHUNK_ROWS, None]
        on = rng.standard_exponential((s.shape[0], full_bits), dtype=np.float32) < s * rate32
        if n_bits < full_bits:  # fold exactly as RDKit does: bit j -> j mod n_bits
            on = on.reshape(s.shape[0], full_bits // n_bits, n_bits).any(axis=1)
        rows, cols = np.nonzero(on)
        counts.append(np.bincount(rows, minlength=s.shape[0]))
        indices.append(cols.astype(index_dtype(n_bits)))
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.int64)
    return PackedFingerprints(indptr, np.concatenate(indices), int(n_bits))


def synthetic_labels(
    fingerprints: PackedFingerprints,
    positive_rate: np.ndarray,
    missing_rate: np.ndarray,
    seeds: list[np.random.SeedSequence],
    noise: float = 1.0,
) -> np.ndarray:
    """float32 [N, T] of 0/1/NaN: task t thresholds a sparse linear score of the bits (module docstring)."""
    n, n_tasks = len(fingerprints), len(seeds)
    frequency = np.bincount(fingerprints.indices.astype(np.int64), minlength=fingerprints.n_bits) / max(n, 1)
    informative = frequency * (1.0 - frequency) + 1e-9  # + 1e-9: any bit can be drawn, even in tiny sets
    informative /= informative.sum()
    rngs = [np.random.default_rng(seed) for seed in seeds]
    weights = np.zeros((fingerprints.n_bits, n_tasks), dtype=np.float32)
    for t, rng in enumerate(rngs):
        n_active = min(ACTIVE_BITS, fingerprints.n_bits)
        active = rng.choice(fingerprints.n_bits, size=n_active, replace=False, p=informative)
        weights[active, t] = rng.standard_normal(active.size)
    x = scipy.sparse.csr_matrix(
        (np.ones(fingerprints.indices.size, dtype=np.float32), fingerprints.indices, fingerprints.indptr),
        shape=fingerprints.shape,
    )
    scores = (x @ scipy.sparse.csc_matrix(weights)).toarray().astype(np.float32)
    labels = np.empty((n, n_tasks), dtype=np.float32)
    for t, rng in enumerate(rngs):
        score = scores[:, t] / max(float(scores[:, t].std()), 1e-12) + noise * rng.standard_normal(n, dtype=np.float32)
        labels[:, t] = score > np.quantile(score, 1.0 - positive_rate[t])
        labels[rng.random(n) < missing_rate[t], t] = np.nan
    return labels


def synthetic_pcba(
    n_molecules: int = PCBA_SIZE, n_tasks: int | None = None, n_bits: int = 2048, seed: int = 0, noise: float = 1.0
) -> MultiTaskDataset:
    """The PCBA-shaped data set (module docstring). Task t of a K-task set equals task t of the 128-task one."""
    if not is_integer(n_molecules) or n_molecules < 1:
        raise ValueError(f"synthetic-pcba: n_molecules must be a positive integer, got {n_molecules!r}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"synthetic-pcba: noise must be a non-negative number, got {noise!r}")
    names = pcba_task_names()
    k = check_n_tasks("synthetic-pcba", n_tasks, len(names))
    # Child 0 draws the fingerprints, child 1 + t task t: a task never depends on how many others there are.
    root = np.random.SeedSequence(seed)
    fingerprint_seed, *task_seeds = root.spawn(1 + k)
    positive_rate, missing_rate = (rates[:k] for rates in pcba_task_stats())
    fingerprints = synthetic_fingerprints(int(n_molecules), n_bits, np.random.default_rng(fingerprint_seed))
    labels = synthetic_labels(fingerprints, positive_rate, missing_rate, task_seeds, noise)
    return MultiTaskDataset(
        name="synthetic-pcba",
        task_names=[f"syn-{name}" for name in names[:k]],
        inputs=fingerprints,
        labels=labels,
        task_type="classification",
        smiles=None,
        meta={
            "seed": seed,
            "noise": noise,
            "n_bits": n_bits,
            "positive_rate": positive_rate,
            "missing_rate": missing_rate,
        },
    )
