"""Losses and accuracy by hand: which position a sequence model is scored at, and what counts as class labels."""

import math

import pytest
import torch

from bridge.losses import accuracy, cross_entropy_last, get_loss, half_sse, is_class_labels, mse, per_seed


def test_accuracy_of_a_sequence_model_reads_the_last_position():
    logits = torch.zeros(4, 3, 2)
    logits[:, 0, 0] = 5.0  # the first position says class 0 everywhere
    logits[:, -1, 1] = 5.0  # the last says class 1 everywhere
    target = torch.tensor([1, 1, 1, 0])
    assert accuracy(logits, target).item() == pytest.approx(0.75)
    assert accuracy(logits[:, -1], target).item() == pytest.approx(0.75)
    expected = (3 * math.log1p(math.exp(-5.0)) + math.log1p(math.exp(5.0))) / 4  # last-position logits (0, 5)
    assert cross_entropy_last(logits, target).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (torch.tensor([0, 2, 1]), True),
        (torch.tensor([0, 2, 1], dtype=torch.uint8), True),
        (torch.tensor([0.0, 2.0, 1.0]), False),
        (torch.tensor([0, 2, 1], dtype=torch.complex64), False),
        (torch.tensor([[0], [2], [1]]), False),
        (torch.tensor(2), False),
    ],
)
def test_class_labels_are_one_dimensional_integers(target, expected):
    assert is_class_labels(target) is expected


def test_regression_losses_in_closed_form_one_model_and_many():
    out, target = torch.tensor([[1.0, 2.0], [0.0, -1.0]]), torch.zeros(2, 2)
    assert half_sse(out, target).item() == pytest.approx(0.5 * (5.0 + 1.0) / 2)  # ½ Σ over outputs, mean over rows
    assert mse(out, target).item() == pytest.approx(6.0 / 4)
    stacked = torch.stack([out, 2 * out])
    for loss in (half_sse, mse, get_loss("half_sse")):
        torch.testing.assert_close(per_seed(loss)(stacked, torch.zeros_like(stacked)), torch.stack([loss(out, target), loss(2 * out, target)]), rtol=0, atol=0)
    assert per_seed(mse)(stacked, torch.zeros_like(stacked)).tolist() == pytest.approx([1.5, 6.0])
