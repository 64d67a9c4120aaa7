import numpy as np
import pytest

from mtlperf.config import PRESETS
from mtlperf.data.dataset import MultiTaskDataset
from mtlperf.data.graphs import featurise_graphs
from mtlperf.data.task_graph import task_graph
from mtlperf.ebm.fit import EnergySettings, train_sgnn_ebm
from mtlperf.train import train

SMILES = ["CCO", "c1ccccc1C(=O)N", "CC#N", "O=C(O)CCC(N)C(=O)O", "CCN(CC)CC", "c1ccncc1", "CC(C)O", "OCCO"] * 8
TINY = PRESETS["sgnn-ebm"].replace(
    epochs=2, batch_size=16, hidden=(8, 8), task_dim=4, state_dim=4, device="cpu", eval_every=1
)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


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


@pytest.mark.parametrize("noise", ["fixed", "adaptive", "uniform"])
def test_sgnn_ebm_trains_and_the_same_seed_gives_the_same_numbers(dataset, noise):
    settings = EnergySettings(noise=noise, adaptive_start=1, adaptive_every=1, backbone_epochs=1)
    runs = [train_sgnn_ebm(dataset, TINY, settings, progress=False) for _ in range(2)]
    assert runs[0]["test"] == runs[1]["test"] and runs[0]["history"] == runs[1]["history"]
    assert runs[0]["n_edges"] == 3 and len(runs[0]["history"]) == 2
    assert 0 <= runs[0]["test"]["mean_roc_auc"] <= 1
    assert (runs[0]["backbone"] is None) == (noise == "uniform")
    assert any(e.get("noise_refreshed") for e in runs[0]["history"]) == (noise == "adaptive")


def test_sgnn_trains_with_a_weighting_method_like_any_model(dataset):
    result = train(dataset, "gradnorm", TINY.replace(model="sgnn"), progress=False)
    assert "valid_mean_roc_auc" in result["history"][-1] and result["n_tasks"] == 4


def test_structured_models_refuse_data_without_a_task_graph(dataset):
    bare = MultiTaskDataset("bare", dataset.task_names, dataset.inputs, dataset.labels)
    with pytest.raises(ValueError, match="no task relation graph"):
        train(bare, "constant", TINY.replace(model="sgnn"), progress=False)
    with pytest.raises(ValueError, match="trains by NCE"):
        train(dataset, "constant", TINY.replace(model="sgnn-ebm"), progress=False)


def test_bad_energy_settings_are_refused():
    for bad, match in (({"noise": "gaussian"}, "unknown noise"), ({"lam": -1.0}, "lam"), ({"sweeps": 0}, "sweeps")):
        with pytest.raises(ValueError, match=match):
            EnergySettings(**bad)
