"""Quanta probes, trackers and subtask drops against hand-built networks and slow references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bridge.models import MLPConfig, build_model
from bridge.stages.quanta import subtask_drop, value_at
from bridge.tasks import make_task
from bridge.tasks.sparse_parity import SparseParityConfig
from bridge.trackers.quanta import HiddenProgressTracker, SubtaskLossTracker
from probes.quanta import (
    quanta_learned,
    relevant_bit_share,
    subtask_metrics,
    unit_contributions,
    unit_sharing,
    walsh_gap,
)
from probes.quanta_ablation import unit_ablation, units_needed

torch.set_num_threads(1)
CFG = SparseParityConfig(n_tasks=3, n_bits=8, k_bits=3, alpha=0.4, n_train=64, n_test_per_task=256)


def _parity_net(data, subtask: int = 0, scale: float = 8.0, extra: int = 2, seed: int = 0):
    """A one-hidden-layer ReLU net that computes subtask ``subtask``'s parity exactly and nothing else.

    With ``s`` the sum of the subtask's bits, ``parity = s − 2 relu(s − 1) + 2 relu(s − 2)``; each unit is
    gated off (a large negative input) unless the subtask's control bit is on. ``extra`` units with
    random weights and no readout are added."""
    n_tasks, n_bits = data.info["n_tasks"], data.info["n_bits"]
    bits = data.info["subtask_bits"][subtask]
    width = 3 + extra
    net = build_model(MLPConfig(d_in=n_tasks + n_bits, d_out=2, widths=(width,)), seed=seed)
    gate = 100.0
    with torch.no_grad():
        W1, b1 = net.layers[0].weight, net.layers[0].bias
        W1[:3].zero_()
        b1.zero_()
        for u, shift in enumerate((0.0, 1.0, 2.0)):
            W1[u, n_tasks + bits] = 1.0
            W1[u, subtask] = gate
            b1[u] = -gate - shift
        W2, b2 = net.layers[1].weight, net.layers[1].bias
        W2.zero_()
        readout = torch.tensor([1.0, -2.0, 2.0]) * 2 * scale  # logit difference 2·scale·parity − scale
        W2[1, :3] = readout
        b2[:] = torch.tensor([scale / 2, -scale / 2])
    return net


@pytest.fixture(scope="module")
def data():
    return make_task(CFG, seed=0)


def test_parity_net_solves_its_subtask_and_only_it(data):
    net = _parity_net(data)
    loss, acc = subtask_metrics(net, data.test.x, data.test.y, data.info["test_task"], 3)
    assert acc[0].item() == 1.0 and loss[0].item() < 1e-3
    assert 0.35 < acc[1].item() < 0.65 and 0.35 < acc[2].item() < 0.65
    assert quanta_learned(loss).item() == 1


def test_relevant_bit_share_is_one_on_the_serving_units_and_chance_when_spread(data):
    net = _parity_net(data)
    x, task = data.test.x, data.info["test_task"]
    c = unit_contributions(net, x, task, 3)
    assert float(c[0, 3:].abs().max()) == 0.0 and float(c[0, :3].min()) > 0  # only the parity units serve subtask 0
    share = relevant_bit_share(net.layers[0].weight, c, data.info["subtask_bits"])
    torch.testing.assert_close(share[0], torch.tensor(1.0))
    flat = torch.ones(4, 3 + 8)  # every bit weighted alike: share = k_bits / n_bits
    torch.testing.assert_close(relevant_bit_share(flat, torch.ones(3, 4), data.info["subtask_bits"]), torch.full((3,), 3 / 8))


def test_walsh_gap_separates_the_right_parity(data):
    net = _parity_net(data)
    gap = walsh_gap(net, data.test.x, data.info["test_task"], data.info["subtask_bits"])
    assert gap[0].item() > 0.5  # the output is a function of χ_S alone; competitors only by sampling noise
    random_net = build_model(MLPConfig(d_in=11, d_out=2, widths=(32,)), seed=1)
    assert walsh_gap(random_net, data.test.x, data.info["test_task"], data.info["subtask_bits"]).max().item() < 0.2


def _slow_ablation(net, x, y, task, n_tasks):
    width = net.layers[0].out_features
    clean = F.cross_entropy(net(x), y, reduction="none")
    out = torch.zeros(n_tasks, width)
    for u in range(width):
        with torch.no_grad():
            saved = net.layers[1].weight[:, u].clone()
            net.layers[1].weight[:, u] = 0
            rise = F.cross_entropy(net(x), y, reduction="none") - clean
            net.layers[1].weight[:, u] = saved
        for k in range(n_tasks):
            out[k, u] = rise[task == k].mean()
    return out


def test_unit_ablation_and_units_needed_match_slow_references(data):
    net = build_model(MLPConfig(d_in=11, d_out=2, widths=(12,)), seed=3)
    x, y, task = data.test.x, data.test.y, data.info["test_task"]
    with torch.no_grad():
        torch.testing.assert_close(unit_ablation(net, x, y, task, 3), _slow_ablation(net, x, y, task, 3), atol=1e-5, rtol=1e-4)
    solver = _parity_net(data)
    ranking, needed = units_needed(solver, x, y, task, 3)
    assert needed[1].item() == 0 and needed[2].item() == 0  # not learned: nothing to undo
    m = needed[0].item()
    assert 1 <= m <= 3 and set(ranking[0, :m].tolist()) <= {0, 1, 2}
    with torch.no_grad():  # zeroing the top m units undoes the subtask, the top m − 1 do not
        for count, undone in ((m, True), (m - 1, False)):
            W = solver.layers[1].weight.clone()
            solver.layers[1].weight[:, ranking[0, :count]] = 0
            loss = F.cross_entropy(solver(x[task == 0]), y[task == 0]).item()
            solver.layers[1].weight.copy_(W)
            assert (loss >= math.log(2) / 2) == undone


def test_unit_sharing_counts_units_serving_one_subtask():
    ranking = torch.tensor([[0, 1, 2, 3], [1, 2, 0, 3], [3, 2, 1, 0]])
    out = unit_sharing(ranking, torch.tensor([2, 2, 1]))  # {0, 1}, {1, 2}, {3}: unit 1 shared
    assert out == {"monogenic_share": 0.75, "units_per_subtask": pytest.approx(5 / 3), "units_used": 4.0, "subtasks": 3.0}
    assert unit_sharing(ranking, torch.tensor([0, 0, 5]))["subtasks"] == 0.0  # unlearned and never undone are left out


def test_trackers_agree_with_the_probes(data):
    net = build_model(MLPConfig(d_in=11, d_out=2, widths=(16,)), seed=0)
    rows = SubtaskLossTracker()(net, 0, data)
    loss, acc = subtask_metrics(net, data.test.x, data.test.y, data.info["test_task"], 3)
    mean = next(r["value"] for r in rows if r["observable"] == "quanta/mean_loss")
    p = data.info["frequencies"].float()
    assert mean == pytest.approx(float((loss * p).sum()), rel=1e-5)
    assert [r["value"] for r in rows if r["observable"] == "subtask/accuracy"] == pytest.approx(acc.tolist())
    share_rows = [r for r in HiddenProgressTracker()(net, 0, data) if r["observable"] == "subtask/relevant_share"]
    expected = relevant_bit_share(net.layers[0].weight.detach(), unit_contributions(net, data.test.x, data.info["test_task"], 3), data.info["subtask_bits"])
    assert [r["value"] for r in share_rows] == pytest.approx(expected.tolist(), rel=1e-5)
    with pytest.raises(ValueError, match="multitask sparse parity"):
        SubtaskLossTracker()(net, 0, type(data)(data.train, data.test, data.loss, {}))


def test_subtask_drop_on_a_logistic_curve():
    t = np.arange(0.0, 4001.0, 5.0)
    t0, w = 2000.0, 40.0
    loss = math.log(2) / (1 + np.exp((t - t0) / w))
    drop = subtask_drop(t, loss)
    assert drop.step == pytest.approx(t0, abs=1.0)
    assert drop.onset == pytest.approx(t0 - w * math.log(9), abs=1.0)  # 0.9 b
    assert drop.end == pytest.approx(t0 + w * math.log(9), abs=1.0)  # 0.1 b
    assert drop.width == pytest.approx(2 * w * math.log(9), abs=2.0)
    assert subtask_drop(t, np.full_like(t, 0.69)) is None  # never learned
    bump = np.where((t > 500) & (t < 600), 0.2, math.log(2))  # a transient dip that does not last is no emergence
    assert subtask_drop(t, bump) is None
    assert value_at(t, loss, 10_000.0) != value_at(t, loss, 10_000.0)  # nan outside the range


@pytest.mark.parametrize("parametrisation", ["standard", "ntk", "mup"])
def test_the_probes_read_the_logits_the_model_computes_in_every_parametrisation(parametrisation):
    from probes.quanta import hidden_and_readout
    from probes.quanta_ablation import unit_ablation

    net = build_model(MLPConfig(d_in=5, d_out=2, widths=(32,), parametrisation=parametrisation, base_width=8), seed=0)
    g = torch.Generator().manual_seed(1)
    x, y, task = torch.randint(0, 2, (12, 5), generator=g).float(), torch.randint(0, 2, (12,), generator=g), torch.arange(12) % 3
    hidden, readout, bias = hidden_and_readout(net, x)
    with torch.no_grad():
        out = net(x)
    torch.testing.assert_close(hidden @ readout + bias, out[:, 1] - out[:, 0], rtol=1e-5, atol=1e-6)
    effect = unit_ablation(net, x, y, task, 3)  # against zeroing each unit with a hook on the model itself
    clean = F.cross_entropy(out, y, reduction="none")
    for unit in (0, 7, 31):
        def zero(act, hook, unit=unit):
            act = act.clone()
            act[:, unit] = 0
            return act

        with torch.no_grad():
            ablated = net.run_with_hooks(x, fwd_hooks=[("hook_post.0", zero)])
        rise = F.cross_entropy(ablated, y, reduction="none") - clean
        expected = torch.stack([rise[task == k].mean() for k in range(3)])
        torch.testing.assert_close(effect[:, unit], expected, rtol=1e-5, atol=1e-6)


def test_every_subtask_probe_refuses_a_subtask_without_inputs():
    from probes.quanta import unit_contributions, walsh_gap
    from probes.quanta_ablation import unit_ablation, units_needed

    net = build_model(MLPConfig(d_in=7, d_out=2, widths=(4,)), seed=0)
    x, y, task = torch.randint(0, 2, (8, 7)).float(), torch.randint(0, 2, (8,)), torch.tensor([0] * 4 + [1] * 4)
    for call in (lambda: unit_ablation(net, x, y, task, 3), lambda: units_needed(net, x, y, task, 3), lambda: unit_contributions(net, x, task, 3),
                 lambda: walsh_gap(net, x, task, torch.tensor([[0, 1], [2, 3], [1, 3]]))):
        with pytest.raises(ValueError, match=r"subtasks \[2\] have no inputs"):
            call()


def test_the_walsh_gap_rows_draw_as_many_competitors_as_asked():
    data = make_task(SparseParityConfig(n_tasks=3, n_bits=10, k_bits=2, n_train=8, n_test_per_task=64), seed=0)
    net = build_model(MLPConfig(d_in=13, d_out=2, widths=(16,)), seed=0)
    x, task, bits = data.test.x, data.info["test_task"], data.info["subtask_bits"]
    for m in (4, 512):
        rows = [r["value"] for r in HiddenProgressTracker(max_subsets=m)(net, 0, data) if r["observable"] == "subtask/walsh_gap"]
        assert rows == pytest.approx(walsh_gap(net, x, task, bits, m).tolist(), rel=1e-6)
    few, every = (walsh_gap(net, x, task, bits, m) for m in (4, 512))  # 45 subsets: all of them, or 4 drawn
    assert bool((few >= every).all()) and bool((few > every).any())  # fewer competitors: a smaller best rival


def _slow_walsh_gap(net, x, task, subtask_bits):
    """Every k-subset's parity correlated with the standardised logit difference, by loops."""
    import itertools

    n_tasks, k = subtask_bits.shape
    bits = x[:, n_tasks:].numpy()
    with torch.no_grad():
        out = net(x)
    f = (out[:, 1] - out[:, 0]).double().numpy()
    gaps = []
    for t in range(n_tasks):
        rows = (task == t).numpy()
        ft = f[rows] - f[rows].mean()
        sd = np.sqrt((ft**2).mean())
        ft = ft / sd if sd > 0 else ft  # a constant output correlates with nothing
        corr = {s: abs(float((ft * np.prod(1 - 2 * bits[rows][:, list(s)], axis=1)).mean())) for s in itertools.combinations(range(bits.shape[1]), k)}
        own = tuple(sorted(subtask_bits[t].tolist()))
        gaps.append(corr[own] - max(v for s, v in corr.items() if s != own))
    return torch.tensor(gaps, dtype=torch.float64)


def test_walsh_gap_equals_correlations_with_every_parity_computed_by_loops(data):
    x, task, bits = data.test.x, data.info["test_task"], data.info["subtask_bits"]
    for net in (build_model(MLPConfig(d_in=11, d_out=2, widths=(16,)), seed=5), _parity_net(data, subtask=1)):
        expected = _slow_walsh_gap(net, x, task, bits)
        torch.testing.assert_close(walsh_gap(net, x, task, bits).double(), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(walsh_gap(net, x, task, bits.flip(1)).double(), expected, atol=1e-5, rtol=0)  # a subtask's bits in any order
    assert expected[1] > 0.5


def test_unit_contributions_equal_a_loop_over_inputs(data):
    net = build_model(MLPConfig(d_in=11, d_out=2, widths=(6,)), seed=2)
    x, task = data.test.x[::3], data.info["test_task"][::3]  # unequal counts per subtask
    with torch.no_grad():
        _, cache = net.run_with_cache(x)
    hidden, w2 = cache["hook_post.0"], net.layers[1].weight.detach()
    expected = torch.zeros(3, 6)
    for k in range(3):
        rows = [i for i in range(len(x)) if task[i] == k]
        for u in range(6):
            expected[k, u] = sum(abs(float(hidden[i, u] * (w2[1, u] - w2[0, u]))) for i in rows) / len(rows)
    torch.testing.assert_close(unit_contributions(net, x, task, 3), expected, rtol=1e-5, atol=1e-6)


def test_quanta_learned_counts_per_row_of_a_loss_history():
    losses = torch.tensor([[0.01, 0.5, 0.2], [0.6, 0.7, 0.01], [0.69, 0.69, 0.69]])
    assert quanta_learned(losses).tolist() == [2, 1, 0]
    assert quanta_learned(losses, threshold=0.65).tolist() == [3, 2, 0]


def test_subtask_probes_refuse_task_ids_outside_the_subtasks_and_of_another_length():
    from probes.quanta import unit_contributions, walsh_gap
    from probes.quanta_ablation import unit_ablation, units_needed

    net = build_model(MLPConfig(d_in=7, d_out=2, widths=(4,)), seed=0)
    x, y = torch.randint(0, 2, (8, 7), generator=torch.Generator().manual_seed(0)).float(), torch.tensor([0, 1] * 4)
    bits = torch.tensor([[0, 1], [2, 3], [1, 3]])
    calls = lambda task: (lambda: subtask_metrics(net, x, y, task, 3), lambda: unit_ablation(net, x, y, task, 3), lambda: units_needed(net, x, y, task, 3),  # noqa: E731
                          lambda: unit_contributions(net, x, task, 3), lambda: walsh_gap(net, x, task, bits))
    for task, message in ((torch.tensor([0, 1, 2, 3] * 2), r"task ids must lie in \[0, n_tasks=3\), got range \[0, 3\]"),  # walsh_gap gave zeros for it
                          (torch.tensor([0, 1, -1, 2] * 2), r"got range \[-1, 2\]"),
                          (torch.tensor([0, 1, 2]), r"one entry per input row \(8\), got 3"),
                          (torch.tensor([0.0, 1.0, 2.0, 1.0] * 2), "1-D integer tensor")):
        for call in calls(task):
            with pytest.raises(ValueError, match=message):
                call()


def test_units_needed_counts_redundant_units_that_only_undo_a_subtask_together():
    # Two units each carry half of a logit margin of 3: zeroing one leaves 1.5 (loss 0.20 < ln 2 / 2), both leave 0 (ln 2).
    net = build_model(MLPConfig(d_in=1, d_out=2, widths=(2,)), seed=0)
    with torch.no_grad():
        net.layers[0].weight.fill_(1.0)
        net.layers[1].weight.copy_(torch.tensor([[0.0, 0.0], [1.5, 1.5]]))
        for layer in net.layers:
            layer.bias.zero_()
    x, y, task = torch.ones(4, 1), torch.ones(4, dtype=torch.long), torch.zeros(4, dtype=torch.long)
    effect = unit_ablation(net, x, y, task, 1)
    torch.testing.assert_close(effect, torch.full((1, 2), math.log1p(math.exp(-1.5)) - math.log1p(math.exp(-3.0))))
    ranking, needed = units_needed(net, x, y, task, 1)
    assert sorted(ranking[0].tolist()) == [0, 1] and needed.tolist() == [2]


def test_walsh_gap_with_one_drawn_competitor_that_is_the_subtask_s_own_parity_still_has_a_rival():
    data = make_task(SparseParityConfig(n_tasks=3, n_bits=10, k_bits=2, n_train=8, n_test_per_task=64), seed=0)
    net = build_model(MLPConfig(d_in=13, d_out=2, widths=(16,)), seed=0)
    x, task, bits = data.test.x, data.info["test_task"], data.info["subtask_bits"]
    drawn = torch.randperm(10, generator=torch.Generator().manual_seed(6))[:2].sort().values
    own = next(t for t in range(3) if torch.equal(bits[t].sort().values, drawn))  # seed 6 draws subtask `own`'s bits
    gaps = walsh_gap(net, x, task, bits, max_subsets=1, seed=6)  # used to fail: a max over no competitors
    assert bool(torch.isfinite(gaps).all())
    rival = (0, 1) if tuple(drawn.tolist()) != (0, 1) else (0, 2)  # the first 2-subset other than its own stands in
    with torch.no_grad():
        f = net(x)[:, 1] - net(x)[:, 0]
    rows = task == own
    ft = f[rows] - f[rows].mean()
    ft = ft / ft.norm() * math.sqrt(int(rows.sum()))
    chi = lambda s: (1 - 2 * x[rows][:, 3:][:, list(s)]).prod(-1)  # noqa: E731
    expected = float((ft @ chi(drawn.tolist())).abs() - (ft @ chi(rival)).abs()) / int(rows.sum())
    assert float(gaps[own]) == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="max_subsets must be at least 1, got 0"):
        walsh_gap(net, x, task, bits, max_subsets=0)


def test_walsh_gap_takes_every_competitor_when_all_other_subsets_fit_in_max_subsets(data):
    """C(8, 3) = 56 subsets: 55 others fit in max_subsets=55, so the gap is exact, not drawn."""
    x, task, bits = data.test.x, data.info["test_task"], data.info["subtask_bits"]
    net = build_model(MLPConfig(d_in=11, d_out=2, widths=(16,)), seed=5)
    expected = _slow_walsh_gap(net, x, task, bits)
    for m in (55, 56):
        torch.testing.assert_close(walsh_gap(net, x, task, bits, max_subsets=m).double(), expected, atol=1e-5, rtol=0)


def test_a_loss_exactly_at_the_threshold_is_not_learned():
    assert quanta_learned(torch.tensor([0.25, 0.2499, 0.2501]), threshold=0.25).item() == 1


def test_a_subtask_whose_loss_sits_exactly_at_undone_needs_no_units():
    """A network with every weight zero gives logits 0, a loss of ln 2 in float32 on every row."""
    net = build_model(MLPConfig(d_in=4, d_out=2, widths=(3,)), seed=0)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    x, y, task = torch.rand(6, 4), torch.tensor([0, 1] * 3), torch.tensor([0, 0, 1, 1, 0, 1])
    undone = float(F.cross_entropy(torch.zeros(1, 2), torch.tensor([0])))
    assert units_needed(net, x, y, task, 2, undone=undone)[1].tolist() == [0, 0]
    assert units_needed(net, x, y, task, 2, undone=undone + 1e-6)[1].tolist() == [4, 4]  # width + 1: nothing undoes it
