"""The step-time rows of the structured models: SGNN and SGNN-EBM on the Pyramidal trunk over a random task graph."""

import pytest
import torch

from mtlperf.cases import EDGES_PER_TASK, make_case, random_task_pairs


def test_random_task_pairs_are_distinct_ordered_and_grow_with_the_task_count():
    pairs = random_task_pairs(64, EDGES_PER_TASK, seed=0)
    assert len(pairs) == round(EDGES_PER_TASK * 64) and bool((pairs[:, 0] < pairs[:, 1]).all())
    assert len({tuple(p) for p in pairs.tolist()}) == len(pairs)
    assert torch.equal(pairs, random_task_pairs(64, EDGES_PER_TASK, seed=0))
    assert not torch.equal(pairs, random_task_pairs(64, EDGES_PER_TASK, seed=1))
    assert len(random_task_pairs(4, EDGES_PER_TASK, seed=0)) == 6  # every pair of 4 tasks


@pytest.mark.parametrize("name", ["sgnn", "sgnn-ebm"])
def test_structured_rows_train_and_the_same_seed_gives_the_same_step(name, one_thread):
    def losses_of_three_steps():
        case = make_case(name, n_tasks=6, batch_size=8, device="cpu", seed=0)
        before = [p.detach().clone() for p in case.model.parameters()]
        losses = [case.run() for _ in range(3)]
        assert any(not torch.equal(a, p) for a, p in zip(before, case.model.parameters()))
        return torch.cat(losses), case

    losses, case = losses_of_three_steps()
    assert torch.isfinite(losses).all() and case.implementation == name
    assert case.model.pairs.shape == (len(random_task_pairs(6, EDGES_PER_TASK, 0)), 2)
    assert torch.equal(losses, losses_of_three_steps()[0])
