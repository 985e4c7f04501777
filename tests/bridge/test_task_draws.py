"""What each task draws from its seed: pinned seed-0 draws, independent sub-streams, and the inputs refused.

Every case-study figure is computed on data drawn from a seed; the seed-0 draws pinned here change with any
change to a task's seed derivation or draw order (which would change those figures too).
"""

import pytest
import torch

from bridge.config import ConfigError
from bridge.tasks import BooleanCubeConfig, HierarchyConfig, LinearTeacherConfig, ModularConfig, RepeatedTokensConfig, SparseFeaturesConfig, SparseParityConfig, TeacherMLPConfig, make_task


def test_boolean_cube_seed_zero_draws_its_subsets_and_split_from_separate_named_streams():
    cfg = BooleanCubeConfig(d=5, degrees=(1, 2, 3), coefficients=(1.0, 1.0, 1.0), n_train=8)
    data = make_task(cfg, seed=0)
    assert data.info["subsets"] == ((1,), (1, 3), (0, 3, 4))
    assert data.info["train_index"].tolist() == [1, 8, 9, 17, 22, 25, 26, 28]  # in cube order, rows of cube_points
    other_draw = make_task(BooleanCubeConfig(d=5, degrees=(1, 2, 3), coefficients=(1.0, 1.0, 1.0), n_train=8, draw=1), seed=0)
    assert other_draw.info["subsets"] == data.info["subsets"]
    assert other_draw.info["train_index"].tolist() == [4, 8, 16, 22, 23, 25, 26, 30]
    # the explicit subsets leave the split where the drawn ones put it: the subsets use a stream of their own
    explicit = make_task(BooleanCubeConfig(d=5, subsets=data.info["subsets"], coefficients=(1.0, 1.0, 1.0), n_train=8), seed=0)
    assert torch.equal(explicit.info["train_index"], data.info["train_index"])
    assert torch.equal(explicit.train.x, data.train.x) and torch.equal(explicit.train.y, data.train.y)


def test_modular_random_labels_keep_the_split_of_their_seed():
    real = make_task(ModularConfig(p=5, train_fraction=0.4), seed=0)
    control = make_task(ModularConfig(p=5, train_fraction=0.4, random_labels=True), seed=0)
    assert real.info["train_index"].tolist() == [0, 4, 7, 11, 12, 17, 18, 19, 22, 24]
    assert torch.equal(control.info["train_index"], real.info["train_index"])
    assert torch.equal(control.train.x, real.train.x)
    assert control.info["table"].flatten().tolist() == [0, 2, 0, 3, 1, 1, 4, 1, 0, 0, 1, 4, 3, 1, 0, 3, 3, 0, 0, 0, 2, 1, 4, 3, 2]


@pytest.mark.parametrize("freqs", [(0,), (3,), (1, 1)])
def test_modular_template_frequencies_outside_one_to_half_p_are_refused(freqs):
    with pytest.raises(ConfigError, match=r"template_frequencies must be distinct in 1\.\.2, got"):
        ModularConfig(p=5, template_frequencies=freqs, template_magnitudes=(1.0,) * len(freqs))


def test_at_p_2_a_template_frequency_is_refused_as_having_none_to_take():
    # the range read "1..0"
    with pytest.raises(ConfigError, match=r"^modular.template_frequencies must be empty for p=2, which has no non-zero frequency below p/2, got \(1,\)$"):
        ModularConfig(p=2, template_frequencies=(1,), template_magnitudes=(1.0,))


@pytest.mark.parametrize("seed", range(5))
def test_sparse_parity_subtasks_that_exhaust_the_subsets_take_each_subset_once(seed):
    data = make_task(SparseParityConfig(n_tasks=6, n_bits=4, k_bits=2, n_train=16, n_test_per_task=2), seed=seed)
    assert sorted(map(tuple, data.info["subtask_bits"].tolist())) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]


@pytest.mark.parametrize("alpha", [-0.5, -1.0])
def test_sparse_parity_refuses_a_negative_zipf_exponent(alpha):
    with pytest.raises(ConfigError, match=f"alpha must be >= 0, got {alpha}"):
        SparseParityConfig(n_tasks=2, n_bits=4, k_bits=2, alpha=alpha)


def test_repeated_tokens_seed_zero_draws_each_split_and_the_bigram_chain_from_its_own_stream():
    cfg = RepeatedTokensConfig(d_vocab=16, n_ctx=12, n_train=4, n_test=2, n_off=2, prefix=(0, 2), block=(3, 5), off_prefix=(3, 4), off_block=(3, 4), background="bigram")
    data = make_task(cfg, seed=0)
    assert data.train.x[:2].tolist() == [[12, 13, 0, 14, 13, 0, 14, 13, 0, 14, 13, 0], [11, 0, 6, 1, 5, 3, 9, 6, 1, 5, 3, 9]]
    assert data.test.x[0].tolist() == [10, 3, 6, 0, 13, 12, 3, 6, 0, 13, 12, 3]
    assert data.info["off_position"].x[0].tolist() == [12, 15, 1, 10, 14, 7, 13, 10, 14, 7, 13, 10]
    assert data.info["transition"][0, :4].tolist() == pytest.approx([0.0232, 0.1787, 0.0020, 0.0235], abs=1e-4)


def test_repeated_tokens_test_split_is_not_the_start_of_the_training_split():
    cfg = RepeatedTokensConfig(d_vocab=32, n_ctx=16, n_train=64, n_test=64, n_off=64, prefix=(0, 4), block=(3, 6), off_prefix=(5, 8), off_block=(3, 6))
    data = make_task(cfg, seed=1)
    same_rows = (data.test.x == data.train.x).all(1)
    assert int(same_rows.sum()) == 0
    assert not torch.equal(data.info["test_prefix"], data.info["train_prefix"])


def test_sparse_features_test_split_is_a_fresh_draw_after_the_training_split():
    data = make_task(SparseFeaturesConfig(n_features=3, sparsity=0.5, n_train=4, n_test=4), seed=0)
    torch.testing.assert_close(data.train.x, torch.tensor([[0.7469, 0.0, 0.0], [0.0, 0.0, 0.4834], [0.0, 0.0, 0.0], [0.1669, 0.2978, 0.0]]), atol=1e-4, rtol=0)
    torch.testing.assert_close(data.test.x, torch.tensor([[0.6552, 0.0, 0.8393], [0.3419, 0.1862, 0.6332], [0.5801, 0.0, 0.1487], [0.0, 0.0, 0.2776]]), atol=1e-4, rtol=0)
    big = make_task(SparseFeaturesConfig(n_features=8, sparsity=0.5, n_train=256, n_test=256), seed=2)
    assert not (big.test.x == big.train.x).all(1).any()  # no test row repeats the training row at its place


@pytest.mark.parametrize("kwargs, message", [({"n_test": -1}, "n_test must be >= 0, got -1"), ({"d_in": 0}, "d_in must be positive, got 0"), ({"d_out": 0}, "d_out must be positive, got 0")])
def test_linear_teacher_refuses_empty_or_negative_sizes_before_drawing(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        LinearTeacherConfig(**{"singular_values": (), "d_in": 2, "d_out": 2, **kwargs})


def test_linear_teacher_without_test_inputs_has_no_test_split():
    """As the tanh teacher's: an empty test split would give a NaN test loss at every step."""
    data = make_task(LinearTeacherConfig((2.0,), d_in=3, d_out=2, n_train=6, n_test=0), seed=0)
    with_test = make_task(LinearTeacherConfig((2.0,), d_in=3, d_out=2, n_train=6, n_test=5), seed=0)
    assert data.test is None
    assert torch.equal(data.train.x, with_test.train.x) and torch.equal(data.info["teacher"], with_test.info["teacher"])


def test_teacher_mlp_label_noise_is_added_after_standardising_at_the_given_scale():
    clean = make_task(TeacherMLPConfig(d_in=4, n_train=4000, n_test=0, width=16), seed=0)
    noisy = make_task(TeacherMLPConfig(d_in=4, n_train=4000, n_test=0, width=16, noise=0.5), seed=0)
    assert torch.equal(noisy.train.x, clean.train.x) and torch.equal(noisy.info["target_std"], clean.info["target_std"])
    residual = noisy.train.y - clean.train.y
    assert 0.48 < float(residual.std()) < 0.52 and abs(float(residual.mean())) < 0.03  # 0.5 · N(0, 1): sd of the sd estimate 0.0056


def test_hierarchy_refuses_more_than_4096_items_naming_the_count():
    with pytest.raises(ConfigError, match="8192 items"):
        HierarchyConfig(depth=13, branching=2)
    assert HierarchyConfig(depth=12, branching=2).branching ** 12 == 4096


def test_teacher_mlp_refuses_a_negative_test_size():
    with pytest.raises(ConfigError, match="teacher_mlp.n_test must be >= 0, got -1"):
        TeacherMLPConfig(n_test=-1)


def test_linear_teacher_seed_zero_draws_u_then_v_then_the_inputs():
    data = make_task(LinearTeacherConfig((3.0, 1.0), d_in=4, d_out=3), seed=0)
    torch.testing.assert_close(data.info["U"], torch.tensor([[0.3402, -0.9402], [-0.7385, -0.2580], [-0.5822, -0.2223]]), atol=1e-4, rtol=0)
    torch.testing.assert_close(data.info["V"], torch.tensor([[-0.0364, -0.7923], [0.2189, 0.2426], [0.1431, -0.5598], [-0.9645, 0.0019]]), atol=1e-4, rtol=0)
