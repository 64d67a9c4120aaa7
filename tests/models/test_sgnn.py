import pytest
import torch

from mtlperf.data.graphs import featurise_graphs
from mtlperf.losses import task_losses
from mtlperf.methods import create_method
from mtlperf.models.gin import GINEncoder
from mtlperf.models.sgnn import SGNN, SGNNEnergy, SplitInputMLP, StateLayer, TaskEmbedding
from mtlperf.step import TrainingStep

SMILES = ["CCO", "c1ccccc1C(=O)N", "CC#N", "O=C(O)CCC(N)C(=O)O"]
PAIRS = torch.tensor([[0, 1], [0, 3], [1, 2], [2, 4]])


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def _graphs():
    graphs, status = featurise_graphs(SMILES)
    assert (status == 0).all()
    return graphs.batch(range(len(graphs)))


def _sgnn(kind=SGNN, pairs=PAIRS, n_tasks=5, **options):
    torch.manual_seed(0)
    encoder = GINEncoder(n_layers=2, emb_dim=8, dropout=0.0)
    settings = {"task_dim": 6, "dim": 4, "n_layers": 2, "hidden": (16,), "dropout": 0.0, **options}
    return kind(encoder, n_tasks, pairs, **settings)


def test_the_split_first_layer_equals_the_mlp_on_every_concatenation():
    torch.manual_seed(1)
    mlp = SplitInputMLP((5, 3, 3), (7, 6), 4, dropout=0.0)
    molecules, first, second = torch.randn(2, 5), torch.randn(4, 3), torch.randn(4, 3)
    got = mlp(molecules, first, second)
    for b in range(2):
        for e in range(4):
            h = torch.cat([molecules[b], first[e], second[e]])
            for k, layer in enumerate(mlp.layers):
                h = layer(h if k == 0 else torch.relu(h))
            torch.testing.assert_close(got[b, e], h)


def test_state_message_passing_matches_a_loop_over_nodes_edges_and_states():
    torch.manual_seed(2)
    layer, d = StateLayer(3), 3
    nodes, edges = torch.randn(2, 5, 2, d), torch.randn(2, len(PAIRS), 4, d)
    new_nodes, new_edges = layer(nodes, edges, PAIRS)
    for b in range(2):
        for i in range(5):
            for yi in range(2):
                total = nodes[b, i, yi].clone()
                for e, (u, v) in enumerate(PAIRS.tolist()):
                    for yo in range(2):  # the other end's label
                        if u == i:
                            total += edges[b, e, 2 * yi + yo]
                        elif v == i:
                            total += edges[b, e, 2 * yo + yi]
                torch.testing.assert_close(new_nodes[b, i, yi], layer.node(total))
        for e, (u, v) in enumerate(PAIRS.tolist()):
            for yu in range(2):
                for yv in range(2):
                    ends = layer.aggregate(nodes[b, u, yu] + nodes[b, v, yv])
                    torch.testing.assert_close(
                        new_edges[b, e, 2 * yu + yv], layer.edge(edges[b, e, 2 * yu + yv] + ends)
                    )


def test_task_gcn_propagates_over_the_symmetric_normalised_graph_with_self_loops():
    embedding = TaskEmbedding(5, 4, PAIRS, gcn_layers=2)
    a = torch.eye(5)
    for i, j in PAIRS.tolist():
        a[i, j] = a[j, i] = 1
    d = a.sum(1).rsqrt()
    torch.testing.assert_close(embedding.propagation, d[:, None] * a * d[None])
    h = embedding.embedding.weight
    expected = embedding.propagation @ embedding.gcn[1](torch.relu(embedding.propagation @ embedding.gcn[0](h)))
    torch.testing.assert_close(embedding(), expected)
    plain = TaskEmbedding(5, 4, PAIRS, gcn_layers=0)
    assert plain() is plain.embedding.weight


def test_bad_edge_pairs_are_refused():
    with pytest.raises(ValueError, match="pairs must be task index pairs"):
        _sgnn(pairs=torch.tensor([[1, 0]]))
    with pytest.raises(ValueError, match="pairs must be task index pairs"):
        _sgnn(pairs=torch.tensor([[0, 5]]))


def test_sgnn_gives_one_logit_per_task_and_its_parts():
    model = _sgnn()
    logits, parts = model.forward_with_parts(_graphs())
    assert logits.shape == (4, 5)
    embedding = model.task_embedding.embedding.weight
    assert parts.heads is embedding and all(p is not embedding for p in parts.shared)
    assert len(parts.shared) == len(list(model.parameters())) - 1
    assert parts.last_shared == (model.readout[-1].weight, model.readout[-1].bias)


def test_a_graph_without_edges_still_runs_and_the_energy_has_no_edge_states():
    model = _sgnn(SGNNEnergy, pairs=torch.zeros(0, 2, dtype=torch.long))
    nodes, edges = model(_graphs())
    assert nodes.shape == (4, 5, 2) and edges.shape == (4, 0, 4)
    torch.testing.assert_close(nodes.exp().sum(-1), torch.ones(4, 5))


def test_energy_factors_are_log_probabilities_over_states():
    nodes, edges = _sgnn(SGNNEnergy)(_graphs())
    assert edges.shape == (4, len(PAIRS), 4)
    torch.testing.assert_close(nodes.exp().sum(-1), torch.ones(4, 5))
    torch.testing.assert_close(edges.exp().sum(-1), torch.ones(4, len(PAIRS)))


def _step(model, name, **hyperparameters):
    labels = torch.tensor([[1.0, 0, float("nan"), 1, 0], [0, 1, 1, float("nan"), 0]] * 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    TrainingStep(model, create_method(name, 5, **hyperparameters), optimizer, task_losses)(_graphs(), labels)
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_pcgrad_on_sgnn_projects_per_task_gradients_of_all_but_the_task_embeddings():
    batched = _step(_sgnn(), "pcgrad", implementation="batched")
    loop = _step(_sgnn(), "pcgrad", implementation="loop")  # the authors' way: one backward per task
    assert batched.keys() == loop.keys()
    for name in batched:
        torch.testing.assert_close(batched[name], loop[name], rtol=1e-4, atol=1e-6)
    # the task embeddings are not projected: they get the summed loss's gradient, as heads do
    plain = _step(_sgnn(), "constant")
    torch.testing.assert_close(batched["task_embedding.embedding.weight"], plain["task_embedding.embedding.weight"])
    assert not torch.allclose(batched["readout.4.weight"], plain["readout.4.weight"])


@pytest.mark.parametrize("name", ["gradnorm", "rmtl", "lbtw", "uncertainty", "dwa", "slaw"])
def test_weighting_methods_train_sgnn(name):
    grads = _step(_sgnn(), name)
    assert grads and all(torch.isfinite(g).all() for g in grads.values())
