"""Property tests of the sparse-parity and modular read-outs against slow references: unit ablation and the units a
subtask needs against zeroing readout columns by hand and running the model again, the Walsh gap against a plain loop
over every subset (and with no other subset at all), the relevant-bit share against a loop over units, and the
parameter norm and residue embedding against loops over entries."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.models import MLPConfig, TransformerConfig, build_model
from bridge.tasks import make_task
from bridge.tasks.sparse_parity import SparseParityConfig
from probes.modular import residue_embedding, weight_norm
from probes.quanta import relevant_bit_share, walsh_gap
from probes.quanta_ablation import unit_ablation, units_needed

PROPERTY = settings(max_examples=15, deadline=None, database=None)
PARAMETRISATIONS = st.sampled_from([("standard", None), ("ntk", 4), ("mup", 4)])


def tiny_net(seed: int, d_in: int, width: int, parametrisation: tuple[str, int | None], activation: str = "relu", scale: float = 3.0):
    name, base = parametrisation
    return build_model(MLPConfig(d_in=d_in, d_out=2, widths=(width,), activation=activation, init_scale=scale, parametrisation=name, base_width=base), seed=seed)


def inputs(seed: int, n: int, d_in: int, n_tasks: int, flipped: float = 0.2):
    """Random bit inputs, every subtask present, and which rows' labels disagree with the net's answer (a share ``flipped``)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 2, (n, d_in), generator=g).float()
    task = torch.cat([torch.arange(n_tasks), torch.randint(0, n_tasks, (n - n_tasks,), generator=g)])
    flip = torch.rand(n, generator=g) < flipped
    return x, task, flip


def zeroed_loss(net, x, y, units) -> torch.Tensor:
    """Per-row cross-entropy of the model's own forward with the readout columns of ``units`` set to zero."""
    with torch.no_grad():
        saved = net.layers[1].weight.clone()
        net.layers[1].weight[:, list(units)] = 0.0
        try:
            return F.cross_entropy(net(x), y, reduction="none")
        finally:
            net.layers[1].weight.copy_(saved)


@PROPERTY
@given(st.integers(0, 2**31 - 1), st.integers(1, 6), st.integers(1, 3), PARAMETRISATIONS, st.sampled_from(["relu", "tanh", "quadratic"]))
def test_unit_ablation_equals_zeroing_each_readout_column_and_running_the_model_again(seed, width, n_tasks, parametrisation, activation):
    d_in = n_tasks + 3
    net = tiny_net(seed, d_in, width, parametrisation, activation)
    x, task, flip = inputs(seed, 12, d_in, n_tasks)
    with torch.no_grad():
        y = net(x).argmax(-1) ^ flip.long()
        clean = F.cross_entropy(net(x), y, reduction="none")
    effect = unit_ablation(net, x, y, task, n_tasks)
    assert effect.shape == (n_tasks, width)
    for u in range(width):
        rise = zeroed_loss(net, x, y, [u]) - clean
        for k in range(n_tasks):
            rows = [i for i in range(len(x)) if int(task[i]) == k]
            assert float(effect[k, u]) == pytest.approx(sum(float(rise[i]) for i in rows) / len(rows), abs=2e-5)


@PROPERTY
@given(st.integers(0, 2**31 - 1), st.integers(1, 6), st.integers(1, 3), PARAMETRISATIONS, st.floats(0.05, 1.0))
def test_units_needed_is_the_fewest_top_ranked_units_whose_zeroing_by_hand_reaches_undone(seed, width, n_tasks, parametrisation, undone):
    d_in = n_tasks + 3
    net = tiny_net(seed, d_in, width, parametrisation, scale=4.0)
    x, task, flip = inputs(seed, 15, d_in, n_tasks, flipped=0.03)
    with torch.no_grad():
        y = net(x).argmax(-1) ^ flip.long()
    ranking, needed = units_needed(net, x, y, task, n_tasks, undone=undone)
    effect = unit_ablation(net, x, y, task, n_tasks)
    for k in range(n_tasks):
        rows = task == k
        assert sorted(ranking[k].tolist()) == list(range(width))
        assert effect[k, ranking[k]].tolist() == sorted(effect[k].tolist(), reverse=True)  # ranked by single-unit effect
        # the loss of subtask k with its top m units zeroed by hand, m = 0 … width
        losses = [float(zeroed_loss(net, x[rows], y[rows], ranking[k, :m].tolist()).mean()) for m in range(width + 1)]
        if losses[0] >= undone:
            assert int(needed[k]) == 0  # not learned: nothing to undo
            continue
        reached = [m for m in range(1, width + 1) if losses[m] >= undone - 1e-6]
        margin = [abs(v - undone) for v in losses]
        if min(margin) < 1e-5:  # too close to the threshold for float32 to settle it
            continue
        assert int(needed[k]) == (reached[0] if reached else width + 1)


@PROPERTY
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.integers(2, 5), st.data())
def test_walsh_gap_equals_a_plain_loop_over_every_subset_and_lies_in_its_range(seed, n_tasks, n_bits, data):
    k = data.draw(st.integers(1, n_bits - 1))
    subsets = list(itertools.combinations(range(n_bits), k))
    n_tasks = min(n_tasks, len(subsets))
    g = torch.Generator().manual_seed(seed)
    bits = torch.stack([torch.tensor(subsets[int(i)]) for i in torch.randperm(len(subsets), generator=g)[:n_tasks]])
    bits = torch.stack([row[torch.randperm(k, generator=g)] for row in bits])  # a subtask's bits in any order
    net = tiny_net(seed, n_tasks + n_bits, 8, ("standard", None), "tanh", 1.0)
    x, task, _ = inputs(seed, 40, n_tasks + n_bits, n_tasks)
    x[:, :n_tasks] = F.one_hot(task, n_tasks).float()
    gaps = walsh_gap(net, x, task, bits)
    with torch.no_grad():
        out = net(x).double()
    f = (out[:, 1] - out[:, 0]).tolist()
    for t in range(n_tasks):
        rows = [i for i in range(len(x)) if int(task[i]) == t]
        mean = sum(f[i] for i in rows) / len(rows)
        sd = math.sqrt(sum((f[i] - mean) ** 2 for i in rows) / len(rows))
        z = {i: (f[i] - mean) / sd if sd > 1e-9 else 0.0 for i in rows}

        def corr(subset, z=z, rows=rows):
            return abs(sum(z[i] * math.prod(1 - 2 * float(x[i, n_tasks + b]) for b in subset) for i in rows) / len(rows))

        own = tuple(sorted(bits[t].tolist()))
        expected = corr(own) - max(corr(s) for s in subsets if s != own)
        assert float(gaps[t]) == pytest.approx(expected, abs=2e-5)
        assert -1.0 - 1e-6 <= float(gaps[t]) <= 1.0 + 1e-6


def test_walsh_gap_with_every_bit_in_the_one_subtask_is_the_size_of_its_own_coefficient():
    """k_bits = n_bits leaves no other subset to compare with (a valid task): the gap is |f̂(S)|; it used to raise an IndexError."""
    data = make_task(SparseParityConfig(n_tasks=1, n_bits=3, k_bits=3, n_train=8, n_test_per_task=32), seed=0)
    net = build_model(MLPConfig(d_in=4, d_out=2, widths=(8,)), seed=0)
    x, task = data.test.x, data.info["test_task"]
    gap = walsh_gap(net, x, task, data.info["subtask_bits"])
    with torch.no_grad():
        f = (net(x)[:, 1] - net(x)[:, 0]).double()
    z = (f - f.mean()) / f.std(unbiased=False)
    expected = float((z * (1 - 2 * x[:, 1:].double()).prod(-1)).mean().abs())
    assert float(gap[0]) == pytest.approx(expected, abs=1e-5) and expected > 0.0
    from bridge.trackers.quanta import HiddenProgressTracker

    rows = [r["value"] for r in HiddenProgressTracker()(net, 0, data) if r["observable"] == "subtask/walsh_gap"]
    assert rows == pytest.approx([expected], abs=1e-5)


@PROPERTY
@given(st.integers(0, 2**31 - 1), st.integers(1, 4), st.integers(2, 6), st.integers(1, 5), st.data())
def test_relevant_bit_share_equals_a_loop_over_units_and_lies_between_zero_and_one(seed, n_tasks, n_bits, width, data):
    k = data.draw(st.integers(1, n_bits))
    g = torch.Generator().manual_seed(seed)
    first = torch.randn(width, n_tasks + n_bits, generator=g)
    contributions = torch.rand(n_tasks, width, generator=g)
    bits = torch.stack([torch.randperm(n_bits, generator=g)[:k] for _ in range(n_tasks)])
    share = relevant_bit_share(first, contributions, bits)
    for t in range(n_tasks):
        num = sum(float(contributions[t, u]) * sum(float(first[u, n_tasks + b]) ** 2 for b in bits[t].tolist()) for u in range(width))
        den = sum(float(contributions[t, u]) * sum(float(first[u, n_tasks + b]) ** 2 for b in range(n_bits)) for u in range(width))
        assert float(share[t]) == pytest.approx(num / den, rel=1e-5, abs=1e-6)
        assert 0.0 <= float(share[t]) <= 1.0 + 1e-6
    if k == n_bits:
        torch.testing.assert_close(share, torch.ones(n_tasks))  # every bit is relevant


@PROPERTY
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.integers(1, 5), st.booleans())
def test_weight_norm_equals_a_loop_over_every_entry_of_every_parameter(seed, depth, width, bias):
    net = build_model(MLPConfig(d_in=3, d_out=2, widths=(width,) * depth, bias=bias), seed=seed)
    entries = [float(v) for p in net.parameters() for v in p.detach().flatten()]
    assert len(entries) == sum(a * b + (b if bias else 0) for a, b in zip([3, *(width,) * depth], [*(width,) * depth, 2]))
    assert weight_norm(net) == pytest.approx(math.sqrt(math.fsum(v * v for v in entries)), rel=1e-12)


@PROPERTY
@given(st.integers(0, 2**31 - 1), st.integers(2, 7), st.integers(1, 5))
def test_residue_embedding_of_a_one_hot_mlp_puts_the_a_and_b_columns_of_each_residue_side_by_side(seed, p, width):
    net = build_model(MLPConfig(d_in=2 * p, d_out=p, widths=(width,)), seed=seed)
    emb = residue_embedding(net, p)
    w = net.layers[0].weight.detach()
    assert emb.shape == (p, 2 * width)
    for r in range(p):
        for u in range(width):
            assert float(emb[r, u]) == float(w[u, r])  # unit u's weight on one-hot a = r
            assert float(emb[r, width + u]) == float(w[u, p + r])  # and on one-hot b = r
    with pytest.raises(ValueError, match=rf"MLP first layer takes {2 * p} inputs, expected 2p = {2 * p + 2}"):
        residue_embedding(net, p + 1)


@PROPERTY
@given(st.integers(0, 2**31 - 1), st.integers(2, 7))
def test_residue_embedding_of_a_transformer_is_the_first_p_rows_of_its_token_embedding(seed, p):
    model = build_model(TransformerConfig(d_vocab=p + 1, n_ctx=3, d_model=8, n_heads=2, d_head=4, n_layers=1, d_mlp=None), seed=seed)
    emb = residue_embedding(model, p)
    with torch.no_grad():
        for r in range(p):  # the residual stream right after embedding token r alone, minus its position embedding
            _, cache = model.run_with_cache(torch.tensor([[r, r, r]]))
            torch.testing.assert_close(emb[r], cache["hook_embed"][0, 0])
    with pytest.raises(ValueError, match=rf"the embedding has {p + 1} tokens, fewer than the p = {p + 2} residues"):
        residue_embedding(model, p + 2)
