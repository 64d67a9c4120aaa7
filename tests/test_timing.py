from __future__ import annotations

import time

import pytest
import torch

import mtlperf.cases
import mtlperf.device
from mtlperf.cases import make_case
from mtlperf.timing import peak_memory_bytes, time_interleaved, time_step


class SleepCase:
    """A stand-in StepCase whose step takes a known time and logs what happens."""

    def __init__(self, log: list, seconds: float = 0.002, name: str = "sleep"):
        self.spec, self.device, self.log, self.seconds, self.name = name, torch.device("cpu"), log, seconds, name

    def run(self):
        time.sleep(self.seconds)
        self.log.append(self.name)


@pytest.fixture
def sync_log(monkeypatch):
    log: list[str] = []
    monkeypatch.setattr(mtlperf.device, "synchronize", lambda device: log.append("sync"))
    return log


def test_time_step_warms_up_then_times_each_step_between_two_device_syncs(sync_log):
    stats = time_step(SleepCase(sync_log), steps=3, warmup=2)
    assert sync_log == ["sleep", "sleep"] + ["sync", "sleep", "sync"] * 3
    assert len(stats["times"]) == 3
    assert 0.002 <= stats["min"] <= stats["median"] <= stats["max"] < 1.0
    assert stats["median"] == sorted(stats["times"])[1]


def test_interleaving_takes_one_step_of_each_case_per_round_starting_one_case_later(sync_log):
    cases = {name: SleepCase(sync_log, 0.01 if name == "c" else 0.002, name=name) for name in "abc"}
    times = time_interleaved(cases, steps=4, warmup=0)
    assert "".join(e for e in sync_log if e != "sync") == "abcbcacababc"
    assert min(times["c"]) > max(times["a"] + times["b"])
    assert [len(t) for t in times.values()] == [4, 4, 4]


@pytest.mark.parametrize("steps, warmup", [(0, 1), (2, -1), (1.5, 0)])
def test_time_step_rejects_bad_counts(steps, warmup):
    with pytest.raises(ValueError, match="steps|warmup"):
        time_step(SleepCase([]), steps=steps, warmup=warmup)


def test_a_real_step_trains_the_network_and_records_its_setting():
    case = make_case("constant", n_tasks=3, batch_size=32, device="cpu", seed=0)
    before = [p.detach().clone() for p in case.model.parameters()]
    losses = case.run()
    assert losses.shape == (3,) and torch.isfinite(losses).all()
    assert all(not torch.equal(b, p) for b, p in zip(before, case.model.parameters()))
    info = case.info()
    assert info["method"] == "constant" and info["n_tasks"] == 3 and info["batch_size"] == 32
    assert info["device"] == "cpu" and info["torch"] == torch.__version__ and info["device_name"]


def test_same_seed_same_numbers_and_dense_input_matches_sparse():
    runs = [make_case("lbtw", 4, 32, "cpu", seed=5, dense_input=dense) for dense in (False, False, True)]
    losses = [torch.stack([case.run() for _ in range(2)]) for case in runs]
    assert torch.equal(losses[0], losses[1])
    torch.testing.assert_close(losses[2], losses[0], rtol=1e-4, atol=1e-5)
    assert isinstance(runs[2].batches[0][0], torch.Tensor)  # dense really was dense
    other_seed = make_case("lbtw", 4, 32, "cpu", seed=6)
    assert not torch.equal(other_seed.run(), losses[0][0])


def test_dense_input_row_is_constant_on_dense_input():
    dense, sparse = make_case("constant-dense-input", 4, 32, "cpu"), make_case("constant", 4, 32, "cpu")
    assert isinstance(dense.batches[0][0], torch.Tensor) and dense.implementation == "dense-input"
    torch.testing.assert_close(dense.run(), sparse.run(), rtol=1e-4, atol=1e-5)


def test_peak_memory_counts_the_step_activations():
    case = make_case("constant", n_tasks=2, batch_size=1024, device="cpu", seed=0)
    case.run()
    peak = peak_memory_bytes(case)
    if peak is None:
        pytest.skip("no /proc/self/clear_refs here")
    hidden_activations = 1024 * 2000 * 4  # the first hidden layer's float32 output alone
    assert hidden_activations <= peak < 2**31


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name="constant", n_tasks=129), "from 1 to 128"),
        (dict(name="constant", n_tasks=0), "from 1 to 128"),
        (dict(name="no-such-method", n_tasks=4), "unknown method"),
        (dict(name="lbtw:nope=1", n_tasks=4), "unknown hyperparameter"),
        (dict(name="constant", n_tasks=4, batch_size=0), "batch_size"),
        (dict(name="constant", n_tasks=4, device="tpu"), "unknown device"),
    ],
)
def test_make_case_rejects_bad_cases_with_one_clear_line(kwargs, message):
    kwargs = {"batch_size": 8, "device": "cpu", **kwargs}
    with pytest.raises(ValueError, match=message):
        make_case(**kwargs)


def test_torchjd_row_needs_torchjd(monkeypatch):
    monkeypatch.setattr(mtlperf.cases, "torchjd_available", lambda: False)
    with pytest.raises(ValueError, match="needs torchjd"):
        make_case("torchjd-pcgrad", 4, 8, "cpu")


def test_torchjd_row_takes_a_training_step():
    pytest.importorskip("torchjd")
    case = make_case("torchjd-pcgrad", n_tasks=3, batch_size=16, device="cpu", seed=0)
    before = [p.detach().clone() for p in case.model.parameters()]
    assert torch.isfinite(case.run()).all() and case.implementation == "torchjd"
    assert all(not torch.equal(b, p) for b, p in zip(before, case.model.parameters()))
