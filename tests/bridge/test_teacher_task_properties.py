"""Property tests of the continuous tasks over drawn small configs: targets recomputed from the task's
ground truth by plain loops (a tanh teacher unit by unit, a linear teacher entry by entry, the tree's
features node by node), sparse features with the stated sparsity and importance, the documented shapes
and dtypes, and the same tensors from the same config and seed."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.tasks import HierarchyConfig, LinearTeacherConfig, SparseFeaturesConfig, TeacherMLPConfig, make_task

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
seeds = st.integers(0, 2**40)


def same_tensors(a, b) -> bool:
    pairs = [(a.train.x, b.train.x), (a.train.y, b.train.y)]
    if a.test is not None or b.test is not None:
        if a.test is None or b.test is None:
            return False
        pairs += [(a.test.x, b.test.x), (a.test.y, b.test.y)]
    pairs += [(v, b.info[k]) for k, v in a.info.items() if isinstance(v, torch.Tensor)]
    return all(torch.equal(s, t) for s, t in pairs)


# ---- hierarchy ----------------------------------------------------------------------------------------------

hierarchy_configs = st.builds(HierarchyConfig, depth=st.integers(1, 3), branching=st.integers(2, 4), feature_scale=st.floats(0.1, 10.0), shuffle_labels=st.booleans())


@given(hierarchy_configs, seeds)
@PROPERTY
def test_hierarchy_targets_are_the_tree_nodes_above_each_item(cfg, seed):
    data = make_task(cfg, seed)
    b, depth = cfg.branching, cfg.depth
    items = b**depth
    nodes = [(k, m) for k in range(depth + 1) for m in range(b**k)]  # level by level
    assert data.test is None and data.train.x.dtype == data.train.y.dtype == torch.float32
    assert tuple(data.train.x.shape) == (items, items) and tuple(data.train.y.shape) == (items, len(nodes))
    assert torch.equal(data.train.x, math.sqrt(items) * torch.eye(items))
    scale = torch.tensor(cfg.feature_scale, dtype=torch.float32).item()  # the scale as the float32 targets hold it
    tree = [[scale * float(i // b ** (depth - k) == m) for (k, m) in nodes] for i in range(items)]
    rows = data.train.y.tolist()
    if cfg.shuffle_labels:  # each item takes the features of another one: the rows are a permutation of the tree's
        assert sorted(rows) == sorted(tree)
    else:
        assert rows == tree
    teacher = data.info["teacher"]  # Σyx = Yᵀ X / items
    x = data.train.x.tolist()
    want = [[sum(rows[i][f] * x[i][j] for i in range(items)) / items for j in range(items)] for f in range(len(nodes))]
    assert max(abs(t - w) for t_row, w_row in zip(teacher.tolist(), want) for t, w in zip(t_row, w_row)) < 1e-5 * cfg.feature_scale
    assert data.info["level_labels"].tolist() == [[i // b ** (depth - k) for i in range(items)] for k in range(depth + 1)]


@given(hierarchy_configs, seeds, seeds)
@PROPERTY
def test_hierarchy_data_is_a_function_of_config_and_seed(cfg, seed, other):
    data = make_task(cfg, seed)
    assert same_tensors(data, make_task(cfg, seed))
    if not cfg.shuffle_labels:  # nothing is drawn: every seed gives the tree itself
        assert same_tensors(data, make_task(cfg, other))
    elif seed != other and math.factorial(cfg.branching**cfg.depth) > 10**6:
        assert not torch.equal(data.train.y, make_task(cfg, other).train.y)


# ---- sparse features ----------------------------------------------------------------------------------------

sparse_feature_configs = st.builds(
    SparseFeaturesConfig, n_features=st.integers(1, 8), sparsity=st.floats(0.0, 0.95), importance_decay=st.floats(0.05, 1.0), n_train=st.integers(2, 400), n_test=st.integers(1, 400)
)


@given(sparse_feature_configs, seeds)
@PROPERTY
def test_sparse_features_are_zero_at_the_stated_rate_uniform_otherwise_and_weighted_by_importance(cfg, seed):
    data = make_task(cfg, seed)
    importance = [cfg.importance_decay**i for i in range(cfg.n_features)]
    assert max(abs(u - v) for u, v in zip(data.info["importance"].tolist(), importance)) < 1e-6
    assert data.info["sparsity"] == cfg.sparsity
    for split, n in ((data.train, cfg.n_train), (data.test, cfg.n_test)):
        assert split.x.dtype == torch.float32 and tuple(split.x.shape) == (n, cfg.n_features) and torch.equal(split.x, split.y)
        assert bool(((split.x >= 0) & (split.x < 1)).all())
    x = torch.cat([data.train.x, data.test.x])
    cells = x.numel()
    zeros = int((x == 0).sum())
    sd = math.sqrt(cells * cfg.sparsity * (1 - cfg.sparsity))  # a binomial count of zero cells
    assert abs(zeros - cells * cfg.sparsity) <= 6 * sd + 1
    nonzero = x[x != 0]
    if len(nonzero) >= 50:  # uniform on [0, 1]: mean 1/2, standard deviation 1/√12
        assert abs(float(nonzero.mean()) - 0.5) <= 6 / math.sqrt(12 * len(nonzero))
    output = torch.rand(x[:7].shape, generator=torch.Generator().manual_seed(seed % 1000))
    want = sum(sum(importance[i] * (output[r, i].item() - x[r, i].item()) ** 2 for i in range(cfg.n_features)) for r in range(len(output))) / len(output)
    assert data.loss(output, x[: len(output)]).item() == pytest.approx(want, rel=1e-5, abs=1e-7)


@given(sparse_feature_configs, seeds, seeds)
@PROPERTY
def test_sparse_features_data_is_a_function_of_config_and_seed(cfg, seed, other):
    data = make_task(cfg, seed)
    assert same_tensors(data, make_task(cfg, seed))
    if seed != other and cfg.n_train * cfg.n_features * (1 - cfg.sparsity) >= 20:
        assert not torch.equal(data.train.x, make_task(cfg, other).train.x)


# ---- tanh teacher -------------------------------------------------------------------------------------------

teacher_mlp_configs = st.builds(
    TeacherMLPConfig, d_in=st.integers(1, 4), n_train=st.integers(8, 24), n_test=st.integers(0, 8), width=st.integers(2, 6), scale=st.floats(0.1, 4.0), d_out=st.integers(1, 3)
)


@given(teacher_mlp_configs, seeds)
@PROPERTY
def test_teacher_mlp_targets_are_the_standardised_outputs_of_its_own_weights(cfg, seed):
    data = make_task(cfg, seed)
    w1, w2 = data.info["W1"].double(), data.info["W2"].double()
    assert tuple(w1.shape) == (cfg.width, cfg.d_in) and tuple(w2.shape) == (cfg.d_out, cfg.width)
    assert (data.test is None) == (cfg.n_test == 0)
    splits = [data.train] + ([data.test] if data.test is not None else [])
    xs = [x.tolist() for s in splits for x in s.x.double()]
    raw = [[sum(w2[o, h].item() * math.tanh(sum(w1[h, i].item() * x[i] for i in range(cfg.d_in))) for h in range(cfg.width)) for o in range(cfg.d_out)] for x in xs]
    train_raw = raw[: cfg.n_train]
    mean = [sum(r[o] for r in train_raw) / cfg.n_train for o in range(cfg.d_out)]
    std = [math.sqrt(sum((r[o] - mean[o]) ** 2 for r in train_raw) / (cfg.n_train - 1)) for o in range(cfg.d_out)]
    ys = [y for s in splits for y in s.y.tolist()]
    for r, y in zip(raw, ys):
        for o in range(cfg.d_out):
            assert y[o] == pytest.approx((r[o] - mean[o]) / std[o], abs=2e-4 * (1 + abs(y[o])))
    for o in range(cfg.d_out):
        assert data.info["target_mean"][o].item() == pytest.approx(mean[o], abs=1e-5)
        assert data.info["target_std"][o].item() == pytest.approx(std[o], rel=1e-4)
    for s in splits:
        assert s.x.dtype == s.y.dtype == torch.float32 and s.x.shape[1] == cfg.d_in and s.y.shape[1] == cfg.d_out
    assert len(data.train) == cfg.n_train and (data.test is None or len(data.test) == cfg.n_test)


@given(teacher_mlp_configs, seeds, seeds)
@PROPERTY
def test_teacher_mlp_data_is_a_function_of_config_and_seed(cfg, seed, other):
    data = make_task(cfg, seed)
    assert same_tensors(data, make_task(cfg, seed))
    if seed != other:
        assert not torch.equal(data.train.x, make_task(cfg, other).train.x)


def test_a_teacher_whose_saturated_units_give_every_training_input_one_output_is_refused_by_name():
    """Width 1, one input, scale 1000: tanh rounds to ±1, so two training inputs on one side share their output
    and there is no spread to standardise by (the targets were NaN); the seeds that draw them apart build."""
    cfg = TeacherMLPConfig(d_in=1, n_train=2, n_test=1, width=1, scale=1000.0)
    refused, built = [], []
    for seed in range(40):
        try:
            data = make_task(cfg, seed)
        except ValueError as e:
            assert f"teacher_mlp: output 0 of the teacher drawn by seed {seed} is the same at all n_train=2 training inputs (scale=1000.0, width=1)" in str(e)
            refused.append(seed)
        else:
            assert bool(torch.isfinite(data.train.y).all() and torch.isfinite(data.test.y).all())
            built.append(seed)
    assert len(refused) >= 5 and len(built) >= 5


# ---- linear teacher -----------------------------------------------------------------------------------------


@st.composite
def linear_teacher_configs(draw):
    values = draw(st.lists(st.floats(0.1, 5.0), max_size=3))
    d_in = draw(st.integers(max(1, len(values)), 5))
    d_out = draw(st.integers(max(1, len(values)), 5))
    n_train = draw(st.one_of(st.none(), st.integers(d_in, 12)))
    return LinearTeacherConfig(singular_values=values, d_in=d_in, d_out=d_out, n_train=n_train, n_test=draw(st.integers(0, 6)))


@given(linear_teacher_configs(), seeds)
@PROPERTY
def test_linear_teacher_targets_are_its_matrix_times_whitened_inputs(cfg, seed):
    data = make_task(cfg, seed)
    r, n = len(cfg.singular_values), cfg.n_train or cfg.d_in
    u, s, v, teacher = (data.info[k].double() for k in ("U", "S", "V", "teacher"))
    assert tuple(u.shape) == (cfg.d_out, r) and tuple(s.shape) == (r,) and tuple(v.shape) == (cfg.d_in, r) and tuple(teacher.shape) == (cfg.d_out, cfg.d_in)
    assert s.tolist() == pytest.approx(list(cfg.singular_values), rel=1e-6) and data.info["mode_level"] == list(range(r))
    for q in (u, v):  # orthonormal columns
        assert all(abs(sum(q[i, a].item() * q[i, c].item() for i in range(q.shape[0])) - (a == c)) < 1e-5 for a in range(r) for c in range(r))
    for o in range(cfg.d_out):
        for i in range(cfg.d_in):
            assert teacher[o, i].item() == pytest.approx(sum(u[o, m].item() * s[m].item() * v[i, m].item() for m in range(r)), abs=1e-5)
    x = data.train.x.double()
    assert tuple(x.shape) == (n, cfg.d_in)
    for i in range(cfg.d_in):  # (1/n) XᵀX = I
        for j in range(cfg.d_in):
            assert sum(x[k, i].item() * x[k, j].item() for k in range(n)) / n == pytest.approx(float(i == j), abs=1e-4)
    assert (data.test is None) == (cfg.n_test == 0)
    for split in [data.train] + ([data.test] if data.test is not None else []):
        assert split.x.dtype == split.y.dtype == torch.float32 and tuple(split.y.shape) == (len(split), cfg.d_out)
        for row, y in zip(split.x.tolist(), split.y.tolist()):
            for o in range(cfg.d_out):
                assert y[o] == pytest.approx(sum(teacher[o, i].item() * row[i] for i in range(cfg.d_in)), abs=1e-4 * (1 + sum(abs(t) for t in row)))


@given(linear_teacher_configs(), seeds, seeds)
@PROPERTY
def test_linear_teacher_data_is_a_function_of_config_and_seed(cfg, seed, other):
    data = make_task(cfg, seed)
    assert same_tensors(data, make_task(cfg, seed))
    if seed != other:
        assert not torch.equal(data.train.x, make_task(cfg, other).train.x)
