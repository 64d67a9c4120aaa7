"""Train / validation / test index arrays: random, Bemis-Murcko scaffold, or the data set's own."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .dataset import MultiTaskDataset

SPLIT_KINDS = ("random", "scaffold")
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)  # LBTW: 3 train / 1 validation / 1 test folds


def _normalise(fractions: Sequence[float]) -> np.ndarray:
    values = np.asarray(fractions, dtype=np.float64)
    if values.shape != (3,) or not np.isfinite(values).all() or (values < 0).any() or values.sum() <= 0:
        raise ValueError(f"fractions must be three non-negative numbers (train, valid, test), got {tuple(fractions)!r}")
    return values / values.sum()


def random_split(n: int, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> tuple[np.ndarray, ...]:
    """A seeded permutation of ``range(n)`` cut by ``fractions`` (normalised to sum to 1)."""
    f = _normalise(fractions)
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_valid = int(round(f[0] * n)), int(round(f[1] * n))
    n_valid = min(n_valid, n - n_train)
    return order[:n_train], order[n_train : n_train + n_valid], order[n_train + n_valid :]


def murcko_scaffold(smiles: str) -> str:
    """The Bemis-Murcko scaffold SMILES (no chirality), as DeepChem computes it; '' for acyclic molecules."""
    from rdkit import Chem, rdBase
    from rdkit.Chem.Scaffolds import MurckoScaffold

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"scaffold split: cannot parse SMILES {smiles!r}")
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def scaffold_split(smiles: Sequence[str], fractions: Sequence[float] = DEFAULT_FRACTIONS) -> tuple[np.ndarray, ...]:
    """DeepChem's scaffold split: whole scaffold groups, largest first, fill train, then valid, then test.

    Deterministic (no seed): groups ordered by (size, first row), largest first, as DeepChem sorts them.
    """
    f = _normalise(fractions)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(smiles):
        groups[murcko_scaffold(text)].append(i)
    ordered = sorted(groups.values(), key=lambda rows: (len(rows), rows[0]), reverse=True)
    n = len(smiles)
    train_cutoff, valid_cutoff = f[0] * n, (f[0] + f[1]) * n
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for rows in ordered:
        if len(train) + len(rows) > train_cutoff:
            (test if len(train) + len(valid) + len(rows) > valid_cutoff else valid).extend(rows)
        else:
            train.extend(rows)
    return tuple(np.asarray(part, dtype=np.int64) for part in (train, valid, test))


def split_dataset(
    dataset: MultiTaskDataset, kind: str = "random", fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, valid, test) row indices. ``dataset.meta["predefined_split"]`` wins when present."""
    if kind not in SPLIT_KINDS:
        raise ValueError(f"unknown split kind {kind!r}; valid: {', '.join(SPLIT_KINDS)}")
    predefined = dataset.meta.get("predefined_split")
    if predefined is not None:
        return tuple(np.asarray(predefined[part], dtype=np.int64) for part in ("train", "valid", "test"))
    if kind == "random":
        return random_split(len(dataset), fractions, seed)
    if dataset.smiles is None:
        raise ValueError(f"scaffold split needs SMILES; {dataset.name} has none (use kind='random')")
    return scaffold_split(dataset.smiles, fractions)


@dataclass(frozen=True)
class Split:
    """Train, validation and test row indices."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    def labelled_for(self, labels: np.ndarray, task: int) -> Split:
        """Only the rows that carry task ``task``'s label."""

        def keep(rows: np.ndarray) -> np.ndarray:
            return rows[~np.isnan(labels[rows, task].reshape(rows.size, -1)).all(axis=1)]

        return Split(keep(self.train), keep(self.valid), keep(self.test))

    def sizes(self) -> dict[str, int]:
        return {"train": int(self.train.size), "valid": int(self.valid.size), "test": int(self.test.size)}


def sampled_split(
    dataset: MultiTaskDataset, kind: str, fractions: Sequence[float], seed: int, max_rows: int | None = None
) -> Split:
    """:func:`split_dataset`, then, with ``max_rows``, the same random fraction of each part (about
    ``max_rows`` rows in all)."""
    parts = split_dataset(dataset, kind=kind, fractions=fractions, seed=seed)
    split = Split(*(np.asarray(p, dtype=np.int64).reshape(-1) for p in parts))
    if max_rows is None or max_rows >= len(dataset):
        return split
    rng = np.random.default_rng(seed)
    fraction = max_rows / len(dataset)

    def sample(rows: np.ndarray) -> np.ndarray:
        return np.sort(rng.choice(rows, max(1, round(rows.size * fraction)), replace=False)) if rows.size else rows

    return Split(sample(split.train), sample(split.valid), sample(split.test))
