import pytest

from mtlperf.config import PRESETS
from mtlperf.data.dataset import MultiTaskDataset
from mtlperf.ebm.fit import EnergySettings, train_sgnn_ebm
from mtlperf.train import train

TINY = PRESETS["sgnn-ebm"].replace(
    epochs=2, batch_size=16, hidden=(8, 8), task_dim=4, state_dim=4, device="cpu", eval_every=1
)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


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
