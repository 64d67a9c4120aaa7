from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

import mtlperf.metrics as metrics
from mtlperf.metrics import (
    evaluate,
    loss_weight_error,
    negative_transfer,
    normalized_loss,
    per_task_scores,
    pooled_average_precision,
)


def random_task_data(n_rows=400, n_tasks=7, seed=0):
    rng = np.random.default_rng(seed)
    labels = (rng.random((n_rows, n_tasks)) < rng.uniform(0.05, 0.5, n_tasks)).astype(np.float32)
    labels[rng.random((n_rows, n_tasks)) < 0.3] = np.nan
    scores = rng.integers(0, 12, (n_rows, n_tasks)) / 11.0  # few distinct values: many ties
    scores[:, 0] = rng.random(n_rows)  # and one task without ties
    scores[np.isnan(labels)] = np.nan  # unlabelled rows may score anything
    return labels, scores


def sklearn_scores(labels, scores):
    pr, roc = [], []
    for t in range(labels.shape[1]):
        m = ~np.isnan(labels[:, t])
        pr.append(average_precision_score(labels[m, t], scores[m, t]))
        roc.append(roc_auc_score(labels[m, t], scores[m, t]))
    return np.array(pr), np.array(roc)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_task_scores_equal_sklearn_with_ties_and_missing_labels(seed):
    labels, scores = random_task_data(seed=seed)
    ours = per_task_scores(labels, scores)
    pr, roc = sklearn_scores(labels, scores)
    np.testing.assert_allclose(ours["pr_auc"], pr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours["roc_auc"], roc, rtol=0, atol=1e-12)


def test_per_task_scores_are_the_same_when_tasks_are_ranked_in_chunks(monkeypatch):
    labels, scores = random_task_data(n_rows=50, n_tasks=9, seed=4)
    whole = per_task_scores(labels, scores)
    monkeypatch.setattr(metrics, "_CHUNK", 100)  # two tasks at a time
    chunked = per_task_scores(labels, scores)
    np.testing.assert_array_equal(chunked["pr_auc"], whole["pr_auc"])
    np.testing.assert_array_equal(chunked["roc_auc"], whole["roc_auc"])


def test_scores_by_hand():
    labels = np.array([1, 0, 1, 0], dtype=float)
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    result = per_task_scores(labels, scores)
    assert result["pr_auc"][0] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)  # recall steps of 1/2
    assert result["roc_auc"][0] == pytest.approx(3 / 4)  # 3 of 4 (pos, neg) pairs ordered
    tied = per_task_scores(np.array([[1.0], [0.0]]), np.array([[0.5], [0.5]]))
    assert tied["pr_auc"][0] == pytest.approx(0.5) and tied["roc_auc"][0] == pytest.approx(0.5)


def test_a_task_without_both_classes_scores_nan_and_is_left_out_of_the_means():
    labels = np.array([[1, 1, np.nan], [0, 1, np.nan], [1, 1, 0], [0, np.nan, np.nan]])
    scores = np.array([[0.9, 0.1, 0.3], [0.2, 0.2, 0.3], [0.4, 0.3, 0.3], [0.6, 0.4, 0.3]])
    result = evaluate(labels, scores)
    assert np.isnan(result["pr_auc"][1:]).all() and np.isnan(result["roc_auc"][1:]).all()
    assert result["n_single_class_tasks"] == 2
    assert result["mean_pr_auc"] == pytest.approx(result["pr_auc"][0])
    assert result["mean_roc_auc"] == pytest.approx(result["roc_auc"][0])


def test_means_are_nan_when_no_task_has_both_classes():
    result = evaluate(np.array([[1.0], [1.0]]), np.array([[0.2], [0.4]]))
    assert np.isnan(result["mean_pr_auc"]) and np.isnan(result["mean_roc_auc"])
    assert result["n_single_class_tasks"] == 1


def test_evaluate_gives_means_and_the_pooled_average_precision_over_all_labelled_pairs():
    labels, scores = random_task_data(seed=5)
    result = evaluate(labels, scores)
    pr, roc = sklearn_scores(labels, scores)
    assert result["mean_pr_auc"] == pytest.approx(pr.mean(), abs=1e-12)
    assert result["mean_roc_auc"] == pytest.approx(roc.mean(), abs=1e-12)
    labelled = ~np.isnan(labels)
    pooled = average_precision_score(labels[labelled], scores[labelled])
    assert result["pooled_pr_auc"] == pytest.approx(pooled, abs=1e-12)
    assert pooled_average_precision(labels, scores) == result["pooled_pr_auc"]
    assert result["n_single_class_tasks"] == 0


def test_metrics_accept_torch_tensors():
    labels, scores = random_task_data(n_rows=60, n_tasks=3, seed=6)
    from_numpy = per_task_scores(labels, scores)
    from_torch = per_task_scores(torch.as_tensor(labels), torch.as_tensor(scores))
    np.testing.assert_array_equal(from_torch["pr_auc"], from_numpy["pr_auc"])


@pytest.mark.parametrize(
    "labels, scores, message",
    [
        (np.array([[1.0], [2.0]]), np.array([[0.1], [0.2]]), "0, 1 or NaN"),
        (np.array([[1.0], [0.0]]), np.array([[np.nan], [0.2]]), "finite"),
        (np.ones((3, 2)), np.ones((3, 3)), "share a shape"),
    ],
)
def test_bad_labels_or_scores_are_rejected(labels, scores, message):
    with pytest.raises(ValueError, match=message):
        evaluate(labels, scores)


def test_negative_transfer_counts_tasks_below_stl_where_both_are_known():
    method = [0.5, 0.2, np.nan, 0.7, 0.1]
    stl = [0.4, 0.3, 0.9, np.nan, 0.1]
    assert negative_transfer(method, stl) == 1  # only task 1; NaN tasks and ties do not count
    with pytest.raises(ValueError, match="per-task vectors"):
        negative_transfer([0.1, 0.2], [0.1])


def test_loss_weight_error_by_hand():
    ideal = [1.5, 0.5]
    assert loss_weight_error([1.0, 1.0], ideal) == pytest.approx(((1 - 1.5) ** 2 + (1 - 0.5) ** 2) / 2)
    assert loss_weight_error([3.0, 1.0], ideal) == pytest.approx(0.0)  # 2 * [3, 1] / 4 = ideal
    assert loss_weight_error([6.0, 2.0], ideal) == pytest.approx(0.0)  # scale does not matter
    per_step = loss_weight_error([[1.0, 1.0], [3.0, 1.0]], ideal)
    np.testing.assert_allclose(per_step, [0.25, 0.0])
    with pytest.raises(ValueError, match="ideal"):
        loss_weight_error([1.0, 1.0, 1.0], ideal)
    with pytest.raises(ValueError, match="sum to 0"):
        loss_weight_error([0.0, 0.0], ideal)


def test_normalized_loss_by_hand():
    outputs = np.zeros((2, 2, 3))  # N=2 samples, T=2 tasks, 3 outputs
    targets = np.zeros((2, 2, 3))
    targets[0, 0] = [1, 1, 0]  # task 0: squared errors summed over outputs 2 and 0 -> mean 1
    targets[1, 1] = [2, 0, 0]  # task 1: 0 and 4 -> mean 2
    assert normalized_loss(outputs, targets) == pytest.approx((1 + 2) / 2)
    assert normalized_loss(outputs, targets, sigmas=[1.0, 2.0]) == pytest.approx((1 / 1 + 2 / 4) / 2)
    assert normalized_loss(torch.as_tensor(outputs), torch.as_tensor(targets), [1.0, 2.0]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="sigmas"):
        normalized_loss(outputs, targets, sigmas=[1.0])
