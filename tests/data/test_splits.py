"""Random, scaffold and predefined splits into train / valid / test index arrays."""

from __future__ import annotations

import numpy as np
import pytest

from mtlperf.data import MultiTaskDataset, split_dataset
from mtlperf.data.splits import murcko_scaffold

# Four scaffold families of different sizes, plus acyclic molecules (scaffold '').
BENZENES = ["c1ccccc1C", "c1ccccc1O", "c1ccccc1N", "c1ccccc1CC", "c1ccccc1Cl", "c1ccccc1F", "c1ccccc1Br", "c1ccccc1CO"]
PYRIDINES = ["Cc1ccncc1", "Oc1ccncc1", "Nc1ccncc1", "CCc1ccncc1"]
NAPHTHALENES = ["Cc1ccc2ccccc2c1", "Oc1ccc2ccccc2c1", "Nc1ccc2ccccc2c1"]
CYCLOHEXANES = ["CC1CCCCC1", "OC1CCCCC1"]
ACYCLIC = ["CCO", "CCN", "CCCC"]
SMILES = BENZENES[:4] + PYRIDINES + ACYCLIC + BENZENES[4:] + NAPHTHALENES + CYCLOHEXANES


def dataset(n=None, smiles=SMILES, meta=None):
    n = len(smiles) if smiles is not None else n
    return MultiTaskDataset("d", ["t"], np.zeros((n, 3), dtype=np.float32), np.zeros((n, 1), dtype=np.float32),
                            smiles=smiles, meta=meta or {})  # fmt: skip


def assert_partition(parts, n):
    joined = np.concatenate(parts)
    assert joined.size == n and np.array_equal(np.sort(joined), np.arange(n))
    assert all(part.dtype == np.int64 for part in parts)


def test_random_split_default_is_3_1_1_and_seeded():
    data = dataset(n=1000, smiles=None)
    train, valid, test = split_dataset(data, seed=5)
    assert (train.size, valid.size, test.size) == (600, 200, 200)
    assert_partition((train, valid, test), 1000)
    again = split_dataset(data, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip((train, valid, test), again))
    assert not np.array_equal(split_dataset(data, seed=6)[0], train)


def test_random_split_fractions_normalised_and_empty_valid():
    data = dataset(n=100, smiles=None)
    train, valid, test = split_dataset(data, fractions=(9, 0, 1))
    assert (train.size, valid.size, test.size) == (90, 0, 10)
    with pytest.raises(ValueError, match="fractions must be three non-negative numbers"):
        split_dataset(data, fractions=(0.8, 0.2))
    with pytest.raises(ValueError, match="fractions must be three non-negative numbers"):
        split_dataset(data, fractions=(1.0, -0.1, 0.1))


def test_scaffold_split_keeps_groups_together_largest_first():
    fractions = (0.62, 0.15, 0.23)
    parts = split_dataset(dataset(), kind="scaffold", fractions=fractions)
    assert_partition(parts, len(SMILES))
    scaffolds = [murcko_scaffold(s) for s in SMILES]
    where = {}
    for name, part in zip(("train", "valid", "test"), parts):
        for i in part:
            where.setdefault(scaffolds[i], set()).add(name)
    assert all(len(names) == 1 for names in where.values())  # no scaffold in two parts
    # 20 molecules, groups 8, 4, 3, 3, 2. Train (up to 12.4) takes benzenes then pyridines; of the two
    # groups of 3, DeepChem's order puts the later-first-seen one (naphthalenes) first: it fills
    # valid (up to 15.4); the acyclic molecules and the cyclohexanes go to test.
    assert where["c1ccccc1"] == where["c1ccncc1"] == {"train"}
    assert where["c1ccc2ccccc2c1"] == {"valid"}
    assert where[""] == where["C1CCCCC1"] == {"test"}
    again = split_dataset(dataset(), kind="scaffold", fractions=fractions, seed=123)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


def test_predefined_split_wins():
    predefined = {"train": np.array([2, 0]), "valid": np.array([], dtype=int), "test": np.array([1])}
    data = dataset(n=3, smiles=None, meta={"predefined_split": predefined})
    for kind in ("random", "scaffold"):
        train, valid, test = split_dataset(data, kind=kind, seed=9)
        assert train.tolist() == [2, 0] and valid.size == 0 and test.tolist() == [1]


def test_bad_kind_and_scaffold_without_smiles():
    with pytest.raises(ValueError, match="unknown split kind 'cluster'; valid: random, scaffold"):
        split_dataset(dataset(), kind="cluster")
    with pytest.raises(ValueError, match="scaffold split needs SMILES"):
        split_dataset(dataset(n=5, smiles=None), kind="scaffold")
