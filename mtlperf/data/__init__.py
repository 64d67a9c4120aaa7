"""Multi-task data: loading, featurisation and its cache, generators, splits, fetching PCBA.

``load_dataset(name_or_path, n_tasks=None, **options)`` -> :class:`MultiTaskDataset`;
``split_dataset(dataset, kind, fractions, seed)`` -> (train, valid, test) index arrays.
"""
from __future__ import annotations

from .catalogue import list_datasets, load_dataset, load_molecule_csv
from .dataset import MultiTaskDataset
from .fetch import DEFAULT_URL, FetchError, fetch_pcba, verify_pcba_file
from .fingerprints import PackedFingerprints, cached_fingerprints, featurise_smiles
from .splits import split_dataset

__all__ = [
    "DEFAULT_URL",
    "FetchError",
    "MultiTaskDataset",
    "PackedFingerprints",
    "cached_fingerprints",
    "featurise_smiles",
    "fetch_pcba",
    "list_datasets",
    "load_dataset",
    "load_molecule_csv",
    "split_dataset",
    "verify_pcba_file",
]
