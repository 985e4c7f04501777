"""``units_needed`` evaluates each subtask's rows apart, in chunks: it equals one pass over the whole split, written out
here, and the largest tensor it builds is set by the chunk, not by the split."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import probes.quanta_ablation as ablation
from bridge.models import MLPConfig, build_model
from helpers import LargestTensor
from probes.quanta_ablation import unit_ablation, units_needed

torch.set_num_threads(1)
WIDTH, N_TASKS, D_IN = 16, 3, 9


def _case(n: int = 150, seed: int = 0):
    """A net of width 16 and inputs whose labels are its own answers, a few flipped: every subtask's loss is near 0.57
    nats, and zeroing its top units together raises it step by step, past the thresholds below at different counts."""
    g = torch.Generator().manual_seed(seed)
    net = build_model(MLPConfig(d_in=D_IN, d_out=2, widths=(WIDTH,)), seed=seed)
    x = torch.randint(0, 2, (n, D_IN), generator=g).float()
    task = torch.cat([torch.arange(N_TASKS), torch.randint(0, N_TASKS, (n - N_TASKS,), generator=g)])  # uneven subtasks
    with torch.no_grad():
        y = net(x).argmax(-1) ^ (torch.rand(n, generator=g) < 0.03).long()
    return net, x, y, task


@torch.no_grad()
def _one_pass(net, x, y, task, n_tasks, undone):
    """The units needed from the hidden layer of every row at once, then each subtask's rows picked from it, and each
    subtask's loss curve under the joint ablation of its top 1 … width units (``None``: not learned)."""
    effect = unit_ablation(net, x, y, task, n_tasks)
    ranking = effect.argsort(dim=1, descending=True)
    weight, bias = net.layers[1].weight * net.multipliers[1], net.layers[1].bias
    hidden = net.activation(net.linear(0, x))
    logits = hidden @ weight.T + bias
    needed, curves = torch.zeros(n_tasks, dtype=torch.long), []
    for k in range(n_tasks):
        rows = task == k
        h, yk = hidden[rows][:, ranking[k]], y[rows]
        if float(F.cross_entropy(logits[rows], yk)) >= undone:
            curves.append(None)
            continue
        removed = torch.cumsum(h[:, :, None] * weight.T[ranking[k]][None], dim=1)
        loss = F.cross_entropy((logits[rows][:, None, :] - removed).flatten(0, 1), yk.repeat_interleave(WIDTH), reduction="none").view(-1, WIDTH).mean(0)
        hit = torch.nonzero(loss >= undone).flatten()
        needed[k] = int(hit[0]) + 1 if len(hit) else WIDTH + 1
        curves.append(loss)
    return ranking, needed, curves


UNDONE = (math.log(2) / 2, 0.7, 0.75, 0.8, 0.9)  # the default (every subtask above it: none learned) and four above the losses


@pytest.mark.parametrize("chunk_rows", [1, 7, 10, 64])
def test_units_needed_in_chunks_smaller_than_a_subtask_equals_one_pass_over_the_split(monkeypatch, chunk_rows):
    net, x, y, task = _case()
    sizes = torch.bincount(task, minlength=N_TASKS).tolist()
    assert min(sizes) > 40 and len(x) == 150  # every subtask spans several chunks of 1, 7 or 10 rows, and two of 64
    monkeypatch.setattr(ablation, "ABLATION_ELEMENTS", chunk_rows * WIDTH)
    calls: list[int] = []
    hook = net.layers[0].register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    found = {undone: units_needed(net, x, y, task, N_TASKS, undone=undone) for undone in UNDONE}
    hook.remove()
    assert max(calls) == chunk_rows
    counts = set()
    for undone, (ranking, needed) in found.items():
        want_ranking, want_needed, curves = _one_pass(net, x, y, task, N_TASKS, undone)
        margins = [float((c - undone).abs().min()) for c in curves if c is not None]
        assert min(margins, default=1.0) > 1e-4  # no loss within float rounding of the threshold: the counts are settled
        assert torch.equal(ranking, want_ranking) and needed.tolist() == want_needed.tolist(), undone
        for k, curve in enumerate(curves):  # the curve summed chunk by chunk: equal up to the order of the sums
            rows = torch.nonzero(task == k).flatten()
            clean, got = ablation._joint_ablation(net, x, y, rows, ranking[k], undone)
            assert (got is None) == (curve is None)
            if curve is not None:
                torch.testing.assert_close(got, curve, rtol=1e-6, atol=1e-7)
        counts |= set(needed.tolist())
    assert len(counts - {0, WIDTH + 1}) >= 2  # several counts, not only "none" and "all"


def test_units_needed_with_a_subtask_in_one_chunk_is_bitwise_one_pass_over_the_split():
    net, x, y, task = _case()
    for undone in UNDONE:  # the default bound holds each subtask's 150 x 16 at once: the same sums as all rows at once
        ranking, needed, curves = _one_pass(net, x, y, task, N_TASKS, undone)
        assert units_needed(net, x, y, task, N_TASKS, undone=undone)[1].tolist() == needed.tolist()
        for k, curve in enumerate(curves):
            got = ablation._joint_ablation(net, x, y, torch.nonzero(task == k).flatten(), ranking[k], undone)[1]
            assert (got is None and curve is None) or torch.equal(got, curve)


def test_units_needed_holds_a_chunk_of_rows_times_units_not_the_split(monkeypatch):
    # a full preset's test split at once on 2048 units built (256,000, 2048) hidden layers; here 16 rows of 256 units a chunk
    monkeypatch.setattr(ablation, "ABLATION_ELEMENTS", 4096)
    net = build_model(MLPConfig(d_in=12, d_out=2, widths=(256,), init_scale=4.0), seed=1)
    most = {}
    for n in (2000, 4000):  # 500 and 1000 rows a subtask: (n, 256) at once is 512,000 and 1,024,000 elements
        g = torch.Generator().manual_seed(n)
        x, task = torch.randint(0, 2, (n, 12), generator=g).float(), torch.arange(n) % 4
        with torch.no_grad():
            y = net(x).argmax(-1)
        with LargestTensor() as seen:
            ranking, needed = units_needed(net, x, y, task, 4, undone=50.0)  # every subtask below 50 nats: each one's joint ablation runs
        most[n] = seen.most
        assert needed.tolist() == [257] * 4 and ranking.shape == (4, 256)
    # the (16 rows, 256 units, 2) ablated logits of one chunk, of unit_ablation and of the joint ablation alike
    assert most == {2000: 2 * 4096, 4000: 2 * 4096}
