"""Memory of the quanta probes at a full preset's shape: the largest tensor they build stays bounded as rows grow."""

from __future__ import annotations

import math

import torch

import probes.quanta as quanta
import probes.quanta_ablation as ablation
from bridge.models import MLPConfig, build_model
from bridge.tasks import SparseParityConfig, make_task
from bridge.trackers.quanta import HiddenProgressTracker, SubtaskLossTracker
from helpers import LargestTensor
from probes.quanta_ablation import unit_ablation

torch.set_num_threads(1)


def _inputs(n: int, n_tasks: int, d_in: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (n, d_in), generator=g).float()
    return x, torch.randint(0, 2, (n,), generator=g), torch.arange(n) % n_tasks


def test_unit_ablation_holds_chunks_of_rows_not_all_rows_times_units(monkeypatch):
    # the shape of a full preset's test split (many rows on many units), scaled down with the chunk budget
    monkeypatch.setattr(ablation, "ABLATION_ELEMENTS", 4096)
    width, n, n_tasks = 256, 2000, 10
    net = build_model(MLPConfig(d_in=12, d_out=2, widths=(width,)), seed=1)
    x, y, task = _inputs(n, n_tasks, 12)
    with LargestTensor() as seen:
        effect = unit_ablation(net, x, y, task, n_tasks)
    # all rows at once built (n, width, 2) = 1,024,000 elements; a chunk of 16 rows builds 8,192
    assert 2 * 4096 <= seen.most <= 4 * 4096  # nor the (n, width) hidden layer of all rows (512,000)
    monkeypatch.setattr(ablation, "ABLATION_ELEMENTS", 10**9)  # one chunk: the unchunked computation
    torch.testing.assert_close(effect, unit_ablation(net, x, y, task, n_tasks), atol=1e-6, rtol=1e-5)
    assert effect.shape == (n_tasks, width) and 0.0 < float(effect.abs().max()) < 10.0


def test_quanta_trackers_hold_a_chunk_of_rows_times_units_whatever_the_test_split(monkeypatch):
    # a full preset's test split evaluated at once on 2048 units held 256,000 x 2048 activations; here 16 rows of 1024 units a chunk
    monkeypatch.setattr(quanta, "EVAL_ELEMENTS", 16384)
    net = build_model(MLPConfig(d_in=16, d_out=2, widths=(1024,)), seed=1)
    most = {}
    for per_task in (100, 200):  # test splits of 1000 and 2000 rows: (rows, 1024) at once is 1,024,000 and 2,048,000 elements
        data = make_task(SparseParityConfig(n_tasks=10, n_bits=6, k_bits=2, n_train=8, n_test_per_task=per_task), seed=0)
        for tracker in (SubtaskLossTracker(), HiddenProgressTracker()):
            with LargestTensor() as seen:
                rows = tracker(net, 0, data)
            most[tracker.name, per_task] = seen.most
            assert len(rows) == (21 if tracker.name == "subtask_loss" else 20) and all(math.isfinite(r["value"]) for r in rows)
    # the losses: one chunk's (16, 1024) hidden layer; hidden progress: the (1024 units, 10 subtasks, 2 bits) first-layer
    # weights on each subtask's bits, sized by the model, not by the split
    assert most == {("subtask_loss", 100): 16384, ("subtask_loss", 200): 16384, ("hidden_progress", 100): 20480, ("hidden_progress", 200): 20480}
