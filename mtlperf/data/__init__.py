"""Multi-task data: loading, featurisation and its cache, generators, splits, fetching PCBA.

``load_dataset(name_or_path, n_tasks=None, **options)`` -> :class:`MultiTaskDataset`;
``split_dataset(dataset, kind, fractions, seed)`` -> (train, valid, test) index arrays.
Molecular graphs: ``cached_graphs(smiles, molecule_filter=None)`` -> (:class:`PackedGraphs`, reason codes);
task relation graphs: :class:`TaskGraph` and its builders; ``read_chembl_string(directory)``.
"""

from __future__ import annotations

from .catalogue import list_datasets, load_dataset, load_molecule_csv
from .chembl_string import ChemblString, read_chembl_string
from .dataset import MultiTaskDataset
from .densify import Densified, densify
from .fetch import DEFAULT_URL, FetchError, fetch_pcba, verify_pcba_file
from .fingerprints import PackedFingerprints, cached_fingerprints, featurise_smiles
from .graphs import PackedGraphs, cached_graphs, dropped_molecules, featurise_graphs
from .molecule_filter import MOLECULE_FILTERS
from .splits import split_dataset
from .task_graph import (
    TaskGraph,
    embedded_target_graph,
    read_protein_scores,
    read_target_table,
    read_task_scores,
    target_graph,
    task_graph,
)

__all__ = [
    "DEFAULT_URL",
    "MOLECULE_FILTERS",
    "ChemblString",
    "Densified",
    "FetchError",
    "MultiTaskDataset",
    "PackedFingerprints",
    "PackedGraphs",
    "TaskGraph",
    "cached_fingerprints",
    "cached_graphs",
    "densify",
    "dropped_molecules",
    "embedded_target_graph",
    "featurise_graphs",
    "featurise_smiles",
    "fetch_pcba",
    "list_datasets",
    "load_dataset",
    "load_molecule_csv",
    "read_chembl_string",
    "read_protein_scores",
    "read_target_table",
    "read_task_scores",
    "split_dataset",
    "target_graph",
    "task_graph",
    "verify_pcba_file",
]
