"""A ChEMBL-STRING directory in its authors' layout (SGNN-EBM, ``datasets/chembl_dense_{10,50,100}``).

The data lives only on the authors' cloud drive; this reads a copy the user has. Its files, as
their ``chembl_gen.py``/``transform.py`` write them:

- ``labels.npz``: key ``labels``, dense [N, T], +1 active, -1 inactive, 0 missing;
- ``mol_properties.csv``: one row per molecule (pandas' index column first), with ``smiles`` and
  ``fold`` among filteredID, chembl, clusterID, rawID, scaffold_smiles;
- ``assay_id.tsv``: no header, ``<ChEMBL assay id> <TAB> <task index>``;
- ``filtered_task_score.tsv``: no header, ``i <TAB> j <TAB> score`` (the task relation graph).

``rdkit_molecule.pkl`` may be there too; it is never read: unpickling runs whatever the file
says, and the SMILES carry the same molecules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .task_graph import TaskGraph, read_task_scores

LAYOUT = ("labels.npz", "mol_properties.csv", "assay_id.tsv", "filtered_task_score.tsv")


@dataclass
class ChemblString:
    """What a ChEMBL-STRING directory holds, checked, labels in mtlperf's convention."""

    smiles: list[str]
    labels: np.ndarray  # float32 [N, T]: 1 active, 0 inactive, NaN missing
    task_names: list[str]  # ChEMBL assay ids, in task-index order
    folds: np.ndarray  # int64 [N]: the ``fold`` column (the LSC cluster folds)
    task_graph: TaskGraph  # every score of the file; ``.threshold(0.1)`` is the authors' default graph
    source: Path


def read_chembl_string(directory: str | os.PathLike) -> ChemblString:
    """Read and check a directory in the authors' layout; each missing or malformed file is a one-line ValueError."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise ValueError(f"{directory}: no such directory (a ChEMBL-STRING directory holds {', '.join(LAYOUT)})")
    missing = [name for name in LAYOUT if not (directory / name).is_file()]
    if missing:
        raise ValueError(f"{directory}: missing {', '.join(missing)} (the ChEMBL-STRING layout: {', '.join(LAYOUT)})")
    labels = _labels(directory / "labels.npz")
    smiles, folds = _molecules(directory / "mol_properties.csv", labels.shape[0])
    task_names = _assays(directory / "assay_id.tsv", labels.shape[1])
    graph = read_task_scores(directory / "filtered_task_score.tsv", task_names)
    return ChemblString(smiles, labels, task_names, folds, graph, directory)


def _labels(path: Path) -> np.ndarray:
    try:  # damage shows as BadZipFile, OSError, ValueError or EOFError depending on where it is
        with np.load(path, allow_pickle=False) as stored:
            files = list(stored.files)
            raw = stored["labels"] if "labels" in files else None
    except Exception as error:
        raise ValueError(f"{path}: not a readable .npz file ({type(error).__name__}: {error})") from None
    if raw is None:
        raise ValueError(f"{path}: no 'labels' array (found: {', '.join(files) or 'none'})")
    if raw.ndim != 2:
        raise ValueError(f"{path}: labels must be a 2-D molecules x tasks array, got shape {raw.shape}")
    if not np.isin(raw, (-1, 0, 1)).all():
        bad = raw[~np.isin(raw, (-1, 0, 1))].flat[0].item()
        raise ValueError(f"{path}: a label is {bad!r}; labels must be +1 (active), -1 (inactive) or 0 (missing)")
    labels = np.full(raw.shape, np.nan, dtype=np.float32)
    labels[raw == 1] = 1.0
    labels[raw == -1] = 0.0
    return labels


def _molecules(path: Path, n_molecules: int) -> tuple[list[str], np.ndarray]:
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype={"smiles": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable CSV file ({str(error).splitlines()[0]})") from None
    missing = [c for c in ("smiles", "fold") if c not in table.columns]
    if missing:
        shown = ", ".join(str(c) for c in table.columns[:8])
        raise ValueError(f"{path}: no {' or '.join(repr(c) for c in missing)} column (found: {shown})")
    if len(table) != n_molecules:
        raise ValueError(f"{path}: {len(table)} molecules but labels.npz has {n_molecules} rows")
    folds = pd.to_numeric(table["fold"], errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(folds).any() or (folds != np.round(folds)).any():
        bad = table["fold"].iloc[int(np.argmax(np.isnan(folds) | (folds != np.round(folds))))]
        raise ValueError(f"{path}: column 'fold' has a value {bad!r}; folds must be integers")
    smiles = table["smiles"].str.strip().tolist()
    if not all(smiles):
        raise ValueError(f"{path}: row {smiles.index('') + 1} has an empty smiles cell")
    return smiles, folds.astype(np.int64)


def _assays(path: Path, n_tasks: int) -> list[str]:
    names: dict[int, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[1].strip().lstrip("-").isdigit():
            raise ValueError(f"{path}: line {number} is {line.strip()!r}; expected '<assay id><TAB><task index>'")
        index = int(fields[1])
        if not 0 <= index < n_tasks or index in names:
            what = "repeats a task index" if index in names else f"has task index {index} outside 0..{n_tasks - 1}"
            raise ValueError(f"{path}: line {number} {what}")
        names[index] = fields[0].strip()
    if len(names) != n_tasks:
        raise ValueError(f"{path}: {len(names)} assays but labels.npz has {n_tasks} task columns")
    return [names[k] for k in range(n_tasks)]
