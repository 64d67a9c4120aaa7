import pytest
import torch

from mtlperf.link_pretraining import negative_weights, pretrain_task_embedding
from mtlperf.models.sgnn import TaskEmbedding

# two cliques of four tasks and nothing between them
PAIRS = torch.tensor([(i, j) for c in (0, 4) for i in range(c, c + 4) for j in range(i + 1, c + 4)])


def embedding(seed=0):
    torch.manual_seed(seed)
    return TaskEmbedding(8, 16, PAIRS, gcn_layers=2)


def test_negatives_are_drawn_by_degree_to_the_three_quarters():
    pairs = torch.tensor([[0, 1], [0, 2], [0, 3]])
    assert torch.allclose(negative_weights(pairs, 5), torch.tensor([3**0.75, 1, 1, 1, 0], dtype=torch.float64))


def test_pretraining_learns_the_graph_and_is_deterministic(one_thread):
    model = embedding()
    history = pretrain_task_embedding(model, PAIRS, epochs=60, lr=1e-3, seed=0)
    assert len(history) == 60 and history[-1] < 0.5 * history[0], history[::10]
    again = embedding()
    pretrain_task_embedding(again, PAIRS, epochs=60, lr=1e-3, seed=0)
    assert torch.equal(model.embedding.weight, again.embedding.weight)


@pytest.mark.parametrize("epochs", [0, 3])
def test_no_graph_or_no_epochs_leaves_the_embeddings_alone(epochs):
    model = embedding()
    before = model.embedding.weight.detach().clone()
    pairs = PAIRS if epochs == 0 else torch.zeros((0, 2), dtype=torch.long)
    assert pretrain_task_embedding(model, pairs, epochs=epochs, lr=1e-3, seed=0) == []
    assert torch.equal(model.embedding.weight, before)


def test_the_training_option_pretrains_the_structured_models_task_embeddings(one_thread):
    from mtlperf.config import PRESETS
    from mtlperf.data.task_graph import task_graph
    from mtlperf.train import structured_model

    graph = task_graph([f"t{k}" for k in range(8)], PAIRS.numpy())
    config = PRESETS["sgnn-ebm-cpu"]

    def embedding_after(epochs):
        torch.manual_seed(0)
        model = structured_model("sgnn", graph, config.replace(link_pretrain_epochs=epochs), torch.device("cpu"))
        return model.task_embedding.embedding.weight.detach()

    assert torch.equal(embedding_after(0), embedding_after(0))
    assert not torch.allclose(embedding_after(0), embedding_after(2))
