"""A tiny molecule set with a task graph, for the structured models' training and study."""

import numpy as np
import pytest

from mtlperf.data.dataset import MultiTaskDataset
from mtlperf.data.graphs import featurise_graphs
from mtlperf.data.task_graph import task_graph

SMILES = ["CCO", "c1ccccc1C(=O)N", "CC#N", "O=C(O)CCC(N)C(=O)O", "CCN(CC)CC", "c1ccncc1", "CC(C)O", "OCCO"] * 8


@pytest.fixture(scope="module")
def dataset():
    graphs, status = featurise_graphs(SMILES)
    assert (status == 0).all()
    rng = np.random.default_rng(0)
    labels = (rng.random((len(SMILES), 4)) < 0.4).astype(np.float32)
    labels[rng.random(labels.shape) < 0.2] = np.nan
    names = ["a", "b", "c", "d"]
    graph = task_graph(names, np.array([[0, 1], [1, 2], [2, 3]]))
    return MultiTaskDataset("tiny", names, graphs, labels, smiles=SMILES, meta={"task_graph": graph})
