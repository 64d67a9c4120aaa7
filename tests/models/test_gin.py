import pytest
import torch
from torch import nn

from mtlperf.data.graphs import featurise_graphs
from mtlperf.graph_batch import SELF_LOOP_BOND_TYPE, GraphBatch
from mtlperf.models.gin import GINEncoder, GINLayer, pool_nodes

SMILES = ["CCO", "C/C=C/[C@@H](Cl)O", "c1ccccc1C(=O)N", "CC#N", "O=C(O)CCC(N)C(=O)O"]


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def _batch(smiles=SMILES) -> GraphBatch:
    graphs, status = featurise_graphs(smiles)
    assert (status == 0).all()
    return graphs.batch(range(len(graphs)))


def test_paper_defaults_and_output_shape():
    torch.manual_seed(0)
    encoder = GINEncoder()
    settings = (encoder.n_layers, encoder.emb_dim, encoder.dropout, encoder.pooling, encoder.jk)
    assert settings == (5, 300, 0.2, "mean", "last")
    assert encoder(_batch()).shape == (5, 300) and encoder.out_features == 300
    concat = GINEncoder(n_layers=2, emb_dim=8, jk="concat")
    assert concat(_batch()).shape == (5, 24) and concat.out_features == 24


def test_same_seed_same_output_in_training_mode():
    outputs = []
    for _ in range(2):
        torch.manual_seed(3)
        encoder = GINEncoder(n_layers=3, emb_dim=16)
        torch.manual_seed(4)  # the dropout draws
        outputs.append(encoder(_batch()))
    assert torch.equal(outputs[0], outputs[1])


def test_pooled_output_is_invariant_to_reordering_atoms_within_a_graph():
    torch.manual_seed(0)
    encoder = GINEncoder(n_layers=3, emb_dim=16).eval()
    batch = _batch()
    permutation = torch.arange(batch.n_nodes)
    for g in range(batch.n_graphs):  # shuffle each graph's atoms, keep the graphs in order
        rows = torch.nonzero(batch.batch == g).flatten()
        permutation[rows] = rows[torch.randperm(rows.numel())]
    new_position = torch.empty_like(permutation)
    new_position[permutation] = torch.arange(permutation.numel())
    shuffled = GraphBatch(
        batch.x[permutation], new_position[batch.edge_index], batch.edge_attr, batch.batch[permutation], batch.n_graphs
    )
    assert not torch.equal(shuffled.x, batch.x)
    assert torch.allclose(encoder(shuffled), encoder(batch), atol=1e-5)


def test_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    encoder = GINEncoder(n_layers=3, emb_dim=16)
    encoder(_batch()).pow(2).sum().backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_linear_layers_are_the_mlps_and_not_all_parameters():
    encoder = GINEncoder(n_layers=4, emb_dim=8)
    linear = encoder.linear_layers()
    assert len(linear) == 8 and all(isinstance(m, nn.Linear) for m in linear)
    assert [m.in_features for m in linear[:2]] == [8, 16]
    in_linear = {id(p) for m in linear for p in m.parameters()}
    others = [n for n, p in encoder.named_parameters() if id(p) not in in_linear]
    assert {"atom_type.weight", "chirality.weight", "layers.0.bond_type.weight", "norms.0.weight"} <= set(others)


def test_layer_on_a_hand_computed_two_atom_graph():
    """The authors' GINConv: sum over j -> i and the typed self-loop of (h_j + E_type + E_dir), then the MLP."""
    layer = GINLayer(2)
    with torch.no_grad():  # MLP(a) = relu(a) - relu(-a) = a, so the output is the aggregate itself
        layer.mlp[0].weight.copy_(torch.tensor([[1.0, 0], [0, 1], [-1, 0], [0, -1]]))
        layer.mlp[0].bias.zero_()
        layer.mlp[2].weight.copy_(torch.tensor([[1.0, 0, -1, 0], [0, 1, 0, -1]]))
        layer.mlp[2].bias.zero_()
        layer.bond_type.weight.copy_(torch.tensor([[1.0, 0], [2, 0], [3, 0], [4, 0], [100, 0], [0, 0]]))
        layer.bond_direction.weight.copy_(torch.tensor([[0.0, 1], [0, 2], [0, 3]]))
    h = torch.tensor([[1.0, 2.0], [10.0, 20.0]])
    edge_index = torch.tensor([[0, 1], [1, 0]])
    edge_attr = torch.tensor([[1, 1], [1, 1]])  # one double bond, ENDUPRIGHT: E = (2, 0) + (0, 2)
    out = layer(h, edge_index, edge_attr)
    # atom 0: (h1 + (2, 2)) + (h0 + E_type[4] + E_dir[0]) = (10+2+1+100, 20+2+2+1); atom 1 likewise
    assert out.tolist() == [[113.0, 25.0], [113.0, 25.0]]
    lonely = layer(h[:1], torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, 2, dtype=torch.long))
    assert lonely.tolist() == [[101.0, 3.0]]  # only the self-loop


def test_layer_matches_a_loop_over_atoms_and_bonds():
    torch.manual_seed(0)
    layer = GINLayer(6)
    batch = _batch()
    h = torch.randn(batch.n_nodes, 6)
    expected = []
    for i in range(batch.n_nodes):
        total = h[i] + layer.bond_type.weight[SELF_LOOP_BOND_TYPE] + layer.bond_direction.weight[0]
        for e in range(batch.n_edges):
            source, target = batch.edge_index[:, e].tolist()
            if target == i:
                bond_type, direction = batch.edge_attr[e].tolist()
                total = total + h[source] + layer.bond_type.weight[bond_type] + layer.bond_direction.weight[direction]
        expected.append(layer.mlp(total))
    assert torch.allclose(layer(h, batch.edge_index, batch.edge_attr), torch.stack(expected), atol=1e-5)


def test_pooling_takes_each_graphs_own_atoms():
    states = torch.tensor([[1.0], [3.0], [10.0], [-2.0], [4.0]])
    batch = torch.tensor([0, 0, 1, 2, 2])
    assert pool_nodes(states, batch, 3, "mean").flatten().tolist() == [2.0, 10.0, 1.0]
    assert pool_nodes(states, batch, 3, "sum").flatten().tolist() == [4.0, 10.0, 2.0]
    assert pool_nodes(states, batch, 3, "max").flatten().tolist() == [3.0, 10.0, 4.0]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_layers": 0}, "n_layers must be an integer >= 1, got 0"),
        ({"emb_dim": 0}, "emb_dim must be a positive integer, got 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        ({"pooling": "attention"}, "unknown pooling 'attention'; accepted: mean, sum, max"),
        ({"jk": "lstm"}, "unknown jk 'lstm'; accepted: last, sum, max, concat"),
    ],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ValueError, match=message):
        GINEncoder(**options)


def test_reads_only_graph_batches():
    with pytest.raises(ValueError, match="GINEncoder reads a GraphBatch, got Tensor"):
        GINEncoder(n_layers=1, emb_dim=4)(torch.zeros(2, 2))
