"""Property tests of the discrete tasks over drawn small configs: every label recomputed by a slow explicit
reference (``(a ∘ b) mod p`` pair by pair, the parity of a subtask's bits, a Walsh product coordinate by
coordinate, the repeats of a token sequence position by position), the splits disjoint and covering what
they claim, the documented shapes and dtypes, and the same tensors from the same config and seed."""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.tasks import BooleanCubeConfig, ModularConfig, RepeatedTokensConfig, SparseParityConfig, make_task
from bridge.tasks.repeated_tokens import _distinct_markov

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
seeds = st.integers(0, 2**40)


def same_data(a, b) -> bool:
    """Every split tensor and every tensor of ``info`` equal, element by element."""
    splits = [(a.train, b.train), (a.test, b.test)] + [(a.info[k], b.info[k]) for k in a.info if hasattr(a.info[k], "x")]
    for s, t in splits:
        if (s is None) != (t is None) or (s is not None and not (torch.equal(s.x[:], t.x[:]) and torch.equal(s.y, t.y))):
            return False
    return a.info.keys() == b.info.keys() and all(torch.equal(v, b.info[k]) for k, v in a.info.items() if isinstance(v, torch.Tensor))


# ---- modular arithmetic -------------------------------------------------------------------------------------


@st.composite
def modular_configs(draw):
    p = draw(st.sampled_from([2, 3, 5, 7, 11]))
    kwargs = {"p": p, "op": draw(st.sampled_from(["+", "-", "*"])), "train_fraction": draw(st.floats(0.01, 1.0)), "encoding": draw(st.sampled_from(["tokens", "onehot"]))}
    kind = draw(st.sampled_from(["labels", "random", "template"] if p > 2 else ["labels", "random"]))
    if kind == "random":
        kwargs["random_labels"] = True
    if kind == "template":
        freqs = draw(st.lists(st.integers(1, (p - 1) // 2), min_size=1, unique=True))
        kwargs["template_frequencies"] = freqs
        kwargs["template_magnitudes"] = draw(st.lists(st.floats(0.1, 3.0), min_size=len(freqs), max_size=len(freqs)))
    return ModularConfig(**kwargs)


def _pair_of_row(x: torch.Tensor, p: int, encoding: str) -> tuple[int, int]:
    if encoding == "tokens":
        assert x[2].item() == p
        return int(x[0]), int(x[1])
    assert x.tolist().count(1.0) == 2 and x.tolist().count(0.0) == 2 * p - 2
    return int(x[:p].argmax()), int(x[p:].argmax())


@given(modular_configs(), seeds)
@PROPERTY
def test_modular_rows_are_every_pair_once_with_the_label_of_a_op_b_mod_p(cfg, seed):
    data = make_task(cfg, seed)
    p = cfg.p
    train_index, test_index = data.info["train_index"].tolist(), data.info["test_index"].tolist()
    assert len(train_index) == max(1, round(cfg.train_fraction * p * p))
    assert sorted(train_index + test_index) == list(range(p * p))  # disjoint and covering every pair
    assert (data.test is None) == (not test_index)
    reference = {"+": lambda a, b: (a + b) % p, "-": lambda a, b: (a - b) % p, "*": lambda a, b: (a * b) % p}[cfg.op]
    table = data.info["table"]
    for split, index in ((data.train, train_index), (data.test, test_index)):
        if split is None:
            continue
        assert split.x.dtype == (torch.long if cfg.encoding == "tokens" else torch.float32)
        assert tuple(split.x.shape) == (len(index), 3 if cfg.encoding == "tokens" else 2 * p)
        for row, y, i in zip(split.x, split.y, index):
            a, b = _pair_of_row(row, p, cfg.encoding)
            assert (a, b) == divmod(i, p)
            label = int(table[a, b]) if cfg.random_labels else reference(a, b)
            assert 0 <= label < p
            if cfg.regression:
                want = [sum(m * math.cos(2 * math.pi * k * (label - c) / p) for k, m in zip(cfg.template_frequencies, cfg.template_magnitudes)) for c in range(p)]
                assert y.dtype == torch.float32 and y.shape == (p,)
                assert max(abs(u - v) for u, v in zip(y.tolist(), want)) < 1e-5
            else:
                assert y.dtype == torch.long and y.shape == () and int(y) == label
    if not cfg.random_labels:
        assert table.tolist() == [[reference(a, b) for b in range(p)] for a in range(p)]


@given(modular_configs(), seeds, seeds)
@PROPERTY
def test_modular_data_is_a_function_of_config_and_seed(cfg, seed, other):
    data = make_task(cfg, seed)
    assert same_data(data, make_task(cfg, seed))
    moved = make_task(cfg, other)
    n_train = len(data.train)
    if seed != other and 2 <= n_train <= cfg.p**2 - 2 and math.comb(cfg.p**2, n_train) > 10**6:
        assert not torch.equal(data.info["train_index"], moved.info["train_index"])


# ---- multitask sparse parity --------------------------------------------------------------------------------


@st.composite
def sparse_parity_configs(draw):
    n_bits = draw(st.integers(1, 8))
    k_bits = draw(st.integers(1, n_bits))
    n_tasks = draw(st.integers(1, min(6, math.comb(n_bits, k_bits))))
    return SparseParityConfig(n_tasks=n_tasks, n_bits=n_bits, k_bits=k_bits, alpha=draw(st.floats(0.0, 3.0)), n_train=draw(st.integers(1, 60)), n_test_per_task=draw(st.integers(1, 6)))


@given(sparse_parity_configs(), seeds)
@PROPERTY
def test_sparse_parity_labels_are_the_parity_of_the_named_subtasks_bits(cfg, seed):
    data = make_task(cfg, seed)
    bits = data.info["subtask_bits"].tolist()
    assert len(bits) == cfg.n_tasks and len({tuple(b) for b in bits}) == cfg.n_tasks
    assert all(list(b) == sorted(set(b)) and len(b) == cfg.k_bits and 0 <= b[0] and b[-1] < cfg.n_bits for b in bits)
    weights = [(k + 1) ** -(cfg.alpha + 1) for k in range(cfg.n_tasks)]
    assert max(abs(f - w / sum(weights)) for f, w in zip(data.info["frequencies"].tolist(), weights)) < 1e-12
    want_test_task = [k for k in range(cfg.n_tasks) for _ in range(cfg.n_test_per_task)]
    assert data.info["test_task"].tolist() == want_test_task
    for split, tasks, n in ((data.train, data.info["train_task"], cfg.n_train), (data.test, want_test_task, len(want_test_task))):
        assert split.x.dtype == torch.float32 and tuple(split.x.shape) == (n, cfg.n_tasks + cfg.n_bits)
        assert split.y.dtype == torch.long and tuple(split.y.shape) == (n,)
        for row, y, task in zip(split.x[:].tolist(), split.y.tolist(), list(tasks)):
            control, task_bits = row[: cfg.n_tasks], row[cfg.n_tasks :]
            assert set(task_bits) <= {0.0, 1.0} and sorted(control) == [0.0] * (cfg.n_tasks - 1) + [1.0]
            assert control.index(1.0) == int(task)
            assert y == sum(int(task_bits[j]) for j in bits[int(task)]) % 2


@given(sparse_parity_configs(), seeds, seeds)
@PROPERTY
def test_sparse_parity_data_is_a_function_of_config_and_seed(cfg, seed, other):
    data = make_task(cfg, seed)
    assert same_data(data, make_task(cfg, seed))
    if seed != other and cfg.n_train * cfg.n_bits >= 40:  # 2^-40 odds that two seeds draw the same task bits
        assert not torch.equal(data.train.x[:], make_task(cfg, other).train.x[:])


# ---- Walsh functions on the Boolean cube --------------------------------------------------------------------


@st.composite
def boolean_cube_configs(draw):
    d = draw(st.integers(1, 6))
    test = draw(st.sampled_from(["rest", "cube"]))
    if draw(st.booleans()):
        all_subsets = [tuple(j for j in range(d) if m >> j & 1) for m in range(2**d)]
        chosen = draw(st.lists(st.sampled_from(all_subsets), min_size=1, max_size=4, unique=True))
        terms = {"subsets": [tuple(draw(st.permutations(s))) for s in chosen]}
    else:
        degrees = draw(st.lists(st.integers(0, d), min_size=1, max_size=4))
        degrees = [k for i, k in enumerate(degrees) if degrees[: i + 1].count(k) <= math.comb(d, k)]
        terms = {"degrees": degrees}
    n = len(terms.get("subsets", terms.get("degrees")))
    coefficients = draw(st.lists(st.floats(-3.0, 3.0), min_size=n, max_size=n))
    n_train = draw(st.integers(1, 2**d - (test == "rest")))
    return BooleanCubeConfig(d=d, coefficients=coefficients, n_train=n_train, test=test, draw=draw(st.integers(0, 3)), **terms)


def _cube_row(index: int, d: int) -> list[float]:
    return [-1.0 if index >> j & 1 else 1.0 for j in range(d)]


@given(boolean_cube_configs(), seeds)
@PROPERTY
def test_boolean_cube_targets_are_the_sum_of_products_of_coordinates(cfg, seed):
    data = make_task(cfg, seed)
    d, subsets = cfg.d, data.info["subsets"]
    if cfg.subsets:
        assert subsets == cfg.subsets
    else:
        assert [len(s) for s in subsets] == list(cfg.degrees) and len({frozenset(s) for s in subsets}) == len(subsets)
        assert all(0 <= j < d for s in subsets for j in s)
    assert data.info["masks"] == tuple(sum(2**j for j in s) for s in subsets)

    def f(x):
        return sum(c * math.prod(x[j] for j in s) for s, c in zip(subsets, cfg.coefficients))

    cube_target = data.info["cube_target"]
    assert cube_target.dtype == torch.float64
    assert max(abs(cube_target[i].item() - f(_cube_row(i, d))) for i in range(2**d)) < 1e-12
    train_index, test_index = data.info["train_index"].tolist(), data.info["test_index"].tolist()
    assert len(train_index) == cfg.n_train == len(set(train_index))
    if cfg.test == "rest":
        assert sorted(train_index + test_index) == list(range(2**d))
    else:
        assert test_index == list(range(2**d))
    for split, index in ((data.train, train_index), (data.test, test_index)):
        assert split.x.dtype == split.y.dtype == torch.float32
        assert tuple(split.x.shape) == (len(index), d) and tuple(split.y.shape) == (len(index), 1)
        for row, y, i in zip(split.x.tolist(), split.y[:, 0].tolist(), index):
            assert row == _cube_row(i, d)
            assert abs(y - f(row)) <= 1e-6 * (1 + abs(f(row)))


@given(boolean_cube_configs(), seeds, seeds)
@PROPERTY
def test_boolean_cube_data_is_a_function_of_config_and_seed(cfg, seed, other):
    data = make_task(cfg, seed)
    assert same_data(data, make_task(cfg, seed)) and data.info["subsets"] == make_task(cfg, seed).info["subsets"]
    if seed != other and math.comb(2**cfg.d, cfg.n_train) > 10**6:
        assert not torch.equal(data.info["train_index"], make_task(cfg, other).info["train_index"])


# ---- repeated tokens (induction) ----------------------------------------------------------------------------


def _ranges(draw, lo_block):
    p_lo = draw(st.integers(0, 3))
    p_hi = draw(st.integers(p_lo, p_lo + 3))
    b_lo = draw(st.integers(lo_block, 4))
    return (p_lo, p_hi), (b_lo, draw(st.integers(b_lo, b_lo + 3)))


@st.composite
def repeated_token_configs(draw):
    (prefix, block), (off_prefix, off_block) = _ranges(draw, 2), _ranges(draw, 2)
    longest = max(prefix[1] + block[1], off_prefix[1] + off_block[1])
    background = draw(st.sampled_from(["uniform", "bigram"]))
    return RepeatedTokensConfig(
        d_vocab=draw(st.integers(longest, longest + 6)),
        n_ctx=draw(st.integers(longest + 2, longest + 8)),
        prefix=prefix,
        block=block,
        off_prefix=off_prefix,
        off_block=off_block,
        n_train=draw(st.integers(1, 30)),
        n_test=draw(st.integers(1, 10)),
        n_off=draw(st.integers(1, 10)),
        background=background,
        bigram_concentration=draw(st.sampled_from([1e-3, 0.01, 0.3, 5.0])),
    )


@given(repeated_token_configs(), seeds)
@PROPERTY
def test_repeated_tokens_repeat_their_block_after_distinct_tokens_at_the_stated_positions(cfg, seed):
    data = make_task(cfg, seed)
    assert data.loss == "cross_entropy_next" and (cfg.background == "bigram") == ("transition" in data.info)
    for name, split, (p_lo, p_hi), (b_lo, b_hi), n in (
        ("train", data.train, cfg.prefix, cfg.block, cfg.n_train),
        ("test", data.test, cfg.prefix, cfg.block, cfg.n_test),
        ("off", data.info["off_position"], cfg.off_prefix, cfg.off_block, cfg.n_off),
    ):
        assert split.x.dtype == torch.long and tuple(split.x.shape) == (n, cfg.n_ctx) and torch.equal(split.x, split.y)
        for seq, p, b in zip(split.x.tolist(), data.info[f"{name}_prefix"].tolist(), data.info[f"{name}_period"].tolist()):
            assert p_lo <= p <= p_hi and b_lo <= b <= b_hi
            assert all(0 <= t < cfg.d_vocab for t in seq)
            assert len(set(seq[: p + b])) == p + b  # the prefix and the block: all distinct
            assert all(seq[j] == seq[p + (j - p) % b] for j in range(p + b, cfg.n_ctx))
            assert p + b + 2 <= cfg.n_ctx  # at least one target whose predecessor was repeated too


@given(repeated_token_configs(), seeds, seeds)
@PROPERTY
def test_repeated_tokens_data_is_a_function_of_config_and_seed(cfg, seed, other):
    data = make_task(cfg, seed)
    assert same_data(data, make_task(cfg, seed))
    if seed != other and cfg.n_train * cfg.n_ctx >= 30 and cfg.background == "uniform":
        assert not torch.equal(data.train.x[:], make_task(cfg, other).train.x[:])


def test_a_markov_chain_with_no_mass_left_on_unused_tokens_draws_them_uniformly():
    """A chain that always returns to token 0: once 0 is used, each row continues uniformly over the rest."""
    transition = torch.zeros(5, 5)
    transition[:, 0] = 1.0
    out = _distinct_markov(4000, 5, transition, torch.Generator().manual_seed(0))
    assert all(sorted(row) == [0, 1, 2, 3, 4] for row in out.tolist())
    first = torch.bincount(out[:, 0], minlength=5).double() / 4000  # the first token is uniform: 0.2 each
    assert float((first - 0.2).abs().max()) < 0.03
    after_zero = out[:, 1][out[:, 0] != 0]  # after a token other than 0, the chain sends the next one to 0
    assert bool((after_zero == 0).all())


def test_a_peaked_bigram_background_builds_its_sequences():
    cfg = RepeatedTokensConfig(d_vocab=8, n_ctx=10, n_train=50, n_test=5, n_off=5, prefix=(0, 2), block=(2, 4), off_prefix=(0, 2), off_block=(2, 4), background="bigram", bigram_concentration=0.01)
    data = make_task(cfg, seed=0)
    assert bool((data.info["transition"] == 0).any())  # the chain has forbidden transitions
    for seq, p, b in zip(data.train.x.tolist(), data.info["train_prefix"].tolist(), data.info["train_period"].tolist()):
        assert len(set(seq[: p + b])) == p + b and all(seq[j] == seq[j - b] for j in range(p + b, 10))
