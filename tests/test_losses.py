from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from mtlperf.losses import class_weights, regression_losses, task_losses

NAN = float("nan")


def bce(z: float, y: float) -> float:
    """-log sigmoid(z) for a positive, -log(1 - sigmoid(z)) for a negative."""
    return math.log1p(math.exp(-z)) if y == 1 else math.log1p(math.exp(z))


# three molecules, three tasks; task 2 has no label in this batch
LOGITS = torch.tensor([[0.5, -1.0, 2.0], [2.0, 0.3, -0.7], [-1.5, 1.2, 0.1]])
LABELS = torch.tensor([[1.0, 0.0, NAN], [0.0, NAN, NAN], [1.0, 1.0, NAN]])


def test_labelled_reduction_is_the_mean_over_labelled_rows():
    expected = [
        (bce(0.5, 1) + bce(2.0, 0) + bce(-1.5, 1)) / 3,
        (bce(-1.0, 0) + bce(1.2, 1)) / 2,
        0.0,
    ]
    torch.testing.assert_close(task_losses(LOGITS, LABELS), torch.tensor(expected))


def test_batch_reduction_divides_by_the_batch_size():
    expected = [
        (bce(0.5, 1) + bce(2.0, 0) + bce(-1.5, 1)) / 3,
        (bce(-1.0, 0) + bce(1.2, 1)) / 3,  # the missing row still counts
        0.0,
    ]
    torch.testing.assert_close(task_losses(LOGITS, LABELS, reduction="batch"), torch.tensor(expected))


def test_pos_weight_scales_positives_in_a_weighted_mean():
    pos_weight = torch.tensor([4.0, 2.0, 9.0])
    expected = [
        (4 * bce(0.5, 1) + bce(2.0, 0) + 4 * bce(-1.5, 1)) / (4 + 1 + 4),
        (bce(-1.0, 0) + 2 * bce(1.2, 1)) / (1 + 2),
        0.0,
    ]
    torch.testing.assert_close(task_losses(LOGITS, LABELS, pos_weight=pos_weight), torch.tensor(expected))
    batch = task_losses(LOGITS, LABELS, reduction="batch", pos_weight=pos_weight)
    torch.testing.assert_close(batch[1], torch.tensor((bce(-1.0, 0) + 2 * bce(1.2, 1)) / 3))


def test_class_weighted_loss_equals_slaws_two_logit_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(50, 1)
    labels = (torch.rand(50, 1) < 0.2).float()
    labels[::7] = NAN
    w_neg, w_pos = 0.0137, 0.9863  # SLAW's class weights
    slaw = nn.CrossEntropyLoss(weight=torch.tensor([w_neg, w_pos]), ignore_index=-1)
    two_logits = torch.cat([torch.zeros_like(logits), logits], dim=1)  # softmax([0, z]) = sigmoid(z)
    expected = slaw(two_logits, torch.nan_to_num(labels, nan=-1).long().squeeze(1))
    ours = task_losses(logits, labels, pos_weight=torch.tensor([w_pos / w_neg]))
    torch.testing.assert_close(ours[0], expected)


@pytest.mark.parametrize("reduction", ["labelled", "batch"])
@pytest.mark.parametrize("pos_weight", [None, torch.tensor([3.0, 0.5, 0.5])])
def test_a_task_without_labels_gives_exactly_zero_and_no_gradient(reduction, pos_weight):
    logits = LOGITS.clone().requires_grad_(True)
    losses = task_losses(logits, LABELS, reduction=reduction, pos_weight=pos_weight)
    assert losses[2].item() == 0.0
    assert torch.isfinite(losses).all()
    (grad,) = torch.autograd.grad(losses.sum(), logits)
    assert torch.isfinite(grad).all()
    assert torch.all(grad[:, 2] == 0)
    assert grad[1, 1] == 0  # a missing label passes no gradient either
    assert torch.all(grad[:, 0] != 0)


def test_losses_follow_the_logits_dtype_and_are_differentiable():
    logits = LOGITS.double().requires_grad_(True)
    losses = task_losses(logits, LABELS)  # float32 labels are cast
    assert losses.dtype == torch.float64 and losses.shape == (3,)
    losses.sum().backward()
    assert logits.grad is not None


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: task_losses(LOGITS, LABELS, reduction="sum"), "labelled, batch"),
        (lambda: task_losses(LOGITS, LABELS[:, :2]), "differs"),
        (lambda: task_losses(LOGITS[:, :, None], LABELS[:, :, None]), "regression_losses"),
        (lambda: task_losses(LOGITS, torch.nan_to_num(LABELS, nan=-1.0)), "0, 1 or NaN"),
        (lambda: task_losses(LOGITS, LABELS, pos_weight=torch.ones(2)), r"shape \[3\]"),
        (lambda: task_losses(LOGITS, LABELS, pos_weight=torch.tensor([1.0, 0.0, 1.0])), "positive"),
    ],
)
def test_task_losses_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_regression_losses_are_the_mean_squared_error_of_each_task():
    outputs = torch.tensor([[[1.0, 2.0], [0.0, 0.0]], [[3.0, 0.0], [1.0, 1.0]]])  # [B=2, T=2, out=2]
    targets = torch.tensor([[[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 3.0]]])
    expected = torch.tensor([(1 + 4 + 9 + 0) / 4, (0 + 0 + 1 + 4) / 4])
    torch.testing.assert_close(regression_losses(outputs, targets), expected)
    mse = nn.MSELoss()
    torch.testing.assert_close(
        regression_losses(outputs, targets), torch.stack([mse(outputs[:, t], targets[:, t]) for t in range(2)])
    )
    torch.testing.assert_close(regression_losses(outputs[..., 0], targets[..., 0]), torch.tensor([5.0, 0.5]))


def test_regression_losses_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="share a shape"):
        regression_losses(torch.zeros(4, 3, 2), torch.zeros(4, 3))


def test_class_weights_are_negatives_over_positives_per_task_or_pooled():
    labels = np.array([[1, 0, 1], [0, 0, 1], [0, np.nan, 1], [0, 0, np.nan]], dtype=np.float32)
    torch.testing.assert_close(class_weights(labels), torch.tensor([3.0, 1.0, 1.0]))  # one class only -> 1
    torch.testing.assert_close(class_weights(torch.as_tensor(labels), pooled=True), torch.full((3,), 6 / 4))


def test_pooled_class_weights_reproduce_slaws_class_weight_ratio():
    labels = np.zeros((10000, 2), dtype=np.float32)
    labels[:137, :] = 1  # 274 positives among 20000 labels: SLAW's (w_neg, w_pos) = (0.0137, 0.9863)
    torch.testing.assert_close(class_weights(labels, pooled=True), torch.full((2,), 0.9863 / 0.0137))
