"""The quanta trackers evaluate the test split in chunks of rows: their rows equal one pass over the whole split, written out here."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import probes.quanta as quanta
from bridge.models import MLPConfig, build_model
from bridge.tasks import SparseParityConfig, make_task
from bridge.trackers.quanta import HiddenProgressTracker, SubtaskLossTracker

torch.set_num_threads(1)
WIDTH = 16  # the widest layer: the rows of a chunk are EVAL_ELEMENTS // 16
CFG = SparseParityConfig(n_tasks=3, n_bits=6, k_bits=2, n_train=8, n_test_per_task=37)  # 111 test rows
DATA = make_task(CFG, seed=0)


def _net(parametrisation: str = "standard"):
    net = build_model(MLPConfig(d_in=9, d_out=2, widths=(WIDTH,), parametrisation=parametrisation, base_width=4), seed=3)
    with torch.no_grad():
        net.layers[0].weight.mul_(3.0)  # logits far from zero: losses spread over subtasks, not all near ln 2
    return net


@torch.no_grad()
def _dense(net, data):
    """Every row the two trackers give, from one forward pass over the whole test split."""
    x, y, task, bits = data.test.x, data.test.y, data.info["test_task"], data.info["subtask_bits"]
    n_tasks, n_bits, k = CFG.n_tasks, CFG.n_bits, CFG.k_bits
    out, hidden = net(x), net.activation(net.linear(0, x))
    weight, bias = net.layers[1].weight * net.multipliers[1], net.layers[1].bias
    loss = F.cross_entropy(out, y, reduction="none")
    correct = (out.argmax(-1) == y).float()
    losses = torch.stack([loss[task == t].mean() for t in range(n_tasks)])
    freq = data.info["frequencies"].float()
    rows = {("quanta/mean_loss", None): float((losses * freq).sum() / freq.sum())}
    rows |= {("subtask/loss", t): float(losses[t]) for t in range(n_tasks)}
    rows |= {("subtask/accuracy", t): float(correct[task == t].mean()) for t in range(n_tasks)}
    readout = weight[1] - weight[0]
    push = (hidden * readout).abs()
    square = net.layers[0].weight.detach()[:, n_tasks:] ** 2  # (width, n_bits)
    f = hidden @ readout + (bias[1] - bias[0])
    signs = 1.0 - 2.0 * x[:, n_tasks:]
    for t in range(n_tasks):
        mine = task == t
        c = push[mine].mean(0)  # the units serving subtask t
        rows[("subtask/relevant_share", t)] = float((c * square[:, bits[t]].sum(-1)).sum() / (c * square.sum(-1)).sum())
        ft = f[mine] - f[mine].mean()
        ft = ft / ft.norm() * math.sqrt(len(ft))
        corr = {s: abs(float((ft * signs[mine][:, list(s)].prod(-1)).mean())) for s in itertools.combinations(range(n_bits), k)}  # all 15 subsets
        own = tuple(bits[t].tolist())
        rows[("subtask/walsh_gap", t)] = corr[own] - max(v for s, v in corr.items() if s != own)
    return rows


def _chunked(net, data, chunk_rows: int):
    """The two trackers' rows with ``chunk_rows`` rows a chunk, and the row counts of the first layer's calls."""
    calls: list[int] = []
    hook = net.layers[0].register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quanta, "EVAL_ELEMENTS", chunk_rows * WIDTH)
        rows = SubtaskLossTracker()(net, 0, data) + HiddenProgressTracker()(net, 0, data)
    hook.remove()
    return {(r["observable"], r.get("subtask")): r["value"] for r in rows}, calls


def _assert_equal(got, want):
    assert sorted(got, key=str) == sorted(want, key=str)
    for key, value in want.items():
        if key[0] == "subtask/accuracy":  # counts of right answers over counts of rows: exact
            assert got[key] == value, key
        else:
            assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-7), key


@pytest.mark.parametrize("parametrisation", ["standard", "ntk"])
def test_trackers_in_chunks_of_10_rows_of_111_equal_one_pass_over_the_split(parametrisation):
    net = _net(parametrisation)
    assert (net.multipliers == (1.0, 1.0)) == (parametrisation == "standard")  # the NTK parametrisation halves the readout at 4 x base width
    want = _dense(net, DATA)
    got, calls = _chunked(net, DATA, 10)
    # 12 chunks (11 of 10 rows, one of 1) for the losses, for the unit contributions and for the Walsh gaps
    assert calls == ([10] * 11 + [1]) * 3
    _assert_equal(got, want)
    losses = [want[("subtask/loss", t)] for t in range(3)]
    assert 0.05 < max(losses) - min(losses) < 5.0  # the subtasks' losses differ: the rows are not interchangeable
    assert {("subtask/accuracy", t) for t in range(3)} <= set(got) and 0.0 < got[("subtask/accuracy", 0)] < 1.0


@settings(max_examples=12, deadline=None)
@given(st.integers(1, 130))
def test_trackers_equal_one_pass_for_any_chunk_size(chunk_rows):
    net = _net()
    got, calls = _chunked(net, DATA, chunk_rows)
    assert len(calls) == 3 * math.ceil(111 / chunk_rows) and max(calls) == min(chunk_rows, 111)
    _assert_equal(got, _dense(net, DATA))


def test_subtask_metrics_in_chunks_keep_the_float64_of_a_float64_net(monkeypatch):
    net = _net().double()
    x, y, task = DATA.test.x.double(), DATA.test.y, DATA.info["test_task"]
    monkeypatch.setattr(quanta, "EVAL_ELEMENTS", 7 * WIDTH)
    loss, acc = quanta.subtask_metrics(net, x, y, task, 3)
    with torch.no_grad():
        every = F.cross_entropy(net(x), y, reduction="none")
    want = torch.stack([every[task == t].mean() for t in range(3)])
    assert loss.dtype == acc.dtype == torch.float64  # the accuracy too: a fraction float32 would round
    torch.testing.assert_close(loss, want, rtol=1e-12, atol=0.0)
