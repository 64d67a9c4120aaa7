"""``load_dataset``: the named data sets (embedded, PCBA, generators) or any multi-task CSV."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .chembl_string import read_chembl_string
from .csv_loader import read_task_csv
from .dataset import MultiTaskDataset
from .fingerprints import DEFAULT_N_BITS, DEFAULT_RADIUS, cached_fingerprints
from .graphs import cached_graphs
from .mtregression import mtregression
from .pcba import EMBEDDED, find_pcba_file, pcba_task_names
from .subsets import SLAW_FILTER_TASKS, check_n_tasks, restrict
from .synthetic import PCBA_SIZE, synthetic_pcba

logger = logging.getLogger(__name__)
EMBEDDED_FILES = {"tox21": "tox21.csv.gz", "muv": "muv.csv.gz", "toxcast": "toxcast_data.csv.gz"}
MOLECULE_DATASETS = (*EMBEDDED_FILES, "pcba")  # the named sets of featurised SMILES (any CSV path is one too)
_INVALID_EXAMPLES = 5
FEATURES = ("fingerprints", "graphs")  # what a molecule set is featurised into: for the MLPs, for the gin model


def molecule_dataset(
    name: str,
    source: Path,
    smiles: list[str],
    labels: np.ndarray,
    task_names: list[str],
    *,
    features: str,
    n_bits: int,
    radius: int,
    cache: bool,
    cache_dir: str | os.PathLike | None,
    workers: int | None,
) -> MultiTaskDataset:
    """Featurise ``smiles`` (``features``: Morgan fingerprints or molecular graphs) into a classification
    data set; the molecules that cannot be featurised are dropped, counted and shown (``meta["invalid_smiles"]``)."""
    if features not in FEATURES:
        raise ValueError(f"unknown features {features!r}; valid: {', '.join(FEATURES)}")
    if features == "graphs":
        inputs, status = cached_graphs(smiles, None, cache, cache_dir, workers)
        valid = status == 0
    else:
        inputs, valid = cached_fingerprints(smiles, n_bits, radius, cache, cache_dir, workers)
    invalid = [text for text, ok in zip(smiles, valid) if not ok]
    if invalid:
        logger.warning("%s: %d invalid SMILES dropped, e.g. %s", name, len(invalid), invalid[:_INVALID_EXAMPLES])
    rows = np.flatnonzero(valid)
    return MultiTaskDataset(
        name=name,
        task_names=list(task_names),
        inputs=inputs,
        labels=labels[rows],
        task_type="classification",
        smiles=[smiles[i] for i in rows],
        meta={
            "source": str(source),
            "features": features,
            **({"n_bits": n_bits, "radius": radius} if features == "fingerprints" else {}),
            "invalid_smiles": {"count": len(invalid), "examples": invalid[:_INVALID_EXAMPLES]},
        },
    )


def load_molecule_csv(
    path: str | os.PathLike,
    n_tasks: int | None = None,
    *,
    name: str | None = None,
    task_names: list[str] | None = None,
    slaw_filter: bool = False,
    n_bits: int = DEFAULT_N_BITS,
    radius: int = DEFAULT_RADIUS,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    features: str = "fingerprints",
) -> MultiTaskDataset:
    """A DeepChem-layout CSV as a featurised :class:`MultiTaskDataset`.

    ``features``: "fingerprints" (Morgan bits, ``n_bits`` and ``radius``) or "graphs" (molecular
    graphs for the ``gin`` model, Hu et al.'s atom and bond vocabulary). Invalid SMILES are
    dropped, counted and shown (``meta["invalid_smiles"]``); then the first ``n_tasks`` tasks are
    kept with the rows labelled in them (:func:`restrict`).
    """
    path = Path(path)
    name = name or path.name.removesuffix(".gz").removesuffix(".csv")
    table = read_task_csv(path, None if slaw_filter else n_tasks, task_names)
    featurise = dict(features=features, n_bits=n_bits, radius=radius, cache=cache, cache_dir=cache_dir, workers=workers)
    dataset = molecule_dataset(name, path, table.smiles, table.labels, table.task_names, **featurise)
    return restrict(dataset, n_tasks, slaw_filter)


def _csv(path: Path, name: str | None = None) -> Callable[..., MultiTaskDataset]:
    """The loader of one CSV file, taking the molecule-set options."""

    def load(
        n_tasks=None, slaw_filter=False, n_bits=DEFAULT_N_BITS, radius=DEFAULT_RADIUS, cache=True, cache_dir=None,
        workers=None, features="fingerprints",
    ):  # fmt: skip
        return load_molecule_csv(
            path, n_tasks, name=name, slaw_filter=slaw_filter, n_bits=n_bits,
            radius=radius, cache=cache, cache_dir=cache_dir, workers=workers, features=features,
        )  # fmt: skip

    return load


def load_chembl_string(
    directory: str | os.PathLike,
    n_tasks: int | None = None,
    *,
    features: str = "graphs",
    n_bits: int = DEFAULT_N_BITS,
    radius: int = DEFAULT_RADIUS,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
) -> MultiTaskDataset:
    """A directory in the SGNN-EBM authors' ChEMBL-STRING layout (:mod:`mtlperf.data.chembl_string`).

    Molecular graphs by default (the paper's GIN reads them). ``meta["task_graph"]`` is the task
    relation graph of ``filtered_task_score.tsv`` (every score; restricted to the kept tasks).
    """
    data = read_chembl_string(directory)
    featurise = dict(features=features, n_bits=n_bits, radius=radius, cache=cache, cache_dir=cache_dir, workers=workers)
    dataset = molecule_dataset(data.source.name, data.source, data.smiles, data.labels, data.task_names, **featurise)
    restricted = restrict(dataset, n_tasks, False)
    restricted.meta["task_graph"] = data.task_graph.subgraph(range(restricted.n_tasks))
    return restricted


def _chembl_string(directory: Path) -> Callable[..., MultiTaskDataset]:
    """The loader of one ChEMBL-STRING directory, taking its options."""

    def load(
        n_tasks=None, features="graphs", n_bits=DEFAULT_N_BITS, radius=DEFAULT_RADIUS, cache=True, cache_dir=None,
        workers=None,
    ):  # fmt: skip
        return load_chembl_string(
            directory, n_tasks, features=features, n_bits=n_bits, radius=radius, cache=cache, cache_dir=cache_dir,
            workers=workers,
        )  # fmt: skip

    return load


def _pcba(
    n_tasks=None, path=None, slaw_filter=False, n_bits=DEFAULT_N_BITS, radius=DEFAULT_RADIUS, cache=True,
    cache_dir=None, workers=None, features="fingerprints",
):  # fmt: skip
    """The user's PCBA file (``path`` or the cache dir), tasks in DeepChem's order whatever the file's."""
    return load_molecule_csv(
        find_pcba_file(path, cache_dir), n_tasks, name="pcba", task_names=list(pcba_task_names()),
        slaw_filter=slaw_filter, n_bits=n_bits, radius=radius, cache=cache, cache_dir=cache_dir, workers=workers,
        features=features,
    )  # fmt: skip


def _synthetic(n_tasks=None, n_molecules=PCBA_SIZE, slaw_filter=False, n_bits=DEFAULT_N_BITS, seed=0, noise=1.0):
    """Generated with at least the 32 tasks SLAW's filter looks at, then cut to ``n_tasks``."""
    k = check_n_tasks("synthetic-pcba", n_tasks, len(pcba_task_names()))
    generated = max(k, SLAW_FILTER_TASKS) if slaw_filter else k
    return restrict(synthetic_pcba(n_molecules, generated, n_bits, seed, noise), n_tasks, slaw_filter)


LOADERS: dict[str, Callable[..., MultiTaskDataset]] = {
    **{name: _csv(EMBEDDED / file, name) for name, file in EMBEDDED_FILES.items()},
    "pcba": _pcba,
    "synthetic-pcba": _synthetic,
    "mtregression": mtregression,
}


def list_datasets() -> list[str]:
    return list(LOADERS)


def load_dataset(name_or_path: str | os.PathLike, n_tasks: int | None = None, **options: Any) -> MultiTaskDataset:
    """A named data set (:func:`list_datasets`) or a CSV path, with its own options.

    Molecule sets take ``slaw_filter``, ``n_bits`` (2048), ``radius`` (4), ``cache``,
    ``cache_dir``, ``workers``; ``pcba`` also ``path``; ``synthetic-pcba`` takes
    ``n_molecules``, ``slaw_filter``, ``n_bits``, ``seed``, ``noise``; ``mtregression`` takes ``seed``.
    """
    key = str(name_or_path)
    if key in LOADERS:
        loader = LOADERS[key]
    elif Path(key).expanduser().is_file():
        loader = _csv(Path(key).expanduser())
    elif Path(key).expanduser().is_dir():
        loader = _chembl_string(Path(key).expanduser())
    else:
        raise ValueError(
            f"unknown dataset {key!r}; valid: {', '.join(LOADERS)}, the path of a CSV file "
            "or of a ChEMBL-STRING directory"
        )
    accepted = [p for p in inspect.signature(loader).parameters if p != "n_tasks"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"{key}: unknown option(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}")
    return loader(n_tasks=n_tasks, **options)
