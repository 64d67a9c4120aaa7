import numpy as np
import pytest
import torch

from mtlperf.data.graphs import (
    PackedGraphs,
    cached_graphs,
    dropped_molecules,
    featurise_graphs,
    graph_cache_path,
    molecule_graph,
)
from mtlperf.data.molecule_filter import KEPT, TOO_FEW_ATOMS, WEIGHT_ABOVE, WEIGHT_BELOW, chembl_string_filter
from mtlperf.graph_batch import GraphBatch

SMILES = ["CCO", "C/C=C/C", "C[C@H](N)O", "not a molecule", "c1ccccc1", "[Na+].[Cl-]", "", "*CC", "C"]


def _mol(smiles):
    from rdkit import Chem

    return Chem.MolFromSmiles(smiles)


def test_features_are_the_authors_indices():
    atoms, bonds, features = molecule_graph(_mol("C/C=C/[C@@H](Cl)O"))
    assert atoms.dtype == np.int8 and bonds.dtype == np.int32 and features.dtype == np.int8
    assert featurise_graphs(["C/C=C/[C@@H](Cl)O"])[0].bonds.dtype == np.int16  # packed: small molecules
    assert atoms[:, 0].tolist() == [5, 5, 5, 5, 16, 7]  # atomic number - 1: C, C, C, C, Cl, O
    assert atoms[:, 1].tolist() == [0, 0, 0, 1, 0, 0]  # @@ is CHI_TETRAHEDRAL_CW here
    assert bonds.tolist() == [[0, 1], [1, 2], [2, 3], [3, 4], [3, 5]]
    assert features[:, 0].tolist() == [0, 1, 0, 0, 0]  # single, double, single...
    assert features[:, 1].tolist() == [1, 0, 1, 0, 0]  # the two '/' bonds carry ENDUPRIGHT
    aromatic = molecule_graph(_mol("c1ccccc1"))[2]
    assert (aromatic[:, 0] == 3).all()


@pytest.mark.parametrize(
    "smiles, what",
    [
        ("*CC", "atomic number 0 outside the vocabulary; accepted: 1..118"),
        ("[NH3]->[Cu]", "bond type DATIVE outside the vocabulary; accepted: SINGLE, DOUBLE, TRIPLE, AROMATIC"),
        ("F[Pt@SP1](F)(Cl)Cl", "chirality tag CHI_SQUAREPLANAR outside the vocabulary; accepted: CHI_UNSPECIFIED"),
    ],
)
def test_values_outside_the_vocabulary_are_named(smiles, what):
    with pytest.raises(ValueError, match=what):
        molecule_graph(_mol(smiles))


def test_invalid_and_unembeddable_smiles_are_dropped_and_counted():
    graphs, status = featurise_graphs(SMILES)
    assert status.tolist() == [0, 0, 0, 1, 0, 0, 1, 2, 0]
    assert len(graphs) == 6 and graphs.atoms_per_graph().tolist() == [3, 4, 4, 6, 2, 1]
    report = dropped_molecules(SMILES, status)
    assert report["invalid_smiles"] == {"count": 2, "examples": ["not a molecule", ""]}
    assert report["outside_vocabulary"] == {"count": 1, "examples": ["*CC"]}
    assert dropped_molecules(["CCO"], np.zeros(1, np.int8)) == {"invalid_smiles": {"count": 0, "examples": []}}


def test_chembl_string_filter_keeps_the_largest_fragment_within_the_weight_range():
    def reason(smiles):
        return chembl_string_filter(_mol(smiles))[1]

    assert reason("C[NH3+].[Cl-]") == TOO_FEW_ATOMS  # the paper's own example: 2 heavy atoms once HCl is gone
    assert reason("CCC[NH3+].[Cl-]") == KEPT  # 60.12
    assert reason("[Na+].[Cl-]") == TOO_FEW_ATOMS and reason("CO") == TOO_FEW_ATOMS
    assert reason("CCO") == WEIGHT_BELOW  # 46.07
    assert reason("CCCO") == KEPT  # 60.10
    assert reason("C" * 70) == WEIGHT_ABOVE  # 70 carbons, about 982
    kept, code = chembl_string_filter(_mol("[Cl-].c1ccccc1C[NH3+]"))
    assert code == KEPT and kept.GetNumAtoms() == 8


def test_filter_option_of_the_featuriser_counts_each_reason():
    smiles = ["CCCO", "CCO", "[Na+].[Cl-]", "C" * 70, "bad", "c1ccccc1.O"]
    graphs, status = featurise_graphs(smiles, molecule_filter="chembl-string")
    report = dropped_molecules(smiles, status)
    assert {k: v["count"] for k, v in report.items()} == {
        "invalid_smiles": 1,
        "at_most_2_heavy_atoms": 1,
        "molecular_weight_below_50": 1,
        "molecular_weight_above_900": 1,
    }
    assert graphs.atoms_per_graph().tolist() == [4, 6]  # benzene without its water
    with pytest.raises(ValueError, match="unknown molecule_filter 'hu'; accepted: None, chembl-string"):
        featurise_graphs(smiles, molecule_filter="hu")


def test_batch_holds_both_directions_with_offsets_per_graph():
    graphs, _ = featurise_graphs(["CCO", "C/C=C/C"])
    batch = graphs.batch([1, 0])
    assert isinstance(batch, GraphBatch) and len(batch) == 2 and batch.n_nodes == 7 and batch.n_edges == 10
    assert batch.batch.tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert batch.edge_index.tolist() == [[0, 1, 1, 2, 2, 3, 4, 5, 5, 6], [1, 0, 2, 1, 3, 2, 5, 4, 6, 5]]
    assert batch.edge_attr.tolist() == [[0, 1], [0, 1], [1, 0], [1, 0], [0, 1], [0, 1], [0, 0], [0, 0], [0, 0], [0, 0]]
    assert all(t.dtype == torch.int64 for t in (batch.x, batch.edge_index, batch.edge_attr, batch.batch))
    assert batch.to("cpu").x.device.type == "cpu" and graphs.batch([0], device="cpu").n_graphs == 1


def test_take_matches_batch_and_rejects_rows_out_of_range():
    graphs, _ = featurise_graphs(SMILES)
    rows = [4, 0, 5, 0]
    taken = graphs.take(rows)
    assert isinstance(taken, PackedGraphs) and len(taken) == 4
    expected, got = graphs.batch(rows), taken.batch(range(4))
    for name in ("x", "edge_index", "edge_attr", "batch"):
        assert torch.equal(getattr(got, name), getattr(expected, name))
    with pytest.raises(ValueError, match="row index out of range for 6 graphs"):
        graphs.batch([6])
    empty = graphs.batch([])
    assert empty.n_graphs == 0 and empty.x.shape == (0, 2) and empty.edge_index.shape == (2, 0)


def test_cache_is_keyed_by_smiles_and_filter_and_round_trips(tmp_path):
    first, status = cached_graphs(SMILES, directory=tmp_path)
    path = graph_cache_path(SMILES, None, tmp_path)
    assert path.exists() and list(path.parent.glob(".*.tmp")) == []
    again, status_again = cached_graphs(SMILES, directory=tmp_path)
    for name in ("atom_offsets", "atoms", "bond_offsets", "bonds", "bond_features"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
        assert getattr(first, name).dtype == getattr(again, name).dtype
    assert np.array_equal(status, status_again)
    assert graph_cache_path(SMILES, "chembl-string", tmp_path) != path
    assert graph_cache_path(SMILES[:-1], None, tmp_path) != path
    filtered, filtered_status = cached_graphs(SMILES, "chembl-string", directory=tmp_path)
    assert len(filtered) < len(first) and len(list((tmp_path / "graphs").glob("*.npz"))) == 2


def test_featurisation_is_deterministic():
    a, _ = featurise_graphs(SMILES * 3)
    b, _ = featurise_graphs(SMILES * 3)
    assert all(np.array_equal(getattr(a, n), getattr(b, n)) for n in ("atoms", "bonds", "bond_features"))


def test_packed_graphs_rejects_inconsistent_offsets():
    graphs, _ = featurise_graphs(["CCO"])
    with pytest.raises(ValueError, match="atom_offsets end at 2 but there are 3 atoms"):
        PackedGraphs(np.array([0, 2]), graphs.atoms, graphs.bond_offsets, graphs.bonds, graphs.bond_features)
