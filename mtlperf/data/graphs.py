"""Molecular graphs of SMILES with Hu et al. (2019)'s simple features, packed and cached on disk.

The SGNN-EBM authors' GIN reads only four integers (``mol_to_graph_data_obj_simple`` in their
``src/datasets/molecule_dataset.py``): per atom its atomic number (index Z - 1) and chirality
tag, per bond its type and direction (stored once here, both directions in a batch). A
molecule with a value outside that vocabulary (a dummy atom ``*``, a dative bond, an
``@SP``-style chirality, ``CHI_OTHER`` for which the authors' embedding has no slot) cannot be
embedded: it is dropped and counted, like an invalid SMILES, where the authors' code raises.

Many graphs are stored as one CSR-like pack (:class:`PackedGraphs`): ToxCast's 8,615
molecules take 0.2 MB on disk (half their CSV), their cold featurisation a few seconds.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..graph_batch import N_BOND_DIRECTIONS, N_CHIRAL_TAGS, GraphBatch
from ..io import atomic_write_bytes
from .cache import cache_dir, strings_digest
from .molecule_filter import (
    DROP_REASONS,
    INVALID_SMILES,
    OUTSIDE_VOCABULARY,
    check_molecule_filter,
    chembl_string_filter,
)

_CACHE_FORMAT = 1
_PARALLEL_FROM = 20_000  # below this, starting worker processes costs more than it saves
_CHUNK = 5_000
_EXAMPLES = 5
MAX_ATOMIC_NUMBER = 118
BOND_TYPE_NAMES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
BOND_DIRECTION_NAMES = ("NONE", "ENDUPRIGHT", "ENDDOWNRIGHT")
CHIRAL_TAG_NAMES = ("CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW")
assert len(CHIRAL_TAG_NAMES) == N_CHIRAL_TAGS and len(BOND_DIRECTION_NAMES) == N_BOND_DIRECTIONS


@dataclass(frozen=True)
class PackedGraphs:
    """N molecular graphs: graph g's atoms are ``atoms[atom_offsets[g]:atom_offsets[g+1]]``, its bonds likewise.

    ``atoms`` int8 [n_atoms, 2] (atom type = Z - 1, chirality tag); ``bonds`` int16 [n_bonds, 2]
    (begin and end atom, counted within the graph; int32 once a molecule has over 32,768 atoms);
    ``bond_features`` int8 [n_bonds, 2] (bond type, bond direction). Each bond is stored once;
    :meth:`batch` adds the reverse direction.
    """

    atom_offsets: np.ndarray  # int64 [N + 1]
    atoms: np.ndarray
    bond_offsets: np.ndarray  # int64 [N + 1]
    bonds: np.ndarray
    bond_features: np.ndarray

    def __post_init__(self) -> None:
        for name, offsets, rows in (
            ("atom", self.atom_offsets, self.atoms),
            ("bond", self.bond_offsets, self.bonds),
        ):
            if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0:
                raise ValueError(f"PackedGraphs: {name}_offsets must be 1-D and start at 0")
            if int(offsets[-1]) != rows.shape[0]:
                raise ValueError(
                    f"PackedGraphs: {name}_offsets end at {int(offsets[-1])} but there are {rows.shape[0]} {name}s"
                )
        if self.atom_offsets.size != self.bond_offsets.size:
            raise ValueError("PackedGraphs: atom_offsets and bond_offsets must have one entry per graph plus one")
        if self.bond_features.shape != self.bonds.shape:
            shapes = f"bond_features {self.bond_features.shape} and bonds {self.bonds.shape}"
            raise ValueError(f"PackedGraphs: {shapes} differ")

    def __len__(self) -> int:
        return self.atom_offsets.size - 1

    def atoms_per_graph(self) -> np.ndarray:
        return np.diff(self.atom_offsets)

    def _rows(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise ValueError(f"row index out of range for {len(self)} graphs")
        return rows % max(len(self), 1)

    def take(self, rows: Sequence[int] | np.ndarray) -> PackedGraphs:
        """The graphs of ``rows``, in that order, as a new PackedGraphs."""
        rows = self._rows(rows)
        atom_positions, atom_counts = _ragged(self.atom_offsets, rows)
        bond_positions, bond_counts = _ragged(self.bond_offsets, rows)
        return PackedGraphs(
            np.concatenate([[0], np.cumsum(atom_counts)]).astype(np.int64),
            self.atoms[atom_positions],
            np.concatenate([[0], np.cumsum(bond_counts)]).astype(np.int64),
            self.bonds[bond_positions],
            self.bond_features[bond_positions],
        )

    def batch(self, rows: Sequence[int] | np.ndarray, device: torch.device | str | None = None) -> GraphBatch:
        """The model input for ``rows``: a :class:`GraphBatch` (on ``device`` if given), bonds in both directions."""
        rows = self._rows(rows)
        atom_positions, atom_counts = _ragged(self.atom_offsets, rows)
        bond_positions, bond_counts = _ragged(self.bond_offsets, rows)
        first_atom = np.cumsum(atom_counts) - atom_counts  # where each graph's atoms start in the batch
        ends = self.bonds[bond_positions].astype(np.int64) + np.repeat(first_atom, bond_counts)[:, None]
        # bond k gives edges 2k (begin -> end) and 2k + 1 (end -> begin), the authors' order
        edge_index = np.stack([ends, ends[:, ::-1]], axis=1).reshape(-1, 2).T
        edge_attr = np.repeat(self.bond_features[bond_positions].astype(np.int64), 2, axis=0)
        graphs = GraphBatch(
            x=torch.from_numpy(self.atoms[atom_positions].astype(np.int64)),
            edge_index=torch.from_numpy(np.ascontiguousarray(edge_index)),
            edge_attr=torch.from_numpy(edge_attr),
            batch=torch.from_numpy(np.repeat(np.arange(rows.size, dtype=np.int64), atom_counts)),
            n_graphs=int(rows.size),
        )
        return graphs if device is None else graphs.to(device)


def _ragged(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the rows' items concatenated, item count of each row) of a CSR offsets array."""
    starts, counts = offsets[rows], offsets[rows + 1] - offsets[rows]
    positions = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return positions, counts


def molecule_graph(mol) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(atoms int8 [n, 2], bonds int32 [m, 2], bond features int8 [m, 2]) of an RDKit molecule.

    A feature outside the vocabulary is a ValueError naming it and the accepted values.
    """
    chiral_tags, bond_types, bond_directions = _vocabularies()
    atoms = []
    for atom in mol.GetAtoms():
        number = atom.GetAtomicNum()
        if not 1 <= number <= MAX_ATOMIC_NUMBER:
            raise ValueError(f"atomic number {number} outside the vocabulary; accepted: 1..{MAX_ATOMIC_NUMBER}")
        atoms.append((number - 1, _index(atom.GetChiralTag(), chiral_tags, "chirality tag")))
    bonds, features = [], []
    for bond in mol.GetBonds():
        bonds.append((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
        bond_type = _index(bond.GetBondType(), bond_types, "bond type")
        features.append((bond_type, _index(bond.GetBondDir(), bond_directions, "bond direction")))
    return (
        np.array(atoms, dtype=np.int8).reshape(-1, 2),
        np.array(bonds, dtype=np.int32).reshape(-1, 2),
        np.array(features, dtype=np.int8).reshape(-1, 2),
    )


@functools.lru_cache(maxsize=1)
def _vocabularies() -> tuple[dict, dict, dict]:
    """RDKit enum value -> index, for chirality tags, bond types and bond directions."""
    from rdkit import Chem

    def table(enum, names):
        return {getattr(enum, name): k for k, name in enumerate(names)}

    return (
        table(Chem.ChiralType, CHIRAL_TAG_NAMES),
        table(Chem.BondType, BOND_TYPE_NAMES),
        table(Chem.BondDir, BOND_DIRECTION_NAMES),
    )


def _index(value, vocabulary: dict, what: str) -> int:
    index = vocabulary.get(value)
    if index is None:
        names = ", ".join(str(v) for v in vocabulary)
        raise ValueError(f"{what} {value} outside the vocabulary; accepted: {names}")
    return index


def _featurise_chunk(args: tuple[list[str], str | None]) -> tuple[list, np.ndarray]:
    """(graph arrays of the kept SMILES, one reason code per SMILES)."""
    from rdkit import Chem, rdBase

    smiles, molecule_filter = args
    graphs, status = [], np.zeros(len(smiles), dtype=np.int8)
    with rdBase.BlockLogs():  # RDKit would print one warning per unparsable molecule
        for i, text in enumerate(smiles):
            mol = Chem.MolFromSmiles(text) if text else None
            if mol is None or mol.GetNumAtoms() == 0:
                status[i] = INVALID_SMILES
                continue
            if molecule_filter is not None:
                mol, status[i] = chembl_string_filter(mol)
                if mol is None:
                    continue
            try:
                graphs.append(molecule_graph(mol))
            except ValueError:
                status[i] = OUTSIDE_VOCABULARY
    return graphs, status


def featurise_graphs(
    smiles: Sequence[str], molecule_filter: str | None = None, workers: int | None = None
) -> tuple[PackedGraphs, np.ndarray]:
    """The graphs of the KEPT SMILES, in order, and an int8 reason code per SMILES (0 = kept).

    ``molecule_filter="chembl-string"`` featurises the largest fragment and drops what the
    ChEMBL-STRING filter drops (:mod:`mtlperf.data.molecule_filter`); None featurises every
    parsable molecule whole (salts stay disconnected graphs). :func:`dropped_molecules` turns
    the codes into counts. From 20,000 molecules on, ``workers`` forked processes share the work.
    """
    check_molecule_filter(molecule_filter)
    smiles = [str(s) for s in smiles]
    workers = workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    chunks = [(smiles[i : i + _CHUNK], molecule_filter) for i in range(0, len(smiles), _CHUNK)]
    if workers > 1 and len(smiles) >= _PARALLEL_FROM and sys.platform.startswith("linux"):
        # fork, not spawn: spawn re-runs the caller's main module; the children only run RDKit
        with multiprocessing.get_context("fork").Pool(min(workers, len(chunks))) as pool:
            parts = pool.map(_featurise_chunk, chunks)
    else:
        parts = [_featurise_chunk(chunk) for chunk in chunks]
    graphs = [graph for part, _ in parts for graph in part]
    status = np.concatenate([s for _, s in parts]) if parts else np.zeros(0, dtype=np.int8)
    return pack_graphs(graphs), status


def pack_graphs(graphs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> PackedGraphs:
    """One :class:`PackedGraphs` of (atoms, bonds, bond features) triples, as :func:`molecule_graph` gives them."""
    atom_counts = np.fromiter((g[0].shape[0] for g in graphs), dtype=np.int64, count=len(graphs))
    bond_counts = np.fromiter((g[1].shape[0] for g in graphs), dtype=np.int64, count=len(graphs))

    def stack(k: int, dtype: type) -> np.ndarray:
        return np.concatenate([g[k] for g in graphs]).astype(dtype) if graphs else np.zeros((0, 2), dtype=dtype)

    return PackedGraphs(
        np.concatenate([[0], np.cumsum(atom_counts)]).astype(np.int64),
        stack(0, np.int8),
        np.concatenate([[0], np.cumsum(bond_counts)]).astype(np.int64),
        stack(1, np.int16 if atom_counts.max(initial=0) <= np.iinfo(np.int16).max + 1 else np.int32),
        stack(2, np.int8),
    )


def dropped_molecules(smiles: Sequence[str], status: np.ndarray, examples: int = _EXAMPLES) -> dict[str, dict]:
    """``{reason: {"count", "examples"}}`` for every reason a SMILES was dropped (``invalid_smiles`` always present)."""
    status = np.asarray(status)
    if len(smiles) != status.size:
        raise ValueError(f"{len(smiles)} SMILES but {status.size} reason codes")
    report = {}
    for code, reason in DROP_REASONS.items():
        rows = np.flatnonzero(status == code)
        if rows.size or code == INVALID_SMILES:
            report[reason] = {"count": int(rows.size), "examples": [str(smiles[i]) for i in rows[:examples]]}
    return report


def graph_cache_path(smiles: Sequence[str], molecule_filter: str | None, directory: Path) -> Path:
    """The cache file for these SMILES (in order), the filter and the RDKit version."""
    from rdkit import __version__ as rdkit_version

    name = molecule_filter or "whole"
    key = strings_digest([f"graphs-hu2019-v{_CACHE_FORMAT}-{name}-rdkit{rdkit_version}", *smiles])[:24]
    return directory / "graphs" / f"hu2019-{name}-{key}.npz"


def cached_graphs(
    smiles: Sequence[str],
    molecule_filter: str | None = None,
    cache: bool = True,
    directory: str | os.PathLike | None = None,
    workers: int | None = None,
) -> tuple[PackedGraphs, np.ndarray]:
    """:func:`featurise_graphs`, read from / written to a compressed npz in the cache dir when ``cache``.

    The key hashes the SMILES list, the filter and the RDKit version, so a changed file or
    setting never reuses stale graphs; the write is atomic (:func:`mtlperf.io.atomic_write_bytes`).
    """
    check_molecule_filter(molecule_filter)
    smiles = [str(s) for s in smiles]
    path = graph_cache_path(smiles, molecule_filter, cache_dir(directory)) if cache else None
    if path is not None and path.exists():
        with np.load(path) as stored:
            graphs = PackedGraphs(*(stored[name] for name in _FIELDS))
            return graphs, stored["status"]
    graphs, status = featurise_graphs(smiles, molecule_filter, workers=workers)
    if path is not None:
        import io

        buffer = io.BytesIO()
        np.savez_compressed(buffer, status=status, **{name: getattr(graphs, name) for name in _FIELDS})
        atomic_write_bytes(path, buffer.getvalue())
    return graphs, status


_FIELDS = ("atom_offsets", "atoms", "bond_offsets", "bonds", "bond_features")
