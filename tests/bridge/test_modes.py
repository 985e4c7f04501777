"""The mode tracker's alignment: one teacher mode at a time, and groups of modes sharing a singular value."""

import pytest
import torch

from bridge.tasks import LinearTeacherConfig, make_task
from bridge.trackers.modes import degenerate_groups, mode_alignment, mode_strengths


def rotation(n: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)))
    return q


def single_mode_reference(w, u, v):
    """max_j |u_α·û_j| |v_α·v̂_j|, by loops."""
    uh, _, vh = torch.linalg.svd(w, full_matrices=False)
    return torch.tensor([max(abs(float(u[:, a] @ uh[:, j])) * abs(float(v[:, a] @ vh[j])) for j in range(uh.shape[1])) for a in range(u.shape[1])], dtype=w.dtype)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_teacher_in_any_basis_of_its_degenerate_subspaces_is_aligned(seed):
    data = make_task(LinearTeacherConfig((2.0, 2.0, 2.0, 1.0, 0.5, 0.5), d_in=8, d_out=7), seed=seed)
    u, s, v = data.info["U"].double(), data.info["S"].double(), data.info["V"].double()
    r = torch.eye(6, dtype=torch.float64)
    r[:3, :3], r[4:, 4:] = rotation(3, seed), rotation(2, seed + 10)
    teacher = u @ torch.diag(s) @ v.T
    torch.testing.assert_close(u @ r @ torch.diag(s) @ (v @ r).T, teacher)  # the same map, written in another basis
    for uu, vv in [(u, v), (u @ r, v @ r)]:
        torch.testing.assert_close(mode_alignment(teacher, uu, vv, s), torch.ones(6, dtype=torch.float64))
    single = mode_alignment(teacher, u @ r, v @ r)  # without s, each mode alone: the basis decides
    assert single[:3].min() < 0.95 and single[3] == pytest.approx(1.0)


def test_single_modes_match_the_pairwise_formula_and_groups_of_one_change_nothing():
    w = torch.randn(5, 6, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    u, v = rotation(6, 4)[:, :4], rotation(9, 5)[:, :4]
    s = torch.tensor([4.0, 3.0, 2.0, 1.0], dtype=torch.float64)
    expected = torch.stack([single_mode_reference(m, u, v) for m in w])
    torch.testing.assert_close(mode_alignment(w, u, v), expected)
    torch.testing.assert_close(mode_alignment(w, u, v, s), expected)


def test_a_group_scores_the_mean_of_its_best_subspace_overlaps():
    w = torch.randn(6, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    u, v = rotation(6, 7)[:, :3], rotation(9, 8)[:, :3]
    s = torch.tensor([1.0, 1.0, 0.5], dtype=torch.float64)
    uh, _, vh = torch.linalg.svd(w, full_matrices=False)
    overlaps = sorted((float((u[:, :2].T @ uh[:, j]).norm() * (v[:, :2].T @ vh[j]).norm()) for j in range(6)), reverse=True)
    got = mode_alignment(w, u, v, s)
    assert float(got[0]) == float(got[1]) == pytest.approx(sum(overlaps[:2]) / 2, rel=1e-12)
    assert float(got[2]) == pytest.approx(float(single_mode_reference(w, u[:, 2:], v[:, 2:])[0]), rel=1e-12)


def test_degenerate_groups_tolerate_rounding_and_keep_distinct_values_apart():
    assert degenerate_groups(torch.tensor([0.433, 0.25, 0.433 * (1 + 1e-7), 0.25, 1.0])) == [[0, 2], [1, 3], [4]]
    assert degenerate_groups(torch.tensor([1.0, 0.999])) == [[0], [1]]


def test_deep_linear_quick_ends_aligned_in_every_mode(tmp_path):
    """The hierarchy's teacher repeats its singular values; once learned, every mode is aligned."""
    from bridge import train
    from bridge.trackers.modes import ModeTracker
    from case_studies.deep_linear import PRESETS, run_config

    run = train(run_config(PRESETS["quick"], seed=0), tmp_path / "run", trackers=[ModeTracker()], progress=False)
    last = run.steps[-1]
    strengths = run.table("mode/strength", "mode").loc[last]
    alignments = run.table("mode/alignment", "mode").loc[last]
    s = run.task_data().info["S"].numpy()
    assert len(set(s.round(6))) < len(s)  # degenerate modes are there
    assert abs(strengths.to_numpy() / s - 1).max() < 0.02
    assert alignments.min() > 0.99


def test_a_map_with_one_non_finite_entry_gets_nan_and_the_others_in_its_stack_are_measured():
    w = torch.randn(3, 6, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    u, v = rotation(6, 1)[:, :3], rotation(9, 2)[:, :3]
    s = torch.tensor([2.0, 2.0, 1.0], dtype=torch.float64)
    w[1, 4, 7] = float("nan")
    got = mode_alignment(w, u, v, s)
    assert torch.isnan(got[1]).all()
    torch.testing.assert_close(got[[0, 2]], mode_alignment(w[[0, 2]], u, v, s))
    assert torch.isfinite(got[[0, 2]]).all()


def test_singular_values_further_apart_than_the_tolerance_are_separate_modes():
    close, apart = 1.0 - 0.5e-5, 1.0 - 1.5e-5  # rtol 1e-5 of the largest
    assert degenerate_groups(torch.tensor([1.0, close, 0.5], dtype=torch.float64)) == [[0, 1], [2]]
    assert degenerate_groups(torch.tensor([1.0, apart, 0.5], dtype=torch.float64)) == [[0], [1], [2]]


@pytest.mark.parametrize(
    ("model", "kind"),
    [(torch.nn.Sequential(torch.nn.Linear(4, 6, bias=False), torch.nn.ReLU(), torch.nn.Linear(6, 3, bias=False)), "Sequential"), (torch.nn.Linear(4, 3), "Linear")],
)
def test_the_mode_tracker_refuses_a_model_that_is_not_linear(model, kind):
    """A ReLU network or a linear layer with a bias has no end-to-end matrix: refused by name (its model(I)ᵀ
    was read as one, and mode strengths came out for a map that does not exist)."""
    from bridge.trackers import ModeTracker

    data = make_task(LinearTeacherConfig((2.0, 1.0), d_in=4, d_out=3), seed=0)
    torch.manual_seed(0)
    for p in model.parameters():
        torch.nn.init.normal_(p)
    with pytest.raises(ValueError) as refused:
        ModeTracker()(model, 0, data)
    assert str(refused.value) == f"the modes tracker reads the matrix of a linear network, and {kind} is not linear (model(0) is not 0 or model(-x) is not -model(x): a bias or a nonlinearity)"
    linear = torch.nn.Linear(4, 3, bias=False)
    rows = ModeTracker()(linear, 0, data)
    u, v = data.info["U"], data.info["V"]
    assert [r["value"] for r in rows if r["observable"] == "mode/strength"] == pytest.approx((u.T @ linear.weight.detach() @ v).diagonal().tolist(), abs=1e-6)


def test_a_bias_of_one_percent_of_the_largest_weight_is_enough_to_refuse_a_model():
    """The linearity check's tolerance is 1e-4 of the map's largest entry: a bias 100 times that is a bias."""
    from bridge.trackers.modes import end_to_end_map

    layer = torch.nn.Linear(4, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.arange(12.0).reshape(3, 4) / 11)  # largest entry 1
        layer.bias.fill_(0.0)
    torch.testing.assert_close(end_to_end_map(layer, 4), layer.weight.detach())
    with torch.no_grad():
        layer.bias[1] = 0.01
    with pytest.raises(ValueError, match="Linear is not linear"):
        end_to_end_map(layer, 4)


def test_the_grouping_follows_the_singular_values_of_each_call_over_any_batch_shape():
    """Groups are worked out once per set of singular values: calls alternating between two sets, and a
    stack of maps with two batch dimensions, score as each map's groups alone would."""
    w = torch.randn(2, 3, 6, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(11))
    u, v = rotation(6, 12)[:, :3], rotation(9, 13)[:, :3]
    tied, apart = torch.tensor([1.0, 1.0, 0.5], dtype=torch.float64), torch.tensor([1.0, 0.75, 0.5], dtype=torch.float64)
    for s in (tied, apart, tied):
        got = mode_alignment(w, u, v, s)
        assert got.shape == (2, 3, 3)
        for i in range(2):
            for j in range(3):
                uh, _, vh = torch.linalg.svd(w[i, j], full_matrices=False)
                if s is tied:
                    overlaps = sorted((float((u[:, :2].T @ uh[:, k]).norm() * (v[:, :2].T @ vh[k]).norm()) for k in range(6)), reverse=True)
                    first = [sum(overlaps[:2]) / 2] * 2
                else:
                    first = single_mode_reference(w[i, j], u[:, :2], v[:, :2]).tolist()
                assert got[i, j, :2].tolist() == pytest.approx(first, rel=1e-12)


def test_a_map_gets_the_same_bits_alone_and_in_a_stack_of_any_size():
    """Batched trackers write a checkpoint's rows from stacks whose size depends on the schedule (and on
    when rows are written): a stack must not move a strength or an alignment even in its last bit."""
    w = torch.randn(17, 7, 8, generator=torch.Generator().manual_seed(14))
    u, v = rotation(7, 15)[:, :5].float(), rotation(8, 16)[:, :5].float()
    s = torch.tensor([2.0, 2.0, 1.0, 0.5, 0.5])
    alone = [(mode_strengths(w[i], u, v).tolist(), mode_alignment(w[i], u, v, s).tolist()) for i in range(17)]
    for size in (2, 5, 17):
        strengths, alignments = mode_strengths(w[:size], u, v), mode_alignment(w[:size], u, v, s)
        assert [(strengths[i].tolist(), alignments[i].tolist()) for i in range(size)] == alone[:size]
