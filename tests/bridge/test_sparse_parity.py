"""Multitask sparse parity: parities checked exhaustively, subtask frequencies against Zipf weights."""

import itertools

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from bridge.config import ConfigError, config_from_dict, config_to_dict
from bridge.tasks import SparseParityConfig, make_task
from bridge.tasks.sparse_parity import sparse_parity_labels, zipf_weights


def test_parities_exhaustively_on_small_n():
    cfg = SparseParityConfig(n_tasks=6, n_bits=5, k_bits=3, n_train=10, n_test_per_task=4)
    data = make_task(cfg, seed=3)
    subtask_bits = data.info["subtask_bits"]
    assert len({tuple(s) for s in subtask_bits.tolist()}) == 6  # distinct subsets
    rows, expected = [], []
    for task, pattern in itertools.product(range(6), itertools.product([0, 1], repeat=5)):
        rows.append([float(t == task) for t in range(6)] + list(map(float, pattern)))
        expected.append(sum(pattern[j] for j in subtask_bits[task].tolist()) % 2)
    x = torch.tensor(rows)
    assert sparse_parity_labels(x, subtask_bits).tolist() == expected
    # the sampler's labels, on every sample it drew, follow the same rule
    for split in (data.train, data.test):
        assert torch.equal(sparse_parity_labels(split.x, subtask_bits), split.y)
    x_online, y_online, task = data.info["sampler"].sample(500, torch.Generator().manual_seed(0))
    assert torch.equal(sparse_parity_labels(x_online, subtask_bits), y_online)
    assert torch.equal(x_online[:, :6].argmax(-1), task) and torch.equal(x_online[:, :6].sum(-1), torch.ones(500))


def test_per_subtask_test_sets():
    data = make_task(SparseParityConfig(n_tasks=5, n_bits=10, k_bits=2, n_train=50, n_test_per_task=40), seed=0)
    task = data.info["test_task"]
    assert torch.bincount(task).tolist() == [40] * 5
    assert torch.equal(data.test.x[:, :5].argmax(-1), task)
    for k in range(5):  # both labels occur within each subtask's test set
        assert 0 < data.test.y[task == k].float().mean() < 1


def test_subtask_frequencies_follow_the_zipf_weights():
    cfg = SparseParityConfig(n_tasks=20, n_bits=12, k_bits=3, alpha=0.4, n_train=50_000, n_test_per_task=1)
    data = make_task(cfg, seed=0)
    weights = zipf_weights(20, 0.4).numpy()
    np.testing.assert_allclose(data.info["frequencies"].numpy(), weights, rtol=1e-12)
    np.testing.assert_allclose(weights[:-1] / weights[1:], (np.arange(2, 21) / np.arange(1, 20)) ** 1.4, rtol=1e-12)
    _, _, online = data.info["sampler"].sample(100_000, torch.Generator().manual_seed(1))
    for tasks in (data.info["train_task"], online):
        counts = np.bincount(tasks.numpy(), minlength=20)
        assert chisquare(counts, counts.sum() * weights).pvalue > 1e-3
        wrong = zipf_weights(20, 0.6).numpy()  # a deliberately wrong exponent
        assert chisquare(counts, counts.sum() * wrong).pvalue < 1e-6
        assert chisquare(counts, np.full(20, counts.sum() / 20)).pvalue < 1e-6  # and not uniform


def test_reproducible_by_seed_and_config_round_trip():
    cfg = SparseParityConfig(n_tasks=8, n_bits=16, k_bits=3, n_train=200, n_test_per_task=3)
    a, b, c = make_task(cfg, seed=4), make_task(cfg, seed=4), make_task(cfg, seed=5)
    assert torch.equal(a.train.x[:], b.train.x[:]) and torch.equal(a.info["subtask_bits"], b.info["subtask_bits"])
    assert not torch.equal(a.info["subtask_bits"], c.info["subtask_bits"])
    assert config_from_dict(config_to_dict(cfg)) == cfg
    logits = torch.zeros(200, 2)
    assert a.loss_fn(logits, a.train.y).item() == pytest.approx(np.log(2))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_tasks": 0}, "n_tasks"),
        ({"n_bits": 4, "k_bits": 5}, "exceeds"),
        ({"n_tasks": 11, "n_bits": 5, "k_bits": 2}, "distinct"),
        ({"alpha": -0.1}, "alpha"),
        ({"n_train": 0}, "n_train"),
        ({"n_test_per_task": 2.5}, "n_test_per_task"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SparseParityConfig(**kwargs)


def test_the_test_split_is_drawn_apart_from_the_training_set():
    data = make_task(SparseParityConfig(n_tasks=4, n_bits=20, k_bits=2, n_train=200, n_test_per_task=50), seed=0)
    train = {tuple(r) for r in data.train.x[:, 4:].long().tolist()}
    repeats = sum(tuple(r) in train for r in data.test.x[:, 4:].long().tolist())
    assert repeats == 0  # 200 of 2²⁰ bit patterns: a chance repeat has probability about 0.04
