"""Memory of the quanta probes at a full preset's shape: the largest tensor they build stays bounded as rows grow."""

from __future__ import annotations

import torch

import probes.quanta as quanta
from bridge.models import MLPConfig, build_model
from helpers import LargestTensor
from probes.quanta import unit_ablation

torch.set_num_threads(1)


def _inputs(n: int, n_tasks: int, d_in: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (n, d_in), generator=g).float()
    return x, torch.randint(0, 2, (n,), generator=g), torch.arange(n) % n_tasks


def test_unit_ablation_holds_chunks_of_rows_not_all_rows_times_units(monkeypatch):
    # the shape of a full preset's test split (many rows on many units), scaled down with the chunk budget
    monkeypatch.setattr(quanta, "ABLATION_ELEMENTS", 4096)
    width, n, n_tasks = 256, 2000, 10
    net = build_model(MLPConfig(d_in=12, d_out=2, widths=(width,)), seed=1)
    x, y, task = _inputs(n, n_tasks, 12)
    with LargestTensor() as seen:
        effect = unit_ablation(net, x, y, task, n_tasks)
    # all rows at once built (n, width, 2) = 1,024,000 elements; a chunk of 16 rows builds 8,192
    assert 2 * 4096 <= seen.most <= 4 * 4096  # nor the (n, width) hidden layer of all rows (512,000)
    monkeypatch.setattr(quanta, "ABLATION_ELEMENTS", 10**9)  # one chunk: the unchunked computation
    torch.testing.assert_close(effect, unit_ablation(net, x, y, task, n_tasks), atol=1e-6, rtol=1e-5)
    assert effect.shape == (n_tasks, width) and 0.0 < float(effect.abs().max()) < 10.0
